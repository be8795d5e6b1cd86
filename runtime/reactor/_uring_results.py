"""What an io_uring `Ring` hands back: its completions, and the buffers of a multishot receive.

`Completions` is the flat buffer `Ring.submit_and_wait` reaps into (fact 1
of ``_uring.py``'s essay: no object per completion); a `BufferRing` is a
provided-buffer group the kernel picks from (facts 13 and 14).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._uring_cffi import ffi, lib


class Completion(NamedTuple):
    """One completion: the operation's token, its result (``-errno`` on failure), flags."""

    token: int
    result: int
    flags: int


class Completions:
    """The reusable buffer `Ring.submit_and_wait` fills.

    ``raw`` is ``[token, result, flags, token, result, flags, ...]``, read
    directly by the executor; iterating yields `Completion` tuples.
    """

    __slots__ = ("_out", "capacity", "raw")

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError(f"Completions capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._out = ffi.new("int64_t[]", 3 * capacity)
        self.raw: list[int] = []

    def __len__(self) -> int:
        return len(self.raw) // 3

    def __iter__(self) -> Any:
        raw = self.raw
        for i in range(0, len(raw), 3):
            yield Completion(raw[i], raw[i + 1], raw[i + 2])



class BufferRing:
    """Buffers the kernel picks from for a multishot receive (`Ring.recv_multishot`).

    ``entries`` buffers of ``size`` bytes, registered as group ``bgid``. A
    completion names its buffer in its flags; `take` copies the bytes out
    and hands the buffer straight back to the kernel.
    """

    __slots__ = ("_b", "bgid", "entries", "memory", "size")

    #: A completion's flags >> this is the id of the buffer it filled.
    SHIFT = lib.rt_cqe_buffer_shift

    def __init__(self, b: Any, bgid: int) -> None:
        self._b = b
        self.bgid = bgid
        self.entries = int(b.entries)
        self.size = int(b.bufsize)
        #: All the buffers, one after another: buffer ``i`` is
        #: ``memory[i * size:(i + 1) * size]`` (slicing it copies into a
        #: ``bytes``), for a caller that copies out without a call per
        #: completion and gives the buffers back with `recycle_reaped`.
        self.memory = ffi.buffer(b.bufs, self.entries * self.size)

    def take(self, flags: int, nbytes: int) -> bytes:
        """The ``nbytes`` the completion with ``flags`` received; its buffer is recycled."""
        b = self._b
        data: bytes = ffi.unpack(lib.rt_buf_ptr(b, flags), nbytes)
        lib.rt_buf_recycle(b, flags)
        return data

    def give_back(self, flags: int) -> None:
        """Recycle the buffer of a completion whose bytes are not wanted."""
        lib.rt_buf_recycle(self._b, flags)

    def recycle_reaped(self, completions: Completions) -> int:
        """Give back every buffer the last `Ring.submit_and_wait` into
        ``completions`` reaped (their bytes copied out by now): one call per
        batch instead of one per completion. Every buffer completion of the
        batch must be from this group. Returns how many."""
        return int(lib.rt_buf_recycle_reaped(self._b, completions._out,
                                             len(completions.raw) // 3))
