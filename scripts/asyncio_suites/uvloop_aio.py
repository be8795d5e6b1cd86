"""uvloop's own test suite (its AIO variants), run against `runtime.asyncio`, unedited.

uvloop runs each test twice, on uvloop (``UVTestCase``) and on asyncio
(``AIOTestCase``). This fetches uvloop's sdist at a pinned version from the
package index, installs the matching uvloop (its ``_testbase`` is imported
by the tests), and runs only the AIO variants with their loop hooks
overridden from outside: ``AIOTestCase.new_loop``/``new_policy`` make our
loop, ``is_asyncio_loop`` says yes (so uvloop-only checks are skipped as
for asyncio), and test_signals' ``NEW_LOOP`` (run in a child process) makes
ours too. ``--loop stdlib`` runs the same selection on asyncio's loop.

Fails when fewer pass than ``--min-pass`` or when a test fails that the
known-failures file (``test id  # reason`` a line) does not list.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
from verdict import verdict

UVLOOP_VERSION = "0.23.0"
HERE = Path(__file__).resolve().parent
RUNTIME_LOOP = "__import__('runtime.asyncio', fromlist=['run']).new_event_loop()"


class AIOOnly:
    """A pytest plugin: keep the AIO tests, point their hooks at the chosen loop."""

    def __init__(self, loop: str) -> None:
        self.loop = loop
        self.outcomes: dict[str, str] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        if self.loop != "runtime":
            return
        from uvloop import _testbase as tb

        import runtime.asyncio as ra

        tb.AIOTestCase.new_loop = lambda self: ra.new_event_loop()
        tb.AIOTestCase.new_policy = lambda self: ra.EventLoopPolicy()
        tb.AIOTestCase.is_asyncio_loop = lambda self: True

    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        from uvloop import _testbase as tb

        keep, drop = [], []
        for item in items:
            cls = getattr(item, "cls", None)
            if cls is not None and issubclass(cls, tb.AIOTestCase):
                keep.append(item)
                if self.loop == "runtime" and hasattr(cls, "NEW_LOOP"):
                    cls.NEW_LOOP = RUNTIME_LOOP
            else:
                drop.append(item)
        items[:] = keep
        config.hook.pytest_deselected(items=drop)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A test fails if any phase or any of its subtests fails: a later
        # report of the same test never turns "fail" back into "pass".
        test_id = report.nodeid
        if self.outcomes.get(test_id) == "fail":
            return
        if report.failed:
            self.outcomes[test_id] = "fail"
        elif report.skipped:
            self.outcomes.setdefault(test_id, "skip")
        elif report.when == "call":
            self.outcomes[test_id] = "pass"


def fetch_tests(workdir: Path) -> Path:
    """uvloop's sdist from the package index (pinned), unpacked; its tests/ folder."""
    # --no-binary names uvloop only: with ":all:" pip built the sdist's build
    # requirements (Cython among them) from source just to read its metadata,
    # 150 s of CPU on a fresh machine; as wheels they take 5 s.
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--no-binary", "uvloop", "-d", str(workdir),
                    f"uvloop=={UVLOOP_VERSION}"], check=True)
    sdist = workdir / f"uvloop-{UVLOOP_VERSION}.tar.gz"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(f"uvloop-{UVLOOP_VERSION}/tests/")]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(workdir, members=members, filter="data")
        else:  # Python before 3.11.4 (Debian 12 has 3.11.2): refuse what "data" would
            for member in members:
                if (".." in Path(member.name).parts
                        or not (member.isfile() or member.isdir())):
                    raise SystemExit(f"{sdist.name}: refusing to extract {member.name!r}")
            tar.extractall(workdir, members=members)  # every member checked just above
    return workdir / f"uvloop-{UVLOOP_VERSION}" / "tests"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=["runtime", "stdlib"], default="runtime")
    parser.add_argument("--known", type=Path)
    parser.add_argument("--min-pass", type=int, default=0)
    parser.add_argument("-k", dest="pattern")
    args = parser.parse_args()
    try:
        import uvloop  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        f"uvloop=={UVLOOP_VERSION}"], check=True)
    with tempfile.TemporaryDirectory(prefix="uvloop-suite-") as tmp:
        tests = fetch_tests(Path(tmp))
        plugin = AIOOnly(args.loop)
        # -s: output capture breaks test_process_streams_redirect.
        pytest_args = [str(tests), "-s", "-q", "-p", "no:cacheprovider", "-o", "timeout=60",
                       "--rootdir", str(tests.parent), "-W", "ignore::DeprecationWarning"]
        if args.pattern:
            pytest_args += ["-k", args.pattern]
        start = time.monotonic()
        cwd = os.getcwd()
        os.chdir(tests.parent)  # some tests open their certs relative to here
        try:
            pytest.main(pytest_args, plugins=[plugin])
        finally:
            os.chdir(cwd)
        took = time.monotonic() - start
    outcomes = {test_id.partition("tests/")[2] or test_id: o
                for test_id, o in plugin.outcomes.items()}
    title = f"uvloop {UVLOOP_VERSION} AIO suite on the {args.loop} loop"
    return verdict(title, outcomes, args.known, args.min_pass, took)

if __name__ == "__main__":
    sys.exit(main())
