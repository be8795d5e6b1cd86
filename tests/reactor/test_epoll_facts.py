"""The kernel facts `runtime/reactor/_epoll.py`'s essay relies on, shown on this kernel.

One test per name the essay gives, in the essay's order. These are about
epoll itself (the contract tests in the other files run on every backend), so
they use ``Poll(backend="epoll")`` and are skipped where epoll is not built.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from runtime.reactor import Event, Events, Interest, Poll, Token, available_backends
from tests.helpers import (
    connect_nonblocking,
    expect_events,
    expect_no_events,
    refused_address,
    socket_error,
    socket_pair,
    tokens,
    wait_until_in_epoll_wait,
)

pytestmark = pytest.mark.skipif(
    "epoll" not in available_backends(), reason="the epoll backend is not built here"
)


@pytest.fixture
def poll() -> Iterator[Poll]:
    with Poll(backend="epoll") as p:
        yield p


@pytest.fixture
def events() -> Events:
    return Events()


# 1. epoll watches open file descriptions, not fd numbers.


def watched_fds(poll: Poll) -> list[int]:
    """The fds an epoll instance holds, as the kernel lists them (``tfd:`` lines)."""
    with open(f"/proc/self/fdinfo/{poll.fileno()}") as info:
        return [int(line.split()[1]) for line in info if line.startswith("tfd:")]


def test_closing_a_dup_keeps_the_registration_alive(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        fd = os.dup(a.fileno())
        try:
            poll.registry.register(fd, Token(1), Interest.READABLE)
        finally:
            os.close(fd)  # without deregistering: `a` still holds the description
        assert watched_fds(poll) == [fd]
        b.send(b"x")
        # The fd number is closed, yet its registration still reports.
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        a.close()  # the last fd of the description: now it is gone
        assert watched_fds(poll) == []


def test_closing_the_last_fd_removes_the_registration(poll: Poll) -> None:
    with socket_pair() as (a, _):
        fd = a.fileno()
        poll.registry.register(a, Token(1), Interest.READABLE)
        assert watched_fds(poll) == [fd]
        a.close()  # never deregistered
        assert watched_fds(poll) == []
        with pytest.raises(OSError) as info:
            poll.registry.deregister(fd)
        assert info.value.errno == errno.EBADF


# 2. Edge-triggered reports arrivals, not levels.


def test_edge_triggered_reports_arrivals_not_levels(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        b.send(b"one")
        assert poll.poll(events, 1.0) == 1
        # A level-triggered queue would report the unread bytes again here.
        expect_no_events(poll, events)
        assert a.recv(1) == b"o"  # a partial read is no new arrival either
        expect_no_events(poll, events)
        b.send(b"two")  # an arrival, though `a` never reached EAGAIN
        assert poll.poll(events, 1.0) == 1 and tokens(events) == [Token(1)]
        assert a.recv(100) == b"netwo"
        poll.registry.deregister(a)


# 3. EPOLLRDHUP reports the peer's half-close.


def test_peer_half_close_is_read_closed_only(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        b.shutdown(socket.SHUT_WR)
        (event,) = expect_events(poll, events, [(Token(1), Event.is_read_closed)])
        assert event.is_read_closed() and not event.is_write_closed()
        assert not event.is_error()
        assert a.send(b"still open") == 10  # our write side works
        assert b.recv(100) == b"still open"
        poll.registry.deregister(a)


# 4. EPOLLERR and EPOLLHUP are always reported.


def test_refused_connect_reports_error_without_asking(poll: Poll, events: Events) -> None:
    with refused_address() as address, socket.socket() as sock:
        connect_nonblocking(sock, address)
        # Ask for neither reading nor writing: only PRIORITY (plus our RDHUP).
        poll.registry.register(sock, Token(1), Interest.PRIORITY)
        (event,) = expect_events(poll, events, [(Token(1), Event.is_error)])
        assert event.is_write_closed() and event.is_read_closed()  # EPOLLHUP came too
        assert socket_error(sock) == errno.ECONNREFUSED
        poll.registry.deregister(sock)


# 5. Regular files cannot be registered.


def test_regular_file_is_refused_with_eperm(poll: Poll, tmp_path: os.PathLike[str]) -> None:
    with open(os.path.join(tmp_path, "plain"), "wb") as f:
        with pytest.raises(OSError, match=rf"fd {f.fileno()}") as info:
            poll.registry.register(f, Token(1), Interest.READABLE)
        assert info.value.errno == errno.EPERM


# 6. epoll_wait is never restarted after a signal handler, even with SA_RESTART.


@contextlib.contextmanager
def sigalrm_every(interval: float, ticks: list[float]) -> Iterator[None]:
    """SIGALRM every ``interval`` s to a handler that records when it ran.

    ``siginterrupt(False)`` installs it with ``SA_RESTART``: a syscall the kernel
    restarts would not return to Python, so the handler would run only after
    the wait. pytest-timeout's own SIGALRM handler and timer are put back.
    """
    old_handler = signal.signal(signal.SIGALRM, lambda *_: ticks.append(time.perf_counter()))
    signal.siginterrupt(signal.SIGALRM, False)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, interval, interval)
    start = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay:
            left = max(old_delay - (time.perf_counter() - start), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, old_interval)


@pytest.mark.timeout(10)
def test_poll_retries_after_a_signal_with_the_remaining_timeout(
    poll: Poll, events: Events
) -> None:
    ticks: list[float] = []
    with sigalrm_every(0.02, ticks):
        start = time.perf_counter()
        n = poll.poll(events, 0.25)
        end = time.perf_counter()
    assert n == 0 and end - start >= 0.25
    during = [t for t in ticks if start < t < end]
    # Python handlers run only when the C call has returned: each tick inside
    # the wait is an epoll_wait that failed with EINTR and was waited again,
    # with what was left of the 250 ms (else the poll would outlast it a lot).
    assert len(during) >= 5, ticks
    assert end - start < 0.25 + 0.2


# 7. An eventfd under EPOLLET raises a new event on every write.


def test_eventfd_reports_every_write_without_a_read(poll: Poll, events: Events) -> None:
    fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    try:
        poll.registry.register(fd, Token(1), Interest.READABLE)
        for _ in range(5):
            os.eventfd_write(fd, 1)  # never read back in between
            assert poll.poll(events, 1.0) == 1 and tokens(events) == [Token(1)]
        expect_no_events(poll, events)
        assert os.eventfd_read(fd) == 5
        poll.registry.deregister(fd)
    finally:
        os.close(fd)


# 8. More ready fds than the buffer holds arrive over several polls.


def test_more_ready_than_capacity_arrive_over_several_polls(poll: Poll) -> None:
    events = Events(capacity=3)
    with contextlib.ExitStack() as stack:
        pairs = [stack.enter_context(socket_pair()) for _ in range(10)]
        for i, (a, b) in enumerate(pairs):
            poll.registry.register(a, Token(i), Interest.READABLE)
            b.send(b"x")
        counts, seen = [], []
        while n := poll.poll(events, 0.05):
            counts.append(n)
            seen += tokens(events)
        assert counts == [3, 3, 3, 1]
        assert sorted(seen) == list(range(10))  # each once: nothing lost, nothing twice
        for a, _ in pairs:
            poll.registry.deregister(a)


def test_a_wait_longer_than_epoll_wait_can_take_is_waited_in_slices(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # epoll_wait takes an int of milliseconds: 24.8 days at most. A longer
    # timeout is clamped to that, and select waits again for what is left
    # instead of returning early. Shown with the limit lowered to 100 ms.
    from runtime.reactor import _epoll

    monkeypatch.setattr(_epoll, "_INT_MAX", 100)
    with Poll("epoll") as poll:
        start = time.monotonic()
        assert poll.poll(Events(4), 0.35) == 0
        assert time.monotonic() - start >= 0.35


# 10. Closing an epoll fd does not end a wait on it.


@pytest.mark.timeout(10)
def test_closing_the_epoll_fd_does_not_wake_a_thread_waiting_on_it() -> None:
    # The waiting thread holds the epoll file itself, not the number: close()
    # only drops the number. Shown with the stdlib's binding, not ours (ours
    # adds a ready eventfd before closing, which is the point of this fact).
    import select
    import threading

    ep = select.epoll()
    returned: list[float] = []
    waiter = threading.Thread(target=lambda: (ep.poll(0.6), returned.append(time.monotonic())))
    waiter.start()
    wait_until_in_epoll_wait(waiter)
    closed_at = time.monotonic()
    ep.close()
    waiter.join(5)
    assert not waiter.is_alive()
    # It slept out its own timeout: the close did not cut it short.
    assert returned[0] - closed_at >= 0.4, returned[0] - closed_at
