"""`open_signal_receiver`: real signals, side by side with trio's."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
import trio
import trio._signals as trio_signals

import runtime
from tests.helpers.platform_gaps import ON_WINDOWS, needs_trio

pytestmark = pytest.mark.skipif(
    ON_WINDOWS, reason="Windows has no SIGUSR1/SIGUSR2/SIGHUP to send to itself")

FRAMEWORKS = [pytest.param("runtime", id="runtime"),
              pytest.param("trio", id="trio", marks=needs_trio)]


def _run(name: str, main: Any) -> Any:
    return runtime.run(main(runtime)) if name == "runtime" else trio.run(main, trio)


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_two_signals_come_out_in_the_order_they_arrived(name: str) -> None:
    async def main(lib: Any) -> list[int]:
        got = []
        with lib.open_signal_receiver(signal.SIGUSR1, signal.SIGUSR2) as received:
            os.kill(os.getpid(), signal.SIGUSR2)
            os.kill(os.getpid(), signal.SIGUSR1)
            async for signum in received:
                got.append(signum)
                if len(got) == 2:
                    break
        return got

    assert _run(name, main) == [signal.SIGUSR2, signal.SIGUSR1]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_repeats_of_a_pending_signal_are_coalesced(name: str) -> None:
    async def main(lib: Any) -> list[Any]:
        with lib.open_signal_receiver(signal.SIGUSR1, signal.SIGUSR2) as received:
            for signum in (signal.SIGUSR1, signal.SIGUSR1, signal.SIGUSR2, signal.SIGUSR1):
                os.kill(os.getpid(), signum)
            await lib.sleep(0.05)  # let the loop take them all
            count = (received.pending_signal_count() if lib is runtime
                     else trio_signals.get_pending_signal_count(received))
            first = await received.__anext__()
            second = await received.__anext__()
        return [count, first, second]

    assert _run(name, main) == [2, signal.SIGUSR1, signal.SIGUSR2]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_handlers_are_restored_and_untaken_signals_redelivered_on_exit(name: str) -> None:
    caught: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: caught.append(signum))
    try:
        async def main(lib: Any) -> bool:
            with lib.open_signal_receiver(signal.SIGUSR1):
                os.kill(os.getpid(), signal.SIGUSR1)
                await lib.sleep(0.05)
                assert caught == []
            return signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL

        assert _run(name, main)
        assert caught == [signal.SIGUSR1]  # the restored handler got it
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_signal_from_another_thread_wakes_a_loop_blocked_in_poll() -> None:
    async def main() -> tuple[int, float]:
        with runtime.open_signal_receiver(signal.SIGHUP) as received:
            started = time.perf_counter()
            sender = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGHUP))
            sender.start()
            try:
                with runtime.fail_after(5):
                    signum = await received.__anext__()
            finally:
                sender.join()
            return signum, time.perf_counter() - started

    signum, took = runtime.run(main())
    assert signum == signal.SIGHUP
    assert took < 2


def test_outside_the_main_thread_is_a_runtime_error() -> None:
    errors: list[BaseException] = []

    async def main() -> None:
        with runtime.open_signal_receiver(signal.SIGUSR1):
            pass

    def in_thread() -> None:
        try:
            runtime.run(main())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert "only in the main thread" in str(errors[0])


def test_an_uncatchable_signal_is_a_value_error_naming_it_and_nothing_stays_installed() -> None:
    async def main() -> None:
        with (pytest.raises(ValueError, match=r"cannot catch signal SIGKILL \(9\)"),
              runtime.open_signal_receiver(signal.SIGUSR2, signal.SIGKILL)):
            pass
        assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL
        with (pytest.raises(ValueError, match="cannot catch signal 12345"),
              runtime.open_signal_receiver(12345)):
            pass
        with pytest.raises(TypeError, match="at least one signal"), runtime.open_signal_receiver():
            pass

    runtime.run(main())


def test_iterating_after_the_block_exited_is_a_runtime_error() -> None:
    async def main() -> None:
        with runtime.open_signal_receiver(signal.SIGUSR1) as received:
            pass
        with pytest.raises(RuntimeError, match="has exited"):
            await received.__anext__()

    runtime.run(main())


def test_a_second_task_iterating_at_once_gets_busy_resource_error() -> None:
    async def main() -> None:
        with runtime.open_signal_receiver(signal.SIGUSR1) as received:
            async with runtime.TaskGroup() as tg:
                tg.spawn(received.__anext__())
                await runtime.sleep(0.01)
                with pytest.raises(runtime.BusyResourceError):
                    await received.__anext__()
                tg.cancel_scope.cancel()

    runtime.run(main())
