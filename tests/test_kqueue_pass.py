"""The executor, time, io, sync and channel suites, once more on kqueue.

The rest of ``tests/`` runs on the platform's default backend (epoll on
Linux). This test runs those five suites again in a child pytest with
``RUNTIME_BACKEND=kqueue``, which `runtime.run` reads when no backend is
passed, so every ``runtime.run(main())`` in them runs on kqueue: on Linux that
is libkqueue, not a BSD or macOS kernel (``docs/kqueue.md``). What libkqueue
cannot show is skipped there with its reason (``tests/backend_limits.py``),
and the child's skip reasons are in its output, shown if it fails.

Where the kqueue backend was not built this is skipped, except under
``CI=true``: CI installs libkqueue (``scripts/install-libkqueue.sh``) and
must run it.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from runtime.reactor import available_backends, default_backend

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUITES = ["tests/executor", "tests/time", "tests/io", "tests/sync", "tests/channel"]
#: The child's wall-clock bound; it takes under a minute on a loaded 2-core box.
CHILD_TIMEOUT = 600


@pytest.mark.timeout(CHILD_TIMEOUT + 30)
def test_executor_time_io_sync_and_channel_suites_pass_on_kqueue() -> None:
    if "kqueue" not in available_backends():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but the kqueue backend was not built, so the suites "
                        "cannot run on it (did scripts/install-libkqueue.sh run before "
                        "pip install?)")
        pytest.skip("the kqueue backend is not built here (on Linux: run "
                    "scripts/install-libkqueue.sh, then pip install -e . again)")
    if default_backend() == "kqueue" or os.environ.get("RUNTIME_BACKEND") == "kqueue":
        pytest.skip("kqueue is already the backend these suites ran on in this session")

    env = {**os.environ, "RUNTIME_BACKEND": "kqueue"}
    try:
        child = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *SUITES],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=CHILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        pytest.fail(f"the kqueue pass took over {CHILD_TIMEOUT}s; its output so far:\n"
                    + _tail(out))
    assert child.returncode == 0, (
        f"the suites failed on kqueue (pytest exit {child.returncode}):\n" + _tail(child.stdout))
    assert " passed" in child.stdout.splitlines()[-1], _tail(child.stdout)


def _tail(output: str, lines: int = 200) -> str:
    return "\n".join(output.splitlines()[-lines:])
