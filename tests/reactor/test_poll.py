"""`Poll`: waiting, timeouts, signals, scale, and a closed Poll, on every backend."""

from __future__ import annotations

import contextlib
import errno
import math
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from fractions import Fraction

import pytest

from runtime.reactor import (
    Events,
    Interest,
    Poll,
    PollClosedError,
    Token,
    Waker,
    available_backends,
    default_backend,
)
from tests.helpers import expect_events, socket_pair, tokens, wait_until_in_epoll_wait
from tests.helpers.limits import skip_unless_supported
from tests.helpers.platform_gaps import ON_WINDOWS, posix_only

# -- timeouts ------------------------------------------------------------------------


def test_poll_with_timeout_returns_no_events_after_the_timeout(
    poll: Poll, events: Events
) -> None:
    with socket_pair() as (a, _):
        poll.registry.register(a, Token(1), Interest.READABLE)
        start = time.perf_counter()
        n = poll.poll(events, timeout=0.05)
        elapsed = time.perf_counter() - start
        assert n == 0 and len(events) == 0
        assert elapsed >= 0.05, f"returned early, after {elapsed * 1000:.1f} ms"
        assert elapsed < 0.5, f"took {elapsed * 1000:.1f} ms for a 50 ms timeout"
        poll.registry.deregister(a)


@pytest.mark.parametrize("timeout", [0.001, 0.0105, 0.1])
def test_poll_never_returns_before_its_timeout(
    poll: Poll, events: Events, timeout: float
) -> None:
    start = time.perf_counter()
    assert poll.poll(events, timeout) == 0
    assert time.perf_counter() - start >= timeout


# Any zero reaches the backend as the int 0: kqueue's and IOCP's arithmetic
# on a timeout does not take every number type (a Decimal, a complex zero).
@pytest.mark.parametrize("zero", [0, 0.0, -0.0, False, Decimal(0), Fraction(0), 0j],
                         ids=["int", "float", "negative_zero", "False", "Decimal", "Fraction",
                              "complex"])
def test_poll_with_zero_timeout_returns_at_once(poll: Poll, events: Events, zero: object) -> None:
    start = time.perf_counter()
    assert poll.poll(events, zero) == 0  # type: ignore[arg-type]
    assert time.perf_counter() - start < 0.05


def test_poll_with_zero_timeout_still_reports_what_is_ready(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        b.send(b"x")
        deadline = time.perf_counter() + 1.0
        while poll.poll(events, 0) == 0:  # a backend may need a moment to notice
            assert time.perf_counter() < deadline
        assert tokens(events) == [Token(1)]
        poll.registry.deregister(a)


@pytest.mark.timeout(5)
def test_poll_with_no_timeout_blocks_until_an_event(poll: Poll, events: Events) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        timer = threading.Timer(0.05, b.send, args=(b"x",))
        start = time.perf_counter()
        timer.start()
        try:
            n = poll.poll(events, None)
        finally:
            timer.join()
        assert n == 1 and tokens(events) == [Token(1)]
        assert time.perf_counter() - start >= 0.04
        poll.registry.deregister(a)


@pytest.mark.parametrize("timeout", [-1, -0.001, -math.inf, math.nan])
def test_negative_or_nan_timeout_is_a_value_error(
    poll: Poll, events: Events, timeout: float
) -> None:
    with pytest.raises(ValueError, match="timeout"):
        poll.poll(events, timeout)


@pytest.mark.timeout(5)
# 1e306 s times 1000 is an infinite float: it must be clamped, not rounded
# (OverflowError), and then behave as "a very long wait".
@pytest.mark.parametrize("long_wait", [math.inf, 1e306], ids=["infinite", "huge_finite"])
def test_an_infinite_or_huge_timeout_blocks_like_none(
        poll: Poll, events: Events, long_wait: float) -> None:
    waker = Waker(poll.registry, Token(0))
    timer = threading.Timer(0.02, waker.wake)
    timer.start()
    try:
        assert poll.poll(events, long_wait) == 1
    finally:
        timer.join()
        waker.close()


def test_an_fd_too_big_to_exist_is_an_os_error_ebadf(poll: Poll) -> None:
    with pytest.raises(OSError) as info:
        poll.registry.register(2**40, Token(1), Interest.READABLE)
    assert info.value.errno == errno.EBADF
    assert "fd 1099511627776" in str(info.value)


# -- a real signal during a blocking poll ------------------------------------------------


@contextlib.contextmanager
def sigalrm_every(interval: float, handler: Callable[[int, object], None]) -> Iterator[None]:
    """Deliver SIGALRM every ``interval`` seconds to a Python ``handler``.

    pytest-timeout uses SIGALRM and ITIMER_REAL too: its handler and its
    pending timer are put back afterwards.
    """
    old_handler = signal.signal(signal.SIGALRM, handler)
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


@posix_only("SIGALRM and setitimer")
@pytest.mark.timeout(10)
def test_signal_during_a_timed_poll_is_retried_not_raised_nor_early(
    poll: Poll, events: Events
) -> None:
    ticks: list[float] = []
    with sigalrm_every(0.01, lambda *_: ticks.append(time.perf_counter())):
        start = time.perf_counter()
        n = poll.poll(events, 0.3)
        elapsed = time.perf_counter() - start
    assert n == 0
    assert elapsed >= 0.3, f"returned early after {elapsed * 1000:.1f} ms"
    # The handler ran *during* the poll (so the wait was interrupted), many times.
    assert len([t for t in ticks if t < start + elapsed]) >= 5


@posix_only("SIGALRM and setitimer")
@pytest.mark.timeout(10)
def test_signal_during_a_blocking_poll_is_retried(poll: Poll, events: Events) -> None:
    ticks: list[float] = []
    waker = Waker(poll.registry, Token(99))
    timer = threading.Timer(0.2, waker.wake)
    with sigalrm_every(0.01, lambda *_: ticks.append(time.perf_counter())):
        start = time.perf_counter()
        timer.start()
        try:
            n = poll.poll(events, None)
        finally:
            timer.join()
        elapsed = time.perf_counter() - start
    waker.close()
    assert n == 1 and tokens(events) == [Token(99)]
    assert elapsed >= 0.15
    assert len(ticks) >= 5


# -- scale ---------------------------------------------------------------------------------


@contextlib.contextmanager
def nofile_soft_limit(needed: int) -> Iterator[None]:
    """Raise RLIMIT_NOFILE's soft limit to ``needed`` (skip if the hard limit forbids)."""
    if ON_WINDOWS:  # no per-process limit on sockets to raise
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} fds, RLIMIT_NOFILE hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.timeout(30)
def test_one_active_among_10000_registrations_gives_one_event(
    poll: Poll, events: Events
) -> None:
    # 10,000 registered socketpair ends: both ends of 5,000 pairs. (10,000 pairs
    # with one end registered would need 20,000 fds, more than many machines'
    # hard RLIMIT_NOFILE; what is measured is the same: 10,000 registrations.)
    n_pairs = 5_000
    with nofile_soft_limit(2 * n_pairs + 256), contextlib.ExitStack() as stack:
        socks: list[socket.socket] = []
        for _ in range(n_pairs):
            a, b = socket.socketpair()
            stack.enter_context(a)
            stack.enter_context(b)
            socks += (a, b)
        for i, sock in enumerate(socks):
            poll.registry.register(sock, Token(i), Interest.READABLE)
        stack.callback(lambda: [poll.registry.deregister(s) for s in socks])

        assert poll.poll(events, 0) == 0
        active = 7_777  # the peer of socks[7_776]
        socks[active - 1].send(b"x")
        assert poll.poll(events, 1.0) == 1
        assert tokens(events) == [Token(active)]
        assert poll.poll(events, 0) == 0


# -- a closed Poll ------------------------------------------------------------------------


def _closed_poll_calls(poll: Poll, events: Events) -> dict[str, Callable[[], object]]:
    fd = 0  # any fd: the Poll is checked before the fd is
    return {
        "poll": lambda: poll.poll(events, 0),
        "poll-blocking": lambda: poll.poll(events, None),
        "fileno": lambda: poll.fileno(),
        "register": lambda: poll.registry.register(fd, Token(1), Interest.READABLE),
        "reregister": lambda: poll.registry.reregister(fd, Token(1), Interest.READABLE),
        "deregister": lambda: poll.registry.deregister(fd),
        "rearm": lambda: poll.registry.rearm(fd),
        "Waker": lambda: Waker(poll.registry, Token(1)),
    }


CLOSED_POLL_METHODS = list(_closed_poll_calls(None, None))  # type: ignore[arg-type]


@pytest.mark.parametrize("method", CLOSED_POLL_METHODS)
def test_every_method_of_a_closed_poll_raises_poll_closed(
    backend: str, events: Events, method: str
) -> None:
    poll = Poll(backend=backend)
    poll.close()
    with pytest.raises(PollClosedError):
        _closed_poll_calls(poll, events)[method]()


@pytest.mark.timeout(10)
def test_closing_a_poll_wakes_a_thread_blocked_in_it(backend: str, events: Events) -> None:
    # Closing the queue's fd alone would leave epoll's waiter asleep for good
    # (epoll fact 10): poll(None) must end, with PollClosedError.
    poll = Poll(backend=backend)
    outcome: list[BaseException | int] = []

    def wait_forever() -> None:
        try:
            outcome.append(poll.poll(events, None))
        except BaseException as exc:  # reported to the test below
            outcome.append(exc)

    waiter = threading.Thread(target=wait_forever)
    waiter.start()
    if backend != "kqueue":  # libkqueue waits in slices: not always inside epoll_wait
        wait_until_in_epoll_wait(waiter)
    else:
        time.sleep(0.2)
    poll.close()
    waiter.join(5)
    assert not waiter.is_alive(), "poll(None) slept on after close()"
    assert len(outcome) == 1 and isinstance(outcome[0], PollClosedError), outcome


def test_poll_closed_error_is_a_value_error() -> None:
    assert issubclass(PollClosedError, ValueError)


def test_close_is_idempotent_and_the_context_manager_closes(backend: str) -> None:
    with Poll(backend=backend) as poll:
        assert not poll.closed
        assert poll.fileno() >= 0
        assert poll.backend == backend
        assert f"backend={backend}" in repr(poll)
    assert poll.closed
    poll.close()
    assert poll.closed and "closed" in repr(poll)


def test_close_leaves_registered_fds_open(poll: Poll) -> None:
    with socket_pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        poll.close()
        b.send(b"x")
        assert a.recv(1) == b"x"


# -- choosing a backend ----------------------------------------------------------------


def test_the_default_backend_is_the_first_available() -> None:
    assert available_backends()[0] == default_backend()
    with Poll() as poll:
        assert poll.backend == default_backend()


def test_an_unknown_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no-such-queue"):
        Poll(backend="no-such-queue")


def test_a_poll_can_be_nested_in_another(backend: str, events: Events) -> None:
    skip_unless_supported(backend, "nesting")
    with Poll(backend=backend) as outer, Poll(backend=backend) as inner, socket_pair() as (a, b):
        inner.registry.register(a, Token(1), Interest.READABLE)
        outer.registry.register(inner.fileno(), Token(2), Interest.READABLE)
        b.send(b"x")
        expect_events(outer, events, [(Token(2), Interest.READABLE)])
        expect_events(inner, events, [(Token(1), Interest.READABLE)])
        outer.registry.deregister(inner.fileno())
        inner.registry.deregister(a)
