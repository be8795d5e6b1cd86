"""Every contract test runs once per backend built into this install.

`available_backends()` is asked at collection time, so a new backend (kqueue
through libkqueue on Linux, IOCP on Windows) is picked up by every test that
takes the `backend` or `poll` fixture without editing a test.
"""

from __future__ import annotations

from collections.abc import Iterator

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
