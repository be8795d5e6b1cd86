"""UDP: `UdpSocket`."""

from __future__ import annotations

import socket
import sys
from typing import Any

from .datagram import DatagramSocket
from .dns import getaddrinfo
from .naming import bind_naming_errors, name_peer, windows_udp_error

#: The largest UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes).
MAX_DATAGRAM = 65507


class UdpSocket(DatagramSocket):
    """A UDP socket: `send_to`/`recv_from`, or `connect` then `send`/`recv`."""

    __slots__ = ()

    @classmethod
    async def bind(cls, host: str | None, port: int, *, family: int = 0,
                   reuse_port: bool = False) -> UdpSocket:
        """A socket bound to ``host:port`` (port 0: any free port).

        ``family`` (``AF_INET``/``AF_INET6``; 0: whatever ``host`` resolves to
        first) picks the socket's family; ``host=None`` is every interface of
        it. ``reuse_port`` sets ``SO_REUSEPORT`` so several sockets can bind
        the same port (the kernel spreads datagrams among them).
        """
        if host is None:
            host = "::" if family == socket.AF_INET6 else "0.0.0.0"
        infos = await getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM,
                                  flags=socket.AI_PASSIVE)
        family, type_, proto, _, address = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            if reuse_port:
                if not hasattr(socket, "SO_REUSEPORT"):
                    raise ValueError("reuse_port=True: this platform has no SO_REUSEPORT")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            bind_naming_errors(sock, address)
            return cls(sock)
        except BaseException:
            sock.close()
            raise


    async def send_to(self, data: bytes, address: Any) -> int:
        """Send one datagram to ``address`` (a ``(host, port)`` of the socket's family)."""
        try:
            return await self._check_open().sendto(data, address)
        except OSError as exc:
            raise name_peer(exc, "sending to", address) from None

    async def recv_from(self, max_bytes: int = MAX_DATAGRAM) -> tuple[bytes, Any]:
        """The next datagram (truncated to ``max_bytes``) and who sent it.

        On Windows a datagram longer than ``max_bytes`` raises `OSError`
        (``EMSGSIZE``) instead: Windows fails such a receive, and CPython
        keeps none of it.
        """
        while True:
            try:
                return await self._check_open().recvfrom(max_bytes)
            except ConnectionResetError:
                if sys.platform != "win32":
                    raise
                # Windows reports an ICMP port-unreachable for an earlier
                # send_to on the next receive, even unconnected; Linux never
                # does there, so a server loop would die on one gone client.
                continue
            except OSError as exc:
                exc = windows_udp_error(exc, max_bytes)
                raise name_peer(exc, "receiving on", self.local_address) from None

    async def connect(self, host: str, port: int) -> None:
        """Fix the peer: `send`/`recv` use it, datagrams from others are dropped."""
        src = self._check_open()
        infos = await getaddrinfo(host, port, family=src.sock.family, type=socket.SOCK_DGRAM)
        try:
            src.sock.connect(infos[0][4])
        except OSError as exc:
            raise name_peer(exc, "connecting to", infos[0][4]) from None
        self._peer = infos[0][4]

    async def recv(self, max_bytes: int = MAX_DATAGRAM) -> bytes:
        """The next datagram from the connected peer; a refusal it sent back
        (ICMP port unreachable) raises `ConnectionRefusedError` naming it."""
        try:
            return await self._check_open().recv(max_bytes)
        except OSError as exc:
            exc = windows_udp_error(exc, max_bytes)
            raise name_peer(exc, "receiving from", self._peer) from None
