"""`BufferedReading`: the line and exact-size reads every byte stream shares.

`Stream` (bytes from a socket) and `TlsStream` (bytes out of a TLS session)
differ only in how one more chunk arrives, their ``_fill``; finding a
separator in the buffer, the line limit and skipping the rest of an
over-long line are written once, here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..errors import BusyResourceError, IncompleteReadError, LineTooLong
from ..lowlevel import checkpoint_if_cancelled

READ_CHUNK = 65536


class BufferedReading:
    """Mixin: `read_exact`, `read_until`, `read_line`, `lines` over ``_fill``.

    Its slots: ``_buf`` (bytes read but not yet returned), ``_reading`` (a
    read is in progress), ``_skip_line`` (the separator of an over-long line
    still being discarded) and ``_closed``; the class using it sets them and
    defines ``_fill``, ``_check_open`` and ``_describe``.
    """

    __slots__ = ("_buf", "_closed", "_reading", "_skip_line")

    _buf: bytearray
    _closed: bool
    _reading: bool
    _skip_line: bytes | None

    async def _fill(self, max_bytes: int = READ_CHUNK) -> bool:
        """Append one chunk to the buffer; False at EOF."""
        raise NotImplementedError

    def _check_open(self) -> None:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _begin_read(self) -> None:
        if self._closed or self._reading:
            self._refuse("reading from")
        self._reading = True

    def _refuse(self, doing: str) -> None:
        """Raise why a read or write cannot start: the stream is closed, or busy."""
        self._check_open()
        raise BusyResourceError(f"another task is already {doing} {self._describe()}")

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

