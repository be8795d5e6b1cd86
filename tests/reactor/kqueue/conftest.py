"""Fixtures of the kqueue fact tests: a kqueue `Poll`, and a bare kqueue fd."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runtime.reactor import Poll
from tests.helpers.kqueue import HAVE_KQUEUE

if HAVE_KQUEUE:
    from runtime.reactor import _kqueue as K


@pytest.fixture
def poll() -> Iterator[Poll]:
    """Overrides the reactor suite's: these facts are kqueue's alone."""
    with Poll(backend="kqueue") as p:
        yield p


@pytest.fixture
def kq() -> Iterator[int]:
    """A bare kqueue for the raw ``kevent(2)`` tests."""
    fd = K.raw_kqueue()
    yield fd
    os.close(fd)
