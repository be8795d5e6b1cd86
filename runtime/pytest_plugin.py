"""The pytest plugin (entry point ``pytest11``): async tests and fixtures on `runtime`.

``@pytest.mark.runtime`` on an ``async def`` test runs it on a `Runner`
(``runtime_mode = "auto"`` in the ini file, or ``--runtime-mode=auto``: every
async test that no other plugin claims). Async fixtures such a test uses run
on the same runner; the runner lives as long as the widest-scoped async
fixture that uses it (a session-scoped one keeps one loop for the session),
so a fixture's sockets, tasks and task groups are the test's to use.

Each async generator fixture runs in a task of its own that stays parked at
its ``yield`` between the runner's calls, so it may hold a `TaskGroup` or a
cancel scope open across the test (pytest-trio's model). A failure in that
group, or in a task the test detached with `runtime.spawn` and never
joined, fails the test; a detached task the test leaves running is an
error naming it. Fixtures ``mock_clock`` and ``autojump_clock`` give the
test's runner a `MockClock`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .errors import Cancelled
from .executor import context
from .executor.cancel import CancelScope, move_on_after
from .executor.runner import Runner
from .executor.task import JoinHandle, Task
from .sync import Event
from .testing import MockClock, wait_all_tasks_blocked

MODES = ("strict", "auto")
#: After a test, the others' tasks get this long (real seconds) to settle.
SETTLE_LIMIT = 1.0
#: Markers of other async plugins: a test carrying one is theirs, in auto mode too.
_OTHER_ASYNC_MARKERS = ("anyio", "asyncio", "trio")


class LeftoverTasksError(AssertionError):
    """A test returned while tasks it spawned with `runtime.spawn` were still running."""


class _TestRunner(Runner):
    """A `Runner` that keeps the detached tasks spawned while a test runs."""

    def __init__(self, clock: MockClock | None) -> None:
        super().__init__(clock=clock)
        #: The detached tasks spawned while the test runs (None: no test runs).
        self.detached: list[Task] | None = None
        #: The first failure of a fixture's task while a test ran.
        self.fixture_failure: BaseException | None = None

    def spawn(self, coro: Coroutine[Any, Any, Any], scope: CancelScope,
              name: str | None = None) -> Task:
        task = super().spawn(coro, scope, name)
        if self.detached is not None and scope is self.root_scope:
            self.detached.append(task)
        return task

    def fixture_failed(self, exc: BaseException) -> bool:
        """A fixture's task failed: fail the running test (cancel it), if one runs."""
        if self.detached is None or self.fixture_failure is not None:
            return False
        self.fixture_failure = exc
        self.main_scope.cancel()
        return True

    def run_test(self, test: Coroutine[Any, Any, Any]) -> None:
        """Run ``test``; raise what it raised, or what its background tasks did."""
        self.detached, self.fixture_failure = [], None
        try:
            try:
                self.run(test)
            except Cancelled:
                if self.fixture_failure is None:
                    self._stop_left(self.detached)
                    raise
            except Exception:
                self._stop_left(self.detached)  # the test's failure is the news
                raise
            if self.custom_clock is None:
                # The runner may outlive the test (wider fixtures hold it), and
                # its tasks only move while it runs: let them take what the
                # test left them (a closed connection's EOF, say) before the
                # suite's checks for leaked fds look.
                self.run(_settle())
            if self.fixture_failure is not None:
                raise self.fixture_failure
            self._check_detached(self.detached)
        finally:
            self.detached = None

    def _check_detached(self, tasks: list[Task]) -> None:
        failed = [t for t in tasks if t.finished and t.reporter is not None
                  and t.reporter.exc is not None]
        left = [t for t in tasks if not t.finished]
        if left:
            names = ", ".join(_describe(t) for t in left)
            self._stop_left(left)
            raise LeftoverTasksError(
                f"the test left {len(left)} task(s) running: {names} "
                "(join them, cancel them, or run them in a TaskGroup)")
        if failed:
            reporter = failed[0].reporter
            assert reporter is not None and reporter.exc is not None
            exc, reporter.exc = reporter.exc, None  # retrieved here: not logged again
            raise exc


    def _stop_left(self, tasks: list[Task]) -> None:
        """Cancel and await ``tasks`` still running: nothing of a test runs during the next."""
        left: list[JoinHandle[Any]] = [JoinHandle(t) for t in tasks if not t.finished]
        if left:
            self.run(_stop_all(left))


async def _settle() -> None:
    with move_on_after(SETTLE_LIMIT):
        await wait_all_tasks_blocked()


async def _stop_all(handles: list[JoinHandle[Any]]) -> None:
    for handle in handles:
        handle.abort()
    for handle in handles:
        try:
            await handle
        except BaseException:  # cancelled (or failed on the way out): it has stopped
            pass


def _describe(task: Task) -> str:
    frame = getattr(task.coro, "cr_frame", None)
    where = f" at {frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""
    return f"{task.name!r}{where}"


# -- the runner, shared by a test and its async fixtures ----------------------------

class _Slot:
    """A runner and who holds it: the test running, and the async fixtures set up on it."""

    def __init__(self, clock: MockClock | None) -> None:
        self.runner = _TestRunner(clock)
        self.leases = 0
        self.fixtures: list[str] = []


#: The runners alive, the one in use last. Usually one; a test with a mock
#: clock gets a second on top of one that wider-scoped fixtures keep.
_slots: list[_Slot] = []


@contextmanager
def _lease(clock: MockClock | None, who: str, fixture: str | None,
           wanted: Iterable[str]) -> Iterator[_TestRunner]:
    """The runner for ``who`` (one with ``clock``, if given), held until the ``with`` ends.

    ``wanted``: the fixtures the test uses; with a clock, none of them may
    live on a runner with another clock.
    """
    if context.runner_or_none() is not None:
        raise RuntimeError(f"{who}: an async fixture cannot be set up from inside a running "
                           "runtime (request.getfixturevalue() in an async test?)")
    slot = _slots[-1] if _slots else None
    if slot is None or (clock is not None and slot.runner.custom_clock is not clock):
        if slot is not None:
            shared = sorted(set(slot.fixtures).intersection(wanted))
            if shared:
                raise RuntimeError(
                    f"{who} uses a mock clock, but also the async fixture(s) "
                    f"{', '.join(shared)}, of a wider scope, already running on a runner "
                    "with another clock; a test with mock_clock or autojump_clock needs "
                    "its async fixtures on its own runner (make them function-scoped)")
        slot = _Slot(clock)
        _slots.append(slot)
    slot.leases += 1
    if fixture is not None:
        slot.fixtures.append(fixture)
    try:
        yield slot.runner
    finally:
        slot.leases -= 1
        if fixture is not None:
            slot.fixtures.remove(fixture)
        if slot.leases == 0:
            _slots.remove(slot)
            slot.runner.close()


def _clock_of(request: pytest.FixtureRequest) -> MockClock | None:
    """The test's `MockClock` (its ``mock_clock`` or ``autojump_clock``), or None."""
    clocks = [request.getfixturevalue(name) for name in ("mock_clock", "autojump_clock")
              if name in request.fixturenames]
    if len(clocks) > 1:
        raise RuntimeError("a test can use mock_clock or autojump_clock, not both")
    return clocks[0] if clocks else None


# -- which tests are ours --------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("runtime_mode", default="strict",
                  help='runtime plugin: "strict" runs async tests marked runtime, '
                       '"auto" every async test no other plugin claims')
    parser.getgroup("runtime").addoption(
        "--runtime-mode", dest="runtime_mode", default=None, choices=MODES,
        help="overrides the runtime_mode ini setting")


def _mode(config: pytest.Config) -> str:
    mode = config.getoption("runtime_mode") or config.getini("runtime_mode")
    if mode not in MODES:
        raise pytest.UsageError(f"runtime_mode must be 'strict' or 'auto', got {mode!r}")
    return str(mode)


def pytest_configure(config: pytest.Config) -> None:
    _mode(config)
    config.addinivalue_line(
        "markers", "runtime: run this async test (and its async fixtures) on runtime")


def _is_runtime_test(item: pytest.Item) -> bool:
    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
        return False
    if item.get_closest_marker("runtime") is not None:
        return True
    if "anyio_backend" in item.fixturenames:
        return False  # anyio's plugin runs it
    return (_mode(item.config) == "auto"
            and not any(item.get_closest_marker(m) for m in _OTHER_ASYNC_MARKERS))


_current_item: list[pytest.Item] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    _current_item.append(item)
    try:
        yield
    finally:
        _current_item.pop()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not _is_runtime_test(pyfuncitem):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    with _lease(_clock_of(pyfuncitem._request), pyfuncitem.name, None,
                pyfuncitem.fixturenames) as runner:
        runner.run_test(pyfuncitem.obj(**args))
    return True


# -- async fixtures ---------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Iterator[None]:
    func = fixturedef.func
    is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
    if not (is_async and _current_item and _is_runtime_test(_current_item[-1])):
        yield
        return
    fixturedef.func = _fixture_wrapper(func, fixturedef.argname, request)
    try:
        yield
    finally:
        fixturedef.func = func


def _fixture_wrapper(func: Callable[..., Any], name: str,
                     request: pytest.FixtureRequest) -> Callable[..., Iterator[Any]]:
    # A function-scoped fixture's runner is the test's (its clock too); a wider
    # one's outlives the test, so it takes the system clock.
    clock = _clock_of(request) if request.scope == "function" else None
    if (request.instance is not None and inspect.ismethod(func)
            and type(func.__self__) is type(request.instance)):
        func = func.__func__.__get__(request.instance)

    def wrapper(**kwargs: Any) -> Iterator[Any]:
        with _lease(clock, f"fixture {name!r}", name, request.fixturenames) as runner:
            if inspect.isasyncgenfunction(func):
                host = _FixtureHost(runner, name, func(**kwargs))
                yield runner.run(host.set_up())
                runner.run(host.tear_down())
            else:
                yield runner.run(func(**kwargs))

    return wrapper


class _FixtureHost:
    """Runs an async generator fixture in a task of its own, parked at its ``yield``."""

    def __init__(self, runner: _TestRunner, name: str, agen: Any) -> None:
        self.runner = runner
        self.name = name
        self.agen = agen
        self.ready = Event()
        self.release = Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.handle: JoinHandle[None] | None = None
        #: The error failed the test that ran when it came: not raised again.
        self.reported = False

    async def set_up(self) -> Any:
        from .executor.entry import spawn

        self.handle = spawn(self._main(), name=f"fixture {self.name}")
        await self.ready.wait()
        if self.error is not None:
            raise self.error
        return self.value

    async def tear_down(self) -> None:
        self.release.set()
        assert self.handle is not None
        await self.handle
        if self.error is not None and not self.reported:
            raise self.error

    async def _main(self) -> None:
        try:
            self.value = await self.agen.__anext__()
        except BaseException as exc:
            self.error = exc
            return
        finally:
            self.ready.set()
        try:
            await self.release.wait()
        except BaseException as exc:
            # Cancelled by a scope the fixture holds open (its task group's
            # child failed): the fixture's own frame gets to handle it.
            step = self.agen.athrow(exc)
        else:
            step = self.agen.__anext__()
        try:
            await step
        except StopAsyncIteration:
            return
        except BaseException as exc:
            self.error = exc
            self.reported = self.runner.fixture_failed(exc)
            return
        self.error = RuntimeError(f"async generator fixture {self.name!r} yielded twice")


# -- clocks ---------------------------------------------------------------------------------

@pytest.fixture
def mock_clock() -> MockClock:
    """A `MockClock` standing still (``jump`` moves it) for this test's runner."""
    return MockClock()


@pytest.fixture
def autojump_clock() -> MockClock:
    """A `MockClock` that jumps to the next deadline whenever every task is blocked."""
    return MockClock(autojump_threshold=0)
