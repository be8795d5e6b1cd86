"""The pytest plugin (runtime/pytest_plugin.py), run by pytest itself on generated test files."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.timeout(120)

#: The generated conftest: the project's own `no_leaks` sits beside the plugin
#: (and anyio's plugin is installed too), as in this suite.
_CONFTEST = """
pytest_plugins = ["tests.conftest"]
"""


@pytest.fixture
def tester(pytester: pytest.Pytester, request: pytest.FixtureRequest,
           monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(request.config.rootpath))
    pytester.makeconftest(_CONFTEST)
    return pytester


def _run(tester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return tester.runpytest_subprocess("-p", "no:cacheprovider", "-q", *args, timeout=100)


def test_strict_mode_runs_only_the_marked_async_tests(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest, runtime, sniffio

        @pytest.mark.runtime
        async def test_marked():
            await runtime.sleep(0.01)
            assert sniffio.current_async_library() == "runtime"

        async def test_unmarked():
            pass

        def test_sync_untouched():
            from runtime.executor import context
            assert context.runner_or_none() is None
    """)
    result = _run(tester)
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 2
    # pytest itself declines the unmarked coroutine (skipped or failed, by version).
    assert outcomes.get("skipped", 0) + outcomes.get("failed", 0) == 1
    result.stdout.fnmatch_lines(["*test_unmarked*"])


def test_auto_mode_runs_every_async_test_and_leaves_anyios_alone(
        tester: pytest.Pytester) -> None:
    tester.makeini("[pytest]\nruntime_mode = auto\n")
    tester.makepyfile("""
        import pytest, runtime, sniffio

        async def test_unmarked():
            await runtime.sleep(0)
            assert sniffio.current_async_library() == "runtime"

        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", ["asyncio"])
        async def test_anyios(anyio_backend):
            assert sniffio.current_async_library() == "asyncio"
    """)
    _run(tester).assert_outcomes(passed=2)


def test_a_bad_mode_is_named(tester: pytest.Pytester) -> None:
    tester.makeini("[pytest]\nruntime_mode = sometimes\n")
    tester.makepyfile("def test_x(): pass\n")
    result = _run(tester)
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*runtime_mode must be 'strict' or 'auto', got 'sometimes'*"])


def test_fixtures_of_every_scope_share_the_tests_loop(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest, runtime
        from runtime.executor import context

        events = []

        @pytest.fixture(scope="session")
        async def session_runner():
            events.append("session up")
            yield context.runner()
            events.append("session down")

        @pytest.fixture(scope="module")
        async def module_runner():
            return context.runner()

        @pytest.fixture
        async def group():
            async with runtime.TaskGroup() as tg:
                yield tg
                tg.cancel_scope.cancel()

        @pytest.mark.runtime
        async def test_one(session_runner, module_runner, group):
            assert context.runner() is session_runner is module_runner
            done = runtime.Event()
            async def child():
                done.set()
            group.spawn(child())
            await done.wait()

        @pytest.mark.runtime
        async def test_two(session_runner, module_runner):
            assert context.runner() is session_runner is module_runner

        def test_last():
            assert events == ["session up"]
    """)
    _run(tester).assert_outcomes(passed=3)


def test_function_scoped_tests_get_fresh_runners(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest
        from runtime.executor import context

        seen = []

        @pytest.mark.runtime
        @pytest.mark.parametrize("n", range(2))
        async def test_runner(n):
            seen.append(context.runner())

        def test_each_had_its_own_and_closed_it():
            assert len(seen) == 2 and seen[0] is not seen[1]
            assert seen[0]._closed and seen[1]._closed
    """)
    _run(tester).assert_outcomes(passed=3)


def test_mock_clock_and_autojump_clock_drive_the_tests_time(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import time, pytest, runtime

        @pytest.fixture
        async def started_at():
            return runtime.current_time()

        @pytest.mark.runtime
        async def test_autojump(autojump_clock, started_at):
            real = time.monotonic()
            await runtime.sleep(3600)
            assert runtime.current_time() == started_at + 3600
            assert time.monotonic() - real < 5

        @pytest.mark.runtime
        async def test_mock(mock_clock):
            assert runtime.current_time() == 0
            mock_clock.jump(5)
            assert runtime.current_time() == 5
            with runtime.move_on_after(1) as scope:
                await runtime.testing.wait_all_tasks_blocked()
                mock_clock.jump(1)
                await runtime.sleep(10)
            assert scope.cancelled_caught

        @pytest.mark.runtime
        async def test_both(mock_clock, autojump_clock):
            pass
    """)
    result = _run(tester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*mock_clock or autojump_clock, not both*"])


def test_a_background_task_failure_fails_its_test(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest, runtime

        async def boom():
            raise ValueError("boom in the background")

        @pytest.fixture
        async def group():
            async with runtime.TaskGroup() as tg:
                yield tg

        @pytest.mark.runtime
        async def test_fixture_group_child_fails(group):
            group.spawn(boom())
            await runtime.sleep(3600)  # cancelled by the failure (else the run times out)

        @pytest.mark.runtime
        async def test_detached_fails():
            runtime.spawn(boom())
            await runtime.sleep(0.05)

        @pytest.mark.runtime
        async def test_detached_failure_joined_is_the_tests_business():
            handle = runtime.spawn(boom())
            with pytest.raises(ValueError):
                await handle
    """)
    result = _run(tester)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*_ test_fixture_group_child_fails _*", "*ValueError: boom in the background",
        "*_ test_detached_fails _*", "E*ValueError: boom in the background",
    ])


def test_a_task_left_running_is_an_error_naming_it(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest, runtime

        cleaned = []

        async def forever():
            try:
                await runtime.sleep(3600)
            finally:
                cleaned.append(True)

        @pytest.mark.runtime
        async def test_leaves_one():
            runtime.spawn(forever(), name="the-forgotten-one")
            await runtime.sleep(0)

        @pytest.mark.runtime
        async def test_fails_and_leaves_one():
            runtime.spawn(forever(), name="second")
            await runtime.sleep(0)
            assert False, "its own failure"

        def test_both_were_stopped():
            assert cleaned == [True, True]
    """)
    result = _run(tester)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*AssertionError: its own failure"])
    result.stdout.fnmatch_lines([
        "*LeftoverTasksError: the test left 1 task(s) running: 'the-forgotten-one' at *"
        "test_a_task_left_running_is_an_error_naming_it.py:*",
    ])


def test_an_async_fixture_error_is_a_setup_error(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest, runtime

        @pytest.fixture
        async def broken():
            await runtime.sleep(0)
            raise OSError("no server")
            yield

        @pytest.fixture
        async def double():
            yield 1
            yield 2

        @pytest.mark.runtime
        async def test_broken(broken):
            pass

        @pytest.mark.runtime
        async def test_double(double):
            pass
    """)
    result = _run(tester)
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*OSError: no server*", "*fixture 'double' yielded twice*"])


def test_the_guides_example_runs_as_it_stands(tester: pytest.Pytester) -> None:
    guide = (Path(__file__).resolve().parents[1] / "docs" / "testing.md").read_text()
    tester.makepyfile(guide.split("```python\n", 1)[1].split("```", 1)[0])
    _run(tester).assert_outcomes(passed=2)


def test_a_mock_clock_cannot_reach_a_wider_fixture_on_another_runner(
        tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest, runtime
        from runtime.executor import context

        @pytest.fixture(scope="module")
        async def wide():
            return context.runner()

        @pytest.mark.runtime
        async def test_opens_the_module_runner(wide):
            assert context.runner() is wide

        @pytest.mark.runtime
        async def test_clock_alone_gets_its_own_runner(autojump_clock):
            await runtime.sleep(60)
            assert runtime.current_time() == 60

        @pytest.mark.runtime
        async def test_clock_and_the_wide_fixture(wide, mock_clock):
            pass
    """)
    result = _run(tester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_clock_and_the_wide_fixture uses a mock clock, but also "
                                 "the async fixture(s) wide, of a wider scope*"])
