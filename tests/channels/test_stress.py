"""Many producers through one bounded channel: every message exactly once."""

from __future__ import annotations

import pytest

import runtime

PRODUCERS = 1000
MESSAGES = 1000  # per producer: a million messages in all


async def pump(producers: int, messages: int, consumers: int,
               capacity: int) -> list[list[int]]:
    """Run the producers and consumers; return each consumer's arrivals."""
    tx, rx = runtime.channel(capacity)
    arrivals: list[list[int]] = [[] for _ in range(consumers)]

    async def produce(p: int, sender: runtime.Sender[int]) -> None:
        with sender:
            base = p * messages
            for i in range(messages):
                await sender.send(base + i)

    async def consume(receiver: runtime.Receiver[int], out: list[int]) -> None:
        with receiver:
            async for n in receiver:
                out.append(n)

    async with runtime.TaskGroup() as tg:
        for c in range(consumers):
            tg.spawn(consume(rx.clone(), arrivals[c]))
        rx.close()
        for p in range(producers):
            tg.spawn(produce(p, tx.clone()))
        tx.close()
    return arrivals


@pytest.mark.slow
def test_thousand_producers_thousand_messages_each_exactly_once() -> None:
    arrivals = runtime.run(pump(PRODUCERS, MESSAGES, consumers=4, capacity=64))
    seen = bytearray(PRODUCERS * MESSAGES)
    for out in arrivals:
        for n in out:
            seen[n] += 1
    assert seen.count(1) == PRODUCERS * MESSAGES
    assert all(out for out in arrivals), "every consumer took a share"


@pytest.mark.parametrize("capacity", [0, 1, 16])
def test_one_consumer_sees_each_producer_in_order(capacity: int) -> None:
    producers, messages = 100, 200
    (out,) = runtime.run(pump(producers, messages, consumers=1, capacity=capacity))
    assert sorted(out) == list(range(producers * messages))
    for p in range(producers):
        mine = [n for n in out if n // messages == p]
        assert mine == sorted(mine), f"producer {p} out of order"
