#!/usr/bin/env python3
"""Memory per waiting task: RSS growth for N tasks parked on one shared event.

    .venv/bin/python benchmarks/memory.py                  # 100k tasks, 3 reps
    .venv/bin/python benchmarks/memory.py --n 50000 --threads-n 1000

Each figure is a fresh interpreter that starts N tasks, each waiting on one
shared event, and reports ``(RSS when all N wait - RSS before spawning) / N``:
the task object, its coroutine and frame, and the framework's bookkeeping.

    runtime        runtime.Event().wait() in runtime.spawn()ed tasks
    runtime-park   the executor alone: each task stores its Waker in a list and
                   parks (lowlevel.park), no synchronisation object involved
    asyncio        asyncio.Event().wait() in create_task()ed tasks
    uvloop         the same on uvloop
    trio           trio.Event().wait() in a nursery
    threads        threading.Event().wait() in threading.Thread (smaller N:
                   each thread reserves a stack, and 100k would exhaust limits)

The median of the reps is printed. The child mode is
``memory.py --child FRAMEWORK N`` (one JSON line). The shared reference
harness (``shared/bench/mem/mem_tasks.py``) measures the same way.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

FRAMEWORKS = ["runtime", "runtime-park", "asyncio", "uvloop", "trio", "threads"]


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure_runtime(n: int, park_only: bool) -> int:
    import runtime
    from runtime.lowlevel import current_task, park

    async def main() -> int:
        started = 0
        if park_only:
            wakers: list[Any] = []
            released = False

            async def waiter() -> None:
                nonlocal started
                started += 1
                wakers.append(current_task().waker)
                while not released:
                    await park()
        else:
            event = runtime.Event()

            async def waiter() -> None:
                nonlocal started
                started += 1
                await event.wait()

        gc.collect()
        base = rss_kb()
        handles = [runtime.spawn(waiter()) for _ in range(n)]
        while started < n:
            await runtime.sleep(0)
        gc.collect()
        used = rss_kb() - base
        if park_only:
            released = True
            for w in wakers:
                w.wake()
        else:
            event.set()
        for h in handles:
            await h
        return used

    return runtime.run(main())  # type: ignore[no-any-return]


def measure_asyncio(n: int, use_uvloop: bool) -> int:
    import asyncio

    async def main() -> int:
        event = asyncio.Event()
        started = 0

        async def waiter() -> None:
            nonlocal started
            started += 1
            await event.wait()

        gc.collect()
        base = rss_kb()
        tasks = [asyncio.create_task(waiter()) for _ in range(n)]
        while started < n:
            await asyncio.sleep(0)
        gc.collect()
        used = rss_kb() - base
        event.set()
        await asyncio.gather(*tasks)
        return used

    if use_uvloop:
        import uvloop

        return uvloop.run(main())  # type: ignore[no-any-return]
    return asyncio.run(main())


def measure_trio(n: int) -> int:
    import trio

    async def main() -> int:
        event = trio.Event()
        started = 0

        async def waiter() -> None:
            nonlocal started
            started += 1
            await event.wait()

        gc.collect()
        base = rss_kb()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(waiter)
            while started < n:
                await trio.sleep(0)
            gc.collect()
            used = rss_kb() - base
            event.set()
        return used

    return trio.run(main)


def measure_threads(n: int) -> int:
    import threading

    event = threading.Event()
    gc.collect()
    base = rss_kb()
    threads = [threading.Thread(target=event.wait) for _ in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    used = rss_kb() - base
    event.set()
    for t in threads:
        t.join()
    return used


def child_main(framework: str, n: int) -> None:
    if framework in ("runtime", "runtime-park"):
        used = measure_runtime(n, framework == "runtime-park")
    elif framework in ("asyncio", "uvloop"):
        used = measure_asyncio(n, framework == "uvloop")
    elif framework == "trio":
        used = measure_trio(n)
    elif framework == "threads":
        used = measure_threads(n)
    else:
        sys.exit(f"unknown framework {framework!r}")
    print(json.dumps({"framework": framework, "n": n, "rss_delta_kb": used,
                      "bytes_per_task": round(used * 1024 / n)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--threads-n", type=int, default=2_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    if args.child:
        child_main(args.child[0], int(args.child[1]))
        return

    frameworks = [f for f in args.frameworks.split(",") if f]
    results: dict[str, list[dict[str, Any]]] = {fw: [] for fw in frameworks}
    total = len(frameworks) * args.reps
    done = 0
    for rep in range(args.reps):
        for fw in frameworks:
            done += 1
            n = args.threads_n if fw == "threads" else args.n
            print(f"[{done}/{total}] {fw:<13} n={n} rep {rep + 1}/{args.reps}",
                  file=sys.stderr, flush=True)
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", fw,
                                   str(n)], capture_output=True, text=True, timeout=300)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                print(f"    {fw}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            results[fw].append(json.loads(lines[-1]))

    print()
    print(f"Python {platform.python_version()}; RSS growth per waiting task, "
          f"median of {args.reps} (min..max)")
    print()
    print(f"| {'framework':<13} | {'N':>7} | {'bytes/task':>10} | {'min..max':>15} |")
    print(f"|{'-' * 15}|{'-' * 9}|{'-' * 12}|{'-' * 17}|")
    for fw, runs in results.items():
        if not runs:
            continue
        per = [r["bytes_per_task"] for r in runs]
        print(f"| {fw:<13} | {runs[0]['n']:>7} | {statistics.median(per):>10.0f} | "
              f"{min(per):>7}..{max(per):<7} |")


if __name__ == "__main__":
    main()
