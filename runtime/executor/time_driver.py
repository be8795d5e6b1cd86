"""The time driver: when each sleeping task (or deadline) is due.

A discussion of the structure
-----------------------------
The runner needs three things from it: insert a deadline, cancel one (most
deadlines are cancelled before they fire: a ``move_on_after`` whose block
finished in time, a sleep whose task was cancelled), and tell the earliest
deadline so ``poll()`` can sleep exactly until then.

`TimerHeap` is a binary heap (``heapq``, in C) of ``[deadline, seq,
callback]`` lists. Insert is O(log n) in C; cancel is O(1): it clears the
callback and leaves a tombstone that is dropped when it reaches the top (the
heap is rebuilt if tombstones outnumber live entries, so they cannot pile
up). ``seq`` keeps equal deadlines first-in first-out and spares ``heapq``
from ever comparing callbacks.

A hierarchical timing wheel (Varghese & Lauck; tokio's
``runtime/time/wheel``) makes insert O(1) too, but in Python each of its
steps is interpreted bytecode, while the heap's sift runs in C:
``benchmarks/timers.py`` measures both (the wheel is beside it, in
``benchmarks/timer_wheel.py``: 6 levels of 64 one-millisecond slots, the
same four methods; the run loop also reads `TimerHeap.entries`, which a
wheel would have to grow). Medians
of 7 on this 2-core machine, Python 3.11.7, wheel time / heap time:
cancel-heavy 1.67x, churn (insert, cancel, fire mixed) 1.23x, bulk fire
0.77x, sleep-then-cancel 0.77x. Insert costs ~1.4 us in the wheel against ~0.7 us for ``heappush``,
and most deadlines are cancelled before they fire, so the heap is kept.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

#: A timer entry: [deadline, seq, callback-or-None]. A list, not a class, so
#: ``heapq`` compares entries in C.
TimerEntry = list


class TimerHeap:
    """Deadlines in a binary heap with lazy (tombstone) cancellation."""

    __slots__ = ("_seq", "_tombstones", "entries")

    def __init__(self) -> None:
        #: The heap itself, live entries and tombstones; only ever changed in
        #: place, so a reference stays current. The run loop tests it for
        #: emptiness to skip both timer calls of a turn when nothing is pending.
        self.entries: list[TimerEntry] = []
        self._seq = itertools.count()
        self._tombstones = 0

    def __len__(self) -> int:
        return len(self.entries) - self._tombstones

    def insert(self, deadline: float, callback: Callable[[], object]) -> TimerEntry:
        """Call ``callback()`` from the run loop once ``deadline`` has passed."""
        entry = [deadline, next(self._seq), callback]
        heapq.heappush(self.entries, entry)
        return entry

    def cancel(self, entry: TimerEntry) -> None:
        """Forget ``entry`` if it has not fired yet (idempotent)."""
        if entry[2] is not None:
            entry[2] = None
            self._tombstones += 1
            if self._tombstones > 64 and self._tombstones > len(self.entries) >> 1:
                self.entries[:] = [e for e in self.entries if e[2] is not None]
                heapq.heapify(self.entries)
                self._tombstones = 0

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or ``None`` when nothing is pending."""
        heap = self.entries
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
            self._tombstones -= 1
        return heap[0][0] if heap else None

    def fire_expired(self, now: float) -> int:
        """Run the callbacks of every entry due at ``now``; return how many."""
        heap = self.entries
        fired = 0
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            callback = entry[2]
            if callback is None:
                self._tombstones -= 1
                continue
            entry[2] = None
            callback()
            fired += 1
        return fired


def fired(entry: TimerEntry) -> bool:
    """Has this entry fired (or been cancelled)?"""
    return entry[2] is None
