"""Suite-wide fixtures: every test must give back the fds, threads and children it took.

A leaked fd in a reactor is not a cosmetic problem: epoll watches open file
descriptions, so a forgotten dup keeps a registration alive and the number
gets reused under somebody else's token. The autouse `no_leaks` fixture
compares ``/proc/self/fd`` and ``threading.enumerate()`` before and after each
test (after a short grace for threads finishing and for garbage collection)
and fails the test, naming what leaked. It also compares this process's
children (``/proc/self/task/*/children``, which lists a zombie until it is
reaped): a child started by a test must have exited *and been reaped*.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import os
import threading
import time
from collections.abc import Iterator

import pytest

# The package's pytest plugin (@pytest.mark.runtime), loaded by its pytest11
# entry point; here too for a checkout whose install predates the entry point.
pytest_plugins = [] if any(
    entry.value == "runtime.pytest_plugin"
    for entry in importlib.metadata.entry_points(group="pytest11")) else ["runtime.pytest_plugin"]

_FD_DIR = "/proc/self/fd"
_TASK_DIR = "/proc/self/task"
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


def _children() -> set[int]:
    pids: set[int] = set()
    if not os.path.isdir(_TASK_DIR):
        return pids
    for tid in os.listdir(_TASK_DIR):
        # (OSError: the thread ended meanwhile.)
        with contextlib.suppress(OSError), open(f"{_TASK_DIR}/{tid}/children") as children:
            pids.update(int(pid) for pid in children.read().split())
    return pids


def _describe_child(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except OSError:
        return str(pid)
    return f"{pid} ({'zombie' if state == 'Z' else 'running'}: {cmdline or '?'})"


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    fds_before = _open_fds()
    threads_before = set(threading.enumerate())
    children_before = _children()
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

    children = _children() - children_before
    while children and time.perf_counter() < deadline:
        time.sleep(0.01)
        children = _children() - children_before

    problems = []
    if children:
        problems.append("leaked children (not exited, or not reaped): "
                        + ", ".join(_describe_child(pid) for pid in sorted(children)))
    if fds:
        listed = ", ".join(f"{fd} -> {what}" for fd, what in sorted(fds.items()))
        problems.append(f"leaked fds: {listed}")
    if threads:
        problems.append("leaked threads: " + ", ".join(t.name for t in threads))
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
