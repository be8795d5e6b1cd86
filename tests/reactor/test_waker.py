"""`Waker`: wake a blocked `Poll.poll` from another thread (mio's tests/waker.rs)."""

from __future__ import annotations

import threading
import time

import pytest

from runtime.reactor import Events, Interest, Poll, PollClosedError, Token, Waker, WakerExistsError
from tests.helpers import expect_events, expect_no_events, socket_pair, tokens


@pytest.mark.timeout(5)
def test_wake_from_another_thread_unblocks_poll_within_100ms(poll: Poll, events: Events) -> None:
    waker = Waker(poll.registry, Token(10))
    woke_at: list[float] = []

    def wake_later() -> None:
        time.sleep(0.05)  # let the main thread block in poll(None)
        woke_at.append(time.perf_counter())
        waker.wake()

    thread = threading.Thread(target=wake_later)
    thread.start()
    try:
        n = poll.poll(events, None)
        returned_at = time.perf_counter()
    finally:
        thread.join()
    assert n == 1 and tokens(events) == [Token(10)]
    assert returned_at - woke_at[0] < 0.1
    waker.close()


def test_wake_before_poll_makes_the_next_poll_return(poll: Poll, events: Events) -> None:
    with Waker(poll.registry, Token(1)) as waker:
        waker.wake()
        start = time.perf_counter()
        assert poll.poll(events, 5.0) == 1 and tokens(events) == [Token(1)]
        assert time.perf_counter() - start < 1.0


def test_many_wakes_before_a_poll_are_at_least_one_event(poll: Poll, events: Events) -> None:
    with Waker(poll.registry, Token(1)) as waker:
        for _ in range(10):
            waker.wake()
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        # They may coalesce; what matters is that nobody waits forever.
        while poll.poll(events, 0.05):
            assert tokens(events) == [Token(1)]


def test_waker_wakes_again_after_being_reported(poll: Poll, events: Events) -> None:
    with Waker(poll.registry, Token(1)) as waker:
        for _ in range(20):
            waker.wake()
            assert poll.poll(events, 1.0) == 1 and tokens(events) == [Token(1)]
        expect_no_events(poll, events)


def test_waker_event_is_readable(poll: Poll, events: Events) -> None:
    with Waker(poll.registry, Token(3)) as waker:
        waker.wake()
        (event,) = expect_events(poll, events, [(Token(3), Interest.READABLE)])
        assert event.is_readable()


def test_waker_events_come_alongside_io_events(poll: Poll, events: Events) -> None:
    with Waker(poll.registry, Token(0)) as waker, socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        b.send(b"x")
        waker.wake()
        expect_events(poll, events, [(Token(0), Interest.READABLE), (Token(1), Interest.READABLE)])
        poll.registry.deregister(a)


@pytest.mark.timeout(10)
def test_concurrent_wakes_from_many_threads(poll: Poll, events: Events) -> None:
    waker = Waker(poll.registry, Token(5))
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(1000):
            waker.wake()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect_events(poll, events, [(Token(5), Interest.READABLE)])
    waker.close()


def test_a_second_waker_is_refused(poll: Poll) -> None:
    with Waker(poll.registry, Token(1)), pytest.raises(WakerExistsError):
        Waker(poll.registry, Token(2))


def test_a_new_waker_is_allowed_after_the_first_is_closed(poll: Poll, events: Events) -> None:
    Waker(poll.registry, Token(1)).close()
    with Waker(poll.registry, Token(2)) as waker:
        waker.wake()
        expect_events(poll, events, [(Token(2), Interest.READABLE)])


def test_wake_after_close_is_poll_closed(poll: Poll) -> None:
    waker = Waker(poll.registry, Token(1))
    waker.close()
    with pytest.raises(PollClosedError):
        waker.wake()


def test_wake_after_the_poll_closed_is_poll_closed(backend: str) -> None:
    poll = Poll(backend=backend)
    waker = Waker(poll.registry, Token(1))
    poll.close()  # closes the waker too
    with pytest.raises(PollClosedError):
        waker.wake()
    waker.close()  # and closing it again is harmless


@pytest.mark.parametrize("token", [-1, 2**64])
def test_waker_token_out_of_range_is_a_value_error(poll: Poll, token: int) -> None:
    with pytest.raises(ValueError, match="token"):
        Waker(poll.registry, Token(token))
    # The refused Waker did not use up the Poll's one Waker.
    Waker(poll.registry, Token(1)).close()
