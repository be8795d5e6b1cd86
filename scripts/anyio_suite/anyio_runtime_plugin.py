"""pytest plugin (``-p anyio_runtime_plugin``): anyio's own tests, on one backend.

Loaded before anyio's ``tests/conftest.py`` is imported, it adds "runtime"
to the backends anyio parametrizes its tests over (``BACKENDS``, which the
conftest reads), registers the backend, and keeps only the items of the
backend under test (``--anyio-suite-backend``, "runtime" or "trio"): the
items of every backend but asyncio apply to a third one. Items listed in
the known-failures file are marked xfail (not strict: a fix shows as XPASS)
with the reason given there. anyio's files are not touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio._core._eventloop as eventloop
import pytest

import runtime.anyio_backend  # noqa: F401  # registers anyio._backends._runtime

if "runtime" not in eventloop.BACKENDS:
    eventloop.BACKENDS = (*eventloop.BACKENDS, "runtime")

KNOWN_FAILURES = Path(__file__).with_name("known_failures.txt")
#: Set by run.py when it cannot give the run an /etc/hosts with ``::1 localhost``
#: (not root): the tests that resolve ``localhost`` to ::1 are skipped, saying so.
NO_IPV6_LOCALHOST = os.environ.get("ANYIO_SUITE_NO_IPV6_LOCALHOST") == "1"
#: Those tests: every ``ipv6`` parametrization, and these (found by running the
#: suite on trio with /etc/hosts lacking ::1 localhost).
NEEDS_IPV6_LOCALHOST = ("test_connection_refused[BACKEND-multi]",
                        "test_happy_eyeballs[BACKEND-dualstack]",
                        "test_tcp_listener_same_port[BACKEND-localhost-",
                        "test_tcp_listener_retry_after_partial_failure[",
                        "test_tcp_listener_total_bind_failure[")


def known_failures(backend: str) -> dict[str, str]:
    """test node id (without the ``[...]`` part's backend) -> reason, for ``backend``."""
    failures: dict[str, str] = {}
    for line in KNOWN_FAILURES.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where, _, reason = line.partition(" -- ")
        which, _, node = where.partition(" ")
        if which in (backend, "both"):
            failures[node.strip()] = reason.strip()
    return failures


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--anyio-suite-backend", default=os.environ.get("ANYIO_SUITE_BACKEND",
                                                                     "runtime"),
                     help="the anyio backend whose parametrized items are kept")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    backend = config.getoption("--anyio-suite-backend")
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("anyio_backend") if callspec is not None else None
        name = param[0] if isinstance(param, tuple) else param
        (keep if name == backend else drop).append(item)
    failures = known_failures(backend)
    for item in keep:
        node = item.nodeid.replace(f"[{backend}]", "[BACKEND]").replace(
            f"[{backend}-", "[BACKEND-").replace(f"-{backend}]", "-BACKEND]").replace(
            f"-{backend}-", "-BACKEND-")
        reason = failures.get(node)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
        params = node.partition("[")[2].rstrip("]").split("-")
        if NO_IPV6_LOCALHOST and ("ipv6" in params or any(n in node for n in NEEDS_IPV6_LOCALHOST)):
            item.add_marker(pytest.mark.skip(
                reason="needs ::1 localhost in /etc/hosts; no private mount namespace could add "
                       "it here (not root, or inside a chroot); this machine's file is never "
                       "edited"))
    items[:] = keep
    config.hook.pytest_deselected(items=drop)
