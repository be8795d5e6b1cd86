"""`oneshot`: one value, from one task to another."""

from __future__ import annotations

import pytest

import runtime
from runtime import BrokenResourceError, BusyResourceError, ClosedResourceError, EndOfChannel


@pytest.mark.runtime
async def test_value_arrives_and_the_receiver_is_awaitable() -> None:
    tx, rx = runtime.oneshot()

    async def later() -> None:
        await runtime.sleep(0.005)
        tx.send(42)

    runtime.spawn(later())
    assert await rx == 42


@pytest.mark.runtime
async def test_sent_before_waiting_is_ready_at_once() -> None:
    tx, rx = runtime.oneshot()
    tx.send("early")
    assert await rx.recv() == "early"
    with pytest.raises(EndOfChannel):
        rx.try_recv()  # already received


@pytest.mark.runtime
async def test_sender_closed_without_sending_ends_the_receiver() -> None:
    tx, rx = runtime.oneshot()
    handle = runtime.spawn(rx.recv())
    await runtime.yield_now()
    with tx:
        pass
    with pytest.raises(EndOfChannel):
        await handle
    with pytest.raises(ClosedResourceError):
        tx.send(1)


def test_send_twice_or_to_a_closed_receiver() -> None:
    tx, _rx = runtime.oneshot()
    tx.send(1)
    with pytest.raises(ClosedResourceError):
        tx.send(2)
    tx2, rx2 = runtime.oneshot()
    rx2.close()
    with pytest.raises(BrokenResourceError):
        tx2.send(1)


@pytest.mark.runtime
async def test_cancelled_recv_leaves_the_value_for_later() -> None:
    tx, rx = runtime.oneshot()
    with runtime.move_on_after(0.005):
        await rx.recv()
    tx.send("still here")
    assert await rx == "still here"


@pytest.mark.runtime
async def test_two_tasks_receiving_is_busy() -> None:
    tx, rx = runtime.oneshot()
    first = runtime.spawn(rx.recv())
    await runtime.yield_now()
    with pytest.raises(BusyResourceError):
        await rx.recv()
    tx.send("x")
    assert await first == "x"


@pytest.mark.runtime
async def test_closing_the_receiver_wakes_a_task_parked_on_it_with_closed_resource_error(
) -> None:
    tx, rx = runtime.oneshot()

    async def waiter() -> str:
        try:
            await rx.recv()
        except ClosedResourceError:
            return "ClosedResourceError"
        return "got a value"

    handle = runtime.spawn(waiter())
    await runtime.yield_now()  # parked
    rx.close()
    with runtime.fail_after(2):  # hung forever before the fix
        assert await handle == "ClosedResourceError"
    with pytest.raises(BrokenResourceError):
        tx.send(1)
