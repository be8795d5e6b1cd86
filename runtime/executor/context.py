"""Which `Runner` is running in this thread (one per thread at most)."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runner import Runner

_local = threading.local()


def runner() -> Runner:
    """The running `Runner`, or `RuntimeError` outside `runtime.run`."""
    r = getattr(_local, "runner", None)
    if r is None:
        raise RuntimeError("no runtime is running in this thread (call this inside runtime.run())")
    return r


def runner_or_none() -> Runner | None:
    return getattr(_local, "runner", None)


def set_runner(r: Runner | None) -> None:
    _local.runner = r


# A child forked inside runtime.run (multiprocessing, a ProcessPoolExecutor)
# is not running its parent's runtime: it may start one of its own. (Windows
# has no fork, and no os.register_at_fork.)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: set_runner(None))
