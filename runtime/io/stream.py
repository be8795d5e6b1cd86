"""`Stream`: buffered reading and writing over a connected socket.

Reads pull up to 64 KiB at a time into one ``bytearray``; `read_line` and
`read_until` search it without copying. Writes go straight to the kernel:
`write_all` loops on ``send`` and waits for writability when the kernel's
buffer is full, which is the flow control (memory stays bounded however
slowly the peer reads). One task may read and one may write at a time; a
second gets `BusyResourceError` instead of interleaved bytes.
"""

from __future__ import annotations

import socket
from typing import Any

from ..errors import ClosedResourceError
from ..lowlevel import checkpoint, checkpoint_if_cancelled, socket_source
from ..resource import Resource
from .buffered import READ_CHUNK, BufferedReading
from .naming import describe, name_peer


class Stream(BufferedReading, Resource):
    """A connected byte stream (TCP or Unix). Use as an async context manager."""

    __slots__ = ("_peer", "_src", "_writing")

    def __init__(self, sock: socket.socket) -> None:
        self._src = socket_source(sock)
        self._buf = bytearray()
        self._closed = False
        self._reading = False
        self._writing = False
        self._skip_line: bytes | None = None
        try:
            self._peer: Any = sock.getpeername()
        except OSError:
            self._peer = None

    # -- addresses -------------------------------------------------------------

    @property
    def socket(self) -> socket.socket:
        return self._src.sock

    @property
    def local_address(self) -> Any:
        return self._src.sock.getsockname()

    @property
    def peer_address(self) -> Any:
        return self._peer

    def _describe(self) -> str:
        return describe(self._peer)

    def _fail(self, exc: OSError, op: str) -> OSError:
        return name_peer(exc, op, self._peer)

    def _failed(self, exc: OSError | ClosedResourceError, op: str) -> Exception:
        """What a read or write raises for its socket's ``exc``, naming the peer:
        ``op`` is "reading from" or "writing to"."""
        if isinstance(exc, ClosedResourceError):
            doing = op.split()[0]
            return ClosedResourceError(f"stream to {self._describe()} was closed while {doing}")
        return self._fail(exc, op)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedResourceError(f"stream to {self._describe()} is closed")

    # -- reading ---------------------------------------------------------------

    async def _fill(self, max_bytes: int = READ_CHUNK) -> bool:
        """Append one chunk to the buffer; False at EOF."""
        try:
            data = await self._src.recv(max_bytes)
        except (ClosedResourceError, OSError) as exc:
            raise self._failed(exc, "reading from") from None
        if not data:
            return False
        self._buf += data
        return True

    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        """Up to ``max_bytes`` bytes, as soon as any are available; ``b""`` at EOF."""
        if max_bytes < 1:
            raise ValueError(f"read() max_bytes must be >= 1, got {max_bytes}")
        if self._closed or self._reading:  # _begin_read, written out: the hot path
            self._refuse("reading from")
        self._reading = True
        try:
            if self._skip_line is not None and not await self._skip_to(self._skip_line):
                return b""  # EOF inside the rest of a line read_until refused
            buf = self._buf
            if buf:
                # Checkpoint before taking the bytes: a Cancelled raised after
                # would lose them.
                await checkpoint_if_cancelled()
                data = bytes(buf[:max_bytes])
                del buf[:max_bytes]
                return data
            try:
                return await self._src.recv(max_bytes)
            except (ClosedResourceError, OSError) as exc:
                raise self._failed(exc, "reading from") from None
        finally:
            self._reading = False

    # -- writing ---------------------------------------------------------------

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send every byte of ``data``, waiting while the kernel buffer is full."""
        if self._closed or self._writing:
            self._refuse("writing to")
        self._writing = True
        try:
            src = self._src
            try:
                # bytes (the common case) go to the kernel as they are; a
                # byte view is made only for what it did not take at once.
                view = data if type(data) is bytes else memoryview(data).cast("B")
                total = len(view)
                sent = src.try_send(view)
                if sent is None:
                    sent = await src.send(view)
                if sent < total:
                    view = memoryview(view).cast("B")
                    while sent < total:
                        sent += await src.send(view[sent:])
            except (ClosedResourceError, OSError) as exc:
                raise self._failed(exc, "writing to") from None
        finally:
            self._writing = False

    async def shutdown_write(self) -> None:
        """Half-close: the peer reads EOF; this side can still read."""
        self._check_open()
        try:
            self._src.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise self._fail(exc, "shutting down the write side to") from None
        await checkpoint()

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """Close now (idempotent); tasks waiting on the stream get `ClosedResourceError`."""
        if not self._closed:
            self._closed = True
            self._src.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._src.sock.fileno()}"
        return f"<{type(self).__name__} {self._describe()} {state}>"
