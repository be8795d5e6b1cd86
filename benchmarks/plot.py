#!/usr/bin/env python3
"""Draw the README's chart from the benchmarks' own output files.

    .venv/bin/pip install -e '.[plot]'
    .venv/bin/python benchmarks/micro.py --json benchmarks/results/micro.json
    .venv/bin/python benchmarks/echo.py          # writes benchmarks/results/echo-<time>.jsonl
    .venv/bin/python benchmarks/plot.py --micro benchmarks/results/micro.json \\
        --echo benchmarks/results/echo-<time>.jsonl -o benchmarks/chart.png

Left: each micro workload's median time relative to asyncio's (lower is
faster). Right: echo round trips per second, median per server and
configuration. Nothing is typed in by hand: every bar is a median of the
runs in the files given.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

FRAMEWORKS = ["runtime", "asyncio", "uvloop", "trio"]
COLORS = {"runtime": "#d1495b", "asyncio": "#3d5a80", "uvloop": "#98c1d9", "trio": "#8d99ae",
          "asyncio_streams": "#3d5a80", "asyncio_protocol": "#293241",
          "uvloop_streams": "#98c1d9", "uvloop_protocol": "#5fa8d3", "c": "#444444"}


def micro_ratios(path: Path) -> dict[str, dict[str, float]]:
    """bench -> framework -> median seconds / asyncio's median seconds."""
    runs = json.loads(path.read_text())
    medians: dict[str, dict[str, float]] = defaultdict(dict)
    for key, reps in runs.items():
        bench, fw = key.split("/")
        if reps:
            medians[bench][fw] = statistics.median(r["seconds"] for r in reps)
    return {bench: {fw: t / by_fw["asyncio"] for fw, t in by_fw.items()}
            for bench, by_fw in medians.items() if "asyncio" in by_fw}


def echo_medians(path: Path) -> dict[str, dict[str, float]]:
    """'CONNSxBYTES' -> server -> median round trips per second."""
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            rows[f"{r['conns']}x{r['bytes']}"][r["server"]].append(r["rt_per_s"])
    return {cfg: {srv: statistics.median(v) for srv, v in by_srv.items()}
            for cfg, by_srv in rows.items()}


def grouped_bars(ax, groups: dict[str, dict[str, float]], series: list[str]) -> None:
    names = list(groups)
    width = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(names))]
        ys = [groups[n].get(s, 0.0) for n in names]
        ax.bar(xs, ys, width, label=s, color=COLORS.get(s))
    ax.set_xticks(range(len(names)), names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--micro", type=Path, required=True, help="micro.py --json output")
    ap.add_argument("--echo", type=Path, required=True, help="echo.py results .jsonl")
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "chart.png")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    micro = micro_ratios(args.micro)
    echo = echo_medians(args.echo)
    servers = [s for s in ["runtime", "asyncio_streams", "asyncio_protocol", "uvloop_streams",
                           "uvloop_protocol", "trio", "c"]
               if any(s in by_srv for by_srv in echo.values())]

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    grouped_bars(left, micro, [f for f in FRAMEWORKS if any(f in v for v in micro.values())])
    left.axhline(1.0, color="black", linewidth=0.8)
    left.set_ylabel("time relative to asyncio (lower is faster)")
    left.set_title("executor micro-benchmarks")
    left.legend(fontsize=8)
    grouped_bars(right, {k: {s: v / 1000 for s, v in d.items()} for k, d in echo.items()},
                 servers)
    right.set_ylabel("round trips per second (thousands)")
    right.set_xlabel("connections x message bytes")
    right.set_title("echo server (server on one CPU, C load generator on the other)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
