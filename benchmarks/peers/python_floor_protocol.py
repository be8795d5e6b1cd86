"""The least a readiness loop written in Python runs per echo round trip: a ceiling, not a loop.

    python python_floor_protocol.py PORT       (binds 127.0.0.1; SIGTERM exits)

What any asyncio event loop in Python must do for one round trip of the
Protocol echo (asyncio_protocol.py), with everything else taken away: one
``epoll.poll`` per turn, then for each ready socket a ``recv``, the
protocol's ``data_received`` and a transport ``write`` that sends at once.
No callbacks queue, no handles, no contexts, no timers, no flow control, no
error handling (a failing socket is dropped). Its rate against the stdlib
loop's is the most any Python loop can be ahead by (asyncio_echo.py prints
it as ``python_floor_protocol``); only a loop whose per-event path is in C
(uvloop) can pass it.
"""

import select
import signal
import socket
import sys


class Transport:
    __slots__ = ("_buffer", "_sock")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def write(self, data: bytes) -> None:
        # asyncio's rule, at its shortest: send now; keep what did not fit
        # (this ceiling never has any: one 100-byte message in flight).
        if not self._buffer:
            n = self._sock.send(data)
            data = data[n:]
        self._buffer += data


class Echo:
    __slots__ = ("transport",)

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def main(port: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.create_server(("127.0.0.1", port), backlog=1024)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    conns: dict[int, tuple[socket.socket, Echo]] = {}
    lfd = listener.fileno()
    while True:
        for fd, _ in poller.poll():
            if fd == lfd:
                sock, _addr = listener.accept()
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[sock.fileno()] = (sock, Echo(Transport(sock)))
                poller.register(sock.fileno(), select.EPOLLIN)
                continue
            sock, protocol = conns[fd]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                protocol.data_received(data)
            else:
                poller.unregister(fd)
                del conns[fd]
                sock.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
