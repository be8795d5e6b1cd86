"""anyio's `TestRunner` over a reusable `runtime.Runner`.

Fixtures and the test run one after another in *one* task, as on anyio's
other backends, so a context variable a fixture sets is seen by the test.
That task waits on a channel between calls; each call is one
`runtime.Runner.run`, and the loop is parked (the task with it) in between.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

from anyio import abc

import runtime

T = TypeVar("T")
_Call = tuple[Awaitable[Any], list[Any], runtime.Event]


class TestRunner(abc.TestRunner):
    def __init__(self, **options: Any) -> None:
        self._runner = runtime.Runner(**options)
        self._calls: runtime.Sender[_Call] | None = None

    def __exit__(self, exc_type: type[BaseException] | None, exc_val: BaseException | None,
                 exc_tb: TracebackType | None) -> None:
        if self._calls is not None:
            self._calls.close()
        self._runner.close()

    async def _serve(self, calls: runtime.Receiver[_Call]) -> None:
        async for awaitable, outcome, done in calls:
            try:
                outcome.append((True, await awaitable))
            except BaseException as exc:
                outcome.append((False, exc))
            done.set()

    async def _submit(self, awaitable: Awaitable[T]) -> T:
        if self._calls is None:
            self._calls, calls = runtime.channel(1)
            runtime.spawn(self._serve(calls), name="anyio test runner")
        outcome: list[Any] = []
        done = runtime.Event()
        await self._calls.send((awaitable, outcome, done))
        await done.wait()
        ok, value = outcome[0]
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def _call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return self._runner.run(self._submit(func(*args, **kwargs)))

    def run_asyncgen_fixture(self, fixture_func: Callable[..., AsyncGenerator[T, Any]],
                             kwargs: dict[str, Any]) -> Iterable[T]:
        asyncgen = fixture_func(**kwargs)
        yield self._call(asyncgen.asend, None)
        try:
            self._call(asyncgen.asend, None)
        except StopAsyncIteration:
            pass
        else:
            self._call(asyncgen.aclose)
            raise RuntimeError("Async generator fixture did not stop")

    def run_fixture(self, fixture_func: Callable[..., Coroutine[Any, Any, T]],
                    kwargs: dict[str, Any]) -> T:
        return self._call(fixture_func, **kwargs)

    def run_test(self, test_func: Callable[..., Coroutine[Any, Any, Any]],
                 kwargs: dict[str, Any]) -> None:
        self._call(test_func, **kwargs)

    def is_running(self) -> bool:
        try:
            runtime.current_task()
        except RuntimeError:
            return False
        return True
