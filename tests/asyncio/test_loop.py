"""`RuntimeEventLoop`'s core: callbacks, timers, readers and writers, threads, stop."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import runtime.asyncio as ra


@pytest.fixture
def loop() -> Iterator[ra.RuntimeEventLoop]:
    loop = ra.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def test_call_soon_runs_callbacks_in_order_and_skips_cancelled_ones(loop) -> None:
    seen: list[int] = []
    loop.call_soon(seen.append, 1)
    loop.call_soon(seen.append, 2).cancel()
    loop.call_soon(seen.append, 3)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [1, 3]


def test_callbacks_queued_by_a_callback_run_in_a_later_turn_after_stop(loop) -> None:
    seen: list[str] = []

    def first() -> None:
        seen.append("first")
        loop.call_soon(seen.append, "later")
        loop.stop()

    loop.call_soon(first)
    loop.run_forever()
    assert seen == ["first"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["first", "later"]


def test_timers_fire_in_deadline_order_on_the_loop_clock(loop) -> None:
    seen: list[str] = []
    start = loop.time()
    loop.call_later(0.03, seen.append, "c")
    loop.call_later(0.01, seen.append, "a")
    loop.call_at(start + 0.02, seen.append, "b")
    loop.call_later(0.04, loop.stop)
    loop.run_forever()
    assert seen == ["a", "b", "c"]
    assert loop.time() - start >= 0.04


def test_a_cancelled_timer_never_fires(loop) -> None:
    seen: list[str] = []
    handle = loop.call_later(0.01, seen.append, "no")
    handle.cancel()
    loop.run_until_complete(asyncio.sleep(0.03))
    assert seen == []


def test_loop_time_is_the_runtime_clock(loop) -> None:
    async def both() -> tuple[float, float]:
        import runtime

        return asyncio.get_running_loop().time(), runtime.current_time()

    # runtime.current_time works in the loop's runtime: one clock.
    t_loop, t_runtime = loop.run_until_complete(both())
    assert abs(t_loop - t_runtime) < 0.01


def test_a_reader_is_level_triggered_called_until_the_data_is_read(loop) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        b.send(b"abcdef")
        chunks: list[bytes] = []

        def read_two() -> None:
            chunks.append(a.recv(2))  # leaves data behind: must be called again
            if len(chunks) == 3:
                loop.remove_reader(a)
                loop.stop()

        loop.add_reader(a, read_two)
        loop.call_later(5, loop.stop)
        loop.run_forever()
        assert chunks == [b"ab", b"cd", b"ef"]


def test_a_reader_is_not_called_once_its_data_was_read_elsewhere(loop) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        calls: list[bytes] = []
        loop.add_reader(a, lambda: calls.append(a.recv(100)))
        b.send(b"x")
        loop.run_until_complete(asyncio.sleep(0.02))
        assert calls == [b"x"]
        b.send(b"y")
        time.sleep(0.01)
        assert a.recv(100) == b"y"  # drained behind the loop's back
        loop.run_until_complete(asyncio.sleep(0.02))
        assert calls == [b"x"]  # never called on a stale readiness (it would raise)
        assert loop.remove_reader(a)


def test_a_writer_runs_when_writable_and_remove_writer_reports_it(loop) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)

        def write() -> None:
            a.send(b"hi")
            loop.stop()

        loop.add_writer(a.fileno(), write)
        loop.run_forever()
        assert loop.remove_writer(a.fileno()) is True
        assert loop.remove_writer(a.fileno()) is False
        assert b.recv(10) == b"hi"


def test_a_pipe_reader_sees_eof(loop) -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        got: list[bytes] = []

        def read() -> None:
            data = os.read(r, 100)
            got.append(data)
            if not data:
                loop.remove_reader(r)
                loop.stop()

        loop.add_reader(r, read)
        os.write(w, b"data")
        os.close(w)
        w = -1
        loop.call_later(5, loop.stop)
        loop.run_forever()
        assert got == [b"data", b""]
    finally:
        os.close(r)
        if w != -1:
            os.close(w)


def test_call_soon_threadsafe_wakes_a_loop_asleep_in_the_reactor(loop) -> None:
    done = loop.create_future()
    threading.Timer(0.05, loop.call_soon_threadsafe, (done.set_result, "woken")).start()
    start = time.monotonic()
    assert loop.run_until_complete(asyncio.wait_for(done, 5)) == "woken"
    assert time.monotonic() - start < 2


def test_run_in_executor_and_getaddrinfo_use_the_stdlib_machinery(loop) -> None:
    async def main() -> tuple[int, list]:
        total = await asyncio.get_running_loop().run_in_executor(None, sum, [1, 2, 3])
        infos = await asyncio.get_running_loop().getaddrinfo("127.0.0.1", 80,
                                                             type=socket.SOCK_STREAM)
        return total, infos

    total, infos = loop.run_until_complete(main())
    assert total == 6
    assert infos[0][4] == ("127.0.0.1", 80)
    loop.run_until_complete(loop.shutdown_default_executor())


def test_keyboard_interrupt_in_a_callback_leaves_run_until_complete(loop) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(loop.create_future())


def test_an_exception_in_a_callback_goes_to_the_exception_handler(loop) -> None:
    contexts: list[dict] = []
    loop.set_exception_handler(lambda _, ctx: contexts.append(ctx))
    loop.call_soon(lambda: 1 / 0)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)


def test_run_until_complete_refuses_a_closed_loop_and_a_nested_run(loop) -> None:
    async def nested() -> None:
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(loop.create_future())

    loop.run_until_complete(nested())
    loop.close()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_until_complete(coro)
    coro.close()


def test_runtime_asyncio_run_is_asyncio_run_on_this_loop() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__name__

    assert ra.run(main()) == "RuntimeEventLoop"
    with asyncio.Runner(loop_factory=ra.new_event_loop) as runner:
        assert runner.run(main()) == "RuntimeEventLoop"


def test_the_policy_makes_runtime_loops() -> None:
    policy = ra.EventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        assert isinstance(loop, ra.RuntimeEventLoop)
    finally:
        loop.close()


def test_ctrl_c_raises_keyboard_interrupt_where_the_loop_is_as_in_asyncio() -> None:
    import signal
    import subprocess
    import sys

    prog = (
        "import asyncio, signal, time, runtime.asyncio as ra\n"
        # Started from a non-interactive shell's background job, a child
        # inherits SIGINT ignored and Python leaves it so: give it the default.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "async def worker():\n"
        "    print('READY', flush=True)\n"
        "    time.sleep(30)\n"
        "loop = ra.new_event_loop()\n"
        "try:\n"
        "    loop.run_until_complete(worker())\n"
        "finally:\n"
        "    loop.close()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", prog], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"READY\n"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert b"KeyboardInterrupt" in err


def test_call_soon_threadsafe_is_not_lost_between_runs() -> None:
    # A wake from a thread landing while run_until_complete starts used to be
    # taken by the first poll and lost (the loop then slept forever).
    for _ in range(100):
        loop = ra.new_event_loop()
        try:
            async def add() -> int:
                await asyncio.sleep(0.001)
                return 3

            def target(loop: ra.RuntimeEventLoop = loop) -> int:
                return asyncio.run_coroutine_threadsafe(add(), loop).result(5)

            fut = loop.run_in_executor(None, target)
            assert loop.run_until_complete(asyncio.wait_for(fut, 10)) == 3
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def test_call_soon_makes_a_stdlib_handle_that_cancels_and_carries_its_context(loop) -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []
    context = contextvars.copy_context()
    context.run(var.set, "given")
    handle = loop.call_soon(lambda: seen.append(var.get()), context=context)
    assert isinstance(handle, asyncio.Handle)
    assert repr(handle).startswith("<Handle ")
    loop.call_soon(lambda: seen.append(var.get()))  # a copy of the caller's context
    loop.call_soon(seen.append, "cancelled").cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["given", "unset"]
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)


def test_a_callback_that_raises_is_reported_naming_it_and_its_handle(loop) -> None:
    contexts: list[dict] = []
    loop.set_exception_handler(lambda _, ctx: contexts.append(ctx))

    def broken() -> None:
        raise ValueError("boom")

    handle = loop.call_soon(broken)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert contexts[0]["handle"] is handle
    assert contexts[0]["message"].startswith("Exception in callback ")
    assert "broken" in contexts[0]["message"]
