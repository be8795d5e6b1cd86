"""Every contract test runs once per backend built into this install.

`available_backends()` is asked at collection time, so a new backend (kqueue
through libkqueue on Linux, IOCP on Windows) is picked up by every test that
takes the `backend` or `poll` fixture without editing a test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runtime.reactor import Events, Poll, available_backends


@pytest.fixture(params=available_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def poll(backend: str) -> Iterator[Poll]:
    with Poll(backend=backend) as p:
        yield p


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def ring() -> Iterator[Any]:
    """A 64-entry io_uring `Ring`, closed after the test; skipped where it is unavailable."""
    uring = pytest.importorskip("runtime.reactor._uring", reason="the io_uring Ring is not built")
    try:
        r = uring.Ring(64)
    except uring.UringUnavailableError as exc:
        pytest.skip(f"io_uring is refused here: {exc}")
    with r:
        yield r


@pytest.fixture
def completions() -> Any:
    """A `Completions` buffer for `Ring.submit_and_wait`."""
    from runtime.reactor._uring import Completions

    return Completions()
