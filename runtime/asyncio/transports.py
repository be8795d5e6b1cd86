"""Socket transports that read edge-triggered (the stdlib's, with the read path native).

The stdlib's selector transports are kept for everything but reading: their
write buffering, flow control, ``write_eof``, closing and ``sendfile`` fit
the IO driver as they are (a write is attempted at once; only a full socket
buffer installs a writer). Reading is what decides an echo's cost, and it
is where level-triggered code would need a ``poll()`` per event: here a
read that returns ``EAGAIN``, or fewer bytes than asked from a byte stream,
returns True: the socket is drained (tokio PR #4840), and the `FdWatch`
clears the fd's read bit and waits for the next edge, with no system call
of its own.
"""

from __future__ import annotations

import os
from asyncio import events, protocols, selector_events
from collections import deque
from typing import Any

import sniffio

from ..lowlevel import RingReceiver

#: The size of each loop's receive buffer (`RuntimeEventLoop._recv_buffer`):
#: every transport of a loop receives into it and hands its protocol a
#: ``bytes`` copy of what came. The stdlib's ``recv(256 KiB)`` makes glibc
#: ``mmap`` 256 KiB, then ``mremap`` it down to the bytes that came and
#: ``munmap`` it when they are freed: three system calls and a page fault
#: per read (``strace -c`` of the protocol echo), more than the ``recv`` and
#: ``send`` themselves. A loop runs one callback at a time, in one thread,
#: and the copy is made before the protocol runs, so one buffer serves all
#: its transports. (A transport whose ``max_size`` is raised past it, or
#: set to 0, reads with ``recv(max_size)`` as the stdlib's does.)
RECV_BUFFER_SIZE = selector_events._SelectorTransport.max_size

# Typed Any: typeshed does not describe the stdlib's private transports.
_SocketBase: Any = selector_events._SelectorSocketTransport
_DatagramBase: Any = selector_events._SelectorDatagramTransport
#: sniffio's thread-local: protocol callbacks run with it saying "asyncio".
_sniffio = sniffio.thread_local


class _EdgeReading:
    """What both transports add: their reads return whether they drained the
    socket (`FdWatch` runs them as edge callbacks), and the fd leaves the IO
    driver before the socket is closed."""

    _reads_edge_triggered = True
    _loop: Any
    _sock_fd: int

    def __init__(self, loop: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
        loop._adopt(sock.fileno())
        super().__init__(loop, sock, *args, **kwargs)  # type: ignore[call-arg]

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        self._loop._unwatch(self._sock_fd)
        super()._call_connection_lost(exc)  # type: ignore[misc]


class SocketTransport(_EdgeReading, _SocketBase):
    """TCP and Unix stream sockets."""

    def _read_ready(self) -> bool:
        # FdWatch calls _read_ready_cb itself (one frame less); this is for
        # anyone else.
        return self._read_ready_cb()  # type: ignore[no-any-return]


    def _read_ready__data_received(self) -> bool:
        if self._conn_lost:
            return True
        buffer = self._loop._recv_buffer
        size = self.max_size
        try:
            if 0 < size <= RECV_BUFFER_SIZE:
                nbytes = self._sock.recv_into(buffer, size)
                data = buffer[:nbytes].tobytes()
            else:  # a max_size raised past the buffer (or 0): as the stdlib does
                data = self._sock.recv(size)
                nbytes = len(data)
        except (BlockingIOError, InterruptedError):
            return True
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return True
        if not nbytes:
            self._read_ready__on_eof()
            return True
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
        return nbytes < size  # a short read of a byte stream: drained

    def _read_ready__get_buffer(self) -> bool:
        if self._conn_lost:
            return True
        try:
            buf = self._protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return True
        try:
            nbytes = self._sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return True
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return True
        if not nbytes:
            self._read_ready__on_eof()
            return True
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
        return nbytes < len(buf)


class DatagramTransport(_EdgeReading, _DatagramBase):
    """UDP (and Unix datagram) sockets: one datagram per call, until ``EAGAIN``."""

    def _read_ready(self) -> bool:
        if self._conn_lost:
            return True
        buffer = self._loop._recv_buffer
        size = self.max_size
        try:
            if 0 < size <= RECV_BUFFER_SIZE:
                nbytes, addr = self._sock.recvfrom_into(buffer, size)
                data = buffer[:nbytes].tobytes()
            else:  # a max_size raised past the buffer (or 0): as the stdlib does
                data, addr = self._sock.recvfrom(size)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
        else:
            self._protocol.datagram_received(data, addr)
        return False  # a datagram says nothing of the ones behind it

    _read_ready_cb = _read_ready  # what FdWatch calls, as on SocketTransport


class RingSocketTransport(SocketTransport):
    """TCP and Unix stream sockets on io_uring: reading is a multishot receive.

    Made instead of `SocketTransport` when the loop's runtime runs on
    io_uring with provided buffers (``backend="uring"``, Linux 6.0+). The
    kernel receives into a buffer of its choosing; the ring driver copies
    the bytes out as it reaps the completion and wakes this transport's
    `CallbackWaker`, which hands them to the protocol: no ``recv`` system
    call, no readiness. Everything else (writes, ``write_eof``, closing) is
    `SocketTransport`'s. The loop routes the stdlib's ``_add_reader`` /
    ``_remove_reader`` on this socket to `_ring_read` / `_ring_pause`, so
    ``pause_reading``, ``resume_reading``, ``set_protocol`` and EOF handling
    are the stdlib's own code.
    """

    _reads_edge_triggered = False  # its reader is not an FdWatch's

    def __init__(self, loop: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
        #: The Handle of the reader the stdlib installed (its context is the
        #: one protocol callbacks run in), or None while not reading.
        self._ring_handle: events.Handle | None = None
        super().__init__(loop, sock, *args, **kwargs)
        host = loop._host
        self._ring_waker = host.callback_waker(
            self._ring_received, f"ring reader of fd {self._sock_fd}", loop._callback_error)
        receiver = host.ring_receiver(self._sock_fd, self._ring_waker)
        assert receiver is not None, "made only where the runtime receives on a ring"
        self._receiver: RingReceiver = receiver

    # -- what the loop calls for this socket's reader ---------------------------------

    def _ring_read(self, handle: events.Handle) -> None:
        """The loop's ``_add_reader``: read (again), delivering what is queued."""
        old, self._ring_handle = self._ring_handle, handle
        if old is not None:
            old.cancel()
        self._loop._ring_readers[self._sock_fd] = self
        receiver = self._receiver
        if receiver.received or receiver.arm_or_end() is not None:
            self._ring_waker.wake()

    def _ring_pause(self) -> bool:
        """The loop's ``_remove_reader``: stop delivering (what comes is queued,
        up to the driver's limit, then the kernel pushes back on the peer)."""
        handle, self._ring_handle = self._ring_handle, None
        if handle is None:
            return False
        handle.cancel()
        return True

    def _ring_release(self) -> None:
        """Before the socket is closed: cancel the receive, forget the reader."""
        self._ring_pause()
        readers = self._loop._ring_readers
        if readers.get(self._sock_fd) is self:
            del readers[self._sock_fd]
        self._receiver.close()

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._ring_release()
        finally:
            super()._call_connection_lost(exc)

    # -- delivery ------------------------------------------------------------------

    def _ring_received(self) -> None:
        # Every read's path: the protocol's calls run in the reader Handle's
        # context one by one (context.run of each), with no frame between.
        handle = self._ring_handle
        if handle is None or self._conn_lost:
            return
        if self._loop._halted:
            self._ring_waker.wake()  # stop() ended this turn: deliver in the next run_forever
            return
        run = handle._context.run
        receiver = self._receiver
        received = receiver.received
        library, _sniffio.name = _sniffio.name, "asyncio"
        try:
            while received and self._ring_handle is not None and not self._conn_lost:
                protocol = self._protocol
                if isinstance(protocol, protocols.BufferedProtocol):
                    run(self._ring_give_buffered, received.popleft())
                    continue
                # One call for what came since the last turn, up to max_size (the
                # stdlib's recv takes up to max_size at once, too).
                data = received.popleft()
                if received or len(data) > self.max_size > 0:
                    data = _take(data, received, self.max_size)
                try:  # (inline, not _ring_call: this is every read's path)
                    run(protocol.data_received, data)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    run(self._fatal_error, exc,
                        "Fatal error: protocol.data_received() call failed.")
            if self._ring_handle is None or self._conn_lost:
                return
            ended = receiver.arm_or_end()  # (re-armed if it stopped to push back)
            if ended is None:
                return
            if ended == 0:
                run(self._read_ready__on_eof)
            else:
                run(self._fatal_error, OSError(ended, os.strerror(ended)),
                    "Fatal read error on socket transport")
        finally:
            _sniffio.name = library

    def _ring_call(self, method: Any, arg: object) -> bool:
        """``method(arg)`` of the protocol; False (the transport failed) if it raised."""
        try:
            method(arg)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, f"Fatal error: protocol.{method.__name__}() call failed.")
            return False
        return True

    def _ring_give_buffered(self, data: bytes) -> None:
        # A BufferedProtocol (SSLProtocol among them) is given the bytes in
        # the buffers it asks for; what a pause leaves is queued again.
        view = memoryview(data)
        offset, size = 0, len(data)
        protocol = self._protocol
        while offset < size:
            try:
                buf = memoryview(protocol.get_buffer(size - offset)).cast("B")
                if not len(buf):
                    raise RuntimeError("get_buffer() returned an empty buffer")
                n = min(len(buf), size - offset)
                buf[:n] = view[offset:offset + n]  # TypeError for a read-only buffer
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
                return
            offset += n
            if not self._ring_call(protocol.buffer_updated, n):
                return
            if offset < size and (self._ring_handle is None or self._protocol is not protocol):
                if not self._conn_lost:
                    self._receiver.received.appendleft(data[offset:])
                return


def _take(first: bytes, received: deque[bytes], max_size: int) -> bytes:
    """``first`` and the chunks after it, joined, up to ``max_size`` bytes
    (all if it is 0 or less); what is left over goes back in front."""
    if max_size <= 0:
        received.appendleft(first)
        data = b"".join(received)
        received.clear()
        return data
    parts, size = [first], len(first)
    while received and size < max_size:
        chunk = received.popleft()
        parts.append(chunk)
        size += len(chunk)
    data = b"".join(parts) if len(parts) > 1 else first
    if size > max_size:
        received.appendleft(data[max_size:])
        data = data[:max_size]
    return data
