"""UDP: `UdpSocket`."""

from __future__ import annotations

import socket
from typing import Any

from ..errors import ClosedResourceError
from ..executor.io_source import IoSource
from ..resource import Resource
from .dns import getaddrinfo

#: The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes).
MAX_DATAGRAM = 65507


class UdpSocket(Resource):
    """A UDP socket: `send_to`/`recv_from`, or `connect` then `send`/`recv`."""

    __slots__ = ("_closed", "_src")

    def __init__(self, sock: socket.socket) -> None:
        self._src = IoSource(sock)
        self._closed = False

    @classmethod
    async def bind(cls, host: str, port: int) -> UdpSocket:
        """A socket bound to ``host:port`` (port 0: any free port)."""
        infos = await getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        family, type_, proto, _, address = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise type(exc)(exc.errno, f"{exc.strerror}: bind to {address!r}") from None
            return cls(sock)
        except BaseException:
            sock.close()
            raise

    @property
    def local_address(self) -> Any:
        return self._src.sock.getsockname()

    def _check_open(self) -> IoSource:
        if self._closed:
            raise ClosedResourceError("UdpSocket is closed")
        return self._src

    async def send_to(self, data: bytes, address: Any) -> int:
        """Send one datagram to ``address`` (a ``(host, port)`` of the socket's family)."""
        return await self._check_open().sendto(data, address)

    async def recv_from(self, max_bytes: int = MAX_DATAGRAM) -> tuple[bytes, Any]:
        """The next datagram (truncated to ``max_bytes``) and who sent it."""
        return await self._check_open().recvfrom(max_bytes)

    async def connect(self, host: str, port: int) -> None:
        """Fix the peer: `send`/`recv` use it, datagrams from others are dropped."""
        src = self._check_open()
        infos = await getaddrinfo(host, port, family=src.sock.family, type=socket.SOCK_DGRAM)
        src.sock.connect(infos[0][4])

    async def send(self, data: bytes) -> int:
        return await self._check_open().send(data)

    async def recv(self, max_bytes: int = MAX_DATAGRAM) -> bytes:
        return await self._check_open().recv(max_bytes)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._src.close()
