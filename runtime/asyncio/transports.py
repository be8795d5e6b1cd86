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

from asyncio import selector_events
from typing import Any

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
