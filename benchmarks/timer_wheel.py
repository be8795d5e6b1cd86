"""`TimerWheel`: a hierarchical timing wheel with `TimerHeap`'s four methods.

Varghese & Lauck's hierarchical wheel, shaped like tokio's
``runtime/time/wheel``: six levels of 64 slots over 1 ms ticks. Level 0's
slots are 1 ms wide (it spans 64 ms), level 1's are 64 ms (4.1 s), and so on
up to level 5 (64^6 ms, about 2.2 years). A deadline goes into the level
given by the highest bit in which its tick differs from the wheel's
``elapsed`` tick (six bits a level), so level 0 holds what is due within the
current 64 ms block, level 1 what is due within the current 4 s block, ...
Each level keeps a 64-bit occupancy mask, so finding the next non-empty slot
is a rotate and a count of trailing zeros, whatever the number of timers.

* insert: compute level and slot, put the entry in that slot's dict: O(1).
* cancel: delete it from its slot's dict: O(1), no tombstone.
* next_deadline: the tick of the first occupied slot of the lowest occupied
  level (lower levels always expire first): O(levels).
* fire_expired: take due slots in order; a level-0 slot fires (its entries
  sorted by deadline, then insertion order: the same order as the heap), a
  higher slot *cascades* (its entries are re-inserted, landing lower).

Deadlines are floats on the runner's clock; a tick is a millisecond since
the wheel was made, and a deadline's tick is rounded *up*, as tokio does: a
slot fires once its millisecond has ended, so a timer never fires early and
at most 1 ms late (the heap fires at the exact deadline). Within a slot,
entries fire in deadline order, then insertion order, as the heap's do.

Not used by the runner: ``benchmarks/timers.py`` measures it against the
heap, and the faster is what `Runner` uses (see ``time_driver.py``).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

LEVELS = 6
SLOTS = 64
SLOT_BITS = 6
_MASK64 = (1 << 64) - 1
#: The farthest tick a deadline can be placed at; later ones are parked at
#: this distance and re-placed when they come round (tokio clamps the same).
MAX_TICKS = (1 << (SLOT_BITS * LEVELS)) - 1
#: Entry fields: the first three are `TimerHeap`'s, so ``time_driver.fired``
#: works on both.
DEADLINE, SEQ, CALLBACK, TICK, LEVEL, SLOT = range(6)
IN_EXPIRED = -1  # LEVEL of an entry waiting in the due list
#: The level of a deadline, indexed by the bit length of ``elapsed ^ tick``.
#: Capped at the top level (tokio caps the same): a tick within MAX_TICKS of
#: ``elapsed`` can still differ above bit 36 when it crosses a 2^36 boundary.
_LEVEL_OF_BITS = [min(LEVELS - 1, max(0, bits - 1) // SLOT_BITS) for bits in range(65)]
_ceil = math.ceil

TimerEntry = list


class TimerWheel:
    """Deadlines in six levels of 64 slots; O(1) insert and cancel."""

    __slots__ = ("_elapsed", "_expired", "_len", "_occupied", "_origin", "_seq", "_slots")

    def __init__(self, origin: float | None = None) -> None:
        self._origin = time.perf_counter() if origin is None else origin
        self._elapsed = 0  # ticks since origin that the wheel has processed
        self._slots: list[list[dict[int, TimerEntry]]] = [
            [{} for _ in range(SLOTS)] for _ in range(LEVELS)]
        self._occupied = [0] * LEVELS
        self._expired: list[TimerEntry] = []  # due at or before `elapsed`
        self._seq = itertools.count()
        self._len = 0

    def __len__(self) -> int:
        return self._len

    # -- insert and cancel ------------------------------------------------------------

    def insert(self, deadline: float, callback: Callable[[], object]) -> TimerEntry:
        """Call ``callback()`` from the run loop once ``deadline`` has passed."""
        tick = _ceil((deadline - self._origin) * 1000.0)
        seq = next(self._seq)
        elapsed = self._elapsed
        self._len += 1
        if elapsed < tick <= elapsed + MAX_TICKS:
            # `_place`, inlined: this is the hot path (every sleep, every timeout).
            level = _LEVEL_OF_BITS[((elapsed ^ tick) | (SLOTS - 1)).bit_length()]
            slot = (tick >> (level * SLOT_BITS)) & (SLOTS - 1)
            entry = [deadline, seq, callback, tick, level, slot]
            self._slots[level][slot][seq] = entry
            self._occupied[level] |= 1 << slot
            return entry
        entry = [deadline, seq, callback, 0, 0, 0]
        self._place(entry, tick)
        return entry

    def _place(self, entry: TimerEntry, tick: int) -> None:
        elapsed = self._elapsed
        if tick <= elapsed:
            entry[LEVEL] = IN_EXPIRED
            self._expired.append(entry)
            return
        if tick - elapsed > MAX_TICKS:
            tick = elapsed + MAX_TICKS  # comes round early, is re-placed then
        level = _LEVEL_OF_BITS[((elapsed ^ tick) | (SLOTS - 1)).bit_length()]
        slot = (tick >> (level * SLOT_BITS)) & (SLOTS - 1)
        entry[TICK] = tick
        entry[LEVEL] = level
        entry[SLOT] = slot
        self._slots[level][slot][entry[SEQ]] = entry
        self._occupied[level] |= 1 << slot

    def cancel(self, entry: TimerEntry) -> None:
        """Forget ``entry`` if it has not fired yet (idempotent)."""
        if entry[CALLBACK] is None:
            return
        entry[CALLBACK] = None
        self._len -= 1
        level = entry[LEVEL]
        if level == IN_EXPIRED:
            return  # skipped when the due list is drained
        slot = entry[SLOT]
        bucket = self._slots[level][slot]
        del bucket[entry[SEQ]]
        if not bucket:
            self._occupied[level] &= ~(1 << slot)

    # -- expiry -------------------------------------------------------------------------

    def _next_expiration(self) -> tuple[int, int, int] | None:
        """``(tick, level, slot)`` of the first occupied slot, or ``None``."""
        elapsed = self._elapsed
        for level in range(LEVELS):
            occupied = self._occupied[level]
            if not occupied:
                continue
            shift = level * SLOT_BITS
            now_slot = (elapsed >> shift) & (SLOTS - 1)
            rotated = ((occupied >> now_slot) | (occupied << (SLOTS - now_slot))) & _MASK64
            slot = ((rotated & -rotated).bit_length() - 1 + now_slot) % SLOTS
            level_range = 1 << (shift + SLOT_BITS)
            tick = (elapsed & ~(level_range - 1)) + (slot << shift)
            if tick <= elapsed and level:
                tick += level_range  # the top level wrapped round
            return tick, level, slot
        return None

    def next_deadline(self) -> float | None:
        """When the first slot is due (or, for a far one, when to cascade it).

        ``None`` when nothing is pending. A slot's time is its millisecond's
        end, so it is never before any deadline in it, and at most 1 ms after.
        """
        if self._expired:
            live = [e[DEADLINE] for e in self._expired if e[CALLBACK] is not None]
            if live:
                return min(live)
            self._expired.clear()
        expiration = self._next_expiration()
        if expiration is None:
            return None
        return self._origin + expiration[0] / 1000.0

    def fire_expired(self, now: float) -> int:
        """Run the callbacks of every slot due at ``now``; return how many ran."""
        # The nudge: a `next_deadline` value converted back must land on its
        # own tick, not a hair before it (firing still compares exact floats).
        now_tick = math.floor((now - self._origin) * 1000.0 + 1e-6)
        fired = 0
        early: list[TimerEntry] = []  # float rounding, or a far deadline come round
        while True:
            if self._expired:
                due, self._expired = self._expired, []
                due.sort()
                for entry in due:
                    fired += self._fire(entry, now, early)
                continue
            expiration = self._next_expiration()
            if expiration is None or expiration[0] > now_tick:
                break
            tick, level, slot = expiration
            bucket = self._slots[level][slot]
            self._slots[level][slot] = {}
            self._occupied[level] &= ~(1 << slot)
            self._elapsed = tick
            if level == 0:
                for entry in sorted(bucket.values()):
                    fired += self._fire(entry, now, early)
            else:
                for entry in bucket.values():  # cascade: re-placed lower down
                    self._place(entry, entry[TICK])
        if now_tick > self._elapsed:
            self._elapsed = now_tick
        for entry in early:
            tick = math.ceil((entry[DEADLINE] - self._origin) * 1000.0)
            self._place(entry, max(tick, self._elapsed + 1))
        return fired

    def _fire(self, entry: TimerEntry, now: float, early: list[TimerEntry]) -> int:
        callback = entry[CALLBACK]
        if callback is None:
            return 0
        if entry[DEADLINE] > now:
            early.append(entry)
            return 0
        entry[CALLBACK] = None
        self._len -= 1
        callback()
        return 1
