"""Bounded channels: the same scenario under trio's memory channel and runtime's.

Back-pressure order, the rendezvous channel, close semantics on both ends,
and what a cancelled ``send``/``recv`` leaves behind, each written once
against `tests.helpers.sidebyside_sync.SyncFramework` with its expected trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.sidebyside_sync import CANCELLED, SYNC_FRAMEWORKS, SyncFramework, error_name


@pytest.fixture(params=SYNC_FRAMEWORKS)
def fw(request: pytest.FixtureRequest) -> SyncFramework:
    return request.param()  # type: ignore[no-any-return]


def run(fw: SyncFramework, scenario: Callable[[SyncFramework, list[Any]], Any]) -> list[Any]:
    trace: list[Any] = []
    fw.run(lambda: scenario(fw, trace))
    return trace


async def attempt(fw: SyncFramework, trace: list[Any], label: str, op: Any) -> None:
    """Run ``op`` (a callable, maybe async) and trace its value or error."""
    try:
        result = op()
        if hasattr(result, "__await__"):
            result = await result
    except Exception as exc:
        trace.append((label, error_name(exc)))
    else:
        trace.append((label, result))


# -- back-pressure ------------------------------------------------------------------


async def sender_waits_while_full(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(2)

    async def producer() -> None:
        for i in range(5):
            await tx.send(i)
            trace.append(f"sent {i}")
        tx.close()

    fw.spawn(producer)
    await fw.settle()
    while True:
        try:
            value = await fw.recv(rx)
        except fw.EndOfChannel:
            trace.append("end")
            return
        await fw.settle()  # the woken producer runs first, under both
        trace.append(f"got {value}")


def test_sender_waits_while_full_and_order_is_kept(fw: SyncFramework) -> None:
    assert run(fw, sender_waits_while_full) == [
        "sent 0", "sent 1",  # the buffer holds two; the third send waits
        "sent 2", "got 0",  # a recv makes room: the parked message moves in
        "sent 3", "got 1", "sent 4", "got 2", "got 3", "got 4", "end",
    ]


async def receivers_are_served_in_arrival_order(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(1)

    async def receiver(name: str) -> None:
        trace.append(f"{name} got {await fw.recv(rx)}")

    for name in ["a", "b", "c"]:
        fw.spawn(receiver, name)
        await fw.settle()
    for i in range(3):
        fw.try_send(tx, i)  # handed straight to the first parked receiver
        await fw.settle()
    await attempt(fw, trace, "buffer after", lambda: fw.try_recv(rx))


def test_receivers_are_served_in_arrival_order(fw: SyncFramework) -> None:
    assert run(fw, receivers_are_served_in_arrival_order) == [
        "a got 0", "b got 1", "c got 2", ("buffer after", "WouldBlock")]


# -- rendezvous ---------------------------------------------------------------------


async def rendezvous(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(0)
    await attempt(fw, trace, "try_send, nobody receiving", lambda: fw.try_send(tx, "x"))

    async def sender(value: str) -> None:
        trace.append(f"sending {value}")
        await tx.send(value)
        trace.append(f"sent {value}")

    fw.spawn(sender, "a")
    await fw.settle()
    trace.append("nothing taken yet")
    got = await fw.recv(rx)
    await fw.settle()
    trace.append(("recv", got))
    fw.spawn(sender, "b")
    await fw.settle()
    await attempt(fw, trace, "try_recv", lambda: fw.try_recv(rx))
    await fw.settle()
    await attempt(fw, trace, "try_recv again", lambda: fw.try_recv(rx))

    async def receiver() -> None:
        trace.append(("receiver got", await fw.recv(rx)))

    fw.spawn(receiver)
    await fw.settle()
    await attempt(fw, trace, "try_send to a parked receiver", lambda: fw.try_send(tx, "c"))
    await fw.settle()


def test_rendezvous_send_completes_only_when_taken(fw: SyncFramework) -> None:
    assert run(fw, rendezvous) == [
        ("try_send, nobody receiving", "WouldBlock"),
        "sending a", "nothing taken yet", "sent a", ("recv", "a"),
        "sending b", ("try_recv", "b"), "sent b",
        ("try_recv again", "WouldBlock"),
        ("try_send to a parked receiver", None), ("receiver got", "c"),
    ]


# -- closing --------------------------------------------------------------------------


async def last_sender_close_drains_then_ends(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(5)
    tx2 = tx.clone()
    for i in range(3):
        await tx.send(i)
    tx.close()
    tx.close()  # idempotent
    await attempt(fw, trace, "send on closed handle", lambda: tx.send(9))
    await attempt(fw, trace, "clone closed handle", lambda: tx.clone())
    await tx2.send(3)  # the clone is still open
    trace.append(("got", await fw.recv(rx)))

    async def drain() -> None:
        async for value in rx:
            trace.append(("iter", value))
        trace.append("iteration ended")

    h = fw.spawn(drain)
    await fw.settle()
    trace.append("closing the last sender")
    tx2.close()
    await h.join()
    await attempt(fw, trace, "recv after end", lambda: fw.recv(rx))
    await attempt(fw, trace, "try_recv after end", lambda: fw.try_recv(rx))


def test_last_sender_close_drains_then_ends(fw: SyncFramework) -> None:
    assert run(fw, last_sender_close_drains_then_ends) == [
        ("send on closed handle", "ClosedResourceError"),
        ("clone closed handle", "ClosedResourceError"),
        ("got", 0), ("iter", 1), ("iter", 2), ("iter", 3),
        "closing the last sender", "iteration ended",
        ("recv after end", "EndOfChannel"), ("try_recv after end", "EndOfChannel"),
    ]


async def last_receiver_close_breaks_senders(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(1)
    rx2 = rx.clone()
    await tx.send("buffered")

    async def blocked_sender() -> None:
        await attempt(fw, trace, "blocked send", lambda: tx.send("waiting"))

    h = fw.spawn(blocked_sender)
    await fw.settle()
    rx.close()
    await fw.settle()
    trace.append("one receiver left")
    await attempt(fw, trace, "recv on closed handle", lambda: fw.recv(rx))
    rx2.close()
    await h.join()
    await attempt(fw, trace, "send after", lambda: tx.send("late"))
    await attempt(fw, trace, "try_send after", lambda: fw.try_send(tx, "late"))


def test_last_receiver_close_breaks_senders(fw: SyncFramework) -> None:
    assert run(fw, last_receiver_close_breaks_senders) == [
        "one receiver left",
        ("recv on closed handle", "ClosedResourceError"),
        ("blocked send", "BrokenResourceError"),
        ("send after", "BrokenResourceError"),
        ("try_send after", "BrokenResourceError"),
    ]


async def closing_a_handle_fails_its_own_blocked_ops(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(0)
    other_rx = rx.clone()
    other_tx = tx.clone()

    async def receive_on(name: str, handle: Any) -> None:
        await attempt(fw, trace, name, lambda: fw.recv(handle))

    async def send_on(name: str, handle: Any) -> None:
        await attempt(fw, trace, name, lambda: handle.send(name))

    fw.spawn(receive_on, "recv on rx", rx)
    await fw.settle()
    rx.close()
    await fw.settle()
    fw.spawn(send_on, "send on tx", tx)
    await fw.settle()
    tx.close()
    await fw.settle()
    fw.spawn(send_on, "send on other_tx", other_tx)
    await fw.settle()
    got = await fw.recv(other_rx)
    await fw.settle()
    trace.append(("other_rx got", got))


def test_closing_a_handle_fails_its_own_blocked_ops(fw: SyncFramework) -> None:
    assert run(fw, closing_a_handle_fails_its_own_blocked_ops) == [
        ("recv on rx", "ClosedResourceError"),
        ("send on tx", "ClosedResourceError"),
        ("send on other_tx", None), ("other_rx got", "send on other_tx"),
    ]


# -- cancellation -----------------------------------------------------------------------


async def cancelled_send_does_not_enqueue(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(1)
    fw.try_send(tx, "a")

    async def sender(value: str) -> None:
        await tx.send(value)

    blocked = fw.spawn(sender, "b")
    await fw.settle()
    blocked.cancel()
    trace.append(("recv", await fw.recv(rx)))  # makes room: "b" must not slip in
    await attempt(fw, trace, "then", lambda: fw.try_recv(rx))
    trace.append(("sender", await blocked.join()))


def test_cancelled_send_does_not_enqueue(fw: SyncFramework) -> None:
    assert run(fw, cancelled_send_does_not_enqueue) == [
        ("recv", "a"), ("then", "WouldBlock"), ("sender", CANCELLED)]


async def cancelled_rendezvous_send(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(0)

    async def sender(value: str) -> None:
        await tx.send(value)

    first = fw.spawn(sender, "first")
    await fw.settle()
    second = fw.spawn(sender, "second")
    await fw.settle()
    first.cancel()
    await attempt(fw, trace, "try_recv", lambda: fw.try_recv(rx))
    trace.append([await first.join(), await second.join()])


def test_cancelled_rendezvous_send_is_skipped(fw: SyncFramework) -> None:
    assert run(fw, cancelled_rendezvous_send) == [("try_recv", "second"), [CANCELLED, None]]


async def cancelled_recv_loses_nothing(fw: SyncFramework, trace: list[Any]) -> None:
    tx, rx = fw.channel(1)
    results: dict[str, Any] = {}

    async def receiver(name: str) -> None:
        results[name] = await fw.recv(rx)

    first = fw.spawn(receiver, "first")
    await fw.settle()
    second = fw.spawn(receiver, "second")
    await fw.settle()
    first.cancel()
    fw.try_send(tx, "x")  # at once: must not go to the cancelled receiver
    trace.append([await first.join(), await second.join()])
    trace.append(results)
    third = fw.spawn(receiver, "third")
    await fw.settle()
    third.cancel()
    await fw.settle()
    fw.try_send(tx, "y")
    await attempt(fw, trace, "y is still there", lambda: fw.try_recv(rx))
    trace.append(await third.join())


def test_cancelled_recv_loses_nothing(fw: SyncFramework) -> None:
    assert run(fw, cancelled_recv_loses_nothing) == [
        [CANCELLED, None], {"second": "x"}, ("y is still there", "y"), CANCELLED]


async def cancel_after_hand_off_still_delivers(fw: SyncFramework, trace: list[Any]) -> None:
    # The message reached the receiver before the cancellation: it keeps it.
    tx, rx = fw.channel(0)
    got: list[Any] = []

    async def receiver() -> None:
        got.append(await fw.recv(rx))

    h = fw.spawn(receiver)
    await fw.settle()
    fw.try_send(tx, "m")
    h.cancel()
    trace.append(await h.join())
    trace.append(got)


def test_cancel_after_hand_off_still_delivers(fw: SyncFramework) -> None:
    assert run(fw, cancel_after_hand_off_still_delivers) == [None, ["m"]]


def test_capacity_is_checked(fw: SyncFramework) -> None:
    async def scenario(fw: SyncFramework, trace: list[Any]) -> None:
        for bad in (-1, 1.5):
            try:
                fw.channel(bad)
            except (TypeError, ValueError) as exc:
                trace.append(error_name(exc) in ("TypeError", "ValueError"))

    assert run(fw, scenario) == [True, True]
