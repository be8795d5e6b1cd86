"""Unix-domain datagram sockets: `UnixDatagramSocket`."""

from __future__ import annotations

import socket

from ..lowlevel import checkpoint
from .datagram import DatagramSocket
from .naming import bind_naming_errors, name_peer
from .unix import _unix_socket

#: The most one receive takes unless asked otherwise (a Unix datagram can be
#: larger than UDP's; the kernel's default wmem caps it near 200 KiB).
MAX_DATAGRAM = 65536


class UnixDatagramSocket(DatagramSocket):
    """A ``SOCK_DGRAM`` Unix socket: `send_to`/`recv_from` by path, or
    `connect` then `send`/`recv`.

    Datagram boundaries are kept and nothing is lost or reordered between
    two sockets of one machine; a full receiver makes the sender wait.
    An unbound socket can send, but nobody can answer it: `bind` one that
    must receive. Closing does not remove the socket file `bind` made
    (unlike `UnixListener`): a datagram path outlives its socket, as in
    trio and asyncio.
    """

    __slots__ = ()

    @classmethod
    async def bind(cls, path: str | bytes | None = None) -> UnixDatagramSocket:
        """A socket bound at ``path`` (which must not exist); ``None``: unbound."""
        sock = _unix_socket(socket.SOCK_DGRAM)
        try:
            if path is not None:
                bind_naming_errors(sock, path)
            dgram = cls(sock)
        except BaseException:
            sock.close()
            raise
        await checkpoint()
        return dgram

    async def connect(self, path: str | bytes) -> None:
        """Fix the peer: `send`/`recv` use it, datagrams from others are dropped.
        `FileNotFoundError` / `ConnectionRefusedError` name the path."""
        await self._check_open().connect(path)
        self._peer = path

    async def send_to(self, data: bytes, path: str | bytes) -> int:
        """Send one datagram to the socket bound at ``path``."""
        try:
            return await self._check_open().sendto(data, path)
        except OSError as exc:
            raise name_peer(exc, "sending to", path) from None

    async def recv_from(self, max_bytes: int = MAX_DATAGRAM) -> tuple[bytes, str | bytes]:
        """The next datagram (truncated to ``max_bytes``) and the sender's path
        (``""`` or ``None`` for an unbound sender)."""
        try:
            return await self._check_open().recvfrom(max_bytes)
        except OSError as exc:
            raise name_peer(exc, "receiving on", self.local_address) from None

    async def recv(self, max_bytes: int = MAX_DATAGRAM) -> bytes:
        """The next datagram from the connected peer."""
        try:
            return await self._check_open().recv(max_bytes)
        except OSError as exc:
            raise name_peer(exc, "receiving from", self._peer) from None
