"""Differential fuzzing against trio, on demand.

``python scripts/fuzz_against_trio.py --programs 100000`` runs the same
programs and comparison as ``tests/executor/test_fuzz_against_trio.py``
(which runs 2,000 per CI run), for as many programs as asked. Prints how
many ran, how many were racy under trio (their trio traces depend on trio's
scheduling order; runtime need only match one order trio can produce), the
rate, and every divergence found, shrunk by hypothesis to a small program.
Exits 1 if there was one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings

from tests.helpers.fuzz_programs import Program, compare, explain, programs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=100_000, help="how many programs to run")
    parser.add_argument("--progress", type=int, default=5000, metavar="N",
                        help="print the counts every N programs (0: only at the end)")
    parser.add_argument("--no-shrink", action="store_true",
                        help="report divergences as found, without shrinking them")
    args = parser.parse_args()
    counts = {"programs": 0, "racy": 0, "divergent": 0}
    phases = [Phase.explicit, Phase.generate] + ([] if args.no_shrink else [Phase.shrink])

    @settings(max_examples=args.programs, deadline=None, database=None, phases=phases,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=True)
    @given(programs)
    def check(program: Program) -> None:
        verdict = compare(program)
        counts["programs"] += 1
        counts["racy"] += verdict.racy
        if args.progress and counts["programs"] % args.progress == 0:
            report()
        if not verdict.equal:
            counts["divergent"] += 1
            raise AssertionError(explain(program, verdict))

    def report() -> None:
        elapsed = time.perf_counter() - started
        print(f"{counts['programs']} programs run (shrinking included), {counts['racy']} racy "
              f"under trio, {counts['divergent']} divergent runs; {elapsed:.1f} s, "
              f"{counts['programs'] / elapsed:.0f} programs/s", flush=True)

    started = time.perf_counter()
    failed = False
    try:
        check()
    except BaseException as exc:  # hypothesis raises one error, or a group of them
        failed = True
        print(f"DIVERGENCE:\n{exc}", file=sys.stderr)
    if not (args.progress and counts["programs"] % args.progress == 0):
        report()  # the last count, unless it was just printed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
