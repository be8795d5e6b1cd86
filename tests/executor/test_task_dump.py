"""The task dump: every task, what it waits on and where (`runtime.dump_tasks`)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import runtime
import runtime.lowlevel
from runtime.io import TcpStream

pytestmark = pytest.mark.timeout(30)


def dump_of(setup) -> str:  # type: ignore[no-untyped-def]
    """Start the tasks ``setup(tg)`` spawns, let them park, and return the dump."""
    out = io.StringIO()

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            await setup(tg)
            await runtime.testing.wait_all_tasks_blocked()
            runtime.dump_tasks(file=out)
            tg.cancel_scope.cancel()

    runtime.run(main())
    return out.getvalue()


def test_a_deadlock_dump_names_both_tasks_and_the_lock_each_waits_for() -> None:
    async def take(first: runtime.Lock, second: runtime.Lock) -> None:
        async with first:
            await runtime.sleep(0.01)
            async with second:
                pass

    async def setup(tg: runtime.TaskGroup) -> None:
        a, b = runtime.Lock(), runtime.Lock()
        tg.spawn(take(a, b), name="left")
        tg.spawn(take(b, a), name="right")
        await runtime.sleep(0.05)  # both hold one lock and want the other

    dump = dump_of(setup)
    tasks = {line.split()[2]: line.split() for line in dump.splitlines()
             if line.strip().startswith("task ")}
    left, right = " ".join(tasks["'left'"]), " ".join(tasks["'right'"])
    left_id, right_id = tasks["'left'"][1], tasks["'right'"][1]
    assert f"parked: Lock owned by task {right_id} ('right')" in left
    assert f"parked: Lock owned by task {left_id} ('left')" in right
    # Each task's await stack reaches the line of this file where it waits.
    assert f"{__file__}:" in dump and "in test_a_deadlock_dump" in dump


def test_the_dump_says_what_each_kind_of_wait_is() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        async def reader() -> None:
            async with await TcpStream.connect("127.0.0.1", port) as stream:
                await stream.read()

        async def setup(tg: runtime.TaskGroup) -> None:
            _tx, rx = runtime.channel(0)
            event = runtime.Event()
            tg.spawn(runtime.sleep(30), name="sleeper")
            tg.spawn(rx.recv(), name="receiver")
            tg.spawn(event.wait(), name="waiter")
            tg.spawn(reader(), name="reader")
            await runtime.sleep(0.05)

        dump = dump_of(setup)
        accepted = listener.accept()[0]
        accepted.close()
    lines = {line.split()[2]: line for line in dump.splitlines() if line.strip().startswith("task")}
    assert "parked: sleeping, 30.0 s left" in lines["'sleeper'"] or \
        "parked: sleeping, 29." in lines["'sleeper'"]
    assert "parked: channel recv" in lines["'receiver'"]
    assert "parked: Event" in lines["'waiter'"]
    # A readiness wait on epoll/kqueue; a receive submitted to the ring on io_uring.
    assert "parked: readable fd" in lines["'reader'"] or \
        "parked: recv on fd" in lines["'reader'"]
    assert f"127.0.0.1:{port}" in lines["'reader'"]


def test_cancel_scopes_appear_with_their_deadlines_and_shields() -> None:
    async def shielded() -> None:
        with runtime.CancelScope(shield=True), runtime.move_on_after(100):
            await runtime.sleep(0.5)  # the shield holds off the group's cancel this long

    async def setup(tg: runtime.TaskGroup) -> None:
        tg.spawn(shielded(), name="shielded")

    dump = dump_of(setup)
    assert "scope (shielded)" in dump
    assert "scope (deadline in 100.0 s)" in dump or "scope (deadline in 99." in dump


def test_task_tree_gives_the_same_as_data() -> None:
    async def main() -> list[str]:
        tree = runtime.lowlevel.task_tree()
        names = []
        stack = [tree]
        while stack:
            scope = stack.pop()
            names += [task.name for task in scope.tasks]
            stack += scope.scopes
        return names

    assert runtime.run(main()) == ["main"]


PROGRAM = textwrap.dedent("""
    import signal, sys, runtime
    # Started from a non-interactive shell's background job, a child inherits
    # SIGINT ignored and Python leaves it so: give it Python's default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    async def main():
        print("ready", flush=True)
        with runtime.move_on_after(20):
            await runtime.sleep(10)
    kwargs = {"dump_signal": signal.SIGUSR1} if sys.argv[1] == "arg" else {}
    runtime.run(main(), **kwargs)
    print("finished", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")
@pytest.mark.parametrize("how", ["arg", "env"])
def test_the_dump_signal_prints_the_dump_and_the_program_goes_on(how: str) -> None:
    env = dict(os.environ, RUNTIME_DUMP_SIGNAL="USR1") if how == "env" else None
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM, how], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.2)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        assert proc.poll() is None  # still running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "runtime task dump:" in err
    assert "task 1 'main' parked: sleeping" in err
    assert "KeyboardInterrupt" in err  # the Ctrl-C after it still stops the program


def test_a_bad_dump_signal_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME_DUMP_SIGNAL", "NOPE")

    async def main() -> None:
        pass

    coro = main()
    with pytest.raises(ValueError, match="RUNTIME_DUMP_SIGNAL='NOPE' names no signal"):
        runtime.run(coro)
