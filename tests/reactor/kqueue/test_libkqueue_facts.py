"""The kqueue facts of `runtime/reactor/_kqueue.py`'s essay that hold on libkqueue
alone: how libkqueue 2.3.1, the emulation these tests run on under Linux,
differs from a kernel's kqueue (facts 10-21). Skipped on a real kqueue (and
where the backend was not built); what any kqueue shows is in
``test_kqueue_facts.py``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import struct
import time

import pytest

from runtime.reactor import (
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
    refused_address,
    socket_error,
    socket_pair,
    tcp_pair,
)
from tests.helpers.kqueue import (
    HAVE_KQUEUE,
    kevent,
    needs_kqueue,
    on_libkqueue,
)

if HAVE_KQUEUE:
    from runtime.reactor import _kqueue as K


# ---------------------------------------------------------------------------
# What differs on libkqueue 2.3.1 (kqueue emulated over epoll on Linux)
# ---------------------------------------------------------------------------

# 10 (libkqueue). No EV_RECEIPT, and a change can dequeue real events.


@needs_kqueue
@on_libkqueue
def test_libkqueue_gives_no_receipts(kq: int) -> None:
    with socket_pair() as (a, _):
        change = (a.fileno(), K.EVFILT_READ, K.EV_ADD | K.EV_CLEAR | K.EV_RECEIPT, 0, 1)
        n, _, got = kevent(kq, [change], nevents=1)
        # A kernel returns one entry with EV_ERROR set and data 0.
        assert (n, got) == (0, [])
        assert kevent(kq, [(a.fileno(), K.EVFILT_READ, K.EV_DELETE, 0, 0)])[0] == 0


@needs_kqueue
@on_libkqueue
def test_libkqueue_a_change_with_an_eventlist_can_dequeue_real_events(kq: int) -> None:
    with socket_pair() as (a, _):
        change = (a.fileno(), K.EVFILT_WRITE, K.EV_ADD | K.EV_CLEAR | K.EV_RECEIPT, 0, 5)
        n, _, got = kevent(kq, [change], nevents=4)
        # Not a receipt: the write readiness itself, now gone from the queue.
        assert n == 1 and not got[0].flags & K.EV_ERROR and got[0].udata == 5
        assert kevent(kq, [], nevents=4)[0] == 0
        assert kevent(kq, [(a.fileno(), K.EVFILT_WRITE, K.EV_DELETE, 0, 0)])[0] == 0


# 11 (libkqueue). No EBADF for a bad fd.


@needs_kqueue
@on_libkqueue
def test_libkqueue_adds_a_bad_fd_without_ebadf(kq: int) -> None:
    fd = closed_fd()
    n, err, _ = kevent(kq, [(fd, K.EVFILT_READ, K.EV_ADD, 0, 0)])
    assert n == -1 and err != errno.EBADF  # a kernel says EBADF
    n, _, got = kevent(kq, [(fd, K.EVFILT_READ, K.EV_ADD | K.EV_RECEIPT, 0, 0)],
                       nevents=4)
    assert (n, got) == (0, [])  # and with an eventlist: no EV_ERROR entry at all


# 12 (libkqueue). A filter outlives its fd's close and blocks EV_ADD until deleted.


@needs_kqueue
@on_libkqueue
def test_libkqueue_stale_filter_blocks_add_after_reuse_until_deleted(kq: int) -> None:
    r, w = os.pipe()
    n, _, _ = kevent(kq, [(r, K.EVFILT_READ, K.EV_ADD | K.EV_CLEAR, 0, 1)])
    assert n == 0
    os.close(r)  # no EV_DELETE: a kernel drops the filter here, libkqueue keeps it
    r2, w2 = os.pipe()
    try:
        assert r2 == r
        add = (r2, K.EVFILT_READ, K.EV_ADD | K.EV_CLEAR, 0, 2)
        assert kevent(kq, [add])[0] == -1
        assert kevent(kq, [add])[0] == -1  # and again: it does not heal by itself
        n, err, _ = kevent(kq, [(r2, K.EVFILT_READ, K.EV_DELETE, 0, 0)])
        assert (n, err) == (-1, errno.ENOENT)  # "not there", yet this clears it
        assert kevent(kq, [add])[0] == 0
        os.write(w2, b"x")
        n, _, got = kevent(kq, [], nevents=4, timeout=1.0)
        assert n == 1 and got[0].udata == 2
        assert kevent(kq, [(r2, K.EVFILT_READ, K.EV_DELETE, 0, 0)])[0] == 0
    finally:
        for fd in (w, r2, w2):
            os.close(fd)


# 13 (libkqueue). One fd cannot carry a read and a write filter.


@needs_kqueue
@on_libkqueue
def test_libkqueue_refuses_a_second_filter_on_one_fd(kq: int) -> None:
    with socket_pair() as (a, _):
        fd = a.fileno()
        assert kevent(kq, [(fd, K.EVFILT_READ, K.EV_ADD | K.EV_CLEAR, 0, 1)])[0] == 0
        # Each filter is its own epoll_ctl(ADD) of the fd: EEXIST inside, -1 out.
        assert kevent(kq, [(fd, K.EVFILT_WRITE, K.EV_ADD | K.EV_CLEAR, 0, 1)])[0] == -1
        wfd = os.dup(fd)  # a dup is another (file, fd) key to epoll: accepted
        try:
            assert kevent(kq, [(wfd, K.EVFILT_WRITE, K.EV_ADD | K.EV_CLEAR, 0, 1)])[0] == 0
            assert kevent(kq, [(wfd, K.EVFILT_WRITE, K.EV_DELETE, 0, 0)])[0] == 0
        finally:
            os.close(wfd)
        assert kevent(kq, [(fd, K.EVFILT_READ, K.EV_DELETE, 0, 0)])[0] == 0


# 14 (libkqueue). A filter cannot be modified in place.


@needs_kqueue
@on_libkqueue
def test_libkqueue_cannot_modify_a_filter_in_place(kq: int) -> None:
    with socket_pair() as (a, _):
        fd = a.fileno()
        assert kevent(kq, [(fd, K.EVFILT_READ, K.EV_ADD | K.EV_CLEAR, 0, 1)])[0] == 0
        # A kernel takes this as "replace the udata"; libkqueue fails it.
        assert kevent(kq, [(fd, K.EVFILT_READ, K.EV_ADD | K.EV_CLEAR, 0, 2)])[0] == -1
        assert kevent(kq, [(fd, K.EVFILT_READ, K.EV_DELETE, 0, 0)])[0] == 0


# 15 (libkqueue). Some kinds of file cannot be watched.


@needs_kqueue
@on_libkqueue
@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="no os.eventfd")
def test_libkqueue_cannot_watch_an_eventfd(poll: Poll) -> None:
    fd = os.eventfd(0, os.EFD_NONBLOCK)
    try:
        for interest in (Interest.READABLE, Interest.READABLE | Interest.WRITABLE):
            with pytest.raises(OSError) as info:
                poll.registry.register(fd, Token(1), interest)
            assert info.value.errno == errno.EINVAL and "libkqueue" in str(info.value)
        with pytest.raises(NotRegisteredError):  # nothing was left half-registered
            poll.registry.deregister(fd)
    finally:
        os.close(fd)


# 16 (libkqueue). The kqueue fd never polls readable.


@needs_kqueue
@on_libkqueue
def test_libkqueue_kqueue_fd_never_polls_readable(poll: Poll, events: Events) -> None:
    with Waker(poll.registry, Token(9)) as waker:
        waker.wake()
        # A kernel's kqueue fd is readable while events are pending, so it can
        # be nested in another queue; libkqueue's is an idle pipe end.
        assert select.select([poll.fileno()], [], [], 0.05)[0] == []
        assert poll.poll(events, 1.0) == 1


# 17 (libkqueue). Reporting an error consumes the socket's SO_ERROR.


@needs_kqueue
@on_libkqueue
def test_libkqueue_consumes_the_sockets_pending_error(poll: Poll, events: Events) -> None:
    with refused_address() as address, socket.socket() as sock:
        connect_nonblocking(sock, address)
        poll.registry.register(sock, Token(1), Interest.READABLE | Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Event.is_error)])
        # libkqueue read SO_ERROR (which clears it) to fill fflags; on a
        # kernel it would still say ECONNREFUSED. The failure still shows:
        assert socket_error(sock) == 0
        with pytest.raises(OSError) as info:
            sock.getpeername()
        assert info.value.errno == errno.ENOTCONN
        poll.registry.deregister(sock)


@needs_kqueue
@on_libkqueue
def test_libkqueue_a_reset_reads_as_eof_once_reported(poll: Poll, events: Events) -> None:
    with tcp_pair() as (client, server):
        client.setblocking(False)
        poll.registry.register(client, Token(1), Interest.READABLE | Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()  # an RST
        expect_events(poll, events, [(Token(1), Event.is_error)])
        # The errno went out in the event's fflags; the socket kept nothing,
        # so the read a kernel answers with ECONNRESET says EOF.
        assert socket_error(client) == 0
        assert client.recv(16) == b""
        poll.registry.deregister(client)


# 18 (libkqueue). A pipe whose reader is gone is writable, without EV_EOF.


@needs_kqueue
@on_libkqueue
def test_libkqueue_pipe_reader_gone_is_writable_without_eof(
    poll: Poll, events: Events
) -> None:
    r, w = os.pipe()
    try:
        os.set_blocking(w, False)
        poll.registry.register(w, Token(1), Interest.WRITABLE)
        expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        os.close(r)
        r = -1
        (event,) = expect_events(poll, events, [(Token(1), Interest.WRITABLE)])
        assert not event.is_write_closed()  # a kernel sets EV_EOF here
        with pytest.raises(BrokenPipeError):
            os.write(w, b"x")
        poll.registry.deregister(w)
    finally:
        os.close(w)
        if r >= 0:
            os.close(r)


# 19 (libkqueue). Timeouts are whole milliseconds, rounded down: see fact 6's
# test_poll_never_returns_before_its_timeout, which fails without our rounding up.

# 20 (libkqueue). The 32-byte struct kevent; udata is a full pointer.


@needs_kqueue
@on_libkqueue
def test_libkqueue_struct_kevent_is_the_32_byte_layout_with_a_pointer_udata() -> None:
    assert K.KEVENT_SIZE == 32
    assert K.UDATA_SIZE == 8  # a 64-bit token fits in udata


@needs_kqueue
def test_a_64_bit_token_round_trips_through_udata(poll: Poll, events: Events) -> None:
    token = Token(2**64 - 2)
    with socket_pair() as (a, b):
        poll.registry.register(a, token, Interest.READABLE)
        b.send(b"x")
        expect_events(poll, events, [(token, Interest.READABLE)])
        poll.registry.deregister(a)


# 21 (libkqueue). Closing the kqueue frees it later, in libkqueue's monitor thread.


def _pipe_read_end(write_end: int) -> tuple[int, int]:
    ino = os.fstat(write_end).st_ino
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if int(name) != write_end and os.readlink(f"/proc/self/fd/{name}") == f"pipe:[{ino}]":
                return int(name), ino
    raise AssertionError(f"no other end of the pipe behind kqueue fd {write_end}")


def _names_pipe(fd: int, ino: int) -> bool:
    try:
        return os.fstat(fd).st_ino == ino
    except OSError:
        return False


@needs_kqueue
@on_libkqueue
def test_libkqueue_frees_a_closed_kqueue_in_its_monitor_thread() -> None:
    still_open_after_close = 0
    for _ in range(20):
        kq = K.raw_kqueue()
        read_end, ino = _pipe_read_end(kq)  # the kqueue fd is a pipe's other end
        os.close(kq)
        still_open_after_close += _names_pipe(read_end, ino)
        # Nobody calls libkqueue again, yet the read end goes: its thread frees it.
        deadline = time.perf_counter() + 2.0
        while _names_pipe(read_end, ino):
            assert time.perf_counter() < deadline, "libkqueue never freed the closed kqueue"
            time.sleep(0.001)
    assert still_open_after_close > 0


@needs_kqueue
def test_poll_close_gives_back_every_fd_before_it_returns() -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    with socket_pair() as (a, b):
        fds_with_pair = set(os.listdir("/proc/self/fd"))
        poll = Poll(backend="kqueue")
        waker = Waker(poll.registry, Token(9))
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        b.send(b"x")
        poll.poll(Events(), 0.1)
        poll.registry.deregister(a)
        waker.close()
        poll.close()
        assert set(os.listdir("/proc/self/fd")) == fds_with_pair
    assert set(os.listdir("/proc/self/fd")) == fds_before
