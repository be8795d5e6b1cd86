"""The facts the IOCP backend's essay states (``runtime/reactor/_iocp.py``), one test each.

The first group talks to the kernel through ``_windows_cffi`` alone, so a
failure says "Windows (or Wine) does not behave as the essay says", not "our
selector has a bug". The second group shows what the selector does about it.
They run on Windows, and on Linux under Wine (``scripts/test-windows-wine.sh``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from runtime.reactor import Events, Interest, Poll, Token
from runtime.reactor import _windows_cffi as win
from tests.helpers import expect_events, expect_no_events

pytestmark = pytest.mark.skipif(
    sys.platform != "win32",
    reason="IOCP and AFD exist only on Windows (run scripts/test-windows-wine.sh for Wine)",
)

KEY = 7  # the completion key our AFD handle is associated with


class Afd:
    """A completion port with one AFD handle on it, and a reusable buffer."""

    def __init__(self) -> None:
        self.port = win.create_port()
        self.handle = win.open_afd("RuntimeTest")
        win.associate(self.handle, self.port, KEY)
        self.buffer = win.CompletionBuffer(16)
        self.polls: list[win.AfdPoll] = []

    def poll(self, sock: socket.socket, events: int) -> win.AfdPoll:
        request = win.AfdPoll()
        request.submit(self.handle, win.base_socket(sock.fileno()), events, sock.fileno())
        self.polls.append(request)  # the kernel owns it until its packet comes
        return request

    def wait(self, ms: int = 1000) -> list[tuple[int, int]]:
        return self.buffer.wait(self.port, ms)

    def close(self) -> None:
        for request in self.polls:
            win.cancel_io(self.handle, request.address)
        while self.wait(50):
            pass
        win.close_handle(self.handle)
        win.close_handle(self.port)


@pytest.fixture
def afd() -> Iterator[Afd]:
    a = Afd()
    yield a
    a.close()


@contextlib.contextmanager
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()  # TCP over loopback on Windows
    with a, b:
        a.setblocking(False)
        b.setblocking(False)
        yield a, b


# -- what the kernel does -----------------------------------------------------------


def test_an_afd_poll_completes_once_then_is_silent(afd: Afd) -> None:
    with pair() as (a, b):
        request = afd.poll(a, win.AFD_POLL_RECEIVE)
        b.send(b"x")
        assert afd.wait() == [(KEY, request.address)]
        assert request.events & win.AFD_POLL_RECEIVE
        b.send(b"more")
        assert afd.wait(200) == []  # no poll outstanding: nothing, however much arrives


def test_an_afd_poll_on_unread_data_completes_at_once(afd: Afd) -> None:
    with pair() as (a, b):
        b.send(b"x")
        for _ in range(3):  # level, not edge: the unread byte fires every new poll
            request = afd.poll(a, win.AFD_POLL_RECEIVE)
            assert afd.wait(1000) == [(KEY, request.address)]
            assert request.events & win.AFD_POLL_RECEIVE


def test_the_packet_carries_the_request_address_and_the_afd_key(afd: Afd) -> None:
    with pair() as (a, b), pair() as (c, d):
        first = afd.poll(a, win.AFD_POLL_RECEIVE)
        second = afd.poll(c, win.AFD_POLL_RECEIVE)
        d.send(b"x")
        assert afd.wait() == [(KEY, second.address)]
        b.send(b"x")
        assert afd.wait() == [(KEY, first.address)]


def test_a_cancelled_poll_still_delivers_a_packet(afd: Afd) -> None:
    with pair() as (a, _):
        request = afd.poll(a, win.AFD_POLL_RECEIVE)
        assert win.cancel_io(afd.handle, request.address)
        assert afd.wait() == [(KEY, request.address)]
        assert request.status == win.STATUS_CANCELLED
        # Once its packet is out, there is nothing left to cancel.
        assert not win.cancel_io(afd.handle, request.address)


def test_closing_a_socket_completes_its_poll_with_local_close(afd: Afd) -> None:
    a, b = socket.socketpair()
    with b:
        request = afd.poll(a, win.AFD_POLL_RECEIVE)  # LOCAL_CLOSE not even asked for
        a.close()
        assert afd.wait() == [(KEY, request.address)]
        assert request.events & win.AFD_POLL_LOCAL_CLOSE


def test_refused_connect_reports_connect_fail(afd: Afd) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        address = listener.getsockname()  # bound, never listening: refused
        with socket.socket() as sock:
            sock.setblocking(False)
            err = sock.connect_ex(address)
            assert err in (0, errno.EWOULDBLOCK, errno.EINPROGRESS, errno.ECONNREFUSED)
            request = afd.poll(sock, win.AFD_POLL_SEND | win.AFD_POLL_CONNECT_FAIL)
            assert afd.wait(5000) == [(KEY, request.address)]
            assert request.events & win.AFD_POLL_CONNECT_FAIL


def test_peer_shutdown_reports_disconnect(afd: Afd) -> None:
    with pair() as (a, b):
        request = afd.poll(a, win.AFD_POLL_DISCONNECT)
        b.shutdown(socket.SHUT_WR)
        assert afd.wait() == [(KEY, request.address)]
        assert request.events & win.AFD_POLL_DISCONNECT


def test_posted_packets_are_not_coalesced(afd: Afd) -> None:
    for _ in range(3):
        win.post(afd.port, 99)
    assert afd.wait(0) == [(99, 0)] * 3


def test_more_packets_than_the_buffer_arrive_over_several_waits(afd: Afd) -> None:
    small = win.CompletionBuffer(2)
    for i in range(5):
        win.post(afd.port, 100 + i)
    got = [small.wait(afd.port, 0) for _ in range(4)]
    assert [len(g) for g in got] == [2, 2, 1, 0]
    assert [key for batch in got for key, _ in batch] == [100, 101, 102, 103, 104]


# -- what the selector does about it ------------------------------------------------


def test_a_reported_class_is_masked_until_rearm(poll: Poll, events: Events) -> None:
    with pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        b.send(b"x")
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        b.send(b"y")  # a new arrival, but READABLE stays masked until a rearm
        expect_no_events(poll, events)
        assert a.recv(16) == b"xy"
        with pytest.raises(BlockingIOError):
            a.recv(16)
        poll.registry._selector.rearm(a.fileno())  # type: ignore[attr-defined]
        expect_no_events(poll, events)  # armed, and nothing to read
        b.send(b"z")
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        poll.registry.deregister(a)


def test_rearm_after_would_block_gives_one_event_per_arrival(poll: Poll, events: Events) -> None:
    # The io layer's loop on Windows: read until BlockingIOError, rearm, wait.
    with pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        for i in range(20):
            b.send(b"%d" % i)
            expect_events(poll, events, [(Token(1), Interest.READABLE)])
            assert a.recv(16) == b"%d" % i
            with pytest.raises(BlockingIOError):
                a.recv(16)
            poll.registry._selector.rearm(a.fileno())  # type: ignore[attr-defined]
            expect_no_events(poll, events, 0.02)
        poll.registry.deregister(a)


def test_reregister_rearms_as_in_mio(poll: Poll, events: Events) -> None:
    with pair() as (a, b):
        poll.registry.register(a, Token(1), Interest.READABLE)
        b.send(b"x")
        expect_events(poll, events, [(Token(1), Interest.READABLE)])
        poll.registry.reregister(a, Token(2), Interest.READABLE)
        expect_events(poll, events, [(Token(2), Interest.READABLE)])  # the byte is still there
        poll.registry.deregister(a)


def test_writable_is_reported_once_then_masked(poll: Poll, events: Events) -> None:
    with pair() as (a, _):
        poll.registry.register(a, Token(3), Interest.WRITABLE)
        expect_events(poll, events, [(Token(3), Interest.WRITABLE)])
        expect_no_events(poll, events)  # still writable, but that edge was reported
        poll.registry.deregister(a)


def test_closing_without_deregister_drops_the_registration(poll: Poll, events: Events) -> None:
    a, b = socket.socketpair()
    with b:
        fd = a.fileno()
        poll.registry.register(a, Token(1), Interest.READABLE)
        a.close()
        expect_no_events(poll, events, 0.2)  # the LOCAL_CLOSE packet is absorbed
        with pytest.raises(FileNotFoundError):
            poll.registry.deregister(fd)


def test_one_socket_in_two_selectors_is_two_registrations(events: Events) -> None:
    with Poll() as p1, Poll() as p2, pair() as (a, b):
        p1.registry.register(a, Token(1), Interest.READABLE)
        p2.registry.register(a, Token(2), Interest.READABLE)
        b.send(b"x")
        expect_events(p1, events, [(Token(1), Interest.READABLE)])
        expect_events(p2, events, [(Token(2), Interest.READABLE)])
        p1.registry.deregister(a)
        p2.registry.deregister(a)


def test_only_sockets_can_be_registered(poll: Poll) -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as info:
            poll.registry.register(r, Token(1), Interest.READABLE)
        assert info.value.errno == errno.EBADF
        assert f"fd {r}" in str(info.value)
    finally:
        os.close(r)
        os.close(w)


def test_many_wakes_before_a_poll_are_one_event(poll: Poll, events: Events) -> None:
    from runtime.reactor import Waker

    with Waker(poll.registry, Token(9)) as waker:
        for _ in range(10):
            waker.wake()
        assert poll.poll(events, 1.0) == 1
        expect_no_events(poll, events)


def test_a_socket_group_shares_one_afd_handle(poll: Poll) -> None:
    from runtime.reactor import _iocp

    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(pair())[0] for _ in range(_iocp.GROUP_SIZE + 1)]
        for i, s in enumerate(socks):
            poll.registry.register(s, Token(i), Interest.READABLE)
        groups = poll.registry._selector._groups  # type: ignore[attr-defined]
        assert [g.size for g in groups] == [_iocp.GROUP_SIZE, 1]
        for s in socks:
            poll.registry.deregister(s)


def test_a_signal_wakes_a_blocking_poll_through_set_wakeup_fd(poll: Poll, events: Events) -> None:
    # No EINTR on Windows: a signal handler runs only once the wait returns.
    # signal.set_wakeup_fd takes a socket there, and the byte Python's C handler
    # writes into it makes the wait return, as a self-pipe does on Unix.
    import signal
    import threading

    seen: list[int] = []
    with pair() as (r, w):
        poll.registry.register(r, Token(5), Interest.READABLE)
        old_handler = signal.signal(signal.SIGINT, lambda signum, _: seen.append(signum))
        old_fd = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        try:
            timer = threading.Timer(0.1, signal.raise_signal, (signal.SIGINT,))
            timer.start()
            assert poll.poll(events, 5.0) == 1
            assert [e.token for e in events] == [Token(5)]
            timer.join()
        finally:
            signal.set_wakeup_fd(old_fd)
            signal.signal(signal.SIGINT, old_handler)
        assert seen == [signal.SIGINT]
        poll.registry.deregister(r)
