"""Shared by the io_uring tests: reaping completions, and a kernel that refuses io_uring.

The `ring` and `completions` fixtures are in ``conftest.py``.

`run_with_io_uring_refused` runs code in a child process whose kernel refuses
``io_uring_setup``: the child installs a seccomp filter (as Docker's default profile does) that
fails ``io_uring_setup`` with ``EPERM`` and lets every other syscall through,
then runs the code it was given. The filter is built by hand with ctypes:
three BPF instructions, no library needed.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest

uring = pytest.importorskip("runtime.reactor._uring", reason="the io_uring Ring is not built")
Completions, Ring = uring.Completions, uring.Ring

ROOT = pathlib.Path(__file__).resolve().parents[2]

_PRELUDE = """
import ctypes, errno

class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]

_NR_IO_URING_SETUP = 425  # the same on every architecture since Linux 5.1
_insns = (_Filter * 4)(
    _Filter(0x20, 0, 0, 0),                        # A = seccomp_data.nr
    _Filter(0x15, 0, 1, _NR_IO_URING_SETUP),       # if A == nr: next, else skip one
    _Filter(0x06, 0, 0, 0x00050000 | errno.EPERM), # return ERRNO(EPERM)
    _Filter(0x06, 0, 0, 0x7FFF0000),               # return ALLOW
)
_prog = _Prog(4, _insns)
_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(_prog), 0, 0) != 0:
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
"""


def run_with_io_uring_refused(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``io_uring_setup`` fails with EPERM."""
    script = _PRELUDE + textwrap.dedent(code)
    # The child's default backend is the platform's, whatever this session runs on.
    env = {k: v for k, v in os.environ.items() if k != "RUNTIME_BACKEND"}
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)



def run_with_memlock(code: str, limit: int,
                     timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter whose ``RLIMIT_MEMLOCK`` is ``limit`` bytes
    and which lacks ``CAP_IPC_LOCK`` (dropped from root's bounding set before the
    exec): io_uring then accounts its rings as it does for an ordinary user."""
    import ctypes
    import resource

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, limit))
        pr_capbset_drop, cap_ipc_lock = 24, 14
        # Fails (EPERM) for a non-root user, who has no CAP_IPC_LOCK anyway.
        ctypes.CDLL(None).prctl(pr_capbset_drop, cap_ipc_lock, 0, 0, 0)

    env = {k: v for k, v in os.environ.items() if k != "RUNTIME_BACKEND"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=lower)


def reap(ring: Ring, completions: Completions, timeout: float = 1.0) -> dict[int, int]:
    """token -> result of what completes within ``timeout`` (one wait)."""
    ring.submit_and_wait(completions, timeout)
    return {c.token: c.result for c in completions}


def reap_all(ring: Ring, completions: Completions, want: int,
             timeout: float = 5.0) -> dict[int, int]:
    """Wait (up to ``timeout``) until ``want`` completions have arrived; token -> result."""
    got: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got.update(reap(ring, completions, 0.5))
    return got
