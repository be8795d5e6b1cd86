"""`Interest`: what a registration asks for; an empty or unknown one is refused."""

from __future__ import annotations

import pytest

from runtime.reactor import Events, Interest, Poll, Token
from tests.helpers import expect_events, socket_pair


def test_interests_combine_with_or() -> None:
    both = Interest.READABLE | Interest.WRITABLE
    assert Interest.READABLE in both and Interest.WRITABLE in both
    assert Interest.PRIORITY not in both
    assert len({Interest.READABLE, Interest.WRITABLE, Interest.PRIORITY}) == 3


@pytest.mark.parametrize("method", ["register", "reregister"])
def test_empty_interest_is_a_value_error(poll: Poll, method: str) -> None:
    with socket_pair() as (a, _):
        if method == "reregister":
            poll.registry.register(a, Token(1), Interest.READABLE)
        with pytest.raises(ValueError, match="empty"):
            getattr(poll.registry, method)(a, Token(1), Interest(0))
        if method == "reregister":
            poll.registry.deregister(a)


def test_unknown_interest_bits_are_a_value_error(poll: Poll) -> None:
    with socket_pair() as (a, _), pytest.raises(ValueError, match="bits"):
        poll.registry.register(a, Token(1), 0x40)  # type: ignore[arg-type]


def test_interest_must_be_an_interest(poll: Poll) -> None:
    with socket_pair() as (a, _), pytest.raises(TypeError, match="Interest"):
        poll.registry.register(a, Token(1), "readable")  # type: ignore[arg-type]


def test_a_refused_interest_leaves_nothing_registered(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        with pytest.raises(ValueError):
            poll.registry.register(a, Token(1), Interest(0))
        poll.registry.register(a, Token(1), Interest.READABLE)  # not AlreadyRegistered
        b.send(b"x")
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        poll.registry.deregister(a)


def test_readable_and_writable_together_report_both(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        b.send(b"x")
        expect_events(
            poll, events, [(Token(1), Interest.READABLE), (Token(1), Interest.WRITABLE)]
        )
        poll.registry.deregister(a)
