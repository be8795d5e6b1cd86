#!/usr/bin/env python3
"""Timers on the io_uring backend: the TimerHeap plus a wait timeout, or a ring timeout each?

    .venv/bin/python benchmarks/uring_timers.py [--reps 5] [--timers 10000]

The completion driver can keep deadlines in two places:

    heap   runtime's TimerHeap; the ring's wait (io_uring_enter with
           IORING_ENTER_EXT_ARG) is bounded by the earliest deadline, and
           fire_expired runs after each wait. One timespec per *wait*.
    ring   one IORING_OP_TIMEOUT per deadline: the kernel's hrtimers hold
           them, each completes with -ETIME, and a cancelled one takes an
           IORING_OP_ASYNC_CANCEL (two more completions to reap).

Two workloads, on a real `Ring` and the real clock:

    sleep    N timers due at U(0, 50 ms), all fire (the timers benchmark)
    cancel   N timeouts at now + 1 s, each cancelled at once (a move_on_after
             around IO that finished in time: the common case)

Reported: CPU seconds (process time) per workload, median of --reps, and for
``sleep`` the median lateness of a firing (fire time minus deadline).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from runtime.executor.time_driver import TimerHeap
from runtime.reactor._uring import Completions, Ring

CANCEL = 2**62


def heap_sleep(ring: Ring, n: int) -> tuple[float, float]:
    rng = random.Random(1)
    heap = TimerHeap()
    late: list[float] = []
    start = time.perf_counter()
    for _ in range(n):
        deadline = start + rng.uniform(0, 0.05)
        heap.insert(deadline, lambda d=deadline: late.append(time.perf_counter() - d))
    completions = Completions()
    cpu = time.process_time()
    while len(late) < n:
        deadline = heap.next_deadline()
        assert deadline is not None
        ring.submit_and_wait(completions, max(0.0, deadline - time.perf_counter()))
        heap.fire_expired(time.perf_counter())
    return time.process_time() - cpu, statistics.median(late)


def ring_sleep(ring: Ring, n: int) -> tuple[float, float]:
    rng = random.Random(1)
    start = time.perf_counter()
    deadlines = [start + rng.uniform(0, 0.05) for _ in range(n)]
    cpu = time.process_time()
    for token, deadline in enumerate(deadlines):
        ring.timeout(max(0.0, deadline - time.perf_counter()), token)
    completions = Completions()
    late: list[float] = []
    while len(late) < n:
        ring.submit_and_wait(completions, None)
        now = time.perf_counter()
        late += [now - deadlines[c.token] for c in completions]
    return time.process_time() - cpu, statistics.median(late)


def heap_cancel(ring: Ring, n: int) -> float:
    heap = TimerHeap()
    completions = Completions()
    cpu = time.process_time()
    for _ in range(n):
        entry = heap.insert(time.perf_counter() + 1.0, int)
        heap.cancel(entry)
        if heap.next_deadline() is not None:
            ring.submit_and_wait(completions, 0)
    return time.process_time() - cpu


def ring_cancel(ring: Ring, n: int) -> float:
    completions = Completions()
    cpu = time.process_time()
    reaped = 0
    for token in range(n):
        ring.timeout(1.0, token)
        ring.cancel(token, CANCEL + token)
        reaped += ring.submit_and_wait(completions, 0)
    while reaped < 2 * n:
        reaped += ring.submit_and_wait(completions, 1.0)
    return time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--timers", type=int, default=10_000)
    args = parser.parse_args()
    n = args.timers
    rows: dict[str, list[tuple[float, float]]] = {}
    with Ring(4096, cq_entries=4 * n) as ring:
        for rep in range(args.reps):
            for name, run in (("heap sleep", heap_sleep), ("ring sleep", ring_sleep)):
                rows.setdefault(name, []).append(run(ring, n))
            for name, cancel in (("heap cancel", heap_cancel), ("ring cancel", ring_cancel)):
                rows.setdefault(name, []).append((cancel(ring, n), 0.0))
            print(f"rep {rep + 1}/{args.reps} done", flush=True)
    print(f"\n{n} timers, median of {args.reps}:")
    for name, got in rows.items():
        cpu = statistics.median(g[0] for g in got)
        line = f"  {name:<12} {cpu * 1000:8.1f} ms CPU  ({cpu / n * 1e6:5.2f} us a timer)"
        if "sleep" in name:
            line += f"   median lateness {statistics.median(g[1] for g in got) * 1e6:7.0f} us"
        print(line)


if __name__ == "__main__":
    main()
