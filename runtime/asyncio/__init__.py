"""`runtime.asyncio`: an asyncio event loop built on runtime's reactor and executor.

Use it as any asyncio loop::

    runtime.asyncio.run(main())                       # like asyncio.run
    asyncio.Runner(loop_factory=runtime.asyncio.new_event_loop)
    asyncio.set_event_loop_policy(runtime.asyncio.EventLoopPolicy())

or mix both APIs on one thread and one reactor: once this module is
imported, ``asyncio.get_running_loop()`` works inside ``runtime.run``, and
`aio_as_runtime` / `runtime_as_aio` await one side's coroutines from the
other (see ``docs/asyncio.md`` for how cancellation crosses).
"""

from __future__ import annotations

import asyncio
import functools
from asyncio import unix_events
from collections.abc import Coroutine
from typing import Any, TypeVar

from .bridge import aio_as_runtime, runtime_as_aio
from .loop import RuntimeEventLoop

T = TypeVar("T")


def new_event_loop(*, backend: str | None = None) -> RuntimeEventLoop:
    """A new `RuntimeEventLoop` with a runtime of its own, on ``backend``
    (``runtime.run``'s: ``$RUNTIME_BACKEND`` or the platform's default)."""
    return RuntimeEventLoop(backend=backend)


_PolicyBase: Any = unix_events.DefaultEventLoopPolicy  # type: ignore[attr-defined]


class EventLoopPolicy(_PolicyBase):
    """The default policy, making `RuntimeEventLoop` s."""

    _loop_factory = RuntimeEventLoop


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None,
        backend: str | None = None) -> T:
    """`asyncio.run` on a `RuntimeEventLoop` (on ``backend``, as `new_event_loop`)."""
    with asyncio.Runner(debug=debug,
                        loop_factory=functools.partial(new_event_loop, backend=backend)) as runner:
        return runner.run(main)


__all__ = [
    "EventLoopPolicy",
    "RuntimeEventLoop",
    "aio_as_runtime",
    "new_event_loop",
    "run",
    "runtime_as_aio",
]
