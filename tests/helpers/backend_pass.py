"""Run suites a second time on another backend, in a child pytest.

The suites run on the platform's default backend; `test_kqueue_pass.py` and
`test_uring_pass.py` run some of them again with ``RUNTIME_BACKEND`` set,
which `runtime.run` reads when no backend is passed. This module is what the
two share: the child run and its verdict, and whether io_uring can be used.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from runtime.reactor.errors import UringUnavailableError

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: The child's wall-clock bound; a pass takes about a minute on a loaded 2-core box.
CHILD_TIMEOUT = 600


def why_uring_unavailable() -> str | None:
    """Why ``backend="uring"`` cannot run here (not built, or refused), or None."""
    try:
        from runtime.reactor._uring import Ring
    except ImportError:
        return "the io_uring Ring was not built (no <linux/io_uring.h> at pip install)"
    try:
        Ring(1).close()
    except UringUnavailableError as exc:
        return f"the kernel refuses io_uring here: {exc}"
    return None


def run_suites_on(backend: str, suites: list[str]) -> None:
    """Run ``suites`` in a child pytest with ``RUNTIME_BACKEND=backend``; fail if it fails."""
    env = {**os.environ, "RUNTIME_BACKEND": backend}
    try:
        child = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *suites],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=CHILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        pytest.fail(f"the {backend} pass took over {CHILD_TIMEOUT}s; its output so far:\n"
                    + _tail(out))
    assert child.returncode == 0, (
        f"the suites failed on {backend} (pytest exit {child.returncode}):\n"
        + _tail(child.stdout))
    assert " passed" in child.stdout.splitlines()[-1], _tail(child.stdout)


def _tail(output: str, lines: int = 200) -> str:
    return "\n".join(output.splitlines()[-lines:])
