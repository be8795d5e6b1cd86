"""The executor, time, io, sync, channel, chat and asyncio suites, once more on io_uring.

The rest of ``tests/`` runs on the platform's default backend (epoll on
Linux). This test runs those suites again in a child pytest with
``RUNTIME_BACKEND=uring``, which `runtime.run` reads when no backend is
passed, so every ``runtime.run(main())`` in them runs on the completion
driver (``runtime/executor/ring_driver.py``): socket operations submitted
to an io_uring `Ring`, readiness only for what needs it. What the
completion model cannot show (counting ``socket.recv`` calls) is skipped
with its reason (``tests/helpers/limits.py``); the skips are in the output.

Skipped where the kernel refuses io_uring (a seccomp policy, or
``kernel.io_uring_disabled``); on Linux under ``CI=true`` a missing build
fails instead, since ``pip install`` should have built it.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.helpers.backend_pass import CHILD_TIMEOUT, run_suites_on, why_uring_unavailable

SUITES = ["tests/executor", "tests/time", "tests/io", "tests/sync", "tests/channels",
          "tests/examples", "tests/asyncio"]


@pytest.mark.timeout(CHILD_TIMEOUT + 30)
def test_executor_time_io_sync_channel_chat_and_asyncio_suites_pass_on_io_uring() -> None:
    why = why_uring_unavailable()
    if why is not None:
        if "not built" in why and sys.platform.startswith("linux") \
                and os.environ.get("CI") == "true":
            pytest.fail(f"CI=true on Linux but {why}")
        pytest.skip(why)
    if os.environ.get("RUNTIME_BACKEND") == "uring":
        pytest.skip("uring is already the backend these suites ran on in this session")
    run_suites_on("uring", SUITES)
