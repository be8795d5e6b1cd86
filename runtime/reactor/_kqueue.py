"""The kqueue backend: the BSDs' and macOS's event queue, bound with cffi (API mode).

ESSAY
"""

from __future__ import annotations

import errno
import math
import os
import threading
import time

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


def _timeout_ns(timeout: float) -> int:
    return min(_INT64_MAX, math.ceil(timeout * 1e9))


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
        # (fact 8), so this book is what gives the contract's typed errors.
        self._fds: dict[int, _Registration] = {}
        # Registry calls may come from any thread: book and kernel change together.
        self._lock = threading.Lock()
        self._errs = ffi.new("int[2]")
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
        errs = self._errs
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
            # Fact 12: libkqueue fails what it cannot watch (eventfd, /dev/null,
            # a regular file's write side) with a stray errno. The fd was
            # checked and we pass no bad pointer: say what a kernel says
            # for a kind of file kqueue cannot watch, EINVAL.
            return OSError(errno.EINVAL, f"{os.strerror(errno.EINVAL)}: kevent({what}) of "
                                         f"fd {fd}: libkqueue cannot watch this kind of file")
        return OSError(err, f"{os.strerror(err)}: kevent({what}) of fd {fd}")

    @staticmethod
    def _file_of(fd: int, what: str) -> tuple[int, int]:
        # Fact 8: libkqueue answers a bad fd with a stray errno or silence, a
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
            # Fact 9: a filter left behind by an fd closed without deregister
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
        # Fact 10: libkqueue 2.3.1 cannot hold a read and a write filter on
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
                # close (fact 3). Forget them, and tell libkqueue (fact 9).
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
            # Fact 11: libkqueue cannot modify a filter in place, so there the
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
            n = lib.rt_kevent_wait(self._kq, self._buf, capacity, ns, self._out, self._table)
            if n >= 0:
                break
            err = ffi.errno
            if err != errno.EINTR:
                if self._kq < 0:
                    raise PollClosedError("Poll was closed while a thread waited in poll()")
                raise OSError(err, f"{os.strerror(err)}: kevent wait on kqueue fd {self._kq}")
            # Fact 6: a signal handler ran; wait again for what is left.
            if deadline is not None:
                ns = _timeout_ns(max(0.0, deadline - time.monotonic()))
        events._fill(ffi.unpack(self._out, 2 * n) if n else [])
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
