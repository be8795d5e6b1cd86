"""`Outbox`: the bytes waiting to be written to one client, and its writer.

Fairness comes from **backpressure**, not from disconnecting readers. A
line said in a room is put into every member's outbox at once (nothing is
dropped, nothing waits); then the *sender's* reader waits until every
member that went over `HIGH_WATER` bytes has drained back to `LOW_WATER`
(`Outbox.caught_up`). While it waits it reads nothing, so a flood slows
the flooder: its socket buffers fill and TCP pushes back on it. A client
that reads promptly is never disconnected, however many people flood at
once: each sender adds at most one line to it past the high-water mark
before waiting, so its outbox stays under ``HIGH_WATER + senders x line``.

A client that does not read would then hold its whole room back. So a
member whose writer has been stuck in one write for more than `STALL`
seconds stops counting (`stalled`): senders no longer wait for it, and it
is disconnected as "too slow" when either

* a write makes no progress for ``--write-timeout`` seconds (default 30;
  the server's watchdog, `ChatServer`, looks about once a second), or
* its outbox passes ``--max-queued`` bytes (default 1 MiB) while stalled.

Memory is therefore bounded: ``max_queued`` per stalled client, and the
high-water bound above per prompt one (the lines themselves are shared
between the members' outboxes; each holds references).

Alternatives measured (2 vCPU, loaded; ``benchmarks/chat.py --flood`` and a
one-off run): with 40 flooders x 40 lines at once and 50 reading
bystanders, the 1024-line queue per client this replaced cut off all 50
bystanders (``--before 56c2808``), this design none. With 5 flooders
pushing 40 MB of 1 KiB lines past 5 readers and one client that never
reads, an unbounded outbox without backpressure peaked at 68 MiB RSS (the
flood queued for the silent client until the write timeout) and this
design at 27 MiB (the silent client stalled and was cut at
``--max-queued``); the line-count queue cut off the flooders themselves,
whose own echoes filled their queues.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import runtime

from . import protocol

#: A client with more than this many bytes unsent holds its senders back...
HIGH_WATER = 64 * 1024
#: ...until it is down to this many.
LOW_WATER = 16 * 1024
#: Seconds a write may block before its client stops holding senders back.
STALL = 1.0
#: The most lines the writer joins into one write.
MAX_BATCH = 512


class Link(Protocol):
    """What a session talks through: a TCP `Stream`, or a WebSocket carrying lines."""

    @property
    def peer_address(self) -> object: ...

    async def read_line(self, limit: int) -> bytes: ...

    async def write_all(self, data: bytes) -> None: ...


class Outbox:
    __slots__ = ("_caught_up", "_cut", "_rx", "_send", "_tx", "max_queued", "open", "queued",
                 "writing_since")

    def __init__(self, max_queued: int, cut: Callable[[str], None]) -> None:
        # Unbounded as a channel; bounded by the rules in the module docstring.
        self._tx, self._rx = runtime.channel(math.inf)
        self._send = self._tx.try_send
        self.max_queued = max_queued
        self._cut = cut  # disconnects the client, with a reason
        self.queued = 0  # bytes put and not yet written
        self.writing_since: float | None = None  # when the write in progress began
        self.open = True
        self._caught_up: runtime.Event | None = None  # set when queued drops to LOW_WATER

    def put(self, line: bytes) -> bool:
        """Queue ``line``; True if its sender should now wait for this client (`caught_up`).

        The fan-out's hot path: one call per member per line.
        """
        try:
            self._send(line)
        except (runtime.BrokenResourceError, runtime.ClosedResourceError):
            return False  # the writer has stopped
        queued = self.queued = self.queued + len(line)
        return queued > HIGH_WATER and self._behind()

    def _behind(self) -> bool:
        if not self.stalled():
            return True
        if self.queued > self.max_queued:
            self._cut(protocol.too_much_unsent(self.max_queued))
        return False

    def stalled(self) -> bool:
        since = self.writing_since
        return since is not None and runtime.current_time() - since > STALL

    def overdue(self, now: float, write_timeout: float) -> bool:
        """Has the write in progress made no progress for ``write_timeout`` seconds?"""
        since = self.writing_since
        return since is not None and now - since > write_timeout

    async def caught_up(self) -> None:
        """Return once this client is down to `LOW_WATER`, has stalled, or is gone."""
        while self.open and self.queued > LOW_WATER and not self.stalled():
            if self._caught_up is None:
                self._caught_up = runtime.Event()
            # Woken by the writer; the timeout re-checks `stalled` (a write
            # that blocks does not wake anyone).
            with runtime.move_on_after(STALL):
                await self._caught_up.wait()

    def close(self, last: bytes) -> None:
        """Queue ``last`` (the bye line) and no more: the writer stops after it."""
        self.put(last)
        self._tx.close()

    async def drain(self, link: Link) -> None:
        """Write everything queued until `close`. Raises what ``link.write_all`` raises."""
        rx = self._rx
        try:
            while True:
                try:
                    batch = await rx.recv_many(MAX_BATCH)
                except runtime.EndOfChannel:
                    return
                data = b"".join(batch) if len(batch) > 1 else batch[0]
                # The server's watchdog reads this to find writes that make no progress.
                self.writing_since = runtime.current_time()
                await link.write_all(data)
                self.writing_since = None
                self.queued -= len(data)
                if self.queued <= LOW_WATER:
                    self._wake_senders()
        finally:
            self.open = False
            self.writing_since = None
            rx.close()
            self._wake_senders()

    def _wake_senders(self) -> None:
        if self._caught_up is not None:
            self._caught_up.set()
            self._caught_up = None
