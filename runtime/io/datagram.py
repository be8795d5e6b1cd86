"""`DatagramSocket`: what UDP and Unix datagram sockets share."""

from __future__ import annotations

import socket
from typing import Any

from ..errors import ClosedResourceError
from ..lowlevel import Source, socket_source
from ..resource import Resource
from .naming import name_peer


class DatagramSocket(Resource):
    """A registered datagram socket: its addresses, its peer once connected, close."""

    __slots__ = ("_closed", "_peer", "_src")

    def __init__(self, sock: socket.socket) -> None:
        self._src = socket_source(sock)
        self._closed = False
        try:
            self._peer: Any = sock.getpeername() or None  # connected before it came here
        except OSError:
            self._peer = None

    @property
    def local_address(self) -> Any:
        return self._src.sock.getsockname()

    @property
    def peer_address(self) -> Any:
        """The connected peer (``connect``), or ``None``."""
        return self._peer

    @property
    def socket(self) -> socket.socket:
        return self._src.sock

    def _check_open(self) -> Source:
        if self._closed:
            raise ClosedResourceError(f"{type(self).__name__} is closed")
        return self._src

    async def send(self, data: bytes) -> int:
        """Send one datagram to the connected peer."""
        try:
            return await self._check_open().send(data)
        except OSError as exc:
            raise name_peer(exc, "sending to", self._peer) from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._src.close()
