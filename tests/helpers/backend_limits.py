"""What the backend `runtime.run()` picks cannot show the layers above it, and why.

The executor, time, io, sync and channel suites run on the platform's
default backend, then once more with ``RUNTIME_BACKEND=kqueue``
(``tests/test_kqueue_pass.py``). A test whose assertion the selected backend
cannot honour calls `skip_unless_run_backend_supports` and is skipped with
the reason shown. The reasons are the reactor's own table
(``tests/helpers/limits.py``): one list says what each backend cannot do,
whichever layer's test runs into it. A feature not listed is expected to work.
"""

from __future__ import annotations

import os

import pytest

from runtime.reactor import default_backend
from tests.helpers.limits import LIMITS


def run_backend() -> str:
    """The backend ``runtime.run(main())`` uses here: ``$RUNTIME_BACKEND`` or the default."""
    return os.environ.get("RUNTIME_BACKEND") or default_backend()


def run_backend_lacks(feature: str) -> str | None:
    """Why the run backend cannot show ``feature``, or None if it can."""
    return LIMITS.get((run_backend(), feature))


def skip_unless_run_backend_supports(feature: str, consequence: str) -> None:
    """Skip, naming the backend, its limit and what a test above it would see."""
    reason = run_backend_lacks(feature)
    if reason is not None:
        pytest.skip(f"{run_backend()}: {reason}, so {consequence} (tests/helpers/limits.py)")
