"""TCP: `TcpListener` and `TcpStream`."""

from __future__ import annotations

import socket
import sys
from typing import Any

from ..errors import ClosedResourceError
from ..executor.io_source import IoSource
from ..resource import Resource
from .dns import getaddrinfo
from .happy_eyeballs import connect_first
from .naming import bind_error
from .stream import Stream


class TcpStream(Stream):
    """A TCP connection: a buffered `Stream` with ``TCP_NODELAY`` on."""

    __slots__ = ()

    @classmethod
    async def connect(cls, host: str, port: int, *,
                      happy_eyeballs_delay: float = 0.25) -> TcpStream:
        """Resolve ``host`` (off the loop) and connect, racing addresses per RFC 8305.

        Raises `ConnectionRefusedError` / `OSError` naming the address when
        every attempt fails, `socket.gaierror` when the name does not resolve.
        """
        infos = await getaddrinfo(host, port, type=socket.SOCK_STREAM)
        targets = [(int(family), int(type_), proto, addr)
                   for family, type_, proto, _, addr in infos]
        sock = await connect_first(targets, happy_eyeballs_delay)
        return cls(sock)


class TcpListener(Resource):
    """A listening TCP socket. ``await listener.accept()`` gives a `TcpStream`."""

    __slots__ = ("_closed", "_src")

    def __init__(self, sock: socket.socket) -> None:
        self._src = IoSource(sock)
        self._closed = False

    @classmethod
    async def bind(cls, host: str | None, port: int, *, backlog: int = 1024,
                   reuse_port: bool = False) -> TcpListener:
        """Listen on ``host:port`` (port 0: any free port; see `local_address`).

        ``SO_REUSEADDR`` is on (restart without waiting out TIME_WAIT), as in
        asyncio and trio (on Windows ``SO_EXCLUSIVEADDRUSE``, as in trio: its
        ``SO_REUSEADDR`` means something else); an IPv6 socket is IPv6-only.
        """
        infos = await getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, type_, proto, _, address = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            if sys.platform == "win32":
                # Windows' SO_REUSEADDR would let this bind steal a port in
                # use; SO_EXCLUSIVEADDRUSE refuses it, as trio does there.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                if not hasattr(socket, "SO_REUSEPORT"):
                    raise ValueError("reuse_port=True: this platform has no SO_REUSEPORT")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise bind_error(exc, address) from None
            sock.listen(backlog)
            return cls(sock)
        except BaseException:
            sock.close()
            raise

    @property
    def local_address(self) -> Any:
        return self._src.sock.getsockname()

    @property
    def socket(self) -> socket.socket:
        return self._src.sock

    async def accept(self) -> TcpStream:
        """Wait for the next connection. ``EMFILE`` and friends propagate as `OSError`."""
        if self._closed:
            raise ClosedResourceError("accept() on a closed TcpListener")
        sock, _ = await self._src.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return TcpStream(sock)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._src.close()

    def __repr__(self) -> str:
        where = "closed" if self._closed else self.local_address
        return f"<TcpListener {where}>"
