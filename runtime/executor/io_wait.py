"""Leaf awaitables on the IO driver: wait for an fd's readiness.

The edge-triggered contract reaches up to here: call `wait_readable` /
`wait_writable` *after* an operation raised ``BlockingIOError``. They clear
the direction's readiness bit (the operation just proved it stale) and park
until the reactor reports a new edge, so a readiness that was already used
up can never make them return at once and spin.
"""

from __future__ import annotations

from ..errors import BusyResourceError, ClosedResourceError
from ..reactor.poll import Source, _fd_of
from . import context
from .io_driver import READ_READY, WRITE_READY, ScheduledIo
from .traps import park


def _closed(fd: int) -> ClosedResourceError:
    return ClosedResourceError(f"fd {fd} was closed (notify_closing) while a task waited on it")


async def wait_readable(source: Source) -> None:
    """Park until ``source`` (an fd or object with ``fileno()``) is readable.

    Raises `BusyResourceError` if another task already waits to read it,
    `ClosedResourceError` if `notify_closing` is called meanwhile.
    """
    fd = _fd_of(source)
    runner = context.runner()
    sio = runner.io.scheduled_io(fd)
    if sio.reader is not None:
        raise BusyResourceError(f"another task is already waiting to read fd {fd}")
    sio.readiness &= ~READ_READY
    waker = sio.reader = runner.current.waker
    try:
        while not sio.readiness & READ_READY:
            if sio.closed:
                raise _closed(fd)
            await park()
    finally:
        if sio.reader is waker:
            sio.reader = None
    if sio.closed:
        raise _closed(fd)


async def wait_writable(source: Source) -> None:
    """Park until ``source`` is writable (see `wait_readable` for the errors)."""
    fd = _fd_of(source)
    runner = context.runner()
    sio = runner.io.scheduled_io(fd)
    if sio.writer is not None:
        raise BusyResourceError(f"another task is already waiting to write fd {fd}")
    sio.readiness &= ~WRITE_READY
    waker = sio.writer = runner.current.waker
    try:
        while not sio.readiness & WRITE_READY:
            if sio.closed:
                raise _closed(fd)
            await park()
    finally:
        if sio.writer is waker:
            sio.writer = None
    if sio.closed:
        raise _closed(fd)


def notify_closing(source: Source) -> None:
    """Call before closing ``source``: waiters get `ClosedResourceError`.

    Also deregisters the fd from the reactor. A no-op for an fd nobody
    waited on.
    """
    context.runner().io.notify_closing(_fd_of(source))


def scheduled_io(source: Source) -> ScheduledIo:
    """The driver's `ScheduledIo` for ``source`` (registering it on first use)."""
    return context.runner().io.scheduled_io(_fd_of(source))
