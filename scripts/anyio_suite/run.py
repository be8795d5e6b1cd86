"""Run anyio's own test suite against runtime, and against trio for comparison.

What `.ci/run`'s ``anyio`` part runs. Steps:

1. Fetch the sdist of the anyio version ``pyproject.toml`` pins (its
   ``anyio-suite`` extra) from the package index with ``pip download
   --no-deps --no-binary anyio`` (its build requirements as wheels) and
   unpack it in a temporary directory.
2. Run its ``tests/`` unedited, twice: the items parametrized for the
   "runtime" backend, then the same items for "trio" (the
   ``anyio_runtime_plugin`` pytest plugin beside this file adds the backend
   and selects the items; anyio's own 20 s per-test timeout applies).
   Many socket tests resolve ``localhost`` over IPv6. Unless /etc/hosts
   already says ``::1 localhost`` (a Debian install's does), as root both runs
   are in a private mount namespace whose ``/etc/hosts`` has ``::1
   localhost`` added (``unshare -m`` and a bind mount; the machine's file is
   never edited); otherwise (not root, or in a chroot, where ``unshare``
   is refused) those tests are skipped, saying why (the plugin's list of
   them was found by running trio without ``::1 localhost``).
3. Print passed / failed / skipped / xfailed for both and their wall times,
   and fail if a runtime item failed that ``known_failures.txt`` does not
   list (listed items are xfail, not strict: one that starts passing shows
   as XPASS) and trio did not fail too, if runtime skipped an item trio
   passed, or if runtime passed fewer than ``baseline.txt`` records, less
   what trio passed short of its own recorded count in the same run (what
   the environment took from both: items needing ::1 localhost, or root,
   or failing on both, as Debian's Python 3.11.2 raising ``SSLError`` where
   later ones raise ``SSLEOFError``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BASELINE = HERE / "baseline.txt"


def pinned_version() -> str:
    """The one anyio version the ``anyio-suite`` extra pins (``anyio==X``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["optional-dependencies"]["anyio-suite"]:
        match = re.fullmatch(r"anyio==([\w.]+)", requirement.replace(" ", ""))
        if match:
            return match.group(1)
    raise SystemExit("pyproject.toml's anyio-suite extra pins no anyio==X")


def fetch_sdist(version: str, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--no-binary", "anyio", f"anyio=={version}", "-d", str(into)], check=True)
    (archive,) = into.glob(f"anyio-{version}.tar.gz")
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python before 3.11.4 (Debian 12 has 3.11.2): refuse what "data" would
            for member in tar.getmembers():
                if (member.name.startswith("/") or ".." in Path(member.name).parts
                        or not (member.isfile() or member.isdir())):
                    raise SystemExit(f"{archive.name}: refusing to extract {member.name!r}")
            tar.extractall(into)  # every member checked just above
    return into / f"anyio-{version}"


def has_ipv6_localhost() -> bool:
    """Does /etc/hosts name ``::1`` ``localhost`` (as a Debian install's does)?"""
    return bool(re.search(r"^\s*::1\s.*\blocalhost\b", Path("/etc/hosts").read_text(), re.M))


def hosts_with_ipv6_localhost(scratch: Path) -> Path | None:
    """A copy of /etc/hosts with ``::1 localhost`` added, if we can mount it (root)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    hosts = Path("/etc/hosts").read_text() + "\n::1 localhost\n"
    copy = scratch / "hosts"
    copy.write_text(hosts)
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            f"mount --bind {copy} /etc/hosts && true"], capture_output=True)
    return copy if probe.returncode == 0 else None


def run_suite(source: Path, backend: str, ipv6: bool, hosts: Path | None, report: Path) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p),
        ANYIO_SUITE_NO_IPV6_LOCALHOST="0" if ipv6 else "1")
    pytest = [sys.executable, "-m", "pytest", "-p", "anyio_runtime_plugin",
              f"--anyio-suite-backend={backend}", "-p", "no:cacheprovider", "-q",
              "-o", "console_output_style=classic", f"--junitxml={report}", "tests"]
    if hosts is not None:
        # The mount lives and dies with this process's namespace.
        pytest = ["unshare", "-m", "sh", "-c", f'mount --bind {hosts} /etc/hosts && exec "$@"',
                  "sh", *pytest]
    start = time.perf_counter()
    subprocess.run(pytest, cwd=source, env=env)  # its verdict is ours to make, below
    return time.perf_counter() - start


def neutral(name: str, backend: str) -> str:
    """An item's name with its backend parameter made ``BACKEND`` (as the plugin does)."""
    return re.sub(rf"(?<=[\[-]){backend}(?=[\]-])", "BACKEND", name)


def outcomes(report: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {k: [] for k in
                                   ("passed", "failed", "skipped", "xfailed", "xpassed")}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name')}"  # tests.test_x.Class::test
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            found["failed"].append(name)
        elif "skipped" in kinds:
            xfail = kinds["skipped"].get("type") == "pytest.xfail"
            found["xfailed" if xfail else "skipped"].append(name)
        elif case.find("properties") is not None and any(
                p.get("name") == "xpass" for p in case.iter("property")):
            found["xpassed"].append(name)
        else:
            found["passed"].append(name)
    return found


def main() -> int:
    version = pinned_version()
    with tempfile.TemporaryDirectory(prefix="anyio-suite-") as tmp:
        scratch = Path(tmp)
        source = fetch_sdist(version, scratch)
        hosts = None if has_ipv6_localhost() else hosts_with_ipv6_localhost(scratch)
        ipv6 = hosts is not None or has_ipv6_localhost()
        print(f"anyio {version}: tests/ from the sdist, unedited; /etc/hosts "
              + ("with ::1 localhost in a private mount namespace" if hosts else
                 "as it is" + ("" if ipv6 else " (not root: tests needing ::1 localhost "
                                              "are skipped)")), flush=True)
        results = {}
        for backend in ("runtime", "trio"):
            report = scratch / f"{backend}.xml"
            took = run_suite(source, backend, ipv6, hosts, report)
            results[backend] = (outcomes(report), took)
    print(f"\n{'backend':8} {'passed':>7} {'failed':>7} {'skipped':>8} {'xfailed':>8} "
          f"{'xpassed':>8} {'wall s':>8}")
    for backend, (found, took) in results.items():
        print(f"{backend:8} {len(found['passed']):7} {len(found['failed']):7} "
              f"{len(found['skipped']):8} {len(found['xfailed']):8} {len(found['xpassed']):8} "
              f"{took:8.1f}")
    found, took = results["runtime"]
    print(f"runtime / trio wall time: {took / results['trio'][1]:.2f}x")
    # trio, run on the same machine, tells the environment's failures from
    # runtime's: an item that fails on both (say, Debian's Python 3.11.2
    # raising SSLError where newer ones raise SSLEOFError) is not runtime's,
    # and what trio passes short of its own baseline (items skipped without
    # ::1 localhost, or for want of root) the environment took from both.
    baseline_text = BASELINE.read_text()
    baseline = int(baseline_text.split()[0])
    trio_baseline = int(re.search(r"trio: ([\d,]+)", baseline_text)[1].replace(",", ""))
    trio_found = results["trio"][0]
    trio_failed = {neutral(name, "trio") for name in trio_found["failed"]}
    trio_passed = {neutral(name, "trio") for name in trio_found["passed"]}
    both = [name for name in found["failed"] if neutral(name, "runtime") in trio_failed]
    own = [name for name in found["failed"] if name not in both]
    if both:
        print(f"{len(both)} items failed on trio too, in this environment (not runtime's):\n  "
              + "\n  ".join(both))
    taken = max(0, trio_baseline - len(trio_found["passed"]))
    if taken:
        print(f"trio passed {len(trio_found['passed'])} of its baseline {trio_baseline} here: "
              f"runtime's baseline {baseline} counts down by the {taken} the environment took")
        baseline -= taken
    problems = []
    if own:
        problems.append("runtime items failed that known_failures.txt does not list:\n  "
                        + "\n  ".join(own))
    behind = sorted(name for name in found["skipped"] if neutral(name, "runtime") in trio_passed)
    if behind:
        problems.append("runtime items skipped that passed on trio:\n  " + "\n  ".join(behind))
    if len(found["passed"]) + len(found["xpassed"]) < baseline:
        problems.append(f"runtime passed {len(found['passed'])}, fewer than the baseline "
                        f"{baseline} (baseline.txt, less what the environment took)")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
