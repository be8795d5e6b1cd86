"""The executor, time, io, sync and channel suites, once more on kqueue.

The rest of ``tests/`` runs on the platform's default backend (epoll on
Linux). This test runs those five suites again in a child pytest with
``RUNTIME_BACKEND=kqueue``, which `runtime.run` reads when no backend is
passed, so every ``runtime.run(main())`` in them runs on kqueue: on Linux that
is libkqueue, not a BSD or macOS kernel (``docs/kqueue.md``). What libkqueue
cannot show is skipped there with its reason (``tests/helpers/backend_limits.py``),
and the child's skip reasons are in its output, shown if it fails.

Where the kqueue backend was not built this is skipped, except under
``CI=true``: CI installs libkqueue (``scripts/install-libkqueue.sh``) and
must run it.
"""

from __future__ import annotations

import os

import pytest

from runtime.reactor import available_backends, default_backend
from tests.helpers.backend_pass import CHILD_TIMEOUT, run_suites_on

SUITES = ["tests/executor", "tests/time", "tests/io", "tests/sync", "tests/channels"]


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

    run_suites_on("kqueue", SUITES)
