"""`Registry`: register once, edge-triggered; reregister; deregister; its errors."""

from __future__ import annotations

import errno
import socket
import threading

import pytest

from runtime.reactor import (
    AlreadyRegisteredError,
    Event,
    Events,
    Interest,
    NotRegisteredError,
    Poll,
    Token,
)
from tests.helpers import (
    CONDUIT_KINDS,
    HOSTS,
    STREAM_KINDS,
    assert_would_block,
    closed_fd,
    connect_nonblocking,
    expect_events,
    expect_no_events,
    open_conduit,
    refused_address,
    socket_error,
    socket_pair,
)
from tests.helpers.limits import skip_unless_supported, supports

# -- edge-triggered, registered once -------------------------------------------


@pytest.mark.parametrize("kind", CONDUIT_KINDS)
def test_edge_triggered_no_second_event_until_new_data(
    backend: str, poll: Poll, events: Events, kind: str
) -> None:
    skip_unless_supported(backend, kind)
    with open_conduit(kind) as c:
        poll.registry.register(c.reader, Token(1), Interest.READABLE)
        c.send(b"first")
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        # The data is still unread, but it has been reported: no new edge.
        expect_no_events(poll, events)
        assert c.drain()
        poll.registry.rearm(c.reader)  # drained to a would-block (needed by IOCP only)
        expect_no_events(poll, events)
        # New data is a new edge, with no re-registration in between.
        c.send(b"second")
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        poll.registry.deregister(c.reader)


def test_one_registration_serves_many_rounds(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        for i in range(100):
            b.send(b"%d" % i)
            expect_events(poll, events, [(Token(1), Interest.READABLE)])
            assert a.recv(16) == b"%d" % i
            assert_would_block(lambda: a.recv(16))
            poll.registry.rearm(a)
        poll.registry.deregister(a)


def test_only_the_emulated_edge_of_iocp_needs_rearm(backend: str, poll: Poll) -> None:
    # epoll and kqueue see the would-block in the kernel; AFD polls cannot.
    assert poll.registry.needs_rearm is (backend == "iocp")


def test_rearm_of_an_unregistered_socket(backend: str, poll: Poll) -> None:
    with socket_pair() as (a, _):
        if backend == "iocp":
            with pytest.raises(NotRegisteredError):
                poll.registry.rearm(a)
        else:
            poll.registry.rearm(a)  # does nothing at all, so checks nothing


# -- reregister ------------------------------------------------------------------


@pytest.mark.parametrize("kind", CONDUIT_KINDS)
def test_reregister_changes_interest(
    backend: str, poll: Poll, events: Events, kind: str
) -> None:
    skip_unless_supported(backend, kind)
    with open_conduit(kind) as c:
        # Registered for reading only: a writable end says nothing.
        poll.registry.register(c.writer, Token(1), Interest.READABLE)
        expect_no_events(poll, events)
        poll.registry.reregister(c.writer, Token(1), Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        poll.registry.deregister(c.writer)


def test_reregister_changes_the_token(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        poll.registry.reregister(a, Token(2), Interest.READABLE)
        b.send(b"x")
        seen = expect_events(poll, events, [(Token(2), Interest.READABLE)])
        assert {e.token for e in seen} == {2}
        poll.registry.deregister(a)


def test_reregister_can_drop_writable_interest(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        poll.registry.reregister(a, Token(1), Interest.READABLE)
        expect_no_events(poll, events)
        b.send(b"x")
        seen = expect_events(poll, events, [(Token(1), Interest.READABLE)])
        assert not any(e.is_writable() and not e.is_readable() for e in seen)
        poll.registry.deregister(a)


# -- deregister ------------------------------------------------------------------


@pytest.mark.parametrize("kind", CONDUIT_KINDS)
def test_deregister_stops_events(backend: str, poll: Poll, events: Events, kind: str) -> None:
    skip_unless_supported(backend, kind)
    with open_conduit(kind) as c:
        poll.registry.register(c.reader, Token(1), Interest.READABLE)
        poll.registry.deregister(c.reader)
        c.send(b"x")
        expect_no_events(poll, events)


def test_a_deregistered_source_can_be_registered_again(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        poll.registry.deregister(a)
        poll.registry.register(a, Token(2), Interest.READABLE)
        b.send(b"x")
        expect_events(poll, events, [(Token(2), Interest.READABLE)])
        poll.registry.deregister(a)


def test_an_int_fd_and_its_socket_are_the_same_source(poll: Poll) -> None:
    with socket_pair() as (a, _):
        poll.registry.register(a.fileno(), Token(1), Interest.READABLE)
        with pytest.raises(AlreadyRegisteredError):
            poll.registry.register(a, Token(1), Interest.READABLE)
        poll.registry.deregister(a)


# -- hang-ups and errors -------------------------------------------------------------


@pytest.mark.parametrize("kind", STREAM_KINDS)
def test_peer_close_is_read_closed(poll: Poll, events: Events, kind: str) -> None:
    with open_conduit(kind) as c:
        poll.registry.register(c.reader, Token(1), Interest.READABLE)
        c.close_writer()
        expect_events(poll, events, [(Token(1), Event.is_read_closed)])
        assert c.drain() == b""  # EOF
        poll.registry.deregister(c.reader)


@pytest.mark.parametrize("host", HOSTS)
def test_connect_refused_is_an_error_event(
    backend: str, poll: Poll, events: Events, host: str
) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with refused_address(host) as address, socket.socket(family, socket.SOCK_STREAM) as sock:
        connect_nonblocking(sock, address)
        poll.registry.register(sock, Token(4), Interest.READABLE | Interest.WRITABLE)
        seen = expect_events(poll, events, [(Token(4), Event.is_error)])
        if supports(backend, "so_error"):
            assert socket_error(sock) == errno.ECONNREFUSED
        else:  # the error was consumed; the socket is still unconnected
            with pytest.raises(OSError) as info:
                sock.getpeername()
            assert info.value.errno == errno.ENOTCONN
        if backend == "kqueue":
            # kqueue hands the errno up with the event (EV_EOF + fflags), as mio
            # does: where reporting consumed SO_ERROR, this is where it survives.
            assert errno.ECONNREFUSED in [e.error() for e in seen if e.token == Token(4)]
        poll.registry.deregister(sock)


# -- errors --------------------------------------------------------------------------


def test_register_a_closed_fd_is_ebadf_naming_the_fd(poll: Poll) -> None:
    fd = closed_fd()
    with pytest.raises(OSError, match=rf"\bfd {fd}\b") as info:
        poll.registry.register(fd, Token(1), Interest.READABLE)
    assert info.value.errno == errno.EBADF


def test_register_a_closed_socket_is_ebadf(poll: Poll) -> None:
    sock = socket.socket()
    sock.close()  # its fileno() is now -1
    with pytest.raises(OSError, match=r"\bfd -1\b") as info:
        poll.registry.register(sock, Token(1), Interest.READABLE)
    assert info.value.errno == errno.EBADF


@pytest.mark.parametrize("method", ["reregister", "deregister"])
def test_reregister_and_deregister_of_a_closed_fd_name_the_fd(poll: Poll, method: str) -> None:
    # A closed fd that was never registered: EBADF (epoll asks the kernel) and
    # NotRegisteredError (a backend that keeps its own table) are both true.
    fd = closed_fd()
    args = (fd,) if method == "deregister" else (fd, Token(1), Interest.READABLE)
    with pytest.raises(OSError, match=rf"\bfd {fd}\b") as info:
        getattr(poll.registry, method)(*args)
    assert info.value.errno in (errno.EBADF, errno.ENOENT)


def test_register_twice_is_already_registered(poll: Poll) -> None:
    with socket_pair() as (a, _):
        poll.registry.register(a, Token(1), Interest.READABLE)
        with pytest.raises(AlreadyRegisteredError, match=rf"fd {a.fileno()}") as info:
            poll.registry.register(a, Token(2), Interest.WRITABLE)
        assert info.value.fd == a.fileno()
        assert isinstance(info.value, FileExistsError)
        poll.registry.deregister(a)


def test_reregister_of_an_unregistered_fd_is_not_registered(poll: Poll) -> None:
    with socket_pair() as (a, _):
        with pytest.raises(NotRegisteredError, match=rf"fd {a.fileno()}") as info:
            poll.registry.reregister(a, Token(1), Interest.READABLE)
        assert info.value.fd == a.fileno()


def test_deregister_of_an_unregistered_fd_is_not_registered(poll: Poll) -> None:
    with socket_pair() as (a, _):
        with pytest.raises(NotRegisteredError, match=rf"fd {a.fileno()}"):
            poll.registry.deregister(a)
        poll.registry.register(a, Token(1), Interest.READABLE)
        poll.registry.deregister(a)
        with pytest.raises(NotRegisteredError):
            poll.registry.deregister(a)


def test_a_source_must_be_an_fd_or_have_fileno(poll: Poll) -> None:
    with pytest.raises(TypeError, match="fileno"):
        poll.registry.register("not a socket", Token(1), Interest.READABLE)  # type: ignore[arg-type]


def test_one_fd_in_two_polls_is_two_registrations(backend: str, events: Events) -> None:
    with Poll(backend=backend) as p1, Poll(backend=backend) as p2, socket_pair() as (a, b):
        p1.registry.register(a, Token(1), Interest.READABLE)
        p2.registry.register(a, Token(2), Interest.READABLE)
        b.send(b"x")
        expect_events(p1, events, [(Token(1), Interest.READABLE)])
        expect_events(p2, events, [(Token(2), Interest.READABLE)])
        p1.registry.deregister(a)
        p2.registry.deregister(a)


def test_registry_works_from_another_thread(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        t = threading.Thread(target=poll.registry.register, args=(a, Token(8), Interest.READABLE))
        t.start()
        t.join()
        b.send(b"x")
        expect_events(poll, events, [(Token(8), Interest.READABLE)])
        poll.registry.deregister(a)

