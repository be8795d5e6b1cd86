"""`PipeStream`: one end of an OS pipe, non-blocking, through the IO driver.

What a `Process`'s ``stdin``, ``stdout`` and ``stderr`` are. The same
reading as `Stream` (`BufferedReading`: `read`, `read_exact`, `read_line`,
``async for line in lines()``), writes with `write_all`, and `close`; a pipe
has no half-close, so closing the write end is how the reader gets EOF.

A pipe is not a socket, so it has no `Source`: reads and writes try
``os.read``/``os.write`` first and, on ``EAGAIN``, park on the fd's
readiness (`wait_readable`/`wait_writable`), which works the same on every
Unix backend (io_uring's runner waits for readiness through its epoll).
"""

from __future__ import annotations

import os

from ..errors import BrokenResourceError, ClosedResourceError
from ..lowlevel import checkpoint_if_cancelled, notify_closing, wait_readable, wait_writable
from ..resource import Resource
from .buffered import READ_CHUNK, BufferedReading


class PipeStream(BufferedReading, Resource):
    """A byte stream over a pipe fd (owned: `close` closes it). ``name`` says what it is."""

    __slots__ = ("_fd", "_name", "_writing")

    def __init__(self, fd: int, name: str) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._name = name
        self._buf = bytearray()
        self._closed = False
        self._reading = False
        self._writing = False
        self._skip_line: bytes | None = None

    def fileno(self) -> int:
        return self._fd

    def _describe(self) -> str:
        return self._name

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedResourceError(f"{self._name} is closed")

    # -- reading ---------------------------------------------------------------

    async def _read_some(self, max_bytes: int) -> bytes:
        await checkpoint_if_cancelled()
        while True:
            try:
                return os.read(self._fd, max_bytes)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise OSError(exc.errno, f"{exc.strerror}: reading from {self._name}") from None
            try:
                await wait_readable(self._fd)
            except ClosedResourceError:
                raise ClosedResourceError(f"{self._name} was closed while reading") from None

    async def _fill(self, max_bytes: int = READ_CHUNK) -> bool:
        data = await self._read_some(max_bytes)
        if not data:
            return False
        self._buf += data
        return True

    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        """Up to ``max_bytes`` bytes, as soon as any are available; ``b""`` at EOF."""
        if max_bytes < 1:
            raise ValueError(f"read() max_bytes must be >= 1, got {max_bytes}")
        self._begin_read()
        try:
            if self._skip_line is not None and not await self._skip_to(self._skip_line):
                return b""
            if self._buf:
                await checkpoint_if_cancelled()  # before taking: a Cancelled after loses them
                data = bytes(self._buf[:max_bytes])
                del self._buf[:max_bytes]
                return data
            return await self._read_some(max_bytes)
        finally:
            self._reading = False

    # -- writing ---------------------------------------------------------------

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write every byte of ``data``, waiting while the pipe is full.

        `BrokenResourceError` if the reader has closed its end (the process
        exited, or closed its stdin); `ClosedResourceError` if this end is closed.
        """
        if self._closed or self._writing:
            self._refuse("writing to")
        self._writing = True
        try:
            await checkpoint_if_cancelled()
            view = memoryview(data).cast("B")
            sent = 0
            while sent < len(view):
                try:
                    sent += os.write(self._fd, view[sent:])
                    continue
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    raise BrokenResourceError(
                        f"{self._name}: the reading end was closed (EPIPE)") from None
                except OSError as exc:
                    raise OSError(exc.errno, f"{exc.strerror}: writing to {self._name}") from None
                try:
                    await wait_writable(self._fd)
                except ClosedResourceError:
                    raise ClosedResourceError(f"{self._name} was closed while writing") from None
        finally:
            self._writing = False

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """Close the fd now (idempotent); waiting tasks get `ClosedResourceError`."""
        if self._closed:
            return
        self._closed = True
        try:
            notify_closing(self._fd)
        except RuntimeError:
            pass  # closed outside the runtime (garbage collection): nobody can be waiting
        os.close(self._fd)

    @property
    def closed(self) -> bool:
        return self._closed

    def __del__(self) -> None:
        # A Process dropped without aclose must not leak its pipes' fds.
        if not getattr(self, "_closed", True):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<PipeStream {self._name} {state}>"
