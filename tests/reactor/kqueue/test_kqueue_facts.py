"""The kqueue facts of `runtime/reactor/_kqueue.py`'s essay that any kqueue shows.

One test per name the essay gives, in the essay's order: what kqueue itself
promises (facts 1-9), which must hold on a BSD kernel and on libkqueue
alike, and the tests of facts 19 and 22, which hold everywhere too. How
libkqueue 2.3.1 differs from a kernel is in ``test_libkqueue_facts.py``. A
few tests call ``kevent(2)`` raw, through the backend's ``raw_kevent``, to
show the fact under the backend rather than the backend's answer to it.

Where the kqueue backend was not built (no libkqueue on a Linux machine) every
test here is skipped with that reason, except one: under ``CI=true`` it fails,
because CI installs libkqueue and must run them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.reactor import (
    AlreadyRegisteredError,
    Event,
    Events,
    Interest,
    NotRegisteredError,
    Poll,
    Token,
    Waker,
)
from tests.helpers import (
    closed_fd,
    connect_nonblocking,
    expect_events,
    expect_no_events,
    refused_address,
    socket_pair,
    tcp_pair,
)
from tests.helpers.kqueue import (
    HAVE_KQUEUE,
    LIBKQUEUE,
    drain,
    kevent,
    needs_kqueue,
)

if HAVE_KQUEUE:
    from runtime.reactor import _kqueue as K


def test_kqueue_backend_is_built_under_ci() -> None:
    """CI installs libkqueue, so there every test below must run, not skip."""
    if os.environ.get("CI") != "true":
        pytest.skip("only checked under CI=true")
    assert HAVE_KQUEUE, (
        "CI=true but the kqueue backend was not built: the kqueue tests would all "
        "be skipped (did scripts/install-libkqueue.sh run before pip install?)"
    )


# ---------------------------------------------------------------------------
# Facts about kqueue (a BSD kernel and libkqueue alike)
# ---------------------------------------------------------------------------

# 1. Read and write readiness are two filters, reported as two kevents.


@needs_kqueue
def test_read_and_write_filters_are_two_kevents_with_one_udata(kq: int) -> None:
    with socket_pair() as (a, b):
        b.send(b"x")  # a is readable and writable at once
        # On libkqueue the write filter needs its own fd (fact 13).
        wfd = os.dup(a.fileno()) if LIBKQUEUE else a.fileno()
        try:
            for ident, filt in ((a.fileno(), K.EVFILT_READ), (wfd, K.EVFILT_WRITE)):
                n, err, _ = kevent(kq, [(ident, filt, K.EV_ADD | K.EV_CLEAR, 0, 42)])
                assert n == 0, os.strerror(err)
            n, _, got = kevent(kq, [], nevents=8, timeout=1.0)
            assert n == 2
            assert sorted(e.filter for e in got) == sorted([K.EVFILT_READ, K.EVFILT_WRITE])
            assert [e.udata for e in got] == [42, 42]
            n, _, _ = kevent(kq, [(a.fileno(), K.EVFILT_READ, K.EV_DELETE, 0, 0),
                                  (wfd, K.EVFILT_WRITE, K.EV_DELETE, 0, 0)])
            assert n == 0
        finally:
            if wfd != a.fileno():
                os.close(wfd)


@needs_kqueue
def test_read_and_write_kevents_merge_into_one_event(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        b.send(b"x")
        poll.registry.register(a, Token(7), Interest.READABLE | Interest.WRITABLE)
        assert poll.poll(events, 1.0) == 1
        (event,) = events
        assert event.token == Token(7) and event.is_readable() and event.is_writable()
        poll.registry.deregister(a)


@needs_kqueue
def test_a_read_arrival_does_not_report_the_write_filter_again(
    poll: Poll, events: Events
) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        expect_no_events(poll, events)
        b.send(b"x")
        assert poll.poll(events, 1.0) == 1
        (event,) = events
        # epoll reports EPOLLIN|EPOLLOUT here (one mask per fd); kqueue's write
        # filter saw no change, so only the read filter fires.
        assert event.is_readable() and not event.is_writable()
        poll.registry.deregister(a)


# 2. EV_CLEAR: edge-triggered, arrivals not levels.


@needs_kqueue
def test_ev_clear_reports_arrivals_not_levels(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        b.send(b"one")
        assert poll.poll(events, 1.0) == 1
        expect_no_events(poll, events)  # the bytes sit unread: no new event
        assert a.recv(1) == b"o"
        expect_no_events(poll, events)
        b.send(b"two")  # an arrival, though `a` never reached EAGAIN
        assert poll.poll(events, 1.0) == 1
        assert a.recv(100) == b"netwo"
        poll.registry.deregister(a)


# 3. Filters belong to fd numbers; close() takes them away.


@needs_kqueue
def test_closing_without_deregister_then_reusing_the_number_registers_afresh(
    poll: Poll, events: Events
) -> None:
    with socket_pair() as (a, b), socket_pair() as (c, d):
        fd = a.fileno()
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        a.close()  # never deregistered
        b.close()
        # The number is free again: the next socket takes it.
        e, f = socket.socketpair()
        with e, f:
            assert e.fileno() == fd or f.fileno() == fd
            new = e if e.fileno() == fd else f
            peer = f if new is e else e
            poll.registry.register(new, Token(2), Interest.READABLE)
            peer.send(b"x")
            seen = expect_events(poll, events, [(Token(2), Interest.READABLE)])
            assert Token(1) not in [ev.token for ev in seen]
            poll.registry.deregister(new)
        del c, d


@needs_kqueue
def test_a_pipe_closed_without_deregister_leaves_its_number_registrable(
    poll: Poll, events: Events
) -> None:
    r, w = os.pipe()
    poll.registry.register(r, Token(1), Interest.READABLE)
    os.close(r)
    os.close(w)
    r2, w2 = os.pipe()
    try:
        assert r2 == r
        poll.registry.register(r2, Token(2), Interest.READABLE)
        os.write(w2, b"x")
        seen = expect_events(poll, events, [(Token(2), Interest.READABLE)])
        assert Token(1) not in [e.token for e in seen]
        poll.registry.deregister(r2)
    finally:
        os.close(r2)
        os.close(w2)


@needs_kqueue
def test_deregister_after_close_is_ebadf_and_forgets_the_fd(poll: Poll) -> None:
    with socket_pair() as (a, _):
        fd = a.fileno()
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        a.close()
        with pytest.raises(OSError) as info:
            poll.registry.deregister(fd)
        assert info.value.errno == errno.EBADF and f"fd {fd}" in str(info.value)
        with pytest.raises(NotRegisteredError):
            poll.registry.deregister(fd)


# 4. EV_EOF: the peer's half-close, and errors in fflags.


@needs_kqueue
def test_peer_half_close_is_read_closed_only(poll: Poll, events: Events) -> None:
    with tcp_pair() as (client, server):
        poll.registry.register(client, Token(1), Interest.READABLE | Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        server.shutdown(socket.SHUT_WR)
        (event,) = [e for e in expect_events(poll, events, [(Token(1), Event.is_read_closed)])
                    if e.is_read_closed()]
        assert not event.is_write_closed() and not event.is_error()
        client.send(b"still writable")
        poll.registry.deregister(client)


@needs_kqueue
def test_refused_connect_reports_eof_with_the_error(poll: Poll, events: Events) -> None:
    with refused_address() as address, socket.socket() as sock:
        connect_nonblocking(sock, address)
        poll.registry.register(sock, Token(1), Interest.READABLE | Interest.WRITABLE)
        seen = expect_events(poll, events, [(Token(1), Event.is_error)])
        merged = next(e for e in seen if e.is_error())
        assert merged.is_write_closed()
        poll.registry.deregister(sock)


# 5. EVFILT_USER: a waker with no fd.


@needs_kqueue
def test_user_event_triggers_coalesce_into_one_event(poll: Poll, events: Events) -> None:
    with Waker(poll.registry, Token(9)) as waker:
        for _ in range(3):
            waker.wake()
        assert poll.poll(events, 1.0) == 1
        assert [e.token for e in events] == [Token(9)]
        expect_no_events(poll, events)  # EV_CLEAR re-armed it: nothing left
        waker.wake()
        assert poll.poll(events, 1.0) == 1


@needs_kqueue
def test_user_event_wakes_a_blocked_poll_from_another_thread(
    poll: Poll, events: Events
) -> None:
    with Waker(poll.registry, Token(9)) as waker:
        timer = threading.Timer(0.05, waker.wake)
        timer.start()
        start = time.perf_counter()
        try:
            assert poll.poll(events, 5.0) == 1
        finally:
            timer.join()
        assert time.perf_counter() - start < 2.0
        assert [e.token for e in events] == [Token(9)]


@needs_kqueue
def test_user_event_needs_no_fd(poll: Poll) -> None:
    before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    with Waker(poll.registry, Token(9)):
        if before and not LIBKQUEUE:  # libkqueue emulates it with an eventfd
            assert set(os.listdir("/proc/self/fd")) == before


# 6. kevent() fails with EINTR when a signal handler runs; timeouts are timespecs.


@contextlib.contextmanager
def alarm_in(seconds: float) -> Iterator[list[int]]:
    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@needs_kqueue
def test_kevent_fails_with_eintr_when_a_signal_arrives(kq: int) -> None:
    with alarm_in(0.05) as fired:
        n, err, _ = kevent(kq, [], nevents=1, timeout=2.0)
    assert (n, err) == (-1, errno.EINTR) and fired


@needs_kqueue
def test_poll_retries_after_a_signal_with_the_remaining_timeout(
    poll: Poll, events: Events
) -> None:
    start = time.perf_counter()
    with alarm_in(0.05) as fired:
        assert poll.poll(events, 0.3) == 0
    assert fired and time.perf_counter() - start >= 0.3


@needs_kqueue
def test_poll_never_returns_before_its_timeout(poll: Poll, events: Events) -> None:
    for timeout in (0.0015, 0.0104, 0.02):
        start = time.perf_counter()
        assert poll.poll(events, timeout) == 0
        assert time.perf_counter() - start >= timeout


# 7. EV_ADD never answers EEXIST: the typed errors come from our own book.


@needs_kqueue
def test_register_twice_is_already_registered(poll: Poll) -> None:
    with socket_pair() as (a, _):
        poll.registry.register(a, Token(1), Interest.READABLE)
        with pytest.raises(AlreadyRegisteredError):
            poll.registry.register(a, Token(2), Interest.WRITABLE)
        poll.registry.deregister(a)


@needs_kqueue
def test_deregister_and_reregister_of_an_unknown_fd_are_not_registered(poll: Poll) -> None:
    with socket_pair() as (a, _):
        with pytest.raises(NotRegisteredError):
            poll.registry.deregister(a)
        with pytest.raises(NotRegisteredError):
            poll.registry.reregister(a, Token(1), Interest.READABLE)


@needs_kqueue
def test_register_of_a_closed_fd_is_ebadf_naming_the_fd(poll: Poll) -> None:
    fd = closed_fd()
    with pytest.raises(OSError) as info:
        poll.registry.register(fd, Token(1), Interest.READABLE)
    assert info.value.errno == errno.EBADF and f"fd {fd}" in str(info.value)


@needs_kqueue
def test_reregister_moves_the_token_and_the_interest(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        poll.registry.reregister(a, Token(2), Interest.READABLE | Interest.WRITABLE)
        b.send(b"x")
        seen = expect_events(poll, events, [(Token(2), Interest.READABLE),
                                            (Token(2), Interest.WRITABLE)])
        assert Token(1) not in [e.token for e in seen]
        drain(a)
        poll.registry.reregister(a, Token(3), Interest.WRITABLE)
        expect_events(poll, events, [(Token(3), Interest.WRITABLE)])
        b.send(b"y")  # no read filter any more
        expect_no_events(poll, events)
        poll.registry.deregister(a)


@needs_kqueue
def test_registry_calls_from_many_threads_keep_the_book_consistent(
    poll: Poll, events: Events
) -> None:
    errors: list[BaseException] = []

    def churn(pairs: list[tuple[socket.socket, socket.socket]], base: int) -> None:
        try:
            for round_ in range(20):
                for i, (a, _) in enumerate(pairs):
                    token = Token(base + i)
                    poll.registry.register(a, token, Interest.READABLE | Interest.WRITABLE)
                    poll.registry.reregister(a, token, Interest.READABLE)
                    if round_ % 2:
                        with pytest.raises(AlreadyRegisteredError):
                            poll.registry.register(a, token, Interest.READABLE)
                    poll.registry.deregister(a)
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    with contextlib.ExitStack() as stack:
        groups = [[stack.enter_context(socket_pair()) for _ in range(4)] for _ in range(4)]
        threads = [threading.Thread(target=churn, args=(g, 100 * k)) for k, g in enumerate(groups)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            poll.poll(events, 0.01)
        for t in threads:
            t.join()
        assert errors == []
        for group in groups:  # every fd is unregistered again, on both sides
            for a, _ in group:
                with pytest.raises(NotRegisteredError):
                    poll.registry.deregister(a)


# 8. Nothing is lost when more is ready than the buffer holds.


@needs_kqueue
def test_more_ready_than_capacity_arrive_over_several_polls(poll: Poll) -> None:
    with contextlib.ExitStack() as stack:
        pairs = [stack.enter_context(socket_pair()) for _ in range(5)]
        for i, (a, b) in enumerate(pairs):
            poll.registry.register(a, Token(i), Interest.READABLE)
            b.send(b"x")
        small = Events(capacity=2)
        seen: list[Token] = []
        while len(seen) < 5:
            n = poll.poll(small, 1.0)
            assert 1 <= n <= 2
            seen += [e.token for e in small]
        assert sorted(seen) == [Token(i) for i in range(5)]
        for a, _ in pairs:
            poll.registry.deregister(a)


# 9. A regular file can be registered, and is always readable.


@needs_kqueue
def test_regular_file_is_accepted_and_readable(poll: Poll, events: Events,
                                               tmp_path: Any) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as f:
        # epoll refuses this with EPERM; kqueue reports the bytes left to read.
        poll.registry.register(f, Token(1), Interest.READABLE)
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        poll.registry.deregister(f)
