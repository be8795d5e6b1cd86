"""`FdWatch`: asyncio's ``add_reader``/``add_writer`` on the IO driver's `ScheduledIo`.

asyncio promises *level-triggered* callbacks: a reader is called again and
again while its fd stays readable. The IO driver is edge-triggered and
registers each fd once, for both directions (no ``epoll_ctl`` per event).
`FdWatch` bridges the two without giving that up:

* The fd's `ScheduledIo` keeps readiness bits; an event sets them and wakes
  the watch's `CallbackWaker`, which runs the asyncio callback in the
  runtime's run loop (no task in between).
* After the callback, if the bit is still set and the callback is still
  installed, it is run again on the next turn: that is what "level" means.
  Code that knows it drained the fd says so (a transport's read that hit
  ``EAGAIN`` or came back short returns True, see `transports.py`) and the
  bit is cleared: those are *edge* callbacks and cost no system call beyond
  their own.
* Any other callback (a user's ``add_reader``, the stdlib's pipe transports,
  ``sock_recv``) is a *level* callback: before it runs, one ``poll()`` of
  that fd with a zero timeout confirms it is still ready, so it is never
  called spuriously, and a bit left stale by whoever read the fd is cleared.
* When neither a reader nor a writer is left, the fd is deregistered
  (`Host.notify_closing`), since asyncio code closes fds right after
  ``remove_reader``, and a later fd with the same number must be registered
  afresh.
"""

from __future__ import annotations

import select
from asyncio import events
from typing import TYPE_CHECKING

import sniffio

from ..lowlevel import CallbackWaker, Host, ScheduledIo

if TYPE_CHECKING:
    from .loop import RuntimeEventLoop

_POLL_READ = select.POLLIN | select.POLLPRI
_POLL_WRITE = select.POLLOUT
_READ_READY = ScheduledIo.READ_READY
_WRITE_READY = ScheduledIo.WRITE_READY
_READ_KEEP = ~ScheduledIo.READ_STALE  # readiness &= this: wait for the next read edge
_WRITE_KEEP = ~ScheduledIo.WRITE_STALE
#: sniffio's thread-local: the runner says "runtime" for the thread; asyncio
#: callbacks say "asyncio" while they run.
_sniffio = sniffio.thread_local


class FdWatch:
    """The asyncio reader and writer of one fd, and the wakers the IO driver calls."""

    __slots__ = ("_loop", "_read_waker", "_write_waker", "edge_reader", "fd", "reader", "sio",
                 "writer")

    def __init__(self, loop: RuntimeEventLoop, host: Host, fd: int) -> None:
        self._loop = loop
        self.fd = fd
        self.sio: ScheduledIo = host.scheduled_io(fd)
        self.reader: events.Handle | None = None
        self.writer: events.Handle | None = None
        #: The transport whose read this fd's reader is (an edge callback), or None.
        self.edge_reader: object | None = None
        on_error = loop._callback_error
        self._read_waker: CallbackWaker = host.callback_waker(
            self._on_readable, f"reader of fd {fd}", on_error)
        self._write_waker: CallbackWaker = host.callback_waker(
            self._on_writable, f"writer of fd {fd}", on_error)

    def set_reader(self, handle: events.Handle, edge_reader: object | None) -> None:
        old = self.reader
        self.reader = handle
        self.edge_reader = edge_reader
        sio = self.sio
        sio.reader = self._read_waker
        if old is not None:
            old.cancel()
        self._loop._host.rearm(sio)
        if sio.read_ready():
            self._read_waker.wake()

    def set_writer(self, handle: events.Handle) -> None:
        old = self.writer
        self.writer = handle
        sio = self.sio
        sio.writer = self._write_waker
        if old is not None:
            old.cancel()
        self._loop._host.rearm(sio)
        if sio.write_ready():
            self._write_waker.wake()

    def remove_reader(self) -> events.Handle | None:
        handle, self.reader = self.reader, None
        if self.sio.reader is self._read_waker:
            self.sio.reader = None
        return handle

    def remove_writer(self) -> events.Handle | None:
        handle, self.writer = self.writer, None
        if self.sio.writer is self._write_waker:
            self.sio.writer = None
        return handle

    @property
    def idle(self) -> bool:
        return self.reader is None and self.writer is None

    def _on_readable(self) -> None:
        # The hot path of every asyncio socket read: bits tested inline, the
        # edge callback called without Handle._run's extra frame.
        handle = self.reader
        sio = self.sio
        if handle is None or sio.closed or not sio.readiness & _READ_READY:
            return
        loop = self._loop
        if loop._halted:
            self._read_waker.wake()  # stop() ended this turn: run in the next run_forever
            return
        if handle._cancelled:
            return
        library, _sniffio.name = _sniffio.name, "asyncio"
        try:
            transport = self.edge_reader
            if transport is not None:
                # A transport's read; it returns True when it drained the socket.
                try:
                    if handle._context.run(transport._read_ready_cb):
                        sio.readiness &= _READ_KEEP
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    loop._callback_error(exc, handle)
            elif loop._poll_now(self.fd, _POLL_READ):
                handle._run()
            else:
                sio.readiness &= _READ_KEEP  # the bit was stale: someone else read the fd
                return
        finally:
            _sniffio.name = library
        if self.reader is not None and sio.readiness & _READ_READY and not sio.closed:
            self._read_waker.wake()  # level: again, next turn

    def _on_writable(self) -> None:
        handle = self.writer
        sio = self.sio
        if handle is None or sio.closed or not sio.readiness & _WRITE_READY:
            return
        if self._loop._halted:
            self._write_waker.wake()
            return
        if not self._loop._poll_now(self.fd, _POLL_WRITE):
            sio.readiness &= _WRITE_KEEP
            return
        if not handle._cancelled:
            library, _sniffio.name = _sniffio.name, "asyncio"
            try:
                handle._run()
            finally:
                _sniffio.name = library
        if self.writer is not None and sio.readiness & _WRITE_READY and not sio.closed:
            self._write_waker.wake()
