"""Echo on three asyncio event loops: the stdlib's, uvloop, runtime.asyncio — in one invocation.

    .venv/bin/python benchmarks/asyncio_echo.py [--reps 3] [--duration 3] [--warmup 1]
        [--configs 1x100,100x100,1000x100]

Both asyncio echo servers of ``peers/`` (a Protocol whose ``data_received``
writes straight back; streams, ``read`` + ``write``/``drain``) run on each
loop, driven by ``echoload.c`` exactly as in ``echo.py`` (server on CPU 0,
load generator on CPU 1, servers rotated every rep so drift hits all alike).
Printed: each server's median rate, then runtime.asyncio's rate as a ratio of
the stdlib loop's and of uvloop's for the same server, rep by rep (median
(min..max)): pairs measured back to back cancel the machine's drift. One
more server runs beside them, not a loop: ``python_floor_protocol``, the
least Python can run per protocol round trip (epoll, ``recv``,
``data_received``, ``send``; nothing else), whose ratio to the stdlib loop
bounds what any asyncio loop written in Python can reach. The
instructions per round trip (callgrind) come from ``instructions.py
--servers asyncio_protocol,uvloop_protocol,runtime_asyncio_protocol,...``.

Measured 2026-12-07 at 6209c4e (AMD EPYC 2 vCPU, Linux 6.18, Python
3.11.7, uvloop 0.23.0; 5 reps, rep-by-rep medians, a noisy box):
runtime.asyncio is 0.94x/1.01x the stdlib loop with the protocol server at
100/1000 connections and 1.00x/1.00x with the streams server on epoll,
1.04x/0.84x and 0.98x/1.13x on io_uring; 0.78x-0.98x uvloop. The Python
floor was 1.06x/1.30x the stdlib loop (1.20x/1.20x in an earlier run).
The tables, and what each change to the callback path did, are in
benchmarks/README.md ("asyncio servers on three loops").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from echo import RESULTS, ROOT, build, machine, paired_ratios, report, run_one

KINDS = ("protocol", "streams")
LOOPS = ("asyncio", "uvloop", "runtime_asyncio", "runtime_asyncio_uring")
#: runtime.asyncio on epoll (readiness) and on io_uring (RingSocketTransport).
OURS = ("runtime_asyncio", "runtime_asyncio_uring")
#: Not a loop: the least Python can run per protocol round trip
#: (peers/python_floor_protocol.py): how far ahead of the stdlib loop any
#: asyncio loop written in Python could possibly be.
CEILING = "python_floor_protocol"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="1x100,100x100,1000x100")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    build()
    servers = [f"{loop}_{kind}" for kind in KINDS for loop in LOOPS] + [CEILING]
    configs = [(int(c.split("x")[0]), int(c.split("x")[1])) for c in args.configs.split(",")]
    RESULTS.mkdir(exist_ok=True)
    raw = RESULTS / f"asyncio-echo-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    results: list[dict] = []
    total = args.reps * len(configs) * len(servers)
    done = 0
    with raw.open("w") as f:
        for rep in range(args.reps):
            order = servers[rep % len(servers):] + servers[: rep % len(servers)]
            for conns, size in configs:
                for name in order:
                    done += 1
                    r = run_one(name, conns, size, args.duration, args.warmup)
                    r["rep"] = rep
                    results.append(r)
                    f.write(json.dumps(r) + "\n")
                    print(f"[{done:>3}/{total}] rep {rep + 1} {conns}x{size:<5} {name:<25} "
                          f"{r['rt_per_s']:>9,.0f} rt/s  srv CPU {r['srv_cpu_pct']:3.0f}%",
                          flush=True)
    print(report(results, servers, configs, machine()))
    print("runtime.asyncio's rt/s as a ratio of the other loop's, same server, per rep: "
          "median (min..max); >1: runtime.asyncio is ahead")
    for ours in OURS:
        for kind in KINDS:
            for peer in ("asyncio", "uvloop"):
                for conns, size in configs:
                    ratios = paired_ratios(results, f"{ours}_{kind}", f"{peer}_{kind}",
                                           conns, size, "rt_per_s")
                    if ratios:
                        print(f"  {ours:<22} {kind:<9} vs {peer:<8} {conns}x{size:<6} "
                              f"{statistics.median(ratios):.2f} "
                              f"({min(ratios):.2f}..{max(ratios):.2f})")
    for peer in ("asyncio", "uvloop"):
        for conns, size in configs:
            ratios = paired_ratios(results, CEILING, f"{peer}_protocol", conns, size, "rt_per_s")
            if ratios:
                print(f"  {'(ceiling) python floor':<22} {'protocol':<9} vs {peer:<8} "
                      f"{conns}x{size:<6} {statistics.median(ratios):.2f} "
                      f"({min(ratios):.2f}..{max(ratios):.2f})")
    print(f"raw results: {raw.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
