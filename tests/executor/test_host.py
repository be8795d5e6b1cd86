"""`runtime.lowlevel.Host` and `CallbackWaker`: what an event loop built on the runtime uses."""

from __future__ import annotations

import socket
import threading

import pytest

import runtime
from runtime import lowlevel
from runtime.lowlevel import Host


def test_a_callback_waker_runs_its_function_once_per_batch_of_wakes() -> None:
    calls: list[str] = []

    async def main() -> None:
        host = Host.current()
        assert host is not None
        waker = host.callback_waker(lambda: calls.append("ran"), "test", pytest.fail)
        waker.wake()
        waker.wake()  # coalesces with the first: it has not run yet
        await runtime.sleep(0)
        await runtime.sleep(0)
        assert calls == ["ran"]
        waker.wake()
        await runtime.sleep(0.01)
        assert calls == ["ran", "ran"]

    runtime.run(main())


def test_a_callback_waker_woken_from_another_thread_wakes_the_reactor() -> None:
    async def main() -> float:
        host = Host.current()
        assert host is not None
        done = runtime.Event()
        waker = host.callback_waker(done.set, "from-thread", pytest.fail)
        start = runtime.current_time()
        threading.Timer(0.05, waker.wake).start()
        with runtime.fail_after(5):
            await done.wait()
        return runtime.current_time() - start

    assert runtime.run(main()) < 2


def test_a_callback_waker_as_a_scheduled_io_reader_runs_on_the_event() -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    got: list[bytes] = []

    async def main() -> None:
        host = Host.current()
        assert host is not None
        sio = host.scheduled_io(a.fileno())
        done = runtime.Event()

        def on_readable() -> None:
            got.append(a.recv(100))
            sio.clear_read()
            done.set()

        sio.reader = host.callback_waker(on_readable, "reader", pytest.fail)
        b.send(b"ping")
        with runtime.fail_after(5):
            await done.wait()
        sio.reader = None
        host.notify_closing(a.fileno())

    with a, b:
        runtime.run(main())
    assert got == [b"ping"]


def test_an_exception_in_a_callback_goes_to_on_error_and_the_run_goes_on() -> None:
    errors: list[BaseException] = []

    async def main() -> str:
        host = Host.current()
        assert host is not None
        host.callback_waker(lambda: 1 / 0, "bad", errors.append).wake()
        await runtime.sleep(0.01)
        return "still running"

    assert runtime.run(main()) == "still running"
    assert [type(e) for e in errors] == [ZeroDivisionError]


def test_keyboard_interrupt_in_a_callback_stops_the_run() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    async def main() -> None:
        host = Host.current()
        assert host is not None
        host.callback_waker(interrupt, "ctrl-c", pytest.fail).wake()
        await runtime.sleep(10)

    with pytest.raises(KeyboardInterrupt):
        runtime.run(main())


def test_host_timers_fire_in_deadline_order_and_a_cancelled_one_never() -> None:
    fired: list[int] = []

    async def main() -> None:
        host = Host.current()
        assert host is not None
        now = host.clock()
        host.call_at(now + 0.02, lambda: fired.append(2))
        entry = host.call_at(now + 0.01, lambda: fired.append(99))
        host.call_at(now + 0.005, lambda: fired.append(1))
        host.cancel_timer(entry)
        await runtime.sleep(0.05)

    runtime.run(main())
    assert fired == [1, 2]


def test_a_new_host_runs_one_main_after_another_keeping_its_timers() -> None:
    host = Host.new()
    fired: list[str] = []
    try:
        async def first() -> str:
            host.call_at(host.clock() + 0.01, lambda: fired.append("timer"))
            return "first"

        async def second() -> str:
            await runtime.sleep(0.05)
            return "second"

        assert host.run(first()) == "first"
        assert fired == []  # first() returned before the timer was due
        assert host.run(second()) == "second"
        assert fired == ["timer"]
    finally:
        host.close()


def test_a_new_host_keeps_a_task_main_left_running_until_close() -> None:
    host = Host.new()
    trace: list[str] = []

    async def child() -> None:
        try:
            while True:
                await runtime.sleep(0.005)
                trace.append("tick")
        except runtime.Cancelled:
            trace.append("cancelled")
            raise

    async def first() -> None:
        runtime.spawn(child())
        await runtime.sleep(0.02)

    async def second() -> None:
        await runtime.sleep(0.02)

    try:
        host.run(first())
        ticks = trace.count("tick")
        assert ticks >= 1
        host.run(second())  # the child runs on while the host runs again
        assert trace.count("tick") > ticks
    finally:
        host.close()
    assert trace[-1] == "cancelled"


def test_host_run_refuses_to_run_inside_a_running_runtime() -> None:
    host = Host.new()
    try:
        async def inner() -> None:
            pass

        async def main() -> None:
            coro = inner()
            with pytest.raises(RuntimeError, match="inside a running runtime"):
                host.run(coro)

        runtime.run(main())
    finally:
        host.close()


def test_on_run_hooks_see_each_run_start_and_end() -> None:
    seen: list[str] = []

    def hook(host: Host) -> object:
        seen.append("start")
        return lambda: seen.append("end")

    remove = lowlevel.on_run(hook)
    try:
        async def main() -> None:
            seen.append("main")

        runtime.run(main())
    finally:
        remove()
    assert seen == ["start", "main", "end"]
    runtime.run(main())
    assert seen == ["start", "main", "end", "main"]  # removed: not called again


def test_a_run_hook_that_raises_fails_the_run_closes_main_and_undoes_the_hooks_before_it() -> None:
    seen: list[str] = []

    def first(host: Host) -> object:
        seen.append("first")
        return lambda: seen.append("first undone")

    def broken(host: Host) -> object:
        raise ValueError("hook broke")

    async def main() -> None:
        seen.append("main")  # pragma: no cover - must not run

    remove_first, remove_broken = lowlevel.on_run(first), lowlevel.on_run(broken)
    coro = main()
    try:
        with pytest.raises(ValueError, match="hook broke"):
            runtime.run(coro)
    finally:
        remove_broken()
        remove_first()
    assert seen == ["first", "first undone"]
    assert coro.cr_frame is None  # closed: no "never awaited" warning later
    assert lowlevel.Host.current() is None


def test_every_close_callback_runs_even_if_one_raises_and_the_first_error_is_raised() -> None:
    host = Host.new()
    seen: list[str] = []

    def broken() -> None:
        seen.append("broken")
        raise OSError("callback broke")

    host.on_close(broken)
    host.on_close(lambda: seen.append("after"))
    with pytest.raises(OSError, match="callback broke"):
        host.close()
    assert seen == ["broken", "after"]
    host.close()  # closed once: a second close does nothing
    assert seen == ["broken", "after"]


def test_a_layer_above_keeps_its_state_per_runtime_and_it_goes_with_the_runner() -> None:
    first, second = Host.new(), Host.new()
    try:
        first.attached["layer"] = "first's"
        assert "layer" not in second.attached
        assert first.attached["layer"] == "first's"
    finally:
        first.close()
        second.close()


def test_a_callback_waker_runs_outside_any_task_and_instruments_see_only_tasks() -> None:
    seen: list[str] = []
    inside: list[object] = []

    class Recorder:
        def before_task_step(self, task: object) -> None:
            seen.append(getattr(task, "name", repr(task)))

    async def main() -> None:
        host = Host.current()
        assert host is not None
        def call() -> None:
            try:
                inside.append(runtime.current_task())
            except RuntimeError as exc:  # "called outside a task"
                inside.append(str(exc))

        waker = host.callback_waker(call, "cb", pytest.fail)
        waker.wake()
        await runtime.sleep(0.01)

    runtime.run(main(), instruments=[Recorder()])
    assert inside == ["current_task() called outside a task"]
    assert seen and all("CallbackWaker" not in name and name != "cb" for name in seen)
