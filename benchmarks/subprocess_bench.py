"""Subprocesses and calls from threads: runtime vs trio (and asyncio).

Two measurements, each run under every framework in one invocation, the
frameworks taking turns rep by rep (a noisy moment hits all of them alike);
the table gives each framework's median and its ratio to runtime.

* ``run_process(["true"])`` x N (default 1,000), one after another: spawn,
  wait for the exit, reap. runtime waits on a pidfd in the reactor; trio
  also waits on a pidfd but starts each child from a worker thread; asyncio
  (3.11) uses its child watcher (a pidfd watcher where the kernel has one,
  else a thread per child).
* ``from_thread.run_sync`` round trips x N (default 10,000): a worker
  thread (started with the framework's own to_thread) calls a no-op on the
  loop and waits for it, back to back. asyncio has no equivalent call
  (``run_coroutine_threadsafe`` needs a coroutine), so it is runtime
  against trio only.

    .venv/bin/python benchmarks/subprocess_bench.py [--children 1000] [--calls 10000] [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import trio
import trio.from_thread
import trio.to_thread

import runtime
import runtime.from_thread


def spawn_runtime(children: int) -> float:
    async def main() -> None:
        for _ in range(children):
            await runtime.run_process(["true"])

    start = time.perf_counter()
    runtime.run(main())
    return time.perf_counter() - start


def spawn_trio(children: int) -> float:
    async def main() -> None:
        for _ in range(children):
            await trio.run_process(["true"])

    start = time.perf_counter()
    trio.run(main)
    return time.perf_counter() - start


def spawn_asyncio(children: int) -> float:
    async def main() -> None:
        for _ in range(children):
            proc = await asyncio.create_subprocess_exec("true", stdin=asyncio.subprocess.DEVNULL)
            await proc.wait()

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def _noop() -> None:
    pass


def calls_runtime(calls: int) -> float:
    def worker() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            runtime.from_thread.run_sync(_noop)
        return time.perf_counter() - start

    async def main() -> float:
        return await runtime.to_thread(worker)

    return runtime.run(main())  # type: ignore[no-any-return]


def calls_trio(calls: int) -> float:
    def worker() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            trio.from_thread.run_sync(_noop)
        return time.perf_counter() - start

    async def main() -> float:
        return await trio.to_thread.run_sync(worker)

    return trio.run(main)


def measure(title: str, unit: str, per: int, reps: int,
            benches: dict[str, Callable[[], float]]) -> None:
    times: dict[str, list[float]] = {name: [] for name in benches}
    for rep in range(reps):
        for name, bench in benches.items():
            times[name].append(bench())
        print(f"  {title}: rep {rep + 1}/{reps} done", flush=True)
    base = statistics.median(times["runtime"])
    print(f"\n{title}")
    print(f"  {'framework':10} {unit:>14} {'x runtime':>10}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:10} {median / per * 1e6:14.1f} {median / base:10.2f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    measure(f"run_process(['true']) x {args.children}", "us/child", args.children, args.reps, {
        "runtime": lambda: spawn_runtime(args.children),
        "trio": lambda: spawn_trio(args.children),
        "asyncio": lambda: spawn_asyncio(args.children),
    })
    measure(f"from_thread.run_sync round trip x {args.calls}", "us/call", args.calls, args.reps, {
        "runtime": lambda: calls_runtime(args.calls),
        "trio": lambda: calls_trio(args.calls),
    })


if __name__ == "__main__":
    main()
