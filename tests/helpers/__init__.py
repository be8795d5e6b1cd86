"""Helpers shared by the tests (mio's ``tests/util/mod.rs``), all in this package.

This module: socket, pipe and poll builders for the reactor's tests. Beside it:
`pairs` (connected stream pairs for the io tests), `sidebyside` and
`sidebyside_sync` and `trio_compat` (one scenario under trio and runtime),
`chat_harness` (the chat server as a child process), `limits` (what each
backend cannot do), `backend_limits` and `backend_pass` (skips by backend, and
the suites run again on kqueue and io_uring), `platform_gaps` (Windows marks),
`uring` and `kqueue` (the ring's and libkqueue's raw helpers).

Every builder here is a context manager that closes what it opened, so a test
that fails half-way leaks nothing (the autouse fixture in ``conftest.py``
would notice). Sockets and pipes come back non-blocking: the reactor is
edge-triggered, and a test reads until ``BlockingIOError`` as real code must.
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from runtime.reactor import Event, Events, Interest, Poll, Token

#: What `expect_events` looks for: an `Interest` the event must include, or any
#: predicate on the `Event` (``Event.is_read_closed``, ``Event.is_error`` ...).
Want = Interest | Callable[[Event], bool]


def _matches(event: Event, want: Want) -> bool:
    if isinstance(want, Interest):
        return (
            (not want & Interest.READABLE or event.is_readable())
            and (not want & Interest.WRITABLE or event.is_writable())
            and (not want & Interest.PRIORITY or event.is_priority())
        )
    return want(event)


def expect_events(
    poll: Poll,
    events: Events,
    expected: Sequence[tuple[int, Want]],
    timeout: float = 2.0,
) -> list[Event]:
    """Poll until every ``(token, want)`` in ``expected`` has been seen.

    Returns every event seen on the way (events may be spurious, so extra ones
    are not an error here). Fails the test naming what never came.
    """
    missing = list(expected)
    seen: list[Event] = []
    deadline = time.perf_counter() + timeout
    while missing:
        left = deadline - time.perf_counter()
        if left <= 0:
            pytest.fail(f"no event for {missing} within {timeout}s; saw {seen}")
        poll.poll(events, left)
        for event in events:
            seen.append(event)
            missing = [
                (token, want)
                for token, want in missing
                if not (event.token == token and _matches(event, want))
            ]
    return seen


def expect_no_events(poll: Poll, events: Events, timeout: float = 0.05) -> None:
    """Poll for ``timeout`` seconds and fail if anything at all is reported."""
    n = poll.poll(events, timeout)
    assert n == 0, f"expected no events, got {list(events)}"


def tokens(events: Events) -> list[Token]:
    return [event.token for event in events]


def assert_would_block(op: Callable[[], object]) -> None:
    """``op()`` must raise ``BlockingIOError`` (mio's ``assert_would_block``)."""
    with pytest.raises(BlockingIOError):
        op()


def closed_fd() -> int:
    """A descriptor number that was open a moment ago and is closed now."""
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    return r


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _ipv6_loopback()
#: Loopback hosts, as pytest params; ::1 is skipped on machines without it.
HOSTS = [
    pytest.param("127.0.0.1", id="ipv4"),
    pytest.param("::1", id="ipv6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no ::1")),
]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


@contextlib.contextmanager
def socket_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected, non-blocking ``AF_UNIX`` stream pair."""
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        b.setblocking(False)
        yield a, b


@contextlib.contextmanager
def tcp_pair(host: str = "127.0.0.1") -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected, non-blocking TCP pair on loopback: ``(client, server side)``."""
    family = _family(host)
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        client = socket.socket(family, socket.SOCK_STREAM)
        with client:
            client.connect(listener.getsockname()[:2])
            server, _ = listener.accept()
            with server:
                client.setblocking(False)
                server.setblocking(False)
                yield client, server


@contextlib.contextmanager
def udp_pair(host: str = "127.0.0.1") -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two bound, mutually connected, non-blocking UDP sockets on loopback."""
    family = _family(host)
    a = socket.socket(family, socket.SOCK_DGRAM)
    b = socket.socket(family, socket.SOCK_DGRAM)
    with a, b:
        a.bind((host, 0))
        b.bind((host, 0))
        a.connect(b.getsockname()[:2])
        b.connect(a.getsockname()[:2])
        a.setblocking(False)
        b.setblocking(False)
        yield a, b


@contextlib.contextmanager
def refused_address(host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    """An address where a TCP connect is refused: bound, never listening.

    Holding the port bound for the duration keeps anyone else from taking it.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        yield s.getsockname()[:2]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for servers run as subprocesses)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


@dataclass
class Conduit:
    """A way for bytes to arrive at a registrable ``reader``.

    ``writer`` is the other end (for an eventfd, the same fd). `send` makes
    ``reader`` readable, `drain` reads it until it would block, and
    `close_writer` hangs up (only for stream kinds).
    """

    kind: str
    reader: socket.socket | int
    writer: socket.socket | int
    _send: Callable[[bytes], object]
    _recv: Callable[[], bytes]
    _close_writer: Callable[[], None] | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def send(self, data: bytes = b"x") -> None:
        self._send(data)

    def drain(self) -> bytes:
        """Read until ``BlockingIOError``; the bytes read (eventfd: its counter)."""
        got = bytearray()
        while True:
            try:
                chunk = self._recv()
            except BlockingIOError:
                return bytes(got)
            if not chunk and self.kind not in ("udp-ipv4", "udp-ipv6"):
                return bytes(got)  # EOF
            got += chunk

    def close_writer(self) -> None:
        assert self._close_writer is not None, f"{self.kind} has no peer to close"
        self._close_writer()


@contextlib.contextmanager
def open_conduit(kind: str) -> Iterator[Conduit]:
    """Build a `Conduit` of ``kind`` (one of `CONDUIT_KINDS`); close it after."""
    if kind == "socketpair":
        with socket_pair() as (a, b):
            yield Conduit(kind, a, b, b.send, lambda: a.recv(65536), b.close)
    elif kind in ("tcp-ipv4", "tcp-ipv6"):
        with tcp_pair("127.0.0.1" if kind == "tcp-ipv4" else "::1") as (a, b):
            yield Conduit(kind, a, b, b.send, lambda: a.recv(65536), b.close)
    elif kind in ("udp-ipv4", "udp-ipv6"):
        with udp_pair("127.0.0.1" if kind == "udp-ipv4" else "::1") as (a, b):
            yield Conduit(kind, a, b, b.send, lambda: a.recv(65536))
    elif kind == "pipe":
        r, w = os.pipe()
        open_fds = {r, w}
        try:
            os.set_blocking(r, False)
            os.set_blocking(w, False)

            def close_w() -> None:
                open_fds.discard(w)
                os.close(w)

            yield Conduit(kind, r, w, lambda d: os.write(w, d), lambda: os.read(r, 65536), close_w)
        finally:
            for fd in open_fds:
                _close_fd(fd)
    elif kind == "eventfd":
        fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            yield Conduit(
                kind,
                fd,
                fd,
                lambda d: os.eventfd_write(fd, len(d)),
                lambda: os.eventfd_read(fd).to_bytes(8, "little"),
            )
        finally:
            os.close(fd)
    else:
        raise ValueError(f"unknown conduit kind {kind!r}")


def _kind(name: str) -> object:
    if name.endswith("ipv6"):
        return pytest.param(name, marks=pytest.mark.skipif(not HAS_IPV6, reason="no ::1"))
    if name == "pipe" and sys.platform == "win32":
        return pytest.param(name, marks=pytest.mark.skip(
            reason="AFD polls sockets only: a pipe cannot be registered on Windows"))
    if name == "eventfd" and not hasattr(os, "eventfd"):
        return pytest.param(name, marks=pytest.mark.skip(reason="no os.eventfd"))
    return pytest.param(name)


#: Every kind of source the reactor tests drive, as pytest params.
CONDUIT_KINDS = [
    _kind(k)
    for k in ("socketpair", "pipe", "tcp-ipv4", "tcp-ipv6", "udp-ipv4", "udp-ipv6", "eventfd")
]
#: The kinds with a peer that can hang up.
STREAM_KINDS = [_kind(k) for k in ("socketpair", "pipe", "tcp-ipv4", "tcp-ipv6")]


def socket_error(sock: socket.socket) -> int:
    """The pending ``SO_ERROR`` of ``sock`` (0 if none)."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def connect_nonblocking(sock: socket.socket, address: tuple[str, int]) -> None:
    """Start a non-blocking connect; it completes (or fails) later."""
    sock.setblocking(False)
    err = sock.connect_ex(address)
    # Windows says WSAEWOULDBLOCK where POSIX says EINPROGRESS.
    assert err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK), os.strerror(err)


def connect_loopback(port: int) -> socket.socket:
    """A blocking client socket to 127.0.0.1:``port`` (10 s timeout)."""
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from a blocking socket; fails the test at early EOF."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        assert chunk, f"EOF after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


#: The epoll wait system calls' numbers (``<asm/unistd.h>``), by machine:
#: epoll_wait, epoll_pwait, epoll_pwait2 (aarch64 has no plain epoll_wait).
_EPOLL_WAITS = {"x86_64": {232, 281, 441}, "aarch64": {22, 441}}


def wait_until_in_epoll_wait(thread: threading.Thread, timeout: float = 5.0) -> None:
    """Return once ``thread`` sleeps inside an epoll wait system call.

    Read from ``/proc/self/task/TID/syscall``; where that cannot be read
    (not Linux, another machine), it waits 0.2 s instead.
    """
    calls = _EPOLL_WAITS.get(platform.machine())
    path = f"/proc/self/task/{thread.native_id}/syscall"
    if calls is None or not os.path.exists(path):
        time.sleep(0.2)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            first = f.read().split(maxsplit=1)[0]
        if first.lstrip("-").isdigit() and int(first) in calls:
            return
        time.sleep(0.005)
    raise AssertionError(f"{thread.name} never reached epoll_wait in {timeout} s")
