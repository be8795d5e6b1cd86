"""The verdict both external suites share: counts, the known-failures list, the baseline.

A known-failures file has one ``test id  # reason`` a line (a line without a
reason is refused). A run fails when fewer tests pass than the recorded
baseline (``--min-pass``) or when a test fails that the list does not name.
"""

from __future__ import annotations

from pathlib import Path


def read_known(path: Path | None) -> dict[str, str]:
    known: dict[str, str] = {}
    if path is None:
        return known
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, _, reason = line.partition("#")
        if not reason.strip():
            raise SystemExit(f"{path}: {test_id.strip()} has no reason")
        known[test_id.strip()] = reason.strip()
    return known


def verdict(title: str, outcomes: dict[str, str], known_path: Path | None, min_pass: int,
            took: float) -> int:
    """Print the summary; the exit status (0 good, 1 bad). ``outcomes``: id -> pass/skip/fail."""
    passed = sum(o == "pass" for o in outcomes.values())
    skipped = sum(o == "skip" for o in outcomes.values())
    failed = sorted(t for t, o in outcomes.items() if o == "fail")
    known = read_known(known_path)
    unexpected = [t for t in failed if t not in known]
    print(f"\n{title}: {len(outcomes)} tests, {passed} passed, {skipped} skipped, "
          f"{len(failed)} failed ({len(failed) - len(unexpected)} known) in {took:.0f} s")
    for test_id in unexpected:
        print(f"  UNEXPECTED FAILURE {test_id}")
    for test_id in sorted(t for t in known if outcomes.get(t) == "pass"):
        print(f"  known failure now passes (remove it from the list): {test_id}")
    if passed < min_pass:
        print(f"FAIL: {passed} passed, fewer than the recorded baseline {min_pass}")
        return 1
    return 1 if unexpected else 0
