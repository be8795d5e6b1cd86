"""`runtime` as an anyio backend: ``import runtime.anyio_backend`` once, then
``anyio.run(main, backend="runtime")``, or anyio code inside `runtime.run`,
or ``anyio_backend = "runtime"`` under anyio's pytest plugin.

anyio finds a backend named ``X`` as the module ``anyio._backends._X`` (its
``backend_class``); it has no entry point for third-party backends. Importing
this package places it in `sys.modules` under that name: private API of
anyio's, so `runtime` supports a pinned range of anyio (``pyproject.toml``'s
``anyio`` extra; a test checks the installed version against it).

Each method is a thin adapter over `runtime`'s public API (`_backend.py`);
what anyio needed that runtime lacked was added to runtime itself, with its
own tests: sockets (`runtime.io`), `Runner`, `current_token`, `from_thread`,
`CapacityLimiter`, signals and subprocesses.
"""

from __future__ import annotations

import sys

from ._backend import RuntimeBackend

#: What anyio's backend lookup reads.
backend_class = RuntimeBackend

sys.modules.setdefault("anyio._backends._runtime", sys.modules[__name__])

__all__ = ["RuntimeBackend", "backend_class"]
