"""Leaf awaitables on the IO driver: wait for an fd's readiness.

The edge-triggered contract reaches up to here: call `wait_readable` /
`wait_writable` *after* an operation raised ``BlockingIOError``. They clear
the direction's readiness bit (the operation just proved it stale) and park
until the reactor reports a new edge, so a readiness that was already used
up can never make them return at once and spin. The *closed* bits are never
cleared (tokio does the same): once the peer has hung up, reads return EOF
at once and never ``EAGAIN``, so a wait must not sleep past it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BusyResourceError, ClosedResourceError
from ..reactor import Source, fd_of
from . import context
from .io_driver import READ_READY, READ_STALE, WRITE_READY, WRITE_STALE, ScheduledIo
from .traps import PARK

if TYPE_CHECKING:
    from .runner import Runner


async def wait_ready(sio: ScheduledIo, reading: bool, runner: Runner) -> None:
    """Park until ``sio`` is ready in one direction (readiness already cleared).

    The place a task waits on the IO driver (`ReadySource.recv`, the stream
    read, writes its common case out); ``runner`` is the one
    running the task (callers hold it already: no lookup per wait). Raises
    `BusyResourceError` if another task already waits in that direction and
    `ClosedResourceError` if the fd is closed (`notify_closing`) meanwhile.
    """
    if reading:
        mask, busy = READ_READY, sio.reader is not None
    else:
        mask, busy = WRITE_READY, sio.writer is not None
    if busy:
        verb = "read" if reading else "write"
        raise BusyResourceError(f"another task is already waiting to {verb} fd {sio.fd}")
    if runner.io.needs_rearm:
        runner.io.rearm(sio)
    waker = runner.current  # a Task is its own Waker (task.py): no property call
    if reading:
        sio.reader = waker
    else:
        sio.writer = waker
    try:
        while not sio.readiness & mask and not sio.closed:
            await PARK  # park(), without the call
    finally:
        if reading:
            if sio.reader is waker:
                sio.reader = None
        elif sio.writer is waker:
            sio.writer = None
    if sio.closed:
        raise closed_while_waiting(sio)


def closed_while_waiting(sio: ScheduledIo) -> ClosedResourceError:
    """The error a task waiting on ``sio`` gets when `notify_closing` ends the wait."""
    return ClosedResourceError(f"fd {sio.fd} was closed (notify_closing) while a task waited on it")


async def wait_readable(source: Source) -> None:
    """Park until ``source`` (an fd or object with ``fileno()``) is readable.

    Raises `BusyResourceError` if another task already waits to read it,
    `ClosedResourceError` if `notify_closing` is called meanwhile.
    """
    runner = context.runner()
    sio = runner.io.scheduled_io(fd_of(source))
    sio.readiness &= ~READ_STALE
    await wait_ready(sio, True, runner)


async def wait_writable(source: Source) -> None:
    """Park until ``source`` is writable (see `wait_readable` for the errors)."""
    runner = context.runner()
    sio = runner.io.scheduled_io(fd_of(source))
    sio.readiness &= ~WRITE_STALE
    await wait_ready(sio, False, runner)


def notify_closing(source: Source) -> None:
    """Call before closing ``source``: waiters get `ClosedResourceError`.

    Also deregisters the fd from the reactor. A no-op for an fd nobody
    waited on.
    """
    context.runner().io.notify_closing(fd_of(source))


def scheduled_io(source: Source) -> ScheduledIo:
    """The driver's `ScheduledIo` for ``source`` (registering it on first use)."""
    return context.runner().io.scheduled_io(fd_of(source))
