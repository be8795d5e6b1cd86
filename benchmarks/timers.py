#!/usr/bin/env python3
"""TimerHeap (binary heap, lazy cancel) against TimerWheel (hierarchical wheel).

    .venv/bin/python benchmarks/timers.py            # 5 reps, ~30 s
    .venv/bin/python benchmarks/timers.py --reps 9 --scale 2

Both structures (``runtime/executor/time_driver.py`` and
``benchmarks/timer_wheel.py``) share one interface: ``insert``,
``cancel``, ``next_deadline``, ``fire_expired``. The workloads drive them the
way the run loop does, on a simulated clock (no sleeping: only the data
structure is timed), with callbacks that do nothing but count:

    cancel-heavy  timeouts that never fire (move_on_after around IO that
                  finishes in time): 200k inserts at now + U(1, 30) s with
                  1,000 outstanding, each cancelled 1,000 inserts later; the
                  loop asks next_deadline and fires every 64 operations
    bulk-fire     100k inserts at now + U(0, 1) s, then the loop drains them:
                  now = next_deadline(); fire_expired(now)
    churn         10k sleepers in a loop (the timers benchmark, sustained):
                  each firing re-inserts at now + U(0, 50 ms), 200k fires
    sleep-cancel  10k sleepers U(0, 50 ms) of which half are cancelled
                  before they fire (aborted tasks), then drained

Reps are interleaved (heap, wheel, heap-1ms, heap, ...) in one process; the
table gives the median seconds and wheel/heap (below 1: the wheel is faster).
``heap-1ms`` is a control, not a candidate: the heap driven with deadlines
rounded up to the millisecond, the wheel's resolution, so a draining loop
batches a millisecond's timers for both. All must fire the same number of
callbacks, which is checked.
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from timer_wheel import TimerWheel  # beside this file

from runtime.executor.time_driver import TimerHeap

ORIGIN = 1000.0
Factory = Callable[[], Any]


def cancel_heavy(make: Factory, scale: float) -> int:
    n, window = int(200_000 * scale), 1000
    rng = random.Random(1)
    delays = [rng.uniform(1.0, 30.0) for _ in range(n)]
    timers = make()
    now = ORIGIN
    outstanding: list[Any] = []
    fired = 0
    noop = int
    for i in range(n):
        now += 1e-6
        outstanding.append(timers.insert(now + delays[i], noop))
        if len(outstanding) > window:
            timers.cancel(outstanding[i - window])
        if i & 63 == 0:
            timers.next_deadline()
            fired += timers.fire_expired(now)
    for entry in outstanding[-window:]:
        timers.cancel(entry)
    return fired


def bulk_fire(make: Factory, scale: float) -> int:
    n = int(100_000 * scale)
    rng = random.Random(2)
    delays = [rng.uniform(0.0, 1.0) for _ in range(n)]
    timers = make()
    now = ORIGIN
    count = [0]

    def cb() -> None:
        count[0] += 1

    for d in delays:
        timers.insert(now + d, cb)
    while (deadline := timers.next_deadline()) is not None:
        now = max(now, deadline)
        timers.fire_expired(now)
    return count[0]


def churn(make: Factory, scale: float) -> int:
    sleepers, total = 10_000, int(200_000 * scale)
    rng = random.Random(3)
    delays = [rng.uniform(0.0, 0.05) for _ in range(total + sleepers)]
    timers = make()
    now = ORIGIN
    state = {"fired": 0, "next": 0}

    def cb() -> None:
        state["fired"] += 1
        if state["next"] < total:
            i = state["next"]
            state["next"] += 1
            timers.insert(now + delays[i], cb)

    state["next"] = sleepers
    for i in range(sleepers):
        timers.insert(now + delays[i], cb)
    while (deadline := timers.next_deadline()) is not None:
        now = max(now, deadline)
        timers.fire_expired(now)
    return state["fired"]


def sleep_cancel(make: Factory, scale: float) -> int:
    n = int(10_000 * scale)
    rng = random.Random(4)
    delays = [rng.uniform(0.0, 0.05) for _ in range(n)]
    timers = make()
    now = ORIGIN
    count = [0]

    def cb() -> None:
        count[0] += 1

    entries = [timers.insert(now + d, cb) for d in delays]
    for entry in entries[::2]:
        timers.cancel(entry)
    while (deadline := timers.next_deadline()) is not None:
        now = max(now, deadline)
        timers.fire_expired(now)
    return count[0]


WORKLOADS = {"cancel-heavy": cancel_heavy, "bulk-fire": bulk_fire, "churn": churn,
             "sleep-cancel": sleep_cancel}
class TimerHeapMs(TimerHeap):
    """The heap, with next_deadline rounded up to the millisecond as the wheel's is.

    Not a candidate: a control. The wheel batches every timer of a
    millisecond into one loop iteration; this shows how much of its
    advantage on the draining workloads is that batching, not the structure.
    """

    __slots__ = ()

    def next_deadline(self) -> float | None:
        deadline = super().next_deadline()
        if deadline is None:
            return None
        return ORIGIN + math.ceil((deadline - ORIGIN) * 1000.0) / 1000.0


STRUCTURES: dict[str, Factory] = {"heap": TimerHeap, "wheel": lambda: TimerWheel(origin=ORIGIN),
                                  "heap-1ms": TimerHeapMs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the sizes")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    args = ap.parse_args()

    names = [w for w in args.workloads.split(",") if w]
    seconds: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], int] = {}
    for rep in range(args.reps):
        for name in names:
            for structure, make in STRUCTURES.items():
                print(f"{name:<13} {structure:<6} rep {rep + 1}/{args.reps}",
                      file=sys.stderr, flush=True)
                gc.collect()
                t0 = time.perf_counter()
                fired = WORKLOADS[name](make, args.scale)
                seconds.setdefault((name, structure), []).append(time.perf_counter() - t0)
                counts[(name, structure)] = fired
    for name in names:
        assert len({counts[(name, structure)] for structure in STRUCTURES}) == 1, (name, counts)

    print()
    print(f"Python {platform.python_version()}; median of {args.reps}, scale {args.scale}; "
          "ratio = wheel / heap (below 1: the wheel is faster)")
    print()
    print(f"| {'workload':<13} | {'fired':>7} | {'heap':>9} | {'wheel':>9} | {'wheel/heap':>10} "
          f"| {'heap-1ms':>9} | {'wheel/heap-1ms':>14} |")
    print(f"|{'-' * 15}|{'-' * 9}|{'-' * 11}|{'-' * 11}|{'-' * 12}|{'-' * 11}|{'-' * 16}|")
    for name in names:
        heap = statistics.median(seconds[(name, "heap")])
        wheel = statistics.median(seconds[(name, "wheel")])
        heap_ms = statistics.median(seconds[(name, "heap-1ms")])
        print(f"| {name:<13} | {counts[(name, 'heap')]:>7} | {heap:>7.3f} s | {wheel:>7.3f} s | "
              f"{wheel / heap:>9.2f}x | {heap_ms:>7.3f} s | {wheel / heap_ms:>13.2f}x |")


if __name__ == "__main__":
    main()
