"""`Token`: any int in [0, 2**64), carried through the kernel untouched."""

from __future__ import annotations

import pytest

from runtime.reactor import Events, Interest, Poll, Token
from tests.helpers import expect_events, socket_pair


@pytest.mark.parametrize("token", [0, 1, 2**32, 2**63, 2**64 - 1])
def test_token_comes_back_unchanged(poll: Poll, events: Events, token: int) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(token), Interest.READABLE)
        b.send(b"x")
        (event,) = expect_events(poll, events, [(Token(token), Interest.READABLE)])
        assert event.token == token and type(event.token) is int
        poll.registry.deregister(a)


@pytest.mark.parametrize("token", [-1, 2**64, 2**100])
@pytest.mark.parametrize("method", ["register", "reregister"])
def test_token_out_of_range_is_a_value_error(poll: Poll, token: int, method: str) -> None:
    with socket_pair() as (a, _):
        if method == "reregister":
            poll.registry.register(a, Token(1), Interest.READABLE)
        with pytest.raises(ValueError, match="outside"):
            getattr(poll.registry, method)(a, Token(token), Interest.READABLE)
        if method == "reregister":
            poll.registry.deregister(a)


def test_token_must_be_an_int(poll: Poll) -> None:
    with socket_pair() as (a, _), pytest.raises(TypeError, match="token"):
        poll.registry.register(a, 1.0, Interest.READABLE)  # type: ignore[arg-type]


def test_token_is_a_plain_int_at_run_time() -> None:
    assert Token(5) == 5 and type(Token(5)) is int
