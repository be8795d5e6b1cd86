"""The suites on Windows CPython under Wine, run from the Linux suite.

``scripts/test-windows-wine.sh`` does the work (setup is cached outside the
repo; a run takes about a minute and a half). It runs the reactor, executor,
time, io, sync and channel suites with the IOCP/AFD backend, which
`runtime.run` picks on Windows. What this verifies is Wine's implementation
of IOCP and AFD, not a Windows kernel: see docs/windows.md.

Under ``CI=true`` a missing Wine is a failure, so CI cannot go green by
quietly skipping the Windows backend; elsewhere it is a visible skip. A test
that cannot run on Windows (or under Wine) says why itself, with a mark from
``tests/helpers/platform_gaps.py`` or a limit in ``tests/helpers/limits.py``; every
skip reason is printed here, and any failure fails this test.
"""

from __future__ import annotations

import collections
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.helpers.tls_peers import CERTS_DIR_VARIABLE, make_certs

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "test-windows-wine.sh"
WINE = pathlib.Path("/usr/lib/wine/wine64")
UNAVAILABLE = 77  # the script's "no Wine to be had here"
IN_CI = os.environ.get("CI", "").lower() == "true"
SUITES = ["tests/reactor", "tests/executor", "tests/time", "tests/io", "tests/sync",
          "tests/channels"]


def _nodeid(case: ET.Element) -> str:
    # junit says classname "tests.reactor.test_x", name "test_y[p]"; a module
    # that failed to collect has no classname and its dotted path as the name.
    classname, name = case.get("classname", ""), case.get("name", "")
    if not classname:
        return name.replace(".", "/") + ".py"
    return f"{classname.replace('.', '/')}.py::{name}"


@pytest.mark.skipif(sys.platform == "win32", reason="this is the Linux side of the Wine run")
@pytest.mark.timeout(900)  # the first run installs Wine and downloads CPython
def test_the_suites_pass_on_windows_under_wine(tmp_path: pathlib.Path) -> None:
    if not WINE.exists() and not IN_CI:
        pytest.skip(f"{WINE} is not installed: run {SCRIPT.relative_to(ROOT)} (as root) once")
    report = tmp_path / "junit.xml"
    # The TLS tests' certificates: trustme's cryptography does not load under Wine.
    (tmp_path / "tls").mkdir()
    make_certs(tmp_path / "tls")
    env = {**os.environ, "PYTHON": sys.executable,
           CERTS_DIR_VARIABLE: f"Z:{str(tmp_path / 'tls').replace('/', chr(92))}"}
    result = subprocess.run(
        [
            "bash", str(SCRIPT), *SUITES, "-q", "--tb=short", "-p", "no:randomly",
            f"--junitxml=Z:{str(report).replace('/', chr(92))}",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=880,
    )  # fmt: skip
    output = result.stdout + result.stderr
    if result.returncode == UNAVAILABLE:
        message = f"Wine is not available here:\n{output}"
        if IN_CI:
            pytest.fail(f"CI=true and the Windows run was skipped. {message}", pytrace=False)
        pytest.skip(message)
    assert report.exists(), f"the Wine run wrote no report:\n{output[-5000:]}"

    passed, failed = [], []
    skipped: collections.Counter[str] = collections.Counter()
    for case in ET.parse(report).iter("testcase"):
        nodeid = _nodeid(case)
        skip = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(nodeid)
        elif skip is not None:
            skipped[skip.get("message", "")] += 1
        else:
            passed.append(nodeid)

    print(f"\nUnder Wine: {len(passed)} passed, {sum(skipped.values())} skipped, "
          f"{len(failed)} failed")
    for reason, count in skipped.most_common():
        print(f"  skipped {count:3d}: {reason}")
    assert not failed, f"failed under Wine: {failed}\n{output[-8000:]}"
    assert result.returncode == 0, output[-5000:]
    for suite in SUITES:
        assert any(n.startswith(suite + "/") for n in passed), f"nothing in {suite} passed"
    assert any("test_iocp_facts" in n for n in passed), f"no IOCP fact ran:\n{output[-5000:]}"
