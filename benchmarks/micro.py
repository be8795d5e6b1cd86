#!/usr/bin/env python3
"""Executor micro-benchmarks: runtime beside asyncio, uvloop and trio.

    .venv/bin/python benchmarks/micro.py                 # all, 3 reps (~2-3 min)
    .venv/bin/python benchmarks/micro.py --reps 5 --benches spawn,yield
    .venv/bin/python benchmarks/micro.py --frameworks runtime,asyncio

The five workloads of the executor issue:

    spawn     100k tasks that each sleep(0) once, joined (a task group/nursery)
    timers    10k tasks sleeping U(0, 50 ms) each (seed 42); also reports lateness
    pingpong  200k messages (100k each way) between two tasks through a queue
    await     1M awaits of a no-op coroutine in one task (the interpreter's cost:
              no framework code runs, so every framework should tie)
    yield     100k sleep(0) in one task: one trip through the scheduler each

The ping-pong goes through each framework's own queue: ``runtime.channel``,
``asyncio.Queue`` and trio's memory channel, all unbounded.

Each (benchmark, framework) run is a fresh interpreter (pinned to CPU 0 with
``taskset`` when there is one), reps are interleaved (rep 1 of every
framework, then rep 2, ...) so a noisy minute hits all of them, and the table
gives the median seconds and the ratio to asyncio (below 1: faster). The
child mode, ``micro.py --child FRAMEWORK BENCH``, prints one JSON line.
Sizes match ``shared/bench/micro/common.py`` so the figures cross-check.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

N_SPAWN = 100_000
N_TIMERS = 10_000
TIMER_MAX_S = 0.050
N_PINGPONG = 200_000
N_AWAIT = 1_000_000
N_YIELD = 100_000

BENCHES = ["spawn", "timers", "pingpong", "await", "yield"]
FRAMEWORKS = ["runtime", "asyncio", "uvloop", "trio"]

now = time.perf_counter


def timer_delays() -> list[float]:
    rng = random.Random(42)
    return [rng.uniform(0.0, TIMER_MAX_S) for _ in range(N_TIMERS)]


def timer_result(total: float, delays: list[float], late: list[float]) -> dict[str, Any]:
    late = sorted(late)
    n = len(late)
    return {
        "seconds": total,
        "ideal_s": max(delays),
        "late_p50_ms": late[n // 2] * 1e3,
        "late_p99_ms": late[min(n - 1, int(n * 0.99))] * 1e3,
        "late_max_ms": late[-1] * 1e3,
    }


async def _noop() -> None:
    pass


# -- runtime ------------------------------------------------------------------------


def runtime_benches() -> tuple[Callable[[Any], Any], dict[str, Callable[[], Any]], str]:
    import runtime

    async def child() -> None:
        await runtime.sleep(0)

    async def spawn() -> float:
        t0 = now()
        async with runtime.TaskGroup() as tg:
            for _ in range(N_SPAWN):
                tg.spawn(child())
        return now() - t0

    async def timers() -> dict[str, Any]:
        delays = timer_delays()
        late: list[float] = []

        async def sleeper(d: float) -> None:
            s = now()
            await runtime.sleep(d)
            late.append(now() - s - d)

        t0 = now()
        async with runtime.TaskGroup() as tg:
            for d in delays:
                tg.spawn(sleeper(d))
        return timer_result(now() - t0, delays, late)

    async def pingpong() -> float:
        rounds = N_PINGPONG // 2
        ping_tx, ping_rx = runtime.channel(math.inf)
        pong_tx, pong_rx = runtime.channel(math.inf)

        async def ponger() -> None:
            for _ in range(rounds):
                await pong_tx.send(await ping_rx.recv())

        t0 = now()
        async with runtime.TaskGroup() as tg:
            tg.spawn(ponger())
            for i in range(rounds):
                await ping_tx.send(i)
                await pong_rx.recv()
        return now() - t0

    async def awaits() -> float:
        t0 = now()
        for _ in range(N_AWAIT):
            await _noop()
        return now() - t0

    async def yields() -> float:
        t0 = now()
        for _ in range(N_YIELD):
            await runtime.sleep(0)
        return now() - t0

    funcs = {"spawn": spawn, "timers": timers, "pingpong": pingpong, "await": awaits,
             "yield": yields}
    return (lambda fn: runtime.run(fn())), funcs, _runtime_version()


# -- asyncio and uvloop ---------------------------------------------------------------


def asyncio_benches(use_uvloop: bool) -> tuple[Callable[[Any], Any],
                                               dict[str, Callable[[], Any]], str]:
    import asyncio

    async def child() -> None:
        await asyncio.sleep(0)

    async def spawn() -> float:
        t0 = now()
        async with asyncio.TaskGroup() as tg:
            for _ in range(N_SPAWN):
                tg.create_task(child())
        return now() - t0

    async def timers() -> dict[str, Any]:
        delays = timer_delays()
        late: list[float] = []

        async def sleeper(d: float) -> None:
            s = now()
            await asyncio.sleep(d)
            late.append(now() - s - d)

        t0 = now()
        async with asyncio.TaskGroup() as tg:
            for d in delays:
                tg.create_task(sleeper(d))
        return timer_result(now() - t0, delays, late)

    async def pingpong() -> float:
        rounds = N_PINGPONG // 2
        ping: asyncio.Queue[int] = asyncio.Queue()
        pong: asyncio.Queue[int] = asyncio.Queue()

        async def ponger() -> None:
            for _ in range(rounds):
                await pong.put(await ping.get())

        t0 = now()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(ponger())
            for i in range(rounds):
                await ping.put(i)
                await pong.get()
        return now() - t0

    async def awaits() -> float:
        t0 = now()
        for _ in range(N_AWAIT):
            await _noop()
        return now() - t0

    async def yields() -> float:
        t0 = now()
        for _ in range(N_YIELD):
            await asyncio.sleep(0)
        return now() - t0

    funcs = {"spawn": spawn, "timers": timers, "pingpong": pingpong, "await": awaits,
             "yield": yields}
    if use_uvloop:
        import uvloop

        return (lambda fn: uvloop.run(fn())), funcs, uvloop.__version__
    return (lambda fn: asyncio.run(fn())), funcs, platform.python_version()


# -- trio ----------------------------------------------------------------------------


def trio_benches() -> tuple[Callable[[Any], Any], dict[str, Callable[[], Any]], str]:
    import trio

    async def child() -> None:
        await trio.sleep(0)

    async def spawn() -> float:
        t0 = now()
        async with trio.open_nursery() as nursery:
            for _ in range(N_SPAWN):
                nursery.start_soon(child)
        return now() - t0

    async def timers() -> dict[str, Any]:
        delays = timer_delays()
        late: list[float] = []

        async def sleeper(d: float) -> None:
            s = now()
            await trio.sleep(d)
            late.append(now() - s - d)

        t0 = now()
        async with trio.open_nursery() as nursery:
            for d in delays:
                nursery.start_soon(sleeper, d)
        return timer_result(now() - t0, delays, late)

    async def pingpong() -> float:
        rounds = N_PINGPONG // 2
        ping_tx, ping_rx = trio.open_memory_channel(math.inf)
        pong_tx, pong_rx = trio.open_memory_channel(math.inf)

        async def ponger() -> None:
            for _ in range(rounds):
                await pong_tx.send(await ping_rx.receive())

        t0 = now()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ponger)
            for i in range(rounds):
                await ping_tx.send(i)
                await pong_rx.receive()
        return now() - t0

    async def awaits() -> float:
        t0 = now()
        for _ in range(N_AWAIT):
            await _noop()
        return now() - t0

    async def yields() -> float:
        t0 = now()
        for _ in range(N_YIELD):
            await trio.sleep(0)
        return now() - t0

    funcs = {"spawn": spawn, "timers": timers, "pingpong": pingpong, "await": awaits,
             "yield": yields}
    return trio.run, funcs, trio.__version__


def _runtime_version() -> str:
    """The package version plus the commit it was measured at (a moving target)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("runtime")
    except PackageNotFoundError:
        ver = "?"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
                                timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{ver}+{commit}" if commit else ver


def child_main(framework: str, bench: str) -> None:
    if framework == "runtime":
        run, funcs, ver = runtime_benches()
    elif framework in ("asyncio", "uvloop"):
        run, funcs, ver = asyncio_benches(framework == "uvloop")
    elif framework == "trio":
        run, funcs, ver = trio_benches()
    else:
        sys.exit(f"unknown framework {framework!r}")
    res = run(funcs[bench])
    if not isinstance(res, dict):
        res = {"seconds": res}
    print(json.dumps({"framework": framework, "version": ver, "bench": bench, **res}),
          flush=True)


# -- the driver ----------------------------------------------------------------------


def available(framework: str) -> bool:
    module = {"runtime": "runtime", "asyncio": "asyncio", "uvloop": "uvloop", "trio": "trio"}
    try:
        __import__(module[framework])
    except ImportError:
        return False
    return True


def run_child(framework: str, bench: str, timeout: float) -> dict[str, Any] | None:
    argv = [sys.executable, os.path.abspath(__file__), "--child", framework, bench]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"    {framework} {bench}: timed out after {timeout:.0f} s", file=sys.stderr)
        return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print(f"    {framework} {bench}: failed ({proc.returncode})\n{proc.stderr[-2000:]}",
              file=sys.stderr)
        return None
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "BENCH"), help=argparse.SUPPRESS)
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--benches", default=",".join(BENCHES))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0, help="per run, seconds")
    ap.add_argument("--json", metavar="PATH", help="also write every result to PATH")
    args = ap.parse_args()
    if args.child:
        child_main(*args.child)
        return

    frameworks = [f for f in args.frameworks.split(",") if f]
    for fw in list(frameworks):
        if not available(fw):
            print(f"skipping {fw}: not installed (pip install -e '.[bench]')", file=sys.stderr)
            frameworks.remove(fw)
    benches = [b for b in args.benches.split(",") if b]
    plan = [(b, fw) for b in benches for fw in frameworks]

    results: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in plan}
    versions: dict[str, str] = {}
    total = len(plan) * args.reps
    done = 0
    started = time.monotonic()
    for rep in range(args.reps):
        for bench, fw in plan:
            done += 1
            print(f"[{done}/{total}] {bench:<16} {fw:<8} rep {rep + 1}/{args.reps} "
                  f"({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
            res = run_child(fw, bench, args.timeout)
            if res is not None:
                results[(bench, fw)].append(res)
                versions[fw] = res["version"]

    print()
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; median of {args.reps} (min..max); "
          "ratio = seconds / asyncio's (below 1 is faster)")
    print("versions: " + ", ".join(f"{fw} {versions.get(fw, '?')}" for fw in frameworks))
    print()
    header = f"| {'bench':<16} | " + " | ".join(f"{fw:>22}" for fw in frameworks) + " |"
    print(header)
    print("|" + "-" * 18 + "|" + "|".join("-" * 24 for _ in frameworks) + "|")
    medians: dict[tuple[str, str], float] = {}
    for (bench, fw), runs in results.items():
        if runs:
            medians[(bench, fw)] = statistics.median(r["seconds"] for r in runs)
    for bench in benches:
        base = medians.get((bench, "asyncio"))
        cells = []
        for fw in frameworks:
            m = medians.get((bench, fw))
            if m is None:
                cells.append(f"{'-':>22}")
                continue
            ratio = f" ({m / base:.2f}x)" if base else ""
            cells.append(f"{f'{m:.3f} s{ratio}':>22}")
        print(f"| {bench:<16} | " + " | ".join(cells) + " |")
    print()
    spread = []
    for (bench, fw), runs in results.items():
        if len(runs) > 1:
            secs = [r["seconds"] for r in runs]
            spread.append(f"{bench}/{fw} {min(secs):.3f}..{max(secs):.3f}")
    print("min..max: " + "; ".join(spread))
    lateness = [(fw, runs) for (bench, fw), runs in results.items() if bench == "timers" and runs]
    if lateness:
        print("timer lateness (median of reps): " + "; ".join(
            f"{fw} p50 {statistics.median(r['late_p50_ms'] for r in runs):.2f} ms, "
            f"p99 {statistics.median(r['late_p99_ms'] for r in runs):.2f} ms"
            for fw, runs in lateness))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{b}/{fw}": runs for (b, fw), runs in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
