"""The kqueue backend: the BSDs' and macOS's event queue, bound with cffi (API mode).

Some facts about kqueue
=======================

The names in brackets are the tests that show each fact, in
``tests/reactor/kqueue/``: ``test_libkqueue_facts.py`` has the
``test_libkqueue_*`` ones, which hold on libkqueue alone, and
``test_kqueue_facts.py`` every test that must pass on any kqueue. On Linux
they run on libkqueue (below), not on a BSD or macOS kernel; facts 1-9 are
what a kernel's kqueue(2) promises, and the tests check that this backend
keeps them on libkqueue too.

1. **Readiness comes in filters.** A registration (a *knote*) is the pair
   (ident, filter): ``EVFILT_READ`` and ``EVFILT_WRITE`` on one fd are two
   registrations, added and deleted separately, and each reports its own
   kevent carrying its own copy of ``udata`` (our token). epoll has one mask
   per fd; so when a read arrives kqueue reports the read filter alone, where
   epoll reports IN|OUT again.
   [test_read_and_write_filters_are_two_kevents_with_one_udata,
   test_read_and_write_kevents_merge_into_one_event,
   test_a_read_arrival_does_not_report_the_write_filter_again]
2. **``EV_CLEAR`` makes a filter edge-triggered**: its state is reset once
   reported, and the next arrival reports again even with bytes still
   unread (what ``EPOLLET`` does). [test_ev_clear_reports_arrivals_not_levels]
3. **Filters belong to fd numbers, and close() removes them**, even while a
   dup keeps the file open (epoll watches the open file description
   instead). A number closed without ``EV_DELETE`` and reused names a fresh,
   unregistered fd. [test_closing_without_deregister_then_reusing_the_number_registers_afresh,
   test_a_pipe_closed_without_deregister_leaves_its_number_registrable,
   test_deregister_after_close_is_ebadf_and_forgets_the_fd]
4. **``EV_EOF`` says a direction is finished**: on the read filter the peer
   shut its write side (more reads give EOF), on the write filter writing
   can no longer succeed; with it, ``fflags`` carries the socket's pending
   error (a refused connect: ``ECONNREFUSED``).
   [test_peer_half_close_is_read_closed_only, test_refused_connect_reports_eof_with_the_error]
5. **``EVFILT_USER`` is an event with no fd**: added once with ``EV_CLEAR``,
   fired from any thread with ``NOTE_TRIGGER``, re-armed by being reported;
   triggers before a wait coalesce into one event. It is the `Waker`.
   [test_user_event_triggers_coalesce_into_one_event,
   test_user_event_wakes_a_blocked_poll_from_another_thread, test_user_event_needs_no_fd]
6. **``kevent`` fails with ``EINTR`` when a signal handler runs**, and its
   timeout is a ``struct timespec`` (nanoseconds).
   [test_kevent_fails_with_eintr_when_a_signal_arrives,
   test_poll_retries_after_a_signal_with_the_remaining_timeout,
   test_poll_never_returns_before_its_timeout]
7. **A change is never refused as a duplicate.** ``EV_ADD`` of a filter that
   is there modifies it (a new ``udata``, state kept), so kqueue has no
   ``EEXIST``; ``EV_DELETE`` of one that is not there is ``ENOENT``. With
   ``EV_RECEIPT`` on each change, the kernel answers every change in the
   list with its own ``EV_ERROR`` entry (``data`` = 0 or an errno) instead of
   stopping at the first failure, and without dequeuing a real event.
   [test_register_twice_is_already_registered,
   test_deregister_and_reregister_of_an_unknown_fd_are_not_registered,
   test_register_of_a_closed_fd_is_ebadf_naming_the_fd,
   test_reregister_moves_the_token_and_the_interest,
   test_registry_calls_from_many_threads_keep_the_book_consistent]
8. **Nothing is lost when more is ready than the eventlist holds**: the rest
   comes with the next call. [test_more_ready_than_capacity_arrive_over_several_polls]
9. **Regular files can be registered** (epoll refuses them with ``EPERM``):
   ``EVFILT_READ`` reports the bytes left to read. And a kernel's kqueue fd
   is itself readable while events are pending, so queues nest.
   [test_regular_file_is_accepted_and_readable]

What differs on libkqueue
=========================

libkqueue emulates kqueue(2) in user space over epoll; Debian ships 2.3.1
(``scripts/install-libkqueue.sh``), and that is what CI tests on. Measured:

10. **No ``EV_RECEIPT``.** A change that works gets no entry; a failing one
    with room in the eventlist gets none either; and the call goes on to
    return *real* events, which a caller expecting receipts would drop.
    [test_libkqueue_gives_no_receipts,
    test_libkqueue_a_change_with_an_eventlist_can_dequeue_real_events]
11. **No ``EBADF`` for a bad fd**: ``-1`` with a stray errno (``EFAULT``) and
    no eventlist, silence with one. [test_libkqueue_adds_a_bad_fd_without_ebadf]
12. **Filters outlive their fd's close** (epoll underneath watches the file,
    and libkqueue's own table is never told), and a stale one makes every
    ``EV_ADD`` on the reused number fail until an ``EV_DELETE`` (answering
    ``ENOENT``) clears it. [test_libkqueue_stale_filter_blocks_add_after_reuse_until_deleted]
13. **One fd cannot carry both a read and a write filter**: each filter is
    its own ``epoll_ctl(ADD)`` of the fd, and the second gets ``EEXIST``.
    A dup of the fd is another key to epoll and is accepted.
    [test_libkqueue_refuses_a_second_filter_on_one_fd]
14. **A filter cannot be modified in place**: ``EV_ADD`` of one that is
    there fails. [test_libkqueue_cannot_modify_a_filter_in_place]
15. **Some kinds of file cannot be watched**: an eventfd, ``/dev/null``, a
    regular file's write side (a stray errno again).
    [test_libkqueue_cannot_watch_an_eventfd]
16. **The kqueue fd never polls readable** (it is an idle pipe end), so a
    libkqueue `Poll` cannot be nested in another queue.
    [test_libkqueue_kqueue_fd_never_polls_readable]
17. **Reporting a socket error consumes it**: libkqueue reads ``SO_ERROR``
    (which clears it) to fill ``fflags`` of the first filter it reports, so
    a later ``getsockopt`` says 0 and a ``recv`` after a reset returns EOF,
    not ``ECONNRESET``.
    ``getpeername`` still fails with ``ENOTCONN`` after a failed connect.
    [test_libkqueue_consumes_the_sockets_pending_error,
    test_libkqueue_a_reset_reads_as_eof_once_reported]
18. **A pipe whose reader is gone** reports the write filter without
    ``EV_EOF``. [test_libkqueue_pipe_reader_gone_is_writable_without_eof]
19. **Timeouts are whole milliseconds, rounded down** (epoll_wait's unit).
    [test_poll_never_returns_before_its_timeout]
20. ``struct kevent`` is the 32-byte layout (FreeBSD >= 12 has a larger one;
    the header decides, never us), ``udata`` a full pointer.
    [test_libkqueue_struct_kevent_is_the_32_byte_layout_with_a_pointer_udata,
    test_a_64_bit_token_round_trips_through_udata]
21. **Closing the kqueue frees it later.** The kqueue fd is the write end
    of a pipe; libkqueue's monitor thread learns of the close by a signal
    and only then closes the epoll fd and the pipe's read end, most often
    a few milliseconds after ``close()`` returned.
    [test_libkqueue_frees_a_closed_kqueue_in_its_monitor_thread,
    test_poll_close_gives_back_every_fd_before_it_returns]
22. **Filters must not change while another thread waits in kevent().**
    On libkqueue, deleting filters (and closing their fds) from one thread
    while another waits crashed the process (a use-after-free inside
    libkqueue: 3 segfaults in 25 runs of the test below). So on libkqueue
    the wait holds the registry lock, in slices of at most 20 ms, and a
    registering thread gets in between slices. Wakes do not need that lock.
    [test_registry_calls_from_many_threads_keep_the_book_consistent]

What this means for us
======================

Each fd gets ``EV_ADD | EV_CLEAR`` once per wanted filter (fact 1, 2), and
one wait is one ``kevent`` call. The C side (``_build/kqueue_build.py``)
merges the read and write kevents of one token into one (token, readiness)
pair, so a batch looks like epoll's. Since kqueue never says "already
registered" (fact 7), we keep a book of fd -> (filters, which file): it gives
`AlreadyRegisteredError` and `NotRegisteredError`, and (with ``fstat``) the
``EBADF`` a kernel would give. It also notices a number closed without
deregister and reused (fact 3), and cleans up after it where libkqueue needs
it (fact 12). Changes go with ``EV_RECEIPT``, answered one by one, as mio
does; built against libkqueue (its header defines ``LIBKQUEUE``), each change
is instead its own ``kevent`` call with no eventlist (fact 10), and on
libkqueue the write filter sits on a private dup of the fd (fact 13),
``reregister`` deletes and re-adds (fact 14), timeouts are rounded up to
whole milliseconds (fact 19), and `close` waits (at most 2 s) until the
monitor thread has given back the kqueue's fds (fact 21), so a closed `Poll`
leaves nothing open, as on a kernel. The dup is closed by `deregister`: as
the contract asks, deregister before close, or on libkqueue the dup keeps
the file open (the peer sees no EOF) until the number is reused in a
`register` or the `Poll` closes. Fact 17 is undone above us: ``EV_EOF`` with
a non-zero ``fflags`` is reported as an error carrying that errno (mio's
rule), in the readiness word's spare bits (`Event.error`), and the executor
raises it where the read would see EOF or the connect ``ENOTCONN``. A wait interrupted
by a signal is retried with the time left (fact 6). `Interest.PRIORITY` asks
for the read filter: kqueue has no priority filter (mio offers PRIORITY on
Linux only); macOS flags out-of-band data with ``EV_OOBAND``, which we
report as priority.

Sources: kqueue(2) (FreeBSD, macOS); mio ``src/sys/unix/selector/kqueue.rs``
and ``src/sys/unix/waker/kqueue.rs``; libkqueue 2.3.1 (measured, and its
``src/linux/`` filters); trio ``_core/_io_kqueue.py``.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

from ._kqueue_cffi import ffi, lib
from .errors import AlreadyRegisteredError, NotRegisteredError, PollClosedError
from .events import Events
from .interest import Interest

#: True when built against libkqueue (kqueue emulated over epoll on Linux).
LIBKQUEUE = bool(lib.RT_LIBKQUEUE)

_READ, _WRITE, _USER = lib.EVFILT_READ, lib.EVFILT_WRITE, lib.EVFILT_USER
_FILTER_NAMES = {_READ: "EVFILT_READ", _WRITE: "EVFILT_WRITE", _USER: "EVFILT_USER"}
_ADD = lib.EV_ADD | lib.EV_CLEAR
_INT64_MAX = 2**63 - 1
#: EVFILT_USER idents live in their own namespace, apart from fds.
_WAKER_IDENT = 0


def _filters(interest: Interest) -> tuple[int, ...]:
    # kqueue has no priority filter (mio offers PRIORITY on Linux only): out-of-
    # band data wakes EVFILT_READ on the BSDs, so PRIORITY asks for that.
    read = bool(interest & (Interest.READABLE | Interest.PRIORITY))
    write = bool(interest & Interest.WRITABLE)
    return (_READ,) * read + (_WRITE,) * write


#: libkqueue only (fact 22): the longest one wait holds the registry lock.
_SLICE_NS = 20_000_000


def _timeout_ns(timeout: float) -> int:
    # Clamp before converting: 1e300 s * 1e9 is inf, which ceil() refuses.
    return math.ceil(min(timeout * 1e9, _INT64_MAX))


class _Registration:
    """What we registered for one fd: its filters, which file it was, and
    the ident its write filter sits on (the fd, or its dup on libkqueue)."""

    __slots__ = ("file", "filters", "write_ident")

    def __init__(self, filters: tuple[int, ...], file: tuple[int, int], write_ident: int) -> None:
        self.filters = filters
        self.file = file
        self.write_ident = write_ident


class KqueueSelector:
    """One kqueue. See the module essay for the facts it relies on."""

    name = "kqueue"
    needs_rearm = False

    def __init__(self) -> None:
        kq = lib.kqueue()
        if kq < 0:
            err = ffi.errno
            raise OSError(err, f"kqueue: {os.strerror(err)}")
        # A BSD kqueue is not inherited by fork(); keep it out of exec'd
        # children too (kqueue() has no CLOEXEC flag before FreeBSD 14).
        os.set_inheritable(kq, False)
        self._kq = kq
        # fd -> _Registration. kqueue answers neither "already registered"
        # (EV_ADD of a known filter just modifies it) nor, on libkqueue, EBADF
        # (facts 7 and 11), so this book is what gives the contract's typed errors.
        self._fds: dict[int, _Registration] = {}
        # Registry calls may come from any thread: book and kernel change together.
        self._lock = threading.Lock()
        # Fact 21: the file libkqueue frees only after we close the kqueue fd.
        self._freed_later = _libkqueue_pipe_partner(kq) if LIBKQUEUE else None
        self._capacity = 0
        self._buf = ffi.NULL
        self._out = ffi.NULL
        self._table = ffi.NULL

    def fileno(self) -> int:
        return self._kq

    # -- changes ---------------------------------------------------------------

    def _apply(self, changes: list[tuple[int, int, int]], token: int, fflags: int = 0) -> list[int]:
        """Apply (ident, filter, flags) changes; each change's errno (0: done)."""
        if not changes:
            return []
        # Per call: the Waker's thread applies changes without our lock.
        errs = ffi.new("int[]", len(changes))
        n = lib.rt_kevent_ctl(self._kq, len(changes), [c[0] for c in changes],
                              [c[1] for c in changes], [c[2] for c in changes],
                              fflags, token, errs)
        if n < 0:
            err = ffi.errno
            raise OSError(err, f"{os.strerror(err)}: kevent on kqueue fd {self._kq}")
        # -1: the kernel sent no receipt for that change, which only a broken
        # EV_RECEIPT does; say so rather than guess.
        return [errs[i] if errs[i] >= 0 else errno.EIO for i in range(len(changes))]

    @staticmethod
    def _error(err: int, what: str, fd: int) -> OSError:
        if LIBKQUEUE and err in (errno.EFAULT, errno.EIO):
            # Fact 15: libkqueue fails what it cannot watch (eventfd, /dev/null,
            # a regular file's write side) with a stray errno. The fd was
            # checked and we pass no bad pointer: say what a kernel says
            # for a kind of file kqueue cannot watch, EINVAL.
            return OSError(errno.EINVAL, f"{os.strerror(errno.EINVAL)}: kevent({what}) of "
                                         f"fd {fd}: libkqueue cannot watch this kind of file")
        return OSError(err, f"{os.strerror(err)}: kevent({what}) of fd {fd}")

    @staticmethod
    def _file_of(fd: int, what: str) -> tuple[int, int]:
        # Fact 11: libkqueue answers a bad fd with a stray errno or silence, a
        # kernel with EBADF. Ask the fd ourselves, and remember which file it is.
        try:
            st = os.fstat(fd)
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror}: kevent({what}) of fd {fd}") from None
        except (OverflowError, ValueError):
            raise OSError(errno.EBADF, f"{os.strerror(errno.EBADF)}: kevent({what}) "
                                       f"of fd {fd}") from None
        return (st.st_dev, st.st_ino)

    @staticmethod
    def _ident(fd: int, write_ident: int, f: int) -> int:
        return write_ident if f == _WRITE else fd

    def _add(self, fd: int, write_ident: int, filters: tuple[int, ...], token: int) -> list[int]:
        changes = [(self._ident(fd, write_ident, f), f, _ADD) for f in filters]
        errs = self._apply(changes, token)
        if LIBKQUEUE and any(errs):
            # Fact 12: a filter left behind by an fd closed without deregister
            # fails every EV_ADD on the reused number until an EV_DELETE
            # (which itself answers ENOENT) clears it. Clear, then once more.
            retry = [c for c, e in zip(changes, errs, strict=True) if e]
            self._apply([(ident, f, lib.EV_DELETE) for ident, f, _ in retry], 0)
            again = iter(self._apply(retry, token))
            errs = [next(again) if e else e for e in errs]
        return errs

    def _delete(self, fd: int, write_ident: int, filters: tuple[int, ...]) -> list[int]:
        return self._apply([(self._ident(fd, write_ident, f), f, lib.EV_DELETE)
                            for f in filters], 0)

    @staticmethod
    def _new_write_ident(fd: int) -> int:
        # Fact 13: libkqueue 2.3.1 cannot hold a read and a write filter on
        # one fd (each is its own epoll_ctl ADD of that fd: EEXIST). epoll
        # keys its entries by (file, fd number), so a private dup of the fd
        # carries the write filter. A kernel needs no such thing.
        return os.dup(fd) if LIBKQUEUE else fd

    @staticmethod
    def _drop_write_ident(fd: int, write_ident: int) -> None:
        if write_ident >= 0 and write_ident != fd:
            os.close(write_ident)

    def register(self, fd: int, token: int, interest: Interest) -> None:
        with self._lock:
            file = self._file_of(fd, "EV_ADD")
            old = self._fds.get(fd)
            if old is not None:
                if old.file == file:
                    raise AlreadyRegisteredError(fd)
                # The fd was closed without deregister and its number now
                # names another file: a kernel dropped the old filters at the
                # close (fact 3). Forget them, and tell libkqueue (fact 12).
                self._forget(fd, old)
            filters = _filters(interest)
            write_ident = self._new_write_ident(fd) if _WRITE in filters else -1
            errs = self._add(fd, write_ident, filters, token)
            if any(errs):
                # All or nothing, like one epoll_ctl: undo the filters that took.
                self._delete(fd, write_ident,
                             tuple(f for f, e in zip(filters, errs, strict=True) if not e))
                self._drop_write_ident(fd, write_ident)
                f, err = next((f, e) for f, e in zip(filters, errs, strict=True) if e)
                raise self._error(err, f"EV_ADD {_FILTER_NAMES[f]}", fd)
            self._fds[fd] = _Registration(filters, file, write_ident)

    def _forget(self, fd: int, reg: _Registration) -> None:
        del self._fds[fd]
        self._delete(fd, reg.write_ident, reg.filters)
        self._drop_write_ident(fd, reg.write_ident)

    def _registered(self, fd: int, what: str) -> _Registration:
        """The live registration of ``fd``, or the typed error epoll would give."""
        reg = self._fds.get(fd)
        if reg is None:
            raise NotRegisteredError(fd)
        try:
            file = self._file_of(fd, what)
        except OSError:
            # Closed without deregister: a kernel dropped the filters at the
            # close; libkqueue drops its own as the EV_DELETE fails. Then fail
            # like epoll does for a closed fd (EBADF).
            self._forget(fd, reg)
            raise
        if file != reg.file:
            # Closed and the number reused: the registration is gone, which
            # epoll reports as ENOENT.
            self._forget(fd, reg)
            raise NotRegisteredError(fd)
        return reg

    def reregister(self, fd: int, token: int, interest: Interest) -> None:
        with self._lock:
            reg = self._registered(fd, "EV_ADD")
            filters = _filters(interest)
            write_ident = reg.write_ident
            if _WRITE in filters and write_ident < 0:
                write_ident = self._new_write_ident(fd)
            # EV_ADD of a filter already there replaces its udata (the token)
            # and keeps its state; filters no longer wanted are deleted.
            # Fact 14: libkqueue cannot modify a filter in place, so there the
            # kept ones are deleted and added afresh; a re-added filter that
            # is ready reports at once, a spurious event the contract allows.
            kept = tuple(f for f in filters if f in reg.filters) if LIBKQUEUE else ()
            self._delete(fd, write_ident, kept)
            errs = self._add(fd, write_ident, filters, token)
            dropped = tuple(f for f in reg.filters if f not in filters)
            derrs = self._delete(fd, write_ident, dropped)
            live = tuple(f for f, e in zip(filters, errs, strict=True)
                         if not e or (f in reg.filters and f not in kept))
            live += tuple(f for f, e in zip(dropped, derrs, strict=True)
                          if e not in (0, errno.ENOENT))
            if _WRITE not in live:
                self._drop_write_ident(fd, write_ident)
                write_ident = -1
            reg.filters, reg.write_ident = live, write_ident
            for f, err in zip(filters, errs, strict=True):
                if err:
                    raise self._error(err, f"EV_ADD {_FILTER_NAMES[f]}", fd)
            for f, err in zip(dropped, derrs, strict=True):
                if err not in (0, errno.ENOENT):
                    raise self._error(err, f"EV_DELETE {_FILTER_NAMES[f]}", fd)

    def rearm(self, fd: int) -> None:
        """Nothing: EV_CLEAR filters report the next change without being asked."""

    def deregister(self, fd: int) -> None:
        with self._lock:
            reg = self._registered(fd, "EV_DELETE")
            del self._fds[fd]
            derrs = self._delete(fd, reg.write_ident, reg.filters)
            self._drop_write_ident(fd, reg.write_ident)
            for f, err in zip(reg.filters, derrs, strict=True):
                # ENOENT: already gone, which is what we wanted (mio ignores it too).
                if err not in (0, errno.ENOENT):
                    raise self._error(err, f"EV_DELETE {_FILTER_NAMES[f]}", fd)

    # -- waiting ---------------------------------------------------------------

    def select(self, events: Events, timeout: float | None) -> int:
        capacity = events.capacity
        if capacity > self._capacity:
            self._buf = ffi.new("struct kevent[]", capacity)
            self._out = ffi.new("uint64_t[]", 2 * capacity)
            # The merge table: a power of two >= 2 * capacity slots.
            self._table = ffi.new("int32_t[]", 1 << (2 * capacity - 1).bit_length())
            self._capacity = capacity
        if timeout is None:
            ns, deadline = -1, None
        else:
            ns, deadline = _timeout_ns(timeout), time.monotonic() + timeout
        while True:
            if LIBKQUEUE:
                # Fact 22: no filter may change during the wait, so it holds
                # the registry lock, a slice at a time.
                wait_ns = _SLICE_NS if ns < 0 else min(ns, _SLICE_NS)
                with self._lock:
                    n = lib.rt_kevent_wait(self._kq, self._buf, capacity, wait_ns,
                                           self._out, self._table)
                if n == 0 and wait_ns != ns:
                    # A slice ended, not the timeout: let a waiting registry
                    # call take the lock, then wait for what is left.
                    time.sleep(0)
                    if deadline is not None:
                        ns = _timeout_ns(max(0.0, deadline - time.monotonic()))
                    continue
            else:
                n = lib.rt_kevent_wait(self._kq, self._buf, capacity, ns, self._out, self._table)
            if n >= 0:
                break
            # -errno (rt_kevent_wait): ffi.errno could be another call's by now.
            err = -n
            if err != errno.EINTR:
                if self._kq < 0:
                    raise PollClosedError("Poll was closed while a thread waited in poll()")
                raise OSError(err, f"{os.strerror(err)}: kevent wait on kqueue fd {self._kq}")
            # Fact 6: a signal handler ran; wait again for what is left.
            if deadline is not None:
                ns = _timeout_ns(max(0.0, deadline - time.monotonic()))
        events.raw = ffi.unpack(self._out, 2 * n) if n else []
        return n

    def new_waker(self, token: int) -> UserEventWaker:
        return UserEventWaker(self, token)

    def close(self) -> None:
        with self._lock:
            if self._kq >= 0:
                kq, self._kq = self._kq, -1
                for fd, reg in self._fds.items():
                    self._drop_write_ident(fd, reg.write_ident)
                self._fds.clear()
                os.close(kq)
                if self._freed_later is not None:
                    _wait_until_closed(*self._freed_later)


def _libkqueue_pipe_partner(kq: int) -> tuple[int, int] | None:
    """The other end of the pipe whose write end libkqueue gave us as the
    kqueue fd, as (fd, inode); None if it cannot be found."""
    ino = os.fstat(kq).st_ino
    link = f"pipe:[{ino}]"
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError, ValueError):
                if int(name) != kq and os.readlink(f"/proc/self/fd/{name}") == link:
                    return int(name), ino
    return None


def _wait_until_closed(fd: int, ino: int, limit: float = 2.0) -> None:
    """Wait (at most ``limit`` seconds) until ``fd`` no longer names pipe ``ino``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if os.fstat(fd).st_ino != ino:
                return  # closed, and the number already reused
        except OSError:
            return
        time.sleep(0.001)


class UserEventWaker:
    """A `Waker` on kqueue: an ``EVFILT_USER`` event, no fd needed (fact 5)."""

    __slots__ = ("_lock", "_open", "_selector", "_token")

    def __init__(self, selector: KqueueSelector, token: int) -> None:
        (err,) = selector._apply([(_WAKER_IDENT, _USER, _ADD)], token)
        if err:
            raise OSError(err, f"{os.strerror(err)}: kevent(EV_ADD EVFILT_USER) "
                               f"on kqueue fd {selector.fileno()}")
        self._selector = selector
        self._token = token
        self._open = True
        # wake() may race close() from another thread, and close() must not
        # touch a kqueue that Poll.close has already closed.
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            selector = self._selector
            if not self._open or selector.fileno() < 0:
                raise PollClosedError("wake() on a closed Waker")
            # NOTE_TRIGGER fires the event; EV_CLEAR at EV_ADD re-arms it once reported.
            (err,) = selector._apply([(_WAKER_IDENT, _USER, 0)], self._token, lib.NOTE_TRIGGER)
            if err:
                raise OSError(err, f"{os.strerror(err)}: kevent(NOTE_TRIGGER) "
                                   f"on kqueue fd {selector.fileno()}")

    def close(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                if self._selector.fileno() >= 0:
                    self._selector._apply([(_WAKER_IDENT, _USER, lib.EV_DELETE)], 0)


# -- kevent(2) raw -------------------------------------------------------------
# The selector above never needs these. The facts tests use them to show a
# fact underneath the backend (tests/reactor/kqueue/), so no one
# outside this module touches ffi/lib.

EVFILT_READ, EVFILT_WRITE, EVFILT_USER = _READ, _WRITE, _USER
EV_ADD, EV_DELETE, EV_CLEAR = lib.EV_ADD, lib.EV_DELETE, lib.EV_CLEAR
EV_RECEIPT, EV_EOF, EV_ERROR = lib.EV_RECEIPT, lib.EV_EOF, lib.EV_ERROR
NOTE_TRIGGER = lib.NOTE_TRIGGER
#: sizeof(struct kevent) and sizeof(udata) as the header has them.
KEVENT_SIZE = ffi.sizeof("struct kevent")
UDATA_SIZE = ffi.sizeof("void *")


class Kevent(NamedTuple):
    ident: int
    filter: int
    flags: int
    fflags: int
    data: int
    udata: int


def raw_kqueue() -> int:
    """A bare kqueue fd (close it with ``os.close``)."""
    kq = lib.kqueue()
    if kq < 0:
        err = ffi.errno
        raise OSError(err, f"kqueue: {os.strerror(err)}")
    return int(kq)


def raw_kevent(kq: int, changes: Sequence[tuple[int, int, int, int, int]], nevents: int = 0,
               timeout: float | None = 0.0) -> tuple[int, int, list[Kevent]]:
    """One ``kevent(2)`` call, as is: (return value, errno, the entries written).

    ``changes`` are (ident, filter, flags, fflags, udata); ``nevents`` 0
    passes no eventlist; ``timeout`` None waits without limit.
    """
    ch = ffi.new("struct kevent[]", max(1, len(changes)))
    for k, (ident, filt, flags, fflags, udata) in enumerate(changes):
        ch[k].ident, ch[k].filter, ch[k].flags, ch[k].fflags = ident, filt, flags, fflags
        ch[k].udata = ffi.cast("void *", udata)
    out = ffi.new("struct kevent[]", max(1, nevents))
    ts = ffi.NULL
    if timeout is not None:
        ts = ffi.new("struct timespec *", [int(timeout), int(timeout % 1 * 1e9)])
    ffi.errno = 0
    n = lib.kevent(kq, ch, len(changes), out if nevents else ffi.NULL, nevents, ts)
    err = ffi.errno
    got = [Kevent(e.ident, e.filter, e.flags, e.fflags, e.data,
                  int(ffi.cast("uintptr_t", e.udata))) for e in out[0:max(n, 0)]]
    return n, err, got
