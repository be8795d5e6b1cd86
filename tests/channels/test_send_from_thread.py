"""`Sender.send_from_thread`: plain threads feeding a channel the loop reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import runtime
from runtime import BrokenResourceError, ClosedResourceError, WouldBlock


def start_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` in a thread; the list receives its result or exception."""
    outcome: list[Any] = []

    def body() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, outcome


def test_many_threads_every_message_exactly_once_in_per_thread_order() -> None:
    threads_n, per_thread = 8, 2000

    async def main() -> dict[int, list[int]]:
        tx, rx = runtime.channel(16)
        senders = [tx.clone() for _ in range(threads_n)]
        tx.close()

        def produce(k: int) -> None:
            with senders[k]:
                for i in range(per_thread):
                    senders[k].send_from_thread((k, i))

        threads = [start_thread(lambda k=k: produce(k)) for k in range(threads_n)]
        got: dict[int, list[int]] = {k: [] for k in range(threads_n)}
        count = 0
        while count < threads_n * per_thread:
            k, i = await rx.recv()
            got[k].append(i)
            count += 1
        for thread, outcome in threads:
            await runtime.to_thread(thread.join)
            assert outcome == [None]
        return got

    got = runtime.run(main())
    assert got == {k: list(range(per_thread)) for k in range(threads_n)}


def test_thread_blocks_while_full_until_a_receiver_makes_room() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(1)
        returned = threading.Event()

        def produce() -> None:
            tx.send_from_thread("a")  # room: accepted at once
            tx.send_from_thread("b")  # full: blocks
            returned.set()

        thread, outcome = start_thread(produce)
        await runtime.sleep(0.05)
        assert not returned.is_set()
        assert await rx.recv() == "a"
        assert await rx.recv() == "b"
        await runtime.to_thread(thread.join)
        assert returned.is_set() and outcome == [None]

    runtime.run(main())


def test_rendezvous_from_a_thread_waits_for_the_receiver() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(0)
        thread, outcome = start_thread(lambda: tx.send_from_thread("x"))
        await runtime.sleep(0.03)
        assert thread.is_alive()  # nobody took it yet
        assert await rx.recv() == "x"
        await runtime.to_thread(thread.join)
        assert outcome == [None]

    runtime.run(main())


def test_timeout_withdraws_the_message() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(1)
        tx.try_send("first")
        thread, outcome = start_thread(lambda: tx.send_from_thread("late", timeout=0.05))
        await runtime.to_thread(thread.join)
        assert isinstance(outcome[0], TimeoutError)
        assert rx.try_recv() == "first"
        with pytest.raises(WouldBlock):
            rx.try_recv()

    runtime.run(main())


def test_blocked_thread_sees_receivers_close() -> None:
    async def main() -> None:
        tx, rx = runtime.channel(0)
        thread, outcome = start_thread(lambda: tx.send_from_thread("x"))
        await runtime.sleep(0.02)
        rx.close()
        await runtime.to_thread(thread.join)
        assert isinstance(outcome[0], BrokenResourceError)
        with pytest.raises(BrokenResourceError):
            await runtime.to_thread(tx.send_from_thread, "y")

    runtime.run(main())


def test_blocked_thread_sees_its_sender_close() -> None:
    async def main() -> None:
        tx, _rx = runtime.channel(0)
        other = tx.clone()
        thread, outcome = start_thread(lambda: tx.send_from_thread("x"))
        await runtime.sleep(0.02)
        tx.close()
        await runtime.to_thread(thread.join)
        assert isinstance(outcome[0], ClosedResourceError)
        other.close()

    runtime.run(main())


def test_a_parked_receiver_is_woken_by_the_thread() -> None:
    async def main() -> float:
        tx, rx = runtime.channel(4)
        sent_at: list[float] = []

        def produce() -> None:
            time.sleep(0.02)
            sent_at.append(time.perf_counter())
            tx.send_from_thread("wake up")

        thread, _ = start_thread(produce)
        assert await rx.recv() == "wake up"
        latency = time.perf_counter() - sent_at[0]
        await runtime.to_thread(thread.join)
        return latency

    assert runtime.run(main()) < 0.5


def test_calling_it_on_the_loop_thread_is_an_error() -> None:
    async def main() -> None:
        tx, _rx = runtime.channel(1)
        with pytest.raises(RuntimeError, match="send_from_thread"):
            tx.send_from_thread(1)

    runtime.run(main())


@pytest.mark.parametrize("capacity", [0, 1])
def test_a_receiver_parked_first_gets_a_blocking_threads_message(capacity: int) -> None:
    async def main() -> list[str]:
        tx, rx = runtime.channel(capacity)
        if capacity:
            tx.try_send("fills the buffer")

        async def receive_two() -> list[str]:
            return [await rx.recv() for _ in range(2 if capacity else 1)]

        if capacity:
            # take the buffered one only after the thread is parked on a full channel
            thread, outcome = start_thread(lambda: tx.send_from_thread("from thread"))
            await runtime.sleep(0.02)
            got = await receive_two()
        else:
            handle = runtime.spawn(receive_two())
            await runtime.sleep(0.01)  # the receiver is parked before the thread sends
            thread, outcome = start_thread(lambda: tx.send_from_thread("from thread"))
            with runtime.fail_after(5):
                got = await handle
        await runtime.to_thread(thread.join)
        assert outcome == [None]
        return got

    expected = ["fills the buffer", "from thread"] if capacity else ["from thread"]
    assert runtime.run(main()) == expected


def test_threads_feeding_receivers_that_keep_timing_out_lose_nothing() -> None:
    threads_n, per_thread = 4, 3000

    async def main() -> list[int]:
        tx, rx = runtime.channel(8)
        senders = [tx.clone() for _ in range(threads_n)]
        tx.close()
        got: list[int] = []

        def produce(k: int) -> None:
            with senders[k]:
                for i in range(per_thread):
                    senders[k].send_from_thread(k * per_thread + i)

        async def receive(receiver: runtime.Receiver[int], patience: float) -> None:
            with receiver:
                while True:
                    with runtime.move_on_after(patience):  # often cancelled mid-wait
                        try:
                            got.append(await receiver.recv())
                        except runtime.EndOfChannel:
                            return

        threads = [start_thread(lambda k=k: produce(k)) for k in range(threads_n)]
        with runtime.fail_after(30):
            async with runtime.TaskGroup() as tg:
                for patience in (0.0001, 0.0003, 0.001):
                    tg.spawn(receive(rx.clone(), patience))
                rx.close()
        for thread, outcome in threads:
            await runtime.to_thread(thread.join)
            assert outcome == [None]
        return got

    got = runtime.run(main())
    assert sorted(got) == list(range(threads_n * per_thread))
