"""The epoll backend: Linux's readiness queue, bound with cffi (API mode).

Some facts about epoll
======================

The names in brackets are the tests in ``tests/reactor/test_epoll_facts.py``
that show each fact on this kernel.

1. **epoll watches open file descriptions, not fd numbers** (epoll(7), Q6).
   Closing one of two fds that share a description (``dup``) leaves the
   registration alive and events keep coming; closing the last one removes it
   silently, and a later ``EPOLL_CTL_DEL`` fails with ``EBADF``.
   [test_closing_a_dup_keeps_the_registration_alive,
   test_closing_the_last_fd_removes_the_registration]
2. **Edge-triggered (``EPOLLET``) reports arrivals, not levels.** One event
   when data arrives; none while it sits unread; a new one when more arrives.
   So a reader that stops before ``EAGAIN`` may never hear about the bytes it
   left behind. [test_edge_triggered_reports_arrivals_not_levels]
3. **``EPOLLRDHUP`` reports the peer's half-close** (``shutdown(SHUT_WR)``)
   while our write side still works. [test_peer_half_close_is_read_closed_only]
4. **``EPOLLERR`` and ``EPOLLHUP`` are always reported**, asked for or not
   (epoll_ctl(2)); a refused connect shows up as ``EPOLLERR|EPOLLHUP|...``.
   [test_refused_connect_reports_error_without_asking]
5. **Regular files cannot be registered**: ``epoll_ctl`` answers ``EPERM``
   (they are always ready, so epoll refuses them).
   [test_regular_file_is_refused_with_eperm]
6. **``epoll_wait`` is never restarted after a signal handler**, even with
   ``SA_RESTART`` (signal(7)): it fails with ``EINTR``.
   [test_poll_retries_after_a_signal_with_the_remaining_timeout]
7. **An eventfd under ``EPOLLET`` raises a new event on every write**, even
   when its counter was never read back, so a `Waker` needs no reset between
   wakes. [test_eventfd_reports_every_write_without_a_read]
8. **When more fds are ready than the buffer holds**, ``epoll_wait`` returns a
   full buffer and the rest on the next call: nothing is lost.
   [test_more_ready_than_capacity_arrive_over_several_polls]
9. **``epoll_wait``'s timeout is an int of milliseconds**: 24.8 days at most.
   A longer wait is clamped to that and, when it runs out with nothing
   ready, taken again for what is left.
   [test_a_wait_longer_than_epoll_wait_can_take_is_waited_in_slices]
10. **Closing an epoll fd does not end a wait on it**: a thread in
    ``epoll_wait`` holds the epoll file, not the number, and sleeps on until
    an event or its timeout. A ready fd added to the set does wake it.
    [test_closing_the_epoll_fd_does_not_wake_a_thread_waiting_on_it,
    test_closing_a_poll_wakes_a_thread_blocked_in_it]

What this means for us
======================

We register each fd once with ``EPOLLET | EPOLLRDHUP`` plus what was asked,
so waiting costs one ``epoll_wait`` and no ``epoll_ctl`` per operation (fact
2 is why callers must read until ``BlockingIOError``). Callers must
``deregister`` before ``close``, or fact 1 bites: a dup'ed fd would keep
reporting under a token nobody owns. ``close`` from another thread while one
waits adds a ready eventfd first (fact 10) and lets the waiter leave, with
`PollClosedError`, before it closes anything. The readiness translation lives in C in
the cffi source (``_build/epoll_build.py``, mio's rules), so a batch of events
crosses into Python as one list of ints.

Sources: epoll(7), epoll_ctl(2), epoll_wait(2), eventfd(2), signal(7); mio
``src/sys/unix/selector/epoll.rs``; trio ``_core/_io_epoll.py``.
"""

from __future__ import annotations

import errno
import math
import os
import threading
import time
import weakref

from ._epoll_cffi import ffi, lib
from ._selector import WaitingThread
from .errors import AlreadyRegisteredError, NotRegisteredError, PollClosedError
from .events import Events
from .interest import Interest

_INT_MAX = 2**31 - 1
_thread_id = threading.get_ident
# Bound once: an attribute of cffi's lib or ffi is a dict lookup per call,
# and select makes these two calls every turn of the run loop.
_epoll_wait = lib.rt_epoll_wait
_unpack = ffi.unpack
#: Every live selector, for the fork hook below.
_SELECTORS: weakref.WeakSet[EpollSelector] = weakref.WeakSet()


def _forget_waiters_after_fork() -> None:
    # A forked child has only the forking thread: a waiter recorded in the
    # parent is not here, and its epoll set is the parent's too (shared
    # across fork), so the child's close must neither wait for it nor add
    # a wake-up eventfd to the parent's set.
    for selector in list(_SELECTORS):
        selector._waiting.thread = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_waiters_after_fork)
_OPS = {lib.EPOLL_CTL_ADD: "ADD", lib.EPOLL_CTL_MOD: "MOD", lib.EPOLL_CTL_DEL: "DEL"}


def _epoll_flags(interest: Interest) -> int:
    flags = lib.EPOLLET | lib.EPOLLRDHUP
    if interest & Interest.READABLE:
        flags |= lib.EPOLLIN
    if interest & Interest.WRITABLE:
        flags |= lib.EPOLLOUT
    if interest & Interest.PRIORITY:
        flags |= lib.EPOLLPRI
    return flags


def _timeout_ms(timeout: float) -> int:
    # Round up: rounding down would wake us before the deadline, and a caller
    # that then polls again with ~0 ms left spins. Clamped first: a huge
    # float times 1000 can be infinity, which has no ceiling. A wait longer
    # than epoll_wait's int of ms (24.8 days) is taken in slices (select).
    if timeout >= _INT_MAX / 1000:
        return _INT_MAX
    return math.ceil(timeout * 1000)


class EpollSelector:
    """One epoll instance. See the module essay for the facts it relies on."""

    name = "epoll"
    needs_rearm = False

    def __init__(self) -> None:
        epfd = lib.epoll_create1(lib.EPOLL_CLOEXEC)
        if epfd < 0:
            err = ffi.errno
            raise OSError(err, f"epoll_create1: {os.strerror(err)}")
        self._epfd = epfd
        self._capacity = 0
        self._buf = ffi.NULL
        self._out = ffi.NULL
        # `close` must wake a thread inside select (fact 10) and see it leave.
        self._waiting = WaitingThread()
        _SELECTORS.add(self)

    def fileno(self) -> int:
        return self._epfd

    def _ctl(self, op: int, fd: int, flags: int, token: int) -> None:
        # epoll_ctl(2) never fails with EINTR: it does not block.
        if lib.rt_epoll_ctl(self._epfd, op, fd, flags, token) == 0:
            return
        err = ffi.errno
        if self._epfd < 0:  # closed by another thread since the caller checked
            raise PollClosedError("this Poll is closed")
        if err == errno.EEXIST:
            raise AlreadyRegisteredError(fd)
        if err == errno.ENOENT:
            raise NotRegisteredError(fd)
        raise OSError(err, f"{os.strerror(err)}: epoll_ctl({_OPS[op]}) of fd {fd}")

    def register(self, fd: int, token: int, interest: Interest) -> None:
        self._ctl(lib.EPOLL_CTL_ADD, fd, _epoll_flags(interest), token)

    def reregister(self, fd: int, token: int, interest: Interest) -> None:
        self._ctl(lib.EPOLL_CTL_MOD, fd, _epoll_flags(interest), token)

    def deregister(self, fd: int) -> None:
        self._ctl(lib.EPOLL_CTL_DEL, fd, 0, 0)

    def rearm(self, fd: int) -> None:
        """Nothing: epoll sees the would-block itself and reports the next edge."""

    def select(self, events: Events, timeout: float | None) -> int:
        capacity = events.capacity
        if capacity > self._capacity:
            self._buf = ffi.new("struct epoll_event[]", capacity)
            self._out = ffi.new("uint64_t[]", 2 * capacity)
            self._capacity = capacity
        if timeout is None:
            ms, deadline = -1, None
        elif timeout == 0:
            ms, deadline = 0, None
        else:
            ms, deadline = _timeout_ms(timeout), time.monotonic() + timeout
        waiting = self._waiting
        waiting.thread = _thread_id()
        try:
            while True:
                n = _epoll_wait(self._epfd, self._buf, capacity, ms, self._out)
                if self._epfd < 0:
                    raise PollClosedError("Poll was closed while a thread waited in poll()")
                if n > 0 or (n == 0 and ms != _INT_MAX):
                    break
                if n == 0:
                    # A slice of a wait longer than epoll_wait can take (fact 9) ran out.
                    assert deadline is not None
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    ms = _timeout_ms(left)
                    continue
                err = ffi.errno
                if err != errno.EINTR:
                    raise OSError(err, f"{os.strerror(err)}: epoll_wait on epoll fd {self._epfd}")
                # Fact 6: a signal handler ran (Python runs its handler as soon
                # as we are back in the interpreter). Wait again for what is left.
                if deadline is not None:
                    ms = _timeout_ms(max(0.0, deadline - time.monotonic()))
        finally:
            waiting.thread = 0
            waiting.exits += 1
        events.raw = _unpack(self._out, 2 * n) if n else []
        return n

    def new_waker(self, token: int) -> EventfdWaker:
        return EventfdWaker(self, token)

    def close(self) -> None:
        if self._epfd < 0:
            return
        fd, self._epfd = self._epfd, -1
        exits = self._waiting.other()
        wake = -1
        try:
            if exits is not None:
                # Fact 10: closing fd alone would leave the waiter asleep. A
                # ready eventfd added to the set wakes it; it sees the Poll
                # closed and leaves. Both fds stay open until it has left: the
                # eventfd, closed sooner, would drop off the ready list before
                # the waiter looked, and the waiter would sleep on.
                wake = lib.eventfd(1, lib.EFD_CLOEXEC | lib.EFD_NONBLOCK)
                if wake < 0:
                    err = ffi.errno
                    raise OSError(err, "eventfd, to wake the thread waiting on a closing Poll: "
                                       f"{os.strerror(err)}")
                if lib.rt_epoll_ctl(fd, lib.EPOLL_CTL_ADD, wake, lib.EPOLLIN, 0) != 0:
                    err = ffi.errno
                    raise OSError(err, f"{os.strerror(err)}: epoll_ctl(ADD) of the wake-up eventfd")
                self._waiting.wait_gone(exits)
        finally:
            # close(2) must not be retried on EINTR: on Linux the fd is gone.
            os.close(fd)
            if wake >= 0:
                os.close(wake)


class EventfdWaker:
    """A `Waker` on Linux: an eventfd registered for reading (fact 7)."""

    __slots__ = ("_fd", "_lock", "_selector")

    _ONE = (1).to_bytes(8, "little")

    def __init__(self, selector: EpollSelector, token: int) -> None:
        fd = lib.eventfd(0, lib.EFD_CLOEXEC | lib.EFD_NONBLOCK)
        if fd < 0:
            err = ffi.errno
            raise OSError(err, f"eventfd: {os.strerror(err)}")
        try:
            selector.register(fd, token, Interest.READABLE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._selector = selector
        # wake() may race close() from another thread; without the lock a
        # write could land in an fd number the process has already reused.
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            if self._fd < 0:
                raise PollClosedError("wake() on a closed Waker")
            try:
                os.write(self._fd, self._ONE)
            except BlockingIOError:
                # The counter is at its maximum (2**64 - 2 unread wakes): the
                # poller will certainly see it; reset it and wake once more.
                os.read(self._fd, 8)
                os.write(self._fd, self._ONE)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                if self._selector.fileno() >= 0:
                    self._selector.deregister(fd)
                os.close(fd)
