"""Subprocesses with real children: `run_process`, `open_process`, `Process`.

The three scenarios the issue names run side by side with trio: a cancelled
`run_process` (the child is terminated and reaped), `wait` after `kill`,
and reading pipes to EOF. Every test is also held to the suite's leak check,
which counts children: a child left running or unreaped fails it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import trio
import trio._core._thread_cache as trio_thread_cache

import runtime
import runtime.io.process as process_module
import runtime.testing
from runtime.io.process import DEVNULL, PIPE
from tests.helpers.platform_gaps import ON_WINDOWS, needs_trio

#: Most tests use pipes or POSIX signals; on Windows the two tests at the end run.
unix_only = pytest.mark.skipif(
    ON_WINDOWS, reason="runtime's subprocess pipes are non-blocking pipe fds, which Windows "
                       "lacks, and these tests use POSIX signals")

PY = sys.executable
FRAMEWORKS = [pytest.param("runtime", id="runtime"),
              pytest.param("trio", id="trio", marks=needs_trio)]


class _Lib:
    """The calls the side-by-side scenarios make, under one framework."""

    def __init__(self, name: str) -> None:
        self.name = name
        trio_side = name == "trio"
        self.open_process = trio.lowlevel.open_process if trio_side else _runtime_open
        self.move_on_after = trio.move_on_after if trio_side else runtime.move_on_after
        self.sleep = trio.sleep if trio_side else runtime.sleep

    def run(self, main: Any) -> Any:
        if self.name == "trio":
            # trio starts children from a worker thread and keeps it idle for
            # 10 s; the leak check allows 1 s (as in tests/executor/trio_compat.py).
            trio_thread_cache.IDLE_TIMEOUT = 0.05  # type: ignore[attr-defined]
            return trio.run(main, self)
        return runtime.run(main(self))

    async def run_process(self, cmd: list[str], **kw: Any) -> Any:
        if self.name == "trio":
            if "input" in kw:
                kw["stdin"] = kw.pop("input")
            return await trio.run_process(cmd, **kw)
        return await runtime.run_process(cmd, **kw)

    async def read_all(self, stream: Any) -> bytes:
        chunks = []
        while True:
            chunk = await (stream.receive_some() if self.name == "trio" else stream.read())
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    async def write_all(self, stream: Any, data: bytes) -> None:
        await (stream.send_all(data) if self.name == "trio" else stream.write_all(data))


async def _runtime_open(cmd: list[str], **kw: Any) -> runtime.Process:
    return await runtime.open_process(cmd, **kw)


@unix_only
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_a_cancelled_run_process_terminates_and_reaps_the_child(name: str) -> None:
    async def main(lib: _Lib) -> list[Any]:
        started = time.perf_counter()
        with lib.move_on_after(0.2) as scope:
            await lib.run_process(
                [PY, "-c", "import time; print('up', flush=True); time.sleep(30)"],
                capture_stdout=True)
        return [scope.cancelled_caught, time.perf_counter() - started < 5]

    assert _Lib(name).run(main) == [True, True]


@unix_only
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_wait_after_kill_returns_minus_sigkill(name: str) -> None:
    async def main(lib: _Lib) -> list[Any]:
        proc = await lib.open_process([PY, "-c", "import time; time.sleep(30)"])
        before = proc.returncode
        proc.kill()
        code = await proc.wait()
        again = await proc.wait()
        return [before, code, again, proc.returncode]

    assert _Lib(name).run(main) == [None, -signal.SIGKILL, -signal.SIGKILL, -signal.SIGKILL]


@unix_only
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_pipes_read_to_eof_after_the_child_writes_and_exits(name: str) -> None:
    script = ("import sys; data = sys.stdin.buffer.read(); "
              "sys.stdout.buffer.write(data.upper()); sys.stderr.buffer.write(b'err:' + data[:6])")

    async def main(lib: _Lib) -> list[Any]:
        proc = await lib.open_process([PY, "-c", script], stdin=PIPE, stdout=PIPE, stderr=PIPE)
        await lib.write_all(proc.stdin, b"hello " * 20000)  # more than a pipe buffer holds
        await proc.stdin.aclose()
        out = await lib.read_all(proc.stdout)
        err = await lib.read_all(proc.stderr)
        code = await proc.wait()
        await proc.stdout.aclose()
        await proc.stderr.aclose()
        return [len(out), out[:12], err[:10], code]

    assert _Lib(name).run(main) == [120000, b"HELLO HELLO ", b"err:hello ", 0]


@unix_only
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_run_process_feeds_input_and_captures_both_streams(name: str) -> None:
    async def main(lib: _Lib) -> list[Any]:
        result = await lib.run_process(
            [PY, "-c", "import sys; d = sys.stdin.buffer.read(); print(len(d)); "
                       "print('e', file=sys.stderr)"],
            input=b"x" * 300000, capture_stdout=True, capture_stderr=True)
        return [result.returncode, result.stdout.strip(), result.stderr.strip()]

    assert _Lib(name).run(main) == [0, b"300000", b"e"]


@unix_only
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_check_raises_called_process_error_with_the_output(name: str) -> None:
    async def main(lib: _Lib) -> list[Any]:
        try:
            await lib.run_process([PY, "-c", "print('out'); raise SystemExit(3)"],
                                  capture_stdout=True)
        except subprocess.CalledProcessError as exc:
            return [exc.returncode, exc.stdout]
        return ["no error"]

    assert _Lib(name).run(main) == [3, b"out\n"]


@unix_only
def test_a_missing_executable_raises_file_not_found_naming_it() -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError, match="no-such-program-xyz"):
            await runtime.run_process(["no-such-program-xyz", "arg"])
        with pytest.raises(FileNotFoundError, match="no-such-program-xyz"):
            await runtime.open_process(["no-such-program-xyz"], stdin=PIPE, stdout=PIPE,
                                       stderr=PIPE)

    runtime.run(main())  # and the pipes made for it are closed (the leak check)


@unix_only
def test_writing_to_a_stdin_the_child_closed_is_broken_resource_error() -> None:
    async def main() -> None:
        proc = await runtime.open_process([PY, "-c", "import os; os.close(0); import time; "
                                               "time.sleep(0.2)"], stdin=PIPE)
        async with proc:
            await runtime.sleep(0.1)
            with pytest.raises(runtime.BrokenResourceError, match="stdin of process"):
                await proc.stdin.write_all(b"x" * 100000)

    runtime.run(main())


@unix_only
def test_writing_to_a_stdin_we_closed_is_closed_resource_error() -> None:
    async def main() -> None:
        async with await runtime.open_process(["cat"], stdin=PIPE, stdout=DEVNULL) as proc:
            proc.stdin.close()
            with pytest.raises(runtime.ClosedResourceError, match=r"stdin of process .* closed"):
                await proc.stdin.write_all(b"x")

    runtime.run(main())


@unix_only
def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process_module, "TERMINATE_GRACE", 0.2)
    script = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('ready', flush=True); time.sleep(30)")

    async def main() -> list[Any]:
        async with runtime.TaskGroup() as tg:
            proc = await tg.start(_run_reporting, [PY, "-c", script])
            assert await proc.stdout.read_line() == b"ready\n"
            tg.cancel_scope.cancel()
        return [proc.returncode]

    with pytest.warns(RuntimeWarning, match="ignored SIGTERM"):
        assert runtime.run(main()) == [-signal.SIGKILL]


async def _run_reporting(cmd: list[str], *, task_status: Any) -> None:
    await runtime.run_process(cmd, stdout=PIPE, task_status=task_status)


@unix_only
def test_several_tasks_may_wait_for_one_child() -> None:
    async def main() -> list[int]:
        proc = await runtime.open_process([PY, "-c", "import time; time.sleep(0.1)"])
        codes: list[int] = []

        async def waiter() -> None:
            codes.append(await proc.wait())

        async with runtime.TaskGroup() as tg:
            for _ in range(3):
                tg.spawn(waiter())
        return codes

    assert runtime.run(main()) == [0, 0, 0]


@unix_only
def test_async_with_kills_the_child_when_its_wait_is_cancelled() -> None:
    async def main() -> int | None:
        proc = await runtime.open_process([PY, "-c", "import time; time.sleep(30)"], stdout=PIPE)
        with runtime.move_on_after(0.1):
            async with proc:
                await proc.wait()
        return proc.returncode

    assert runtime.run(main()) == -signal.SIGKILL


@unix_only
def test_cwd_env_and_new_session_go_to_the_child(tmp_path: Any) -> None:
    async def main() -> list[bytes]:
        result = await runtime.run_process(
            [PY, "-c", "import os; print(os.getcwd()); print(os.environ['RT_PROBE']); "
                       "print(os.getsid(0) == os.getpid())"],
            cwd=tmp_path, env={**os.environ, "RT_PROBE": "seen"}, start_new_session=True,
            capture_stdout=True)
        return result.stdout.split()

    cwd, probe, leader = runtime.run(main())
    assert (os.path.realpath(cwd), probe, leader) == (
        os.fsencode(os.path.realpath(tmp_path)), b"seen", b"True")


@unix_only
def test_bad_arguments_are_type_errors_naming_them() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="stdin= takes PIPE"):
            await runtime.open_process(["true"], stdin=b"data")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="input= must be bytes"):
            await runtime.run_process(["true"], input="text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"stdout=PIPE needs TaskGroup\.start"):
            await runtime.run_process(["true"], stdout=PIPE)
        with pytest.raises(TypeError, match="text= is not supported"):
            await runtime.open_process(["true"], text=True)

    runtime.run(main())


@unix_only
def test_wait_child_exiting_falls_back_to_a_thread_without_pidfd(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.executor import child

    monkeypatch.setattr(child, "_pidfd_works", False)

    async def main() -> int:
        return (await runtime.run_process([PY, "-c", "raise SystemExit(7)"], check=False)
                ).returncode

    assert runtime.run(main()) == 7


@unix_only
def test_wait_child_exiting_on_a_reaped_pid_is_child_process_error() -> None:
    popen = subprocess.Popen(["true"])
    popen.wait()

    async def main() -> None:
        with pytest.raises(ChildProcessError, match=str(popen.pid)):
            await runtime.lowlevel.wait_child_exiting(popen.pid)

    runtime.run(main())


@unix_only
def test_many_short_children_leave_nothing_behind() -> None:
    async def main() -> int:
        async with runtime.TaskGroup() as tg:
            for _ in range(50):
                tg.spawn(runtime.run_process(["true"]))
        return len(os.listdir("/proc/self/fd"))

    runtime.run(main())


def test_run_process_without_pipes_runs_on_every_platform() -> None:
    async def main() -> int:
        result = await runtime.run_process([PY, "-c", "raise SystemExit(3)"], check=False)
        return result.returncode

    assert runtime.run(main()) == 3


@pytest.mark.skipif(not ON_WINDOWS, reason="what Windows lacks: checked on Windows only")
def test_a_pipe_on_windows_is_refused_naming_the_gap() -> None:
    async def main() -> None:
        with pytest.raises(NotImplementedError, match="non-blocking pipe fds"):
            await runtime.open_process([PY, "-c", "pass"], stdout=PIPE)

    runtime.run(main())


@unix_only
def test_a_run_process_cancelled_before_its_child_started_starts_none(tmp_path: Any) -> None:
    release = threading.Event()
    marker = tmp_path / "ran"

    async def main() -> list[Any]:
        limiter = runtime.current_default_thread_limiter()
        limiter.total_tokens = 1  # so open_process's Popen must queue for the one token
        holder = runtime.spawn(runtime.to_thread(release.wait, 10))
        await runtime.testing.wait_all_tasks_blocked()
        with runtime.move_on_after(0.05) as scope:
            await runtime.run_process([PY, "-c", f"open({str(marker)!r}, 'w').close()"])
        release.set()
        await holder
        return [scope.cancelled_caught, limiter.statistics().tasks_waiting]

    assert runtime.run(main()) == [True, 0]
    assert not marker.exists()  # the child never ran
