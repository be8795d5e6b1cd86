"""`runtime.testing.wait_all_tasks_blocked`, side by side with trio's."""

from __future__ import annotations

import socket

import pytest

import runtime
import runtime.testing
from tests.helpers.trio_compat import FLAVORS, Flavor


@pytest.mark.parametrize("flavor", FLAVORS)
def test_wait_all_tasks_blocked_returns_after_the_others_reach_their_waits(
        flavor: Flavor) -> None:
    async def worker(trace: list[str], name: str, steps: int) -> None:
        for _ in range(steps):
            await flavor.checkpoint()
        trace.append(f"{name} blocks")
        await flavor.sleep_forever()

    async def main() -> list[str]:
        trace: list[str] = []
        async with flavor.open_group() as group:
            group.spawn(worker, trace, "a", 5)
            group.spawn(worker, trace, "b", 50)
            await flavor.wait_all_tasks_blocked()
            trace.append("all blocked")
            group.cancel_scope.cancel()
        return trace

    assert flavor.run(main) == ["a blocks", "b blocks", "all blocked"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_timer_inside_the_cushion_is_not_blocked(flavor: Flavor) -> None:
    async def sleeper(trace: list[str]) -> None:
        await flavor.sleep(0.05)
        trace.append("slept")
        await flavor.sleep_forever()

    async def main() -> list[str]:
        trace: list[str] = []
        async with flavor.open_group() as group:
            group.spawn(sleeper, trace)
            await flavor.wait_all_tasks_blocked(0.2)
            trace.append("all blocked")
            group.cancel_scope.cancel()
        return trace

    assert flavor.run(main) == ["slept", "all blocked"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_shorter_cushions_wake_first(flavor: Flavor) -> None:
    async def waiter(trace: list[str], cushion: float) -> None:
        await flavor.wait_all_tasks_blocked(cushion)
        trace.append(f"cushion {cushion}")

    async def main() -> list[str]:
        trace: list[str] = []
        async with flavor.open_group() as group:
            group.spawn(waiter, trace, 0.02)
            group.spawn(waiter, trace, 0.0)
            group.spawn(waiter, trace, 0.01)
        return trace

    assert flavor.run(main) == ["cushion 0.0", "cushion 0.01", "cushion 0.02"]


def test_io_arriving_keeps_the_loop_from_being_idle() -> None:
    async def reader(sock: socket.socket, trace: list[str]) -> None:
        await runtime.lowlevel.wait_readable(sock)
        trace.append(f"read {sock.recv(10)!r}")
        await runtime.sleep(float("inf"))

    async def main() -> list[str]:
        trace: list[str] = []
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            async with runtime.TaskGroup() as tg:
                tg.spawn(reader(a, trace))
                await runtime.testing.wait_all_tasks_blocked()
                trace.append("blocked")
                b.send(b"x")
                await runtime.testing.wait_all_tasks_blocked()
                trace.append("blocked again")
                tg.cancel_scope.cancel()
                runtime.lowlevel.notify_closing(a)
        return trace

    assert runtime.run(main()) == ["blocked", "read b'x'", "blocked again"]


def test_a_cancelled_waiter_leaves_no_entry_behind() -> None:
    async def main() -> int:
        with runtime.move_on_after(0.01):
            async def busy() -> None:
                while True:
                    await runtime.sleep(0.001)

            handle = runtime.spawn(busy())
            await runtime.testing.wait_all_tasks_blocked(1.0)
        handle.abort()
        return len(runtime.current_task().runner.idle_waiters)

    assert runtime.run(main()) == 0


def test_a_negative_cushion_is_a_value_error() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match=r"cushion >= 0, got -1\.0"):
            await runtime.testing.wait_all_tasks_blocked(-1)

    runtime.run(main())
