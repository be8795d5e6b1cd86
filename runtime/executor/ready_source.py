"""`ReadySource`: the `Source` methods on a readiness backend (epoll, kqueue, IOCP).

Each method follows the same recipe:

1. a cheap checkpoint (`checkpoint_if_cancelled`: cancellation + budget),
   *before* the syscall, so a cancelled task never loses data it just read
   (``recv``/``recv_into``/``send`` inline its fast half: two comparisons,
   and no coroutine made unless the budget is spent or a cancel is live);
2. if the `ScheduledIo` says the direction may be ready, try the syscall;
3. on ``BlockingIOError`` clear that readiness and park until the reactor
   reports a new edge (`wait_ready`), then go to 2.

A stream read that returns fewer bytes than asked also clears readiness:
the socket buffer is empty, so asking again would only earn an ``EAGAIN``
(tokio PR #4840). Its twin on io_uring is `RingSource` (``ring_source.py``).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import Any

from ..reactor import Readiness
from . import context
from .io_driver import (
    HAS_ERRNO,
    READ_READY,
    READ_STALE,
    WRITE_READY,
    WRITE_STALE,
    ScheduledIo,
    take_error,
)
from .io_wait import closed_while_waiting, wait_ready
from .source import Address
from .traps import PARK, budget_spent_or_cancelled, checkpoint_if_cancelled, spend_budget

#: A fresh socket's assumed readiness (see `ReadySource.__init__`).
_FRESH = Readiness.READABLE | Readiness.WRITABLE


class ReadySource:
    """A non-blocking socket registered with the running runtime's IO driver."""

    __slots__ = ("_io", "_runner", "_sio", "_stream", "sock")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        # The short-read rule holds for byte streams only: a short datagram
        # says nothing about the datagrams queued behind it.
        self._stream = sock.type == socket.SOCK_STREAM
        self._runner = context.runner()
        self._io = self._runner.io
        self._sio: ScheduledIo = self._io.fresh_scheduled_io(sock.fileno())
        # Try first: a fresh socket is assumed ready; one wasted EAGAIN costs
        # less than a trip through the loop for every accepted connection.
        # Only the plain bits: a closed bit is never cleared, so seeding one
        # would make every wait return at once.
        self._sio.readiness |= _FRESH

    @property
    def closed(self) -> bool:
        return self._sio.closed

    async def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        """Read into ``buf``; 0 means EOF. Waits while nothing is buffered."""
        runner = self._runner
        if spend_budget(runner):  # checkpoint_if_cancelled's fast half: no coroutine
            await budget_spent_or_cancelled(runner)
        n: int = await self._until_done(True, False, self.sock.recv_into, buf, nbytes)
        sio = self._sio
        if 0 < n < (nbytes or len(buf)) and self._stream:
            sio.readiness &= ~READ_STALE  # short read: buffer drained
        elif not n and sio.readiness >= HAS_ERRNO:
            raise _reported_error(sio)
        return n

    async def recv(self, max_bytes: int) -> bytes:
        """Read up to ``max_bytes`` as a new ``bytes``; ``b""`` means EOF."""
        runner = self._runner
        # spend_budget(runner), written out: every echo round trip reads, and
        # the call cost 3 % of its instructions (benchmarks/instructions.py,
        # 100 conns: 19,803 with it, 19,333 written out).
        runner.budget -= 1
        if runner.budget <= 0 or runner.live_cancels:
            await budget_spent_or_cancelled(runner)
        sio = self._sio
        while True:
            if sio.readiness & READ_READY:
                try:
                    data = self.sock.recv(max_bytes)
                except BlockingIOError:
                    sio.readiness &= ~READ_STALE
                else:
                    if 0 < len(data) < max_bytes and self._stream:
                        sio.readiness &= ~READ_STALE
                    elif not data and sio.readiness >= HAS_ERRNO:
                        raise _reported_error(sio)
                    return data
            # wait_ready's common case written out: no reader yet, fd open,
            # no re-arm (every stream read waits here; no coroutine per wait).
            if sio.reader is not None or sio.closed or self._io.needs_rearm:
                await wait_ready(sio, True, runner)  # BusyResourceError, Closed..., or IOCP
                continue
            task = sio.reader = runner.current
            try:
                await PARK
            finally:
                if sio.reader is task:
                    sio.reader = None
            if sio.closed:
                raise closed_while_waiting(sio)

    def try_send(self, data: Any) -> int | None:
        """Send some of ``data`` now if that needs no wait: the byte count, or
        ``None`` when the caller must ``await send(data)`` instead (the kernel's
        buffer is full, another task waits to send, the task's budget is
        spent, or a cancel is live).

        `send`'s fast half, without a coroutine: a writer whose socket keeps
        up (the common case) never makes one.
        """
        runner = self._runner
        if runner.budget <= 1 or runner.live_cancels:
            return None
        sio = self._sio
        if sio.readiness & WRITE_READY and sio.writer is None:  # never overtake a parked writer
            try:
                n: int = self.sock.send(data)
            except BlockingIOError:
                sio.readiness &= ~WRITE_STALE
                return None
            runner.budget -= 1
            return n
        return None

    async def send(self, data: Any) -> int:
        """Send some of ``data``; return how many bytes the kernel took."""
        runner = self._runner
        if spend_budget(runner):  # checkpoint_if_cancelled's fast half: no coroutine
            await budget_spent_or_cancelled(runner)
        # Another task parked to send goes first: its turn, or for us
        # wait_ready's BusyResourceError, never our bytes ahead of its.
        return await self._until_done(False, True, self.sock.send, data)  # type: ignore[no-any-return]

    async def recvfrom(self, max_bytes: int) -> tuple[bytes, Address]:
        """Receive one datagram (truncated to ``max_bytes``) and its sender."""
        await checkpoint_if_cancelled()
        return await self._until_done(True, False, self.sock.recvfrom, max_bytes)  # type: ignore[no-any-return]

    async def sendto(self, data: Any, address: Address) -> int:
        """Send one datagram to ``address``."""
        await checkpoint_if_cancelled()
        return await self._until_done(False, False, self.sock.sendto, data, address)  # type: ignore[no-any-return]

    async def recvmsg(self, bufsize: int, ancbufsize: int = 0,
                      flags: int = 0) -> tuple[bytes, list[tuple[int, int, bytes]], int, Address]:
        """``socket.recvmsg``: data, ancillary data (file descriptors), flags, sender."""
        await checkpoint_if_cancelled()
        return await self._until_done(True, False, self.sock.recvmsg, bufsize, ancbufsize, flags)  # type: ignore[no-any-return]

    async def sendmsg(self, buffers: list[Any], ancdata: list[tuple[int, int, Any]],
                      flags: int = 0) -> int:
        """``socket.sendmsg``: some of ``buffers``' bytes with ``ancdata``; bytes sent."""
        await checkpoint_if_cancelled()
        return await self._until_done(False, True, self.sock.sendmsg, buffers, ancdata, flags)  # type: ignore[no-any-return]

    async def accept(self) -> tuple[socket.socket, Address]:
        """Accept one connection (non-blocking socket) and its peer address."""
        await checkpoint_if_cancelled()
        return await self._until_done(True, False, self.sock.accept)  # type: ignore[no-any-return]

    async def connect(self, address: Address) -> None:
        """Connect to ``address``; raises the `OSError` the kernel reports."""
        await checkpoint_if_cancelled()
        try:
            self.sock.connect(address)
            return
        except BlockingIOError:
            pass  # EINPROGRESS: the answer comes as writability
        except OSError as exc:
            # Failed at once (ENETUNREACH, a Unix path that does not exist):
            # name the address, as the asynchronous failure below does.
            raise OSError(exc.errno, f"{exc.strerror}: connect to {address!r}") from None
        sio = self._sio
        sio.readiness &= ~WRITE_STALE
        await wait_ready(sio, False, self._runner)
        # SO_ERROR, unless the backend read it (consuming it) to report it
        # with the event (libkqueue): then the event carried it.
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or take_error(sio)
        if not err:
            # Neither says why: ask whether we have a peer at all.
            try:
                self.sock.getpeername()
                return
            except OSError as exc:
                err = exc.errno or errno.ENOTCONN
        raise OSError(err, f"{os.strerror(err)}: connect to {address!r}")

    async def _until_done(self, reading: bool, in_turn: bool, attempt: Callable[..., Any],
                          *args: Any) -> Any:
        """The recipe's steps 2 and 3: ``attempt(*args)`` while the direction
        may be ready; on ``BlockingIOError`` clear its readiness and wait for
        a new edge. ``in_turn``: never ahead of a task parked to write.

        `recv` writes it out instead, with its own wait: every echo round
        trip reads, and a coroutine per wait was a tenth of its Python work
        (``benchmarks/instructions.py``; docs/architecture.md, the walk's
        step 3).
        """
        sio = self._sio
        ready, stale = (READ_READY, READ_STALE) if reading else (WRITE_READY, WRITE_STALE)
        while True:
            if sio.readiness & ready and not (in_turn and sio.writer is not None):
                try:
                    return attempt(*args)
                except BlockingIOError:
                    sio.readiness &= ~stale
            await wait_ready(sio, reading, self._runner)

    def detach(self) -> socket.socket:
        """Deregister without closing; the socket is the caller's again."""
        if not self._sio.closed:
            self._io.notify_closing(self.sock.fileno())
        return self.sock

    def close(self) -> None:
        """Wake waiters with `ClosedResourceError`, deregister, close the socket."""
        if not self._sio.closed:
            self._io.notify_closing(self.sock.fileno())
        self.sock.close()


def _reported_error(sio: ScheduledIo) -> OSError:
    """A read found EOF where the reactor had reported an error (kqueue's
    ``EV_EOF`` + errno): the peer reset, and the read is that error, as on epoll."""
    err = take_error(sio)
    return OSError(err, os.strerror(err))
