"""One cancellation scenario, two frameworks: the adapter for the cancel and task-group tests.

A scenario is an ``async def`` written once against a `Flavor` and run by
`Flavor.run` under trio and under `runtime`; it appends what happens to a
trace (a list of strings), and the test asserts both traces equal the one
written out in the test. The adapter only renames: each method is the
framework's own call with the same meaning, nothing is emulated.

=====================  ===============================  ==============================
adapter                trio                             runtime
=====================  ===============================  ==============================
``cancel_scope``       ``trio.CancelScope``             `runtime.CancelScope`
``move_on_after`` ...  ``trio.move_on_after`` ...       `runtime.move_on_after` ...
``fail_after`` ...     ``trio.fail_after`` (raises      `runtime.fail_after` (raises
                       ``trio.TooSlowError``)           the built-in `TimeoutError`)
``open_group``         ``trio.open_nursery(strict_      `runtime.TaskGroup`
                       exception_groups=True)``
``group.spawn``        ``nursery.start_soon``           `TaskGroup.spawn`
``group.start``        ``nursery.start``                `TaskGroup.start`
``checkpoint``         ``trio.lowlevel.checkpoint``     `runtime.checkpoint`
``wait_readable``      ``trio.lowlevel.wait_readable``  `runtime.lowlevel.wait_readable`
``to_thread``          ``trio.to_thread.run_sync(...,   `runtime.to_thread(...,
                       abandon_on_cancel=True)``        abandon_on_cancel=True)`
=====================  ===============================  ==============================

`describe` names an exception the same way under both: ``Cancelled`` for
either framework's, ``TimeoutError`` for trio's ``TooSlowError`` (the issue
chose the built-in on purpose), and ``ExceptionGroup[KeyError, ValueError]``
for groups (members in the order the group holds them, nested groups
spelled out).

(``tests/helpers/sidebyside.py`` is a sibling adapter built around join handles;
this one is built around scopes and nurseries, which trio has natively.)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import trio
import trio._core._thread_cache as trio_thread_cache
import trio.testing

import runtime
import runtime.lowlevel
import runtime.testing
from tests.helpers.platform_gaps import needs_trio

#: trio keeps an idle worker thread cached for 10 s after a ``to_thread`` call;
#: the suite's leak fixture allows 1 s for new threads to end. A short idle
#: timeout lets trio's worker exit like runtime's pool does (only the cache's
#: lifetime changes, not what a call does).
_TRIO_THREAD_IDLE = 0.05


class Group:
    """A task group as both frameworks have one: spawn, start, its scope."""

    cancel_scope: Any

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        raise NotImplementedError

    async def start(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        raise NotImplementedError


class Flavor:
    """The calls a scenario may make. Subclasses map them one to one."""

    name: str
    Cancelled: type[BaseException]

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    def cancel_scope(self, *, deadline: float = math.inf, shield: bool = False) -> Any:
        raise NotImplementedError

    def move_on_after(self, seconds: float) -> Any:
        raise NotImplementedError

    def move_on_at(self, deadline: float) -> Any:
        raise NotImplementedError

    def fail_after(self, seconds: float) -> Any:
        raise NotImplementedError

    def fail_at(self, deadline: float) -> Any:
        raise NotImplementedError

    def open_group(self) -> contextlib.AbstractAsyncContextManager[Group]:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    async def sleep_forever(self) -> None:
        await self.sleep(math.inf)

    async def checkpoint(self) -> None:
        raise NotImplementedError

    def current_time(self) -> float:
        raise NotImplementedError

    async def wait_readable(self, sock: Any) -> None:
        raise NotImplementedError

    async def to_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    def current_effective_deadline(self) -> float:
        raise NotImplementedError

    async def wait_all_tasks_blocked(self, cushion: float = 0.0) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


# -- runtime -------------------------------------------------------------------------


class _RuntimeGroup(Group):
    def __init__(self, tg: runtime.TaskGroup) -> None:
        self._tg = tg
        self.cancel_scope = tg.cancel_scope

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self._tg.spawn(fn(*args))  # type: ignore[arg-type]

    async def start(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return await self._tg.start(fn, *args)


class RuntimeFlavor(Flavor):
    name = "runtime"
    Cancelled = runtime.Cancelled

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        return runtime.run(main())  # type: ignore[arg-type]

    def cancel_scope(self, *, deadline: float = math.inf, shield: bool = False) -> Any:
        return runtime.CancelScope(deadline=deadline, shield=shield)

    def move_on_after(self, seconds: float) -> Any:
        return runtime.move_on_after(seconds)

    def move_on_at(self, deadline: float) -> Any:
        return runtime.move_on_at(deadline)

    def fail_after(self, seconds: float) -> Any:
        return runtime.fail_after(seconds)

    def fail_at(self, deadline: float) -> Any:
        return runtime.fail_at(deadline)

    @contextlib.asynccontextmanager
    async def open_group(self) -> AsyncIterator[Group]:
        async with runtime.TaskGroup() as tg:
            yield _RuntimeGroup(tg)

    async def sleep(self, seconds: float) -> None:
        await runtime.sleep(seconds)

    async def checkpoint(self) -> None:
        await runtime.checkpoint()

    def current_time(self) -> float:
        return runtime.current_time()

    async def wait_readable(self, sock: Any) -> None:
        await runtime.lowlevel.wait_readable(sock)

    async def to_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await runtime.to_thread(fn, *args, abandon_on_cancel=True)

    def current_effective_deadline(self) -> float:
        return runtime.current_effective_deadline()

    async def wait_all_tasks_blocked(self, cushion: float = 0.0) -> None:
        await runtime.testing.wait_all_tasks_blocked(cushion)


# -- trio ----------------------------------------------------------------------------


class _TrioGroup(Group):
    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.cancel_scope = nursery.cancel_scope

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self._nursery.start_soon(fn, *args)

    async def start(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return await self._nursery.start(fn, *args)


class TrioFlavor(Flavor):
    name = "trio"
    Cancelled = trio.Cancelled

    def run(self, main: Callable[[], Awaitable[Any]]) -> Any:
        return trio.run(main)

    def cancel_scope(self, *, deadline: float = math.inf, shield: bool = False) -> Any:
        return trio.CancelScope(deadline=deadline, shield=shield)

    def move_on_after(self, seconds: float) -> Any:
        return trio.move_on_after(seconds)

    def move_on_at(self, deadline: float) -> Any:
        return trio.move_on_at(deadline)

    def fail_after(self, seconds: float) -> Any:
        return _too_slow_is_timeout(trio.fail_after(seconds))

    def fail_at(self, deadline: float) -> Any:
        return _too_slow_is_timeout(trio.fail_at(deadline))

    @contextlib.asynccontextmanager
    async def open_group(self) -> AsyncIterator[Group]:
        async with trio.open_nursery(strict_exception_groups=True) as nursery:
            yield _TrioGroup(nursery)

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()

    def current_time(self) -> float:
        return trio.current_time()

    async def wait_readable(self, sock: Any) -> None:
        await trio.lowlevel.wait_readable(sock)

    async def to_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        trio_thread_cache.IDLE_TIMEOUT = _TRIO_THREAD_IDLE  # type: ignore[attr-defined]
        return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)

    def current_effective_deadline(self) -> float:
        return trio.current_effective_deadline()

    async def wait_all_tasks_blocked(self, cushion: float = 0.0) -> None:
        await trio.testing.wait_all_tasks_blocked(cushion)


@contextlib.contextmanager
def _too_slow_is_timeout(cm: contextlib.AbstractContextManager[Any]) -> Iterator[Any]:
    """trio's ``fail_after``, raising `TimeoutError` where trio raises ``TooSlowError``.

    The cancel scope is trio's own and yielded as is; only the final
    exception's type is translated, so a trace can say ``TimeoutError`` for both.
    """
    try:
        with cm as scope:
            yield scope
    except trio.TooSlowError as exc:
        raise TimeoutError(str(exc)) from exc


#: Parametrize a test over both frameworks.
FLAVORS = [
    pytest.param(RuntimeFlavor(), id="runtime"),
    pytest.param(TrioFlavor(), id="trio", marks=needs_trio),
]


def describe(exc: BaseException) -> str:
    """A framework-neutral name for ``exc`` (see the module docstring)."""
    if isinstance(exc, BaseExceptionGroup):
        kind = "ExceptionGroup" if isinstance(exc, ExceptionGroup) else "BaseExceptionGroup"
        return f"{kind}[{', '.join(describe(e) for e in exc.exceptions)}]"
    if isinstance(exc, runtime.Cancelled | trio.Cancelled):
        return "Cancelled"
    if isinstance(exc, trio.TooSlowError):
        return "TimeoutError"
    return type(exc).__name__


@contextlib.contextmanager
def noting(trace: list[str], where: str) -> Iterator[None]:
    """Append ``"<where>: <exception>"`` for whatever escapes the block, and re-raise."""
    try:
        yield
    except BaseException as exc:
        trace.append(f"{where}: {describe(exc)}")
        raise


def run_noting(flavor: Flavor, main: Callable[[], Awaitable[Any]], trace: list[str]) -> None:
    """Run ``main``; append ``"run: <value>"`` or ``"run raised <exception>"``."""
    try:
        value = flavor.run(main)
    except BaseException as exc:
        trace.append(f"run raised {describe(exc)}")
    else:
        trace.append(f"run: {value}")
