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
from collections.abc import AsyncIterator
from typing import Any

from ..errors import BusyResourceError, ClosedResourceError, IncompleteReadError, LineTooLong
from ..executor.io_source import IoSource
from ..executor.traps import checkpoint, checkpoint_if_cancelled
from ..resource import Resource
from .naming import describe, name_peer

READ_CHUNK = 65536


class Stream(Resource):
    """A connected byte stream (TCP or Unix). Use as an async context manager."""

    __slots__ = ("_buf", "_closed", "_peer", "_reading", "_skip_line", "_src", "_writing")

    def __init__(self, sock: socket.socket) -> None:
        self._src = IoSource(sock)
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

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedResourceError(f"stream to {self._describe()} is closed")

    # -- reading ---------------------------------------------------------------

    def _begin_read(self) -> None:
        if self._closed or self._reading:
            self._refuse("reading from")
        self._reading = True

    def _refuse(self, doing: str) -> None:
        """Raise why a read or write cannot start: the stream is closed, or busy."""
        self._check_open()
        raise BusyResourceError(f"another task is already {doing} {self._describe()}")

    async def _fill(self, max_bytes: int = READ_CHUNK) -> bool:
        """Append one chunk to the buffer; False at EOF."""
        try:
            data = await self._src.recv(max_bytes)
        except ClosedResourceError:
            raise ClosedResourceError(
                f"stream to {self._describe()} was closed while reading") from None
        except OSError as exc:
            raise self._fail(exc, "reading from") from None
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
            except ClosedResourceError:
                raise ClosedResourceError(
                    f"stream to {self._describe()} was closed while reading") from None
            except OSError as exc:
                raise self._fail(exc, "reading from") from None
        finally:
            self._reading = False

    async def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes; `IncompleteReadError` (with ``.partial``) at early EOF."""
        if n < 0:
            raise ValueError(f"read_exact() n must be >= 0, got {n}")
        self._begin_read()
        try:
            # Served from the buffer it would never reach a socket call, which
            # is where reads checkpoint; so do it here, before taking bytes.
            await checkpoint_if_cancelled()
            if self._skip_line is not None and not await self._skip_to(self._skip_line):
                raise IncompleteReadError(b"", n)
            while len(self._buf) < n:
                if not await self._fill(max(READ_CHUNK, n - len(self._buf))):
                    partial = bytes(self._buf)
                    self._buf.clear()
                    raise IncompleteReadError(partial, n)
            data = bytes(self._buf[:n])
            del self._buf[:n]
            return data
        finally:
            self._reading = False

    async def read_until(self, separator: bytes = b"\n", limit: int = 65536) -> bytes:
        """Bytes up to and including ``separator``; at EOF, what is left (maybe ``b""``).

        A line longer than ``limit`` bytes (separator not counted) raises
        `LineTooLong` and is discarded up to and including its separator, so
        the next read of any kind starts at the following line.
        """
        if not separator:
            raise ValueError("read_until() separator must not be empty")
        self._begin_read()
        try:
            await checkpoint_if_cancelled()  # see read_exact
            buf = self._buf
            if self._skip_line is not None and not await self._skip_to(self._skip_line):
                return b""
            start = 0
            while True:
                i = buf.find(separator, start)
                if i >= 0:
                    if i > limit:
                        break
                    end = i + len(separator)
                    line = bytes(buf[:end])
                    del buf[:end]
                    return line
                # No separator yet; one can only begin at `start` or later (a
                # part of it may sit at the end): the line is over the limit
                # once even that would make it too long.
                start = max(0, len(buf) - len(separator) + 1)
                if start > limit:
                    break
                if not await self._fill():
                    line = bytes(buf)
                    buf.clear()
                    return line
            # Over the limit: drop what we have, skip the rest of the line later.
            i = buf.find(separator)
            if i >= 0:
                del buf[: i + len(separator)]
            else:
                # Keep what could be the start of a separator split across reads.
                del buf[: len(buf) - len(separator) + 1]
                self._skip_line = separator
            raise LineTooLong(limit, separator)
        finally:
            self._reading = False

    async def _skip_to(self, separator: bytes) -> bool:
        buf = self._buf
        while True:
            i = buf.find(separator)
            if i >= 0:
                del buf[: i + len(separator)]
                self._skip_line = None
                return True
            keep = len(separator) - 1
            del buf[: len(buf) - keep if keep else len(buf)]
            if not await self._fill():
                buf.clear()
                self._skip_line = None
                return False

    async def read_line(self, limit: int = 65536) -> bytes:
        """One ``\\n``-terminated line (kept), or the last unterminated bytes at EOF."""
        return await self.read_until(b"\n", limit)

    async def lines(self, limit: int = 65536) -> AsyncIterator[bytes]:
        """``async for line in stream.lines()``: each line until EOF."""
        while True:
            line = await self.read_line(limit)
            if not line:
                return
            yield line

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
            except ClosedResourceError:
                raise ClosedResourceError(
                    f"stream to {self._describe()} was closed while writing") from None
            except OSError as exc:
                raise self._fail(exc, "writing to") from None
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
