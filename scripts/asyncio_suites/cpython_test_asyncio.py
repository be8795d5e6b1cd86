"""CPython's own test_asyncio, run against `runtime.asyncio`'s loop, unedited.

The installed ``test.test_asyncio`` package (Debian: ``libpython3.11-testsuite``)
gets its loops from three hooks, patched here from outside: a test class's
``create_event_loop()`` (test_events, test_sock_lowlevel, test_sendfile),
``new_loop()`` (test_server, test_sslproto), and the event-loop policy's loop
factory (test_streams, test_ssl, test_subprocess, test_tasks...). Of the
duplicate selector variants (epoll, poll, select) only the epoll class runs.

A *loop-factory test* is one that built at least one loop through a hook;
only those are counted. ``--loop stdlib`` runs the same selection on the
stdlib's loop (the reference). The run fails when fewer pass than
``--min-pass``, or when a test fails that the known-failures file does not
list (one ``test id  # reason`` a line).

    python scripts/asyncio_suites/cpython_test_asyncio.py \
        --known scripts/asyncio_suites/cpython_known_failures.txt --min-pass 825
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import importlib
import platform
import sys
import time
import unittest
from asyncio import unix_events
from pathlib import Path

from verdict import verdict

MODULES = [
    "test_base_events", "test_buffered_proto", "test_context", "test_events", "test_futures",
    "test_futures2", "test_locks", "test_pep492", "test_protocols", "test_queues",
    "test_runners", "test_sendfile", "test_server", "test_sock_lowlevel", "test_ssl",
    "test_sslproto", "test_streams", "test_subprocess", "test_taskgroups", "test_tasks",
    "test_threads", "test_timeouts", "test_transports", "test_unix_events", "test_waitfor",
]
DUPLICATE_VARIANTS = ("PollEventLoop", "SelectEventLoop", "KqueueEventLoop", "ProactorEventLoop")
PER_TEST_TIMEOUT = 60.0


class Outcome(unittest.TextTestResult):
    """Records each test's outcome and whether it built a loop through a hook."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, str] = {}
        self.used: set[str] = set()

    def startTest(self, test):
        global CURRENT
        CURRENT = test.id()
        # A hang ends the run with every thread's traceback (not SIGALRM:
        # the tests use it themselves).
        faulthandler.dump_traceback_later(PER_TEST_TIMEOUT, exit=True)
        super().startTest(test)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes[test.id()] = "pass"

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = "fail"

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[test.id()] = "error"

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[test.id()] = "skip"

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.outcomes[test.id()] = "pass"

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.outcomes[test.id()] = "fail"


CURRENT = ""
USED: set[str] = set()


def loop_class(which: str) -> type:
    if which == "stdlib":
        base: type = asyncio.SelectorEventLoop
    else:
        from runtime.asyncio import RuntimeEventLoop as base

    class Tracked(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs):
            USED.add(CURRENT)
            super().__init__(*args, **kwargs)

    Tracked.__name__ = Tracked.__qualname__ = base.__name__
    return Tracked


#: module -> the loop-making method its test classes define
HOOKS = {"test_events": "create_event_loop", "test_sock_lowlevel": "create_event_loop",
         "test_sendfile": "create_event_loop", "test_server": "new_loop",
         "test_sslproto": "new_loop"}


def patch_hooks(modules: list, loop_cls: type) -> None:
    unix_events._UnixDefaultEventLoopPolicy._loop_factory = loop_cls
    for module in modules:
        hook = HOOKS.get(module.__name__.rpartition(".")[2])
        if hook is None:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, type) and issubclass(obj, unittest.TestCase) and hasattr(obj, hook):
                setattr(obj, hook, lambda self: loop_cls())


def load(modules: list) -> unittest.TestSuite:
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for module in modules:
        for test in _flatten(loader.loadTestsFromModule(module)):
            if not test.__class__.__name__.startswith(DUPLICATE_VARIANTS):
                suite.addTest(test)
    return suite


def _flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _flatten(test)
        else:
            yield test


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=["runtime", "stdlib"], default="runtime")
    parser.add_argument("--known", type=Path)
    parser.add_argument("--min-pass", type=int, default=0)
    parser.add_argument("--baseline-python", help="the Python version --min-pass was measured on "
                        "(another version has other tests: the baseline is not applied)")
    parser.add_argument("--module", action="append", help="only these modules")
    parser.add_argument("-k", dest="pattern", help="only test ids containing this")
    parser.add_argument("-v", dest="verbosity", action="store_const", const=2, default=1,
                        help="name each test as it runs")
    args = parser.parse_args()
    names = args.module or MODULES
    modules = [importlib.import_module(f"test.test_asyncio.{name}") for name in names]
    loop_cls = loop_class(args.loop)
    patch_hooks(modules, loop_cls)
    suite = load(modules)
    if args.pattern:
        suite = unittest.TestSuite(t for t in suite if args.pattern in t.id())
    start = time.monotonic()
    runner = unittest.TextTestRunner(resultclass=Outcome, verbosity=args.verbosity,
                                     stream=sys.stderr)
    result: Outcome = runner.run(suite)  # type: ignore[assignment]
    took = time.monotonic() - start
    counted = {t: ("fail" if o == "error" else o)
               for t, o in result.outcomes.items() if t in USED}
    version = platform.python_version()
    min_pass = args.min_pass
    if args.baseline_python and version != args.baseline_python:
        print(f"the baseline was measured on Python {args.baseline_python}, this is {version}: "
              "only failures the known list does not name fail the run")
        min_pass = 0
    title = f"CPython {version} test_asyncio loop-factory tests on the {args.loop} loop"
    return verdict(title, counted, args.known, min_pass, took)

if __name__ == "__main__":
    sys.exit(main())
