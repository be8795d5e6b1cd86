"""Suite-wide fixtures: every test must give back the fds and threads it took.

A leaked fd in a reactor is not a cosmetic problem: epoll watches open file
descriptions, so a forgotten dup keeps a registration alive and the number
gets reused under somebody else's token. The autouse `no_leaks` fixture
compares ``/proc/self/fd`` and ``threading.enumerate()`` before and after each
test (after a short grace for threads finishing and for garbage collection)
and fails the test, naming what leaked.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator

import pytest

_FD_DIR = "/proc/self/fd"
_GRACE = 1.0  # seconds allowed for threads to finish and fds to be collected


def _open_fds() -> dict[int, str]:
    if not os.path.isdir(_FD_DIR):
        return {}
    fds = {}
    for name in os.listdir(_FD_DIR):
        fd = int(name)
        with contextlib.suppress(OSError):  # the fd listdir used is closed again
            fds[fd] = os.readlink(f"{_FD_DIR}/{name}")
    return fds


def _fd_leaks(before: dict[int, str]) -> dict[int, str]:
    # An fd counts as leaked if it is new, or its number now names another file.
    return {fd: what for fd, what in _open_fds().items() if before.get(fd) != what}


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    fds_before = _open_fds()
    threads_before = set(threading.enumerate())
    yield

    deadline = time.perf_counter() + _GRACE
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(max(0.0, deadline - time.perf_counter()))
    threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]

    fds = _fd_leaks(fds_before)
    while fds and time.perf_counter() < deadline:
        gc.collect()  # an unreachable socket object closes its fd when collected
        time.sleep(0.01)
        fds = _fd_leaks(fds_before)

    problems = []
    if fds:
        listed = ", ".join(f"{fd} -> {what}" for fd, what in sorted(fds.items()))
        problems.append(f"leaked fds: {listed}")
    if threads:
        problems.append("leaked threads: " + ", ".join(t.name for t in threads))
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
