"""`broadcast`: every subscriber sees every message; a laggard gets `Lagged`."""

from __future__ import annotations

import pytest

import runtime
from runtime import ClosedResourceError, EndOfChannel, Lagged, WouldBlock


@pytest.mark.runtime
async def test_every_subscriber_sees_every_message_in_order() -> None:
    tx, first = runtime.broadcast(4)
    subs = [first, tx.subscribe(), tx.subscribe()]

    async def collect(rx: runtime.BroadcastReceiver[int]) -> list[int]:
        return [x async for x in rx]

    handles = [runtime.spawn(collect(rx)) for rx in subs]
    for i in range(20):
        assert tx.send(i) == 3
        await runtime.yield_now()  # let the subscribers keep up
    tx.close()
    assert [await h for h in handles] == [list(range(20))] * 3


@pytest.mark.runtime
async def test_a_lagging_subscriber_is_told_how_many_it_missed() -> None:
    tx, slow = runtime.broadcast(3)
    fast = tx.subscribe()
    for i in range(10):
        tx.send(i)  # never waits, however far behind `slow` is
        assert fast.try_recv() == i
    with pytest.raises(Lagged) as info:
        await slow.recv()
    assert info.value.missed == 7
    # ... then it continues from the oldest message still retained.
    assert [await slow.recv() for _ in range(3)] == [7, 8, 9]
    with pytest.raises(WouldBlock):
        slow.try_recv()
    tx.send(10)
    assert slow.try_recv() == 10


@pytest.mark.runtime
async def test_lag_counts_across_wraparounds() -> None:
    tx, rx = runtime.broadcast(2)
    for i in range(1000):
        tx.send(i)
    with pytest.raises(Lagged) as info:
        rx.try_recv()
    assert info.value.missed == 998
    assert [rx.try_recv(), rx.try_recv()] == [998, 999]


@pytest.mark.runtime
async def test_a_new_subscriber_sees_only_later_messages() -> None:
    tx, rx = runtime.broadcast(8)
    tx.send("old")
    late = tx.subscribe()
    tx.send("new")
    assert late.try_recv() == "new"
    assert [rx.try_recv(), rx.try_recv()] == ["old", "new"]


@pytest.mark.runtime
async def test_close_drains_then_ends_and_closed_handles_refuse() -> None:
    tx, rx = runtime.broadcast(4)
    waiter_rx = tx.subscribe()
    handle = runtime.spawn(waiter_rx.recv())
    await runtime.yield_now()
    tx.send(1)
    tx.close()
    tx.close()
    assert await handle == 1
    with pytest.raises(EndOfChannel):
        await waiter_rx.recv()
    assert await rx.recv() == 1
    with pytest.raises(EndOfChannel):
        rx.try_recv()
    with pytest.raises(ClosedResourceError):
        tx.send(2)
    with pytest.raises(ClosedResourceError):
        tx.subscribe()
    rx.close()
    with pytest.raises(ClosedResourceError):
        rx.try_recv()


@pytest.mark.runtime
async def test_send_counts_subscribers_and_drops_with_none() -> None:
    tx, rx = runtime.broadcast(2)
    rx.close()
    assert tx.send("nobody listens") == 0
    late = tx.subscribe()
    assert tx.send("x") == 1
    assert late.try_recv() == "x"


@pytest.mark.runtime
async def test_cancelled_recv_keeps_the_message() -> None:
    tx, rx = runtime.broadcast(2)
    with runtime.move_on_after(0.01) as scope:
        await rx.recv()
    assert scope.cancelled_caught
    tx.send("kept")
    assert await rx.recv() == "kept"


@pytest.mark.runtime
async def test_many_parked_subscribers_all_wake() -> None:
    tx, rx = runtime.broadcast(1)
    subs = [tx.subscribe() for _ in range(50)]
    rx.close()
    handles = [runtime.spawn(s.recv()) for s in subs]
    await runtime.sleep(0.01)
    tx.send("hello")
    assert [await h for h in handles] == ["hello"] * 50


def test_capacity_must_be_positive() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            runtime.broadcast(bad)  # type: ignore[arg-type]


@pytest.mark.runtime
async def test_closing_a_subscriber_wakes_a_task_parked_on_it_with_closed_resource_error(
) -> None:
    _tx, rx = runtime.broadcast(4)

    async def waiter() -> str:
        try:
            await rx.recv()
        except ClosedResourceError:
            return "ClosedResourceError"
        return "got a message"

    handle = runtime.spawn(waiter())
    await runtime.yield_now()  # parked
    rx.close()
    with runtime.fail_after(2):  # hung forever before the fix
        assert await handle == "ClosedResourceError"


@pytest.mark.runtime
async def test_a_second_task_receiving_on_one_subscriber_is_busy_and_the_first_still_wakes(
) -> None:
    tx, rx = runtime.broadcast(4)
    first = runtime.spawn(rx.recv())
    await runtime.yield_now()  # parked
    with pytest.raises(runtime.BusyResourceError):
        await rx.recv()
    tx.send("m1")
    with runtime.fail_after(2):  # before the fix the second overwrote the first's waker
        assert await first == "m1"
