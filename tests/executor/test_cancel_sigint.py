"""Ctrl-C: a real SIGINT sent to a subprocess running `runtime.run`.

The first SIGINT cancels the program: every task's ``finally`` runs (the
main task's, a task-group child's, a detached task's), then `run` raises
`KeyboardInterrupt` and the process ends as Python ends on an uncaught
`KeyboardInterrupt`: the traceback's last line is ``KeyboardInterrupt`` and,
since Python 3.8, the interpreter kills itself with SIGINT, so the exit
status is ``-SIGINT`` (a shell shows 130). The second SIGINT is not
swallowed: during a long shielded cleanup it interrupts at once.

Each child program reports, after `run` has raised, whether it leaked fds or
threads and whether the SIGINT handler and wakeup fd were given back.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: Prepended to every child program: the leak report printed once run() is over.
PRELUDE = """
import os, signal, sys, threading
import runtime

# A child started from a non-interactive shell's background job inherits
# SIGINT ignored, and Python then leaves it ignored; give it Python's
# default, as in an interactive program.
signal.signal(signal.SIGINT, signal.default_int_handler)

def _fds():
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()

def run_and_report(main):
    fds_before = _fds()
    threads_before = threading.active_count()
    try:
        runtime.run(main())
    finally:
        print("leaked fds:", sorted(_fds() - fds_before), flush=True)
        print("extra threads:", threading.active_count() - threads_before, flush=True)
        print("handler restored:",
              signal.getsignal(signal.SIGINT) is signal.default_int_handler, flush=True)
        print("wakeup fd restored:", signal.set_wakeup_fd(-1) == -1, flush=True)
"""

REPORT_CLEAN = [
    "leaked fds: []",
    "extra threads: 0",
    "handler restored: True",
    "wakeup fd restored: True",
]


class Child:
    """A Python subprocess whose stdout lines we can wait for."""

    def __init__(self, program: str) -> None:
        source = PRELUDE + textwrap.dedent(program)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", source],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        )
        self.lines: list[str] = []
        self._buf = b""

    def wait_for(self, line: str, timeout: float = 10.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.perf_counter() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while line not in self.lines:
                left = deadline - time.perf_counter()
                if left <= 0 or not sel.select(left):
                    pytest.fail(f"no {line!r} within {timeout}s; got {self.lines}")
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    pytest.fail(f"child exited before {line!r}; got {self.lines}; "
                                f"stderr: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
                self._buf += chunk
                *complete, self._buf = self._buf.split(b"\n")
                self.lines += [c.decode() for c in complete]

    def finish(self, timeout: float = 10.0) -> tuple[int, list[str], str]:
        """Wait for exit: (returncode, every stdout line, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        rest = (self._buf + out).decode().splitlines()
        return self.proc.returncode, self.lines + rest, err.decode()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def test_python_itself_exits_like_this_on_an_uncaught_keyboard_interrupt() -> None:
    # The reference the other tests compare with: what "KeyboardInterrupt's
    # exit" is on this Python.
    with Child("raise KeyboardInterrupt") as child:
        code, _, err = child.finish()
    assert code == -signal.SIGINT
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt"


def test_sigint_runs_every_finally_and_exits_with_keyboard_interrupt() -> None:
    program = """
    async def detached():
        try:
            await runtime.sleep(60)
        finally:
            print("detached finally", flush=True)

    async def group_child():
        try:
            await runtime.sleep(60)
        finally:
            print("group child finally", flush=True)

    async def main():
        runtime.spawn(detached())
        async with runtime.TaskGroup() as tg:
            tg.spawn(group_child())
            try:
                await runtime.sleep(0.01)
                print("ready", flush=True)
                await runtime.sleep(60)
            finally:
                print("main finally", flush=True)

    run_and_report(main)
    """
    with Child(program) as child:
        child.wait_for("ready")
        start = time.perf_counter()
        child.proc.send_signal(signal.SIGINT)
        code, lines, err = child.finish()
        took = time.perf_counter() - start

    assert took < 5, f"the program took {took:.1f}s to stop"
    assert code == -signal.SIGINT, (code, lines, err)
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt", err
    assert lines[0] == "ready"
    cancelled = lines[1:4]
    assert sorted(cancelled[:2]) == ["group child finally", "main finally"], lines
    # Detached tasks are cancelled once main has ended, as at a normal exit.
    assert cancelled[2] == "detached finally", lines
    assert lines[4:] == REPORT_CLEAN, lines


def test_sigint_while_main_waits_on_a_thread() -> None:
    # The worker thread cannot be interrupted. As in trio, run() does not wait
    # for the abandoned call: it returns at once, and the worker (a daemon)
    # finishes the call on its own and then exits, holding nothing.
    program = """
    import time

    async def main():
        try:
            print("ready", flush=True)
            await runtime.to_thread(time.sleep, 1.0, abandon_on_cancel=True)
            print("not reached", flush=True)
        finally:
            print("main finally", flush=True)

    started = time.perf_counter()
    try:
        run_and_report(main)
    finally:
        print("run returned before the call ended:", time.perf_counter() - started < 0.9,
              flush=True)
        workers = [t for t in threading.enumerate() if t.name.startswith("runtime-worker")]
        print("abandoned worker is a daemon:", [t.daemon for t in workers] == [True], flush=True)
        for t in workers:
            t.join(2)
        print("worker gone after its call:", not any(t.is_alive() for t in workers), flush=True)
    """
    with Child(program) as child:
        child.wait_for("ready")
        time.sleep(0.05)
        child.proc.send_signal(signal.SIGINT)
        code, lines, err = child.finish()

    assert code == -signal.SIGINT, (code, lines, err)
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt", err
    report = [line for line in lines if not line.startswith("extra threads:")]
    assert report == [
        "ready", "main finally", *(r for r in REPORT_CLEAN if not r.startswith("extra threads")),
        "run returned before the call ended: True",
        "abandoned worker is a daemon: True",
        "worker gone after its call: True",
    ], lines


def test_a_second_sigint_interrupts_a_long_shielded_cleanup() -> None:
    program = """
    async def main():
        try:
            print("ready", flush=True)
            await runtime.sleep(60)
        finally:
            with runtime.CancelScope(shield=True):
                print("cleanup started", flush=True)
                await runtime.sleep(30)
                print("cleanup finished", flush=True)

    run_and_report(main)
    """
    with Child(program) as child:
        child.wait_for("ready")
        child.proc.send_signal(signal.SIGINT)
        child.wait_for("cleanup started")
        time.sleep(0.1)  # the shield holds: the first SIGINT did not end it
        assert child.proc.poll() is None, "the shielded cleanup was cut short by the first SIGINT"
        start = time.perf_counter()
        child.proc.send_signal(signal.SIGINT)
        code, lines, err = child.finish()
        took = time.perf_counter() - start

    assert took < 2, f"the second SIGINT took {took:.1f}s to stop the program"
    assert code == -signal.SIGINT, (code, lines, err)
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt", err
    assert "cleanup finished" not in lines
    assert lines == ["ready", "cleanup started", *REPORT_CLEAN]


def test_a_program_that_catches_keyboard_interrupt_exits_normally() -> None:
    # run() raises KeyboardInterrupt like any exception: catching it is allowed.
    program = """
    async def main():
        print("ready", flush=True)
        await runtime.sleep(60)

    try:
        run_and_report(main)
    except KeyboardInterrupt:
        print("caught KeyboardInterrupt", flush=True)
    """
    with Child(program) as child:
        child.wait_for("ready")
        child.proc.send_signal(signal.SIGINT)
        code, lines, err = child.finish()

    assert code == 0, (code, lines, err)
    assert lines == ["ready", *REPORT_CLEAN, "caught KeyboardInterrupt"]


def test_a_program_with_its_own_sigint_handler_keeps_it() -> None:
    program = """
    got = []
    signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))

    async def main():
        print("ready", flush=True)
        while not got:
            await runtime.sleep(0.01)
        print("handler ran inside run()", flush=True)

    run_and_report(main)
    """
    with Child(program) as child:
        child.wait_for("ready")
        child.proc.send_signal(signal.SIGINT)
        code, lines, err = child.finish()

    assert code == 0, (code, lines, err)
    # The program's handler stays installed, so "restored" (to Python's default) is False.
    assert lines == ["ready", "handler ran inside run()", "leaked fds: []", "extra threads: 0",
                     "handler restored: False", "wakeup fd restored: True"]


def test_a_thread_blocked_forever_cannot_hold_the_program_past_a_second_sigint() -> None:
    # The abandoned call cannot be interrupted, and (today) run() waits for
    # its worker threads before returning; at worst the second Ctrl-C is the
    # way out.
    program = """
    async def main():
        try:
            print("ready", flush=True)
            await runtime.to_thread(threading.Event().wait, abandon_on_cancel=True)
        finally:
            print("main finally", flush=True)

    runtime.run(main())
    """
    with Child(program) as child:
        child.wait_for("ready")
        child.proc.send_signal(signal.SIGINT)
        child.wait_for("main finally")
        time.sleep(0.2)
        start = time.perf_counter()
        child.proc.send_signal(signal.SIGINT)  # a no-op if the first one sufficed
        code, lines, err = child.finish()
        took = time.perf_counter() - start

    assert took < 2, f"the second SIGINT took {took:.1f}s to stop the program"
    assert code == -signal.SIGINT, (code, lines, err)
    assert err.strip().splitlines()[-1] == "KeyboardInterrupt", err
    assert lines == ["ready", "main finally"]


def test_a_sigint_during_mains_last_step_still_raises_keyboard_interrupt() -> None:
    # The signal arrives while main runs its final step: no task is left to
    # cancel once it returns, but run() must not drop the interrupt (trio
    # raises it too).
    program = """
    import time

    async def main():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the handler has run: the interrupt is pending
        return "finished normally"

    try:
        print(runtime.run(main()), flush=True)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
    """
    with Child(program) as child:
        code, lines, err = child.finish()
    assert (code, lines) == (0, ["KeyboardInterrupt"]), err
