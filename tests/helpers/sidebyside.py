"""One scenario, two frameworks: the adapter the side-by-side tests run through.

A scenario is written once against a `Framework` (``run``, ``sleep``,
``spawn`` returning a `Handle` with ``cancel``/``join``/``is_finished``) and
run under trio and under `runtime`; the tests assert both produce the same
trace (a list of events). trio has no join handles, so its adapter builds one
from what trio does have: a nursery the adapter opens around ``main``, and a
`trio.CancelScope` plus a `trio.Event` per child. ``cancel`` on trio is
``scope.cancel()``; on `runtime` it is `JoinHandle.abort`.

What a handle's ``join`` reports is the adapter's translation, kept minimal:
the child's value, ``CANCELLED`` if it ended by cancellation, or its
exception re-raised (the same object the child raised, traceback and all).
Everything the *child* observes (which exception reaches it, whether its
``finally`` runs, in what order) is the framework's own behaviour, untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

import runtime
from tests.helpers.platform_gaps import needs_trio

#: What ``Handle.join`` returns for a child that ended by cancellation.
CANCELLED = "<cancelled>"


class Handle:
    def cancel(self) -> None:
        raise NotImplementedError

    def is_finished(self) -> bool:
        raise NotImplementedError

    async def join(self) -> Any:
        raise NotImplementedError


class Framework:
    name: str
    Cancelled: type[BaseException]

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Handle:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


# -- runtime -----------------------------------------------------------------------


class _RuntimeHandle(Handle):
    def __init__(self, handle: runtime.JoinHandle[Any]) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.abort()

    def is_finished(self) -> bool:
        return self._handle.is_finished()

    async def join(self) -> Any:
        try:
            return await self._handle
        except runtime.Cancelled:
            return CANCELLED


class RuntimeFramework(Framework):
    name = "runtime"
    Cancelled = runtime.Cancelled

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        return runtime.run(main())  # type: ignore[arg-type]

    async def sleep(self, seconds: float) -> None:
        await runtime.sleep(seconds)

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Handle:
        return _RuntimeHandle(runtime.spawn(fn(*args)))  # type: ignore[arg-type]


# -- trio --------------------------------------------------------------------------


class _TrioHandle(Handle):
    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def cancel(self) -> None:
        self.scope.cancel()

    def is_finished(self) -> bool:
        return self.done.is_set()

    async def join(self) -> Any:
        await self.done.wait()
        if self.error is not None:
            raise self.error
        if self.scope.cancelled_caught:
            return CANCELLED
        return self.value


async def _trio_child(handle: _TrioHandle, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    try:
        with handle.scope:
            try:
                handle.value = await fn(*args)
            except Exception as exc:  # kept for join(), as a JoinHandle would
                handle.error = exc
    finally:
        handle.done.set()


class TrioFramework(Framework):
    name = "trio"
    Cancelled = trio.Cancelled

    def __init__(self) -> None:
        self._nursery: trio.Nursery | None = None

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        outcome: dict[str, Any] = {}

        async def wrapper() -> None:
            # runtime cancels what is still running when main ends; so does this.
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    outcome["value"] = await main()
                except Exception as exc:  # re-raised bare, as runtime.run does
                    outcome["error"] = exc
                finally:
                    nursery.cancel_scope.cancel()

        try:
            trio.run(wrapper)
        finally:
            self._nursery = None
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Handle:
        assert self._nursery is not None, "spawn() outside TrioFramework.run()"
        handle = _TrioHandle()
        self._nursery.start_soon(_trio_child, handle, fn, *args)
        return handle


#: Parametrize a test over both frameworks: ``def test_x(fw: Framework)``.
FRAMEWORKS = [
    pytest.param(RuntimeFramework, id="runtime"),
    pytest.param(TrioFramework, id="trio", marks=needs_trio),
]
