"""`RingSource`: the `Source` methods as "submit, then await the completion".

The `Runner` makes its sockets this class when it runs on ``backend="uring"``
(`ReadySource`, in ``ready_source.py``, is its twin on readiness), so
`runtime.io` is the same code on both models. Every method:

1. checkpoints first (`checkpoint_if_cancelled`, its fast half inlined in
   the hot methods as `ReadySource` does): a cancelled task submits nothing;
2. queues one operation on the `Ring` (one cffi call; the ring holds the
   buffer, the bytes being sent, the address, until the completion arrives);
3. parks in `RingDriver.wait` until the completion is reaped: the kernel did
   the ``recv``/``send``/``accept``/``connect`` itself, and the result is
   the byte count, the new fd, or ``-errno``.

No readiness bits, no ``EAGAIN``, no retry loop. One exception: a socket
has one write operation in flight at a time, so a datagram send made while
another task's is in flight goes out as a plain non-blocking send (what it
would be on readiness) instead of being refused. Cancellation is where the
models differ: on readiness, a task parked before the syscall has read
nothing, so raising `Cancelled` loses nothing. Here the kernel may have
completed the operation while the cancellation travelled; `RingDriver.wait`
then returns its result (the bytes received, the bytes sent, the accepted
connection) and the task gets `Cancelled` at its next checkpoint. A
`Stream` that was filling its buffer keeps those bytes in the buffer.

Three paths skip the per-operation round trip where the kernel allows:

* **TCP reads come from one multishot receive** (Linux 6.0): armed at the
  first read, it stays armed; the kernel picks a buffer from the driver's
  provided-buffer ring for each arrival, and `RingDriver.poll` copies the
  bytes out (one ``bytes``), gives the buffer back and queues the bytes on
  the read op (``op.taken``). A read takes from that queue without a park
  when something is there, and parks at most once per arrival when not.
  Cancelled while parked, it simply raises: nothing is in the kernel to
  cancel, and what arrives later waits for the next read.
* **Listeners accept with one multishot accept** (5.19), the same way: the
  kernel accepts, the fds queue, `accept` takes one (its peer address from
  ``getpeername``: a multishot accept writes none).
* **A send the kernel can take at once goes out at once** (`try_send`: a
  plain ``send``, as on readiness): no operation, no park. Only what it
  could not take is submitted, with ``MSG_WAITALL``, and awaited.

Where the kernel lacks them (or ``RUNTIME_URING_DISABLE`` names them) each
read and accept is one operation. Those reads go into one buffer per socket,
allocated once at the largest size asked for and never cleared: only the
pages the kernel writes become resident, so an idle connection's pending
64 KiB receive costs a page or two, not 64 KiB.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from ..errors import BusyResourceError, ClosedResourceError
from ..reactor import Message, SockAddr, allocate_buffer, buffer_bytes
from . import context
from .io_wait import wait_readable, wait_writable
from .ring_driver import REARM, Op, RingDriver
from .source import Address
from .traps import PARK, budget_spent_or_cancelled, checkpoint_if_cancelled, spend_budget

#: MSG_NOSIGNAL: a reset peer is an EPIPE here, never a SIGPIPE (as ints:
#: the socket module's IntFlag arithmetic costs a microsecond per call).
_NOSIGNAL = int(socket.MSG_NOSIGNAL)
#: MSG_WAITALL on a stream send: the kernel retries a short send itself and
#: completes when all of it is sent, or with what it could send before an error.
_SEND_ALL = _NOSIGNAL | int(socket.MSG_WAITALL)
#: The most one operation moves: an SQE's length is 32 bits, and the kernel
#: moves at most MAX_RW_COUNT (2 GiB - 4 KiB) per call anyway. A bigger send
#: is a partial one (write_all sends the rest); a bigger read reads less.
MAX_OP_BYTES = 1 << 30
_MULTISHOT_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def _error(result: int, what: str = "") -> OSError:
    err = -result
    text = os.strerror(err)
    return OSError(err, f"{text}: {what}" if what else text)


class RingSource:
    """A socket whose operations are submitted to the runtime's io_uring `Ring`."""

    __slots__ = ("_driver", "_peer", "_rbuf", "_read", "_rmsg", "_runner", "_stream", "_wmsg",
                 "_write", "sock")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._runner = runner = context.runner()
        driver = runner.ring
        assert driver is not None
        self._driver: RingDriver = driver
        self._read: Op = driver.op()
        self._write: Op = driver.op()
        self._stream = sock.type == socket.SOCK_STREAM
        self._rbuf: Any = None
        self._rmsg: Message | None = None
        self._wmsg: Message | None = None
        self._peer: SockAddr | None = None
        if self._stream and driver.buffers is not None and sock.family in _MULTISHOT_FAMILIES:
            # TCP reads come from one multishot receive, armed at the first
            # read. (Not AF_UNIX: its recvmsg for fds goes by readiness, and a
            # multishot would take the bytes sent with them.)
            driver.multishot(self._read)

    @property
    def closed(self) -> bool:
        return self._read.closed

    def _refuse(self, op: Op, reading: bool) -> Exception:
        if op.closed:
            return ClosedResourceError("operation on a closed socket")
        verb = "read" if reading else "write"
        return BusyResourceError(
            f"another task is already waiting to {verb} fd {self.sock.fileno()}")

    def _buffer(self, nbytes: int) -> Any:
        buf = self._rbuf
        if buf is None or len(buf) < nbytes:
            buf = self._rbuf = allocate_buffer(nbytes)
        return buf

    # -- the Source interface -----------------------------------------------------

    async def _operate(self, op: Op, reading: bool, submit: Callable[[int, int], None],
                       what: str = "") -> int:
        """Every operation's shape: check, ``submit(fd, token)``, await the completion.

        `recv` and `send`, the hot path, write it out instead (one coroutine
        frame less per operation).
        """
        await checkpoint_if_cancelled()
        if op.pending or op.waker is not None or op.closed:
            raise self._refuse(op, reading)
        runner = self._runner
        submit(self.sock.fileno(), op.token)
        op.pending = True
        result = await self._driver.wait(op, runner.current)
        if result < 0:
            raise _error(result, what)
        return result

    async def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        """Read into ``buf``; 0 means EOF. Waits while nothing is buffered."""
        if self._read.taken is not None:
            view = memoryview(buf).cast("B")
            data = await self.recv(nbytes or len(view))
            view[:len(data)] = data
            return len(data)
        ring = self._driver.ring
        nbytes = min(nbytes or memoryview(buf).nbytes, MAX_OP_BYTES)
        return await self._operate(
            self._read, True, lambda fd, token: ring.recv(fd, buf, token, nbytes))

    async def recv(self, max_bytes: int) -> bytes:
        """Read up to ``max_bytes`` as a new ``bytes``; ``b""`` means EOF."""
        runner = self._runner
        # spend_budget(runner), written out as in ReadySource.recv (every echo
        # round trip reads; see there for what the call cost).
        runner.budget -= 1
        if runner.budget <= 0 or runner.live_cancels:
            await budget_spent_or_cancelled(runner)
        op = self._read
        taken = op.taken
        if taken is not None:
            # The multishot path (`_wait_taken`, written out: every stream
            # read comes here). Bytes waiting: no park.
            if op.waker is not None or op.closed:
                raise self._refuse(op, True)
            while not taken:
                if op.pending:
                    op.waker = runner.current
                    try:
                        await PARK
                    finally:
                        op.waker = None
                    if op.closed:
                        raise ClosedResourceError(
                            "the socket was closed while a task waited on it")
                elif self._ended(op):
                    return b""
            data: bytes = taken.popleft()
            if len(data) > max_bytes:
                taken.appendleft(data[max_bytes:])
                return data[:max_bytes]
            return data
        if op.pending or op.waker is not None or op.closed:
            raise self._refuse(op, True)
        max_bytes = min(max_bytes, MAX_OP_BYTES)
        buf = self._rbuf
        if buf is None or len(buf) < max_bytes:
            buf = self._rbuf = allocate_buffer(max_bytes)
        self._driver.ring.recv(self.sock.fileno(), buf, op.token, max_bytes)
        op.pending = True
        n = await self._driver.wait(op, runner.current)
        if n < 0:
            raise _error(n)
        return buffer_bytes(buf, n)

    async def _wait_taken(self, op: Op) -> Any:
        """The oldest result of ``op``'s multishot, parking (at most once per
        arrival) while there is none; arms it first if it is not armed.

        The result is taken out only here, after the park: a task cancelled
        while parked leaves everything queued for the next read (nothing is
        in the kernel to cancel, and nothing is lost). Raises the error the
        multishot ended with, once; after EOF, returns ``None`` every time.
        (`recv` writes this out.)
        """
        taken = op.taken
        assert taken is not None
        if op.waker is not None or op.closed:
            raise self._refuse(op, not op.accepts)
        while not taken:
            if op.pending:
                op.waker = self._runner.current
                try:
                    await PARK
                finally:
                    op.waker = None
                if op.closed:
                    raise ClosedResourceError("the socket was closed while a task waited on it")
            elif self._ended(op):
                return None
        return taken.popleft()

    def _ended(self, op: Op) -> bool:
        """``op``'s multishot is not armed and nothing is queued: arm it again
        (False), say EOF (True), or raise the error it ended with (once: a
        read after it sees EOF, as after a reset on readiness)."""
        result = op.result
        if result == REARM:
            self._driver.arm(op, self.sock.fileno())
            return False
        if result == 0 and not op.accepts:
            return True
        op.result = REARM if op.accepts else 0  # an accept error passes (EMFILE...)
        raise _error(result)

    def try_send(self, data: Any) -> int | None:
        """Send some of ``data`` now with a plain ``send`` if that needs no wait:
        the byte count, or ``None`` when the caller must ``await send(data)``
        (the kernel's buffer is full, a ring send is in flight or waited for,
        the task's budget is spent, or a cancel is live).

        A send the kernel can take at once is done at once, as on readiness:
        one system call, no operation, no park (the echo's write in a round
        trip). Only what it cannot take goes to the ring, after it.
        """
        runner = self._runner
        if runner.budget <= 1 or runner.live_cancels:
            return None
        op = self._write
        if op.pending or op.waker is not None or op.closed:
            return None  # never overtake a ring send
        try:
            n: int = self.sock.send(data)
        except BlockingIOError:
            return None
        runner.budget -= 1
        return n

    async def send(self, data: Any) -> int:
        """Send some of ``data``; return how many bytes the kernel took."""
        runner = self._runner
        if spend_budget(runner):  # checkpoint_if_cancelled's fast half: no coroutine
            await budget_spent_or_cancelled(runner)
        op = self._write
        if op.pending or op.waker is not None or op.closed:
            if op.closed or self._stream:
                raise self._refuse(op, False)
            return self._send_datagram_now(op, data, None)
        flags = _SEND_ALL if self._stream else _NOSIGNAL
        if len(data) > MAX_OP_BYTES and self._stream:
            data = memoryview(data).cast("B")[:MAX_OP_BYTES]
        self._driver.ring.send(self.sock.fileno(), data, op.token, flags)
        op.pending = True
        n = await self._driver.wait(op, runner.current)
        if n < 0:
            raise _error(n)
        return n

    async def recvfrom(self, max_bytes: int) -> tuple[bytes, Address]:
        """Receive one datagram (truncated to ``max_bytes``) and its sender."""
        msg = self._rmsg
        if msg is None:
            msg = self._rmsg = Message(self.sock.family)
        buf = self._buffer(max_bytes)
        ring = self._driver.ring

        def submit(fd: int, token: int) -> None:
            msg.for_receive(buf, max_bytes)
            ring.recvmsg(fd, msg, token)

        n = await self._operate(self._read, True, submit)
        return buffer_bytes(buf, n), msg.sender()

    async def sendto(self, data: Any, address: Address) -> int:
        """Send one datagram to ``address``."""
        op = self._write
        if (op.pending or op.waker is not None) and not op.closed:
            await checkpoint_if_cancelled()
            return self._send_datagram_now(op, data, address)
        msg = self._wmsg
        if msg is None:
            msg = self._wmsg = Message(self.sock.family)
        ring = self._driver.ring

        def submit(fd: int, token: int) -> None:
            msg.for_send(data, address)
            ring.sendmsg(fd, msg, token, _NOSIGNAL)

        return await self._operate(self._write, False, submit)

    def _send_datagram_now(self, op: Op, data: Any, address: Address | None) -> int:
        # Another task's datagram is in flight on the ring (one write Op per
        # socket). On readiness both sends would simply go out, so here too:
        # a plain non-blocking send, refused only if the kernel cannot take it
        # now (as the second of two writers waiting on epoll is). Datagrams
        # from different tasks have no order to keep.
        try:
            if address is None:
                return self.sock.send(data)
            return self.sock.sendto(data, address)
        except BlockingIOError:
            raise self._refuse(op, False) from None

    async def recvmsg(self, bufsize: int, ancbufsize: int = 0,
                      flags: int = 0) -> tuple[bytes, list[tuple[int, int, bytes]], int, Address]:
        """``socket.recvmsg`` by readiness (the Ring's Message carries no
        ancillary buffer): tried, then a wait on the reactor inside the ring."""
        await checkpoint_if_cancelled()
        while True:
            if self._read.closed:
                raise self._refuse(self._read, True)
            try:
                return self.sock.recvmsg(bufsize, ancbufsize, flags)
            except BlockingIOError:
                await wait_readable(self.sock)

    async def sendmsg(self, buffers: list[Any], ancdata: list[tuple[int, int, Any]],
                      flags: int = 0) -> int:
        """``socket.sendmsg`` by readiness, as `recvmsg`."""
        await checkpoint_if_cancelled()
        while True:
            if self._write.closed:
                raise self._refuse(self._write, False)
            try:
                return self.sock.sendmsg(buffers, ancdata, flags | _NOSIGNAL)
            except BlockingIOError:
                await wait_writable(self.sock)

    async def accept(self) -> tuple[socket.socket, Address]:
        """Accept one connection (non-blocking socket) and its peer address."""
        op = self._read
        driver = self._driver
        if not op.accepts and not op.pending and not op.taken:
            # A listener: its read op was made for receiving (a TCP socket's
            # is). The first accept arms a multishot accept instead, so later
            # ones take connections the kernel has already accepted, with no
            # SQE; where the kernel has none, each accept is one operation.
            if driver.accept_multishot:
                driver.multishot(op, accepts=True)
            else:
                op.taken = None
        if op.taken is not None:
            await checkpoint_if_cancelled()
            listener = self.sock
            while True:
                fd = await self._wait_taken(op)
                conn = socket.socket(listener.family, listener.type, listener.proto, fileno=fd)
                try:
                    return conn, conn.getpeername()  # a multishot accept writes no address
                except OSError:
                    # Reset and gone before we asked: no one to serve.
                    conn.close()
        peer = self._peer
        if peer is None:
            peer = self._peer = SockAddr(self.sock.family)
        ring = self._driver.ring
        newfd = await self._operate(
            self._read, True, lambda fd, token: ring.accept(fd, token, peer))
        listener = self.sock
        conn = socket.socket(listener.family, listener.type, listener.proto, fileno=newfd)
        return conn, peer.get()

    async def connect(self, address: Address) -> None:
        """Connect to ``address``; raises the `OSError` the kernel reports."""
        target = SockAddr(self.sock.family)
        try:
            target.set(address)
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror}: connect to {address!r}") from None
        ring = self._driver.ring
        await self._operate(self._write, False,
                            lambda fd, token: ring.connect(fd, target, token),
                            f"connect to {address!r}")

    def _release(self) -> None:
        if not self._read.closed:
            # Readiness waiters on this fd (wait_readable) get ClosedResourceError,
            # and its number's ScheduledIo goes, as ReadySource.close does.
            self._runner.io.notify_closing(self.sock.fileno())
            driver = self._driver
            read = self._read
            armed = read.taken is not None and read.pending
            driver.release(read)
            driver.release(self._write)
            # Operations still queued name this fd by number: submit them
            # before the number can be closed and reused (ring fact 5).
            driver.flush(settle=armed)

    def __del__(self) -> None:
        # Dropped without close: its slots, and a multishot still armed (which
        # holds the file open, ring fact 5, so the peer would never see the
        # close), go back to the driver, at its next turn: a finalizer can
        # run on any thread and in the middle of anything.
        read = getattr(self, "_read", None)
        if read is not None and not read.closed:
            self._driver.dropped.append((read, self._write))

    def detach(self) -> socket.socket:
        """Stop using the socket without closing it; it is the caller's again."""
        self._release()
        return self.sock

    def close(self) -> None:
        """Cancel what is in flight (its waiters get `ClosedResourceError`), close."""
        self._release()
        self.sock.close()
