"""`Events` and `Event`: what `Poll.poll` hands back, on every backend."""

from __future__ import annotations

import contextlib
import socket

import pytest

from runtime.reactor import Event, Events, Interest, Poll, Token
from runtime.reactor import _readiness as R
from tests.helpers import (
    CONDUIT_KINDS,
    HOSTS,
    expect_events,
    expect_no_events,
    open_conduit,
    socket_pair,
    tcp_pair,
    tokens,
)
from tests.helpers.limits import skip_unless_supported


@pytest.mark.parametrize("kind", CONDUIT_KINDS)
def test_readable_event_carries_the_token(
    backend: str, poll: Poll, events: Events, kind: str
) -> None:
    skip_unless_supported(backend, kind)
    with open_conduit(kind) as c:
        poll.registry.register(c.reader, Token(7), Interest.READABLE)
        c.send(b"ping")
        seen = expect_events(poll, events, [(Token(7), Interest.READABLE)])
        assert {e.token for e in seen} == {7}
        poll.registry.deregister(c.reader)


@pytest.mark.parametrize("kind", CONDUIT_KINDS)
def test_writable_event_carries_the_token(
    backend: str, poll: Poll, events: Events, kind: str
) -> None:
    skip_unless_supported(backend, kind)
    with open_conduit(kind) as c:
        poll.registry.register(c.writer, Token(9), Interest.WRITABLE)
        seen = expect_events(poll, events, [(Token(9), Interest.WRITABLE)])
        assert {e.token for e in seen} == {9}
        poll.registry.deregister(c.writer)


def test_only_the_source_that_became_ready_is_reported(poll: Poll, events: Events) -> None:
    with socket_pair() as (a1, b1), socket_pair() as (a2, b2):
        poll.registry.register(a1, Token(1), Interest.READABLE)
        poll.registry.register(a2, Token(2), Interest.READABLE)
        b2.send(b"x")
        seen = expect_events(poll, events, [(Token(2), Interest.READABLE)])
        assert {e.token for e in seen} == {2}
        expect_no_events(poll, events)
        b1.send(b"x")
        assert poll.poll(events, 1.0) == 1
        assert tokens(events) == [Token(1)]
        poll.registry.deregister(a1)
        poll.registry.deregister(a2)


@pytest.mark.parametrize("host", HOSTS)
def test_out_of_band_tcp_data_is_a_priority_event(
    backend: str, poll: Poll, events: Events, host: str
) -> None:
    skip_unless_supported(backend, "priority")
    with tcp_pair(host) as (client, server):
        poll.registry.register(client, Token(3), Interest.PRIORITY)
        server.send(b"!", socket.MSG_OOB)
        expect_events(poll, events, [(Token(3), Event.is_priority)])
        poll.registry.deregister(client)


def test_poll_returns_no_more_than_capacity(poll: Poll) -> None:
    events = Events(capacity=2)
    with contextlib.ExitStack() as stack:
        pairs = [stack.enter_context(socket_pair()) for _ in range(5)]
        for i, (a, b) in enumerate(pairs):
            poll.registry.register(a, Token(i), Interest.READABLE)
            b.send(b"x")
        seen: list[Token] = []
        for _ in range(10):
            n = poll.poll(events, 1.0)
            assert n == len(events) <= 2
            seen += tokens(events)
            if len(set(seen)) == 5:
                break
        assert sorted(set(seen)) == list(range(5))
        for a, _ in pairs:
            poll.registry.deregister(a)


def test_each_poll_replaces_the_previous_events(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        b.send(b"x")
        assert poll.poll(events, 1.0) == 1 and not events.is_empty()
        assert poll.poll(events, 0) == 0
        assert len(events) == 0 and events.is_empty() and list(events) == []
        poll.registry.deregister(a)


def test_raw_holds_token_and_readiness_pairs(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(5), Interest.READABLE)
        b.send(b"x")
        assert poll.poll(events, 1.0) == 1
        token, readiness = events.raw
        assert token == 5 and readiness & R.READABLE
        (event,) = events
        assert (event.token, event.readiness) == (token, readiness)
        events.clear()
        assert events.raw == [] and len(events) == 0
        poll.registry.deregister(a)


def test_events_capacity_defaults_to_1024() -> None:
    assert Events().capacity == 1024
    assert Events(capacity=1).capacity == 1


@pytest.mark.parametrize("capacity", [0, -1, 1.5, "8"])
def test_events_capacity_must_be_a_positive_int(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Events(capacity)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bit", "predicate"),
    [
        (R.READABLE, Event.is_readable),
        (R.WRITABLE, Event.is_writable),
        (R.READ_CLOSED, Event.is_read_closed),
        (R.WRITE_CLOSED, Event.is_write_closed),
        (R.ERROR, Event.is_error),
        (R.PRIORITY, Event.is_priority),
    ],
)
def test_each_predicate_reads_its_own_readiness_bit(bit: int, predicate: object) -> None:
    assert predicate(Event(Token(1), bit))  # type: ignore[operator]
    assert not predicate(Event(Token(1), 0))  # type: ignore[operator]
    every = R.READABLE | R.WRITABLE | R.READ_CLOSED | R.WRITE_CLOSED | R.ERROR | R.PRIORITY
    others = every & ~bit
    assert not predicate(Event(Token(1), others))  # type: ignore[operator]


def test_event_repr_names_token_and_readiness() -> None:
    event = Event(Token(4), R.READABLE | R.READ_CLOSED)
    assert repr(event) == "Event(token=4, readable|read_closed)"
    assert repr(Event(Token(0), 0)) == "Event(token=0, none)"
