"""The IO driver: readiness from the reactor, turned into task wake-ups.

Each fd the executor waits on gets a `ScheduledIo` (tokio's
``scheduled_io.rs``) holding *readiness bits* and at most one reader and one
writer `Waker`. The fd is registered with the reactor once, for both
directions, edge-triggered: no ``epoll_ctl`` per wait.

* An event **sets** readiness bits and wakes the matching waiter.
* An operation that hits ``EAGAIN`` **clears** its direction's bit and waits;
  so does a short read of a byte stream (fewer bytes than asked: the socket
  buffer is empty, and asking again would only return ``EAGAIN``; tokio PR
  #4840), but not of a datagram, which says nothing of the ones behind it.
* Events carry a `Token` packing ``(generation << 32) | slot``. A slot freed
  and reused gets a new generation, so an event still queued for the old fd
  is recognised as stale and dropped.
* `IoDriver.notify_closing` (trio's name) marks the fd closed, wakes its
  waiters (they raise `ClosedResourceError`) and deregisters it: call it
  *before* closing the fd (epoll tracks open file descriptions, and a
  dup'ed fd would keep reporting under a dead token).
* `IoDriver.rearm` tells the reactor a readiness was used up, right before a
  task parks. Only IOCP's emulated edge-triggering needs it
  (``needs_rearm``); on epoll and kqueue the call is skipped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..reactor import Interest, NotRegisteredError, Readiness, Registry, Token
from .task import Waker

#: Readiness bits that let a reader (resp. writer) make progress: data, EOF,
#: or an error it will see when it tries.
READ_READY = Readiness.READABLE | Readiness.READ_CLOSED | Readiness.ERROR
WRITE_READY = Readiness.WRITABLE | Readiness.WRITE_CLOSED | Readiness.ERROR
#: What ``EAGAIN`` proves stale. Closed bits stay: a closed direction never
#: answers ``EAGAIN`` again, and no new edge would come to set them back.
READ_STALE = Readiness.READABLE | Readiness.ERROR
WRITE_STALE = Readiness.WRITABLE | Readiness.ERROR

#: ``readiness`` at or above this carries an errno the reactor reported with
#: an event (kqueue's ``EV_EOF`` + ``fflags``; see `take_error`).
HAS_ERRNO = 1 << Readiness.ERRNO_SHIFT

#: Tokens below this are the runner's own (its Waker, its signal socket).
FIRST_SLOT = 2
_SLOT_MASK = 0xFFFFFFFF


class ScheduledIo:
    """Per-fd readiness and the (at most one each) reader and writer waiting."""

    __slots__ = ("closed", "fd", "reader", "readiness", "token", "writer")

    #: The ``readiness`` bits that let a reader (a writer) make progress, and
    #: those an ``EAGAIN`` proves stale: for callback code that tests them inline.
    READ_READY = READ_READY
    WRITE_READY = WRITE_READY
    READ_STALE = READ_STALE
    WRITE_STALE = WRITE_STALE

    def __init__(self, fd: int, token: int) -> None:
        self.fd = fd
        self.token = token
        self.readiness = 0
        self.reader: Waker | None = None
        self.writer: Waker | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f"<ScheduledIo fd={self.fd} readiness={self.readiness:#x}>"

    # For code that waits by callback (`CallbackWaker`) rather than by task.
    def read_ready(self) -> bool:
        """Has an edge come since the last `clear_read` (or is the read side closed)?"""
        return bool(self.readiness & READ_READY)

    def write_ready(self) -> bool:
        return bool(self.readiness & WRITE_READY)

    def clear_read(self) -> None:
        """A read just hit ``EAGAIN`` (or a short read): wait for the next edge."""
        self.readiness &= ~READ_STALE

    def clear_write(self) -> None:
        self.readiness &= ~WRITE_STALE


def take_error(sio: ScheduledIo) -> int:
    """The errno an event reported for ``sio``, now consumed; 0 if none.

    kqueue hands a socket's pending error up with its ``EV_EOF`` event, and
    on libkqueue reporting it has already cleared ``SO_ERROR``, so without
    this a peer's reset would read as EOF and a refused connect as
    ``ENOTCONN``. Consumed once, as the kernel's ``SO_ERROR`` is.
    """
    err = sio.readiness >> Readiness.ERRNO_SHIFT
    sio.readiness &= HAS_ERRNO - 1
    return err


class IoDriver:
    """fd → `ScheduledIo`, kept in a slab indexed by the token's low 32 bits."""

    __slots__ = ("_by_fd", "_free", "_generations", "_registry", "_slab", "_wake", "needs_rearm",
                 "run_queue")

    def __init__(self, registry: Registry, wake: Callable[[Any], None] = Waker.wake,
                 run_queue: deque[Any] | None = None) -> None:
        self._registry = registry
        # Called with each waiter an event makes ready: the runner passes its
        # same-thread `wake_here` (dispatch never runs on another thread).
        self._wake = wake
        #: The runner's run queue, which dispatch appends the waiters it
        #: wakes to itself (`wake` written out, one call less per event), or
        #: None: call `wake` (the runner sets None while instruments must
        #: hear of every wake).
        self.run_queue = run_queue
        self.needs_rearm = registry.needs_rearm
        self._slab: list[ScheduledIo | None] = [None] * FIRST_SLOT
        self._generations: list[int] = [0] * FIRST_SLOT
        self._free: list[int] = []
        self._by_fd: dict[int, ScheduledIo] = {}

    def __len__(self) -> int:
        return len(self._by_fd)

    def scheduled_io(self, fd: int) -> ScheduledIo:
        """The `ScheduledIo` of ``fd``, registering it on first use."""
        sio = self._by_fd.get(fd)
        if sio is not None:
            return sio
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._slab)
            self._slab.append(None)
            self._generations.append(0)
        token = (self._generations[slot] << 32) | slot
        try:
            self._registry.register(fd, Token(token), Interest.READABLE | Interest.WRITABLE)
        except BaseException:
            self._free.append(slot)
            raise
        sio = ScheduledIo(fd, token)
        self._slab[slot] = sio
        self._by_fd[fd] = sio
        return sio

    def fresh_scheduled_io(self, fd: int) -> ScheduledIo:
        """A new `ScheduledIo` for a socket just wrapped (`ReadySource`).

        An entry already here for this fd number belongs to a socket closed
        without `notify_closing` (dropped, or closed behind our back): its
        number has been reused. Its registration died with it (epoll fact 1),
        so reusing the entry would wait for events that never come; it is
        closed (its waiters, if any, get `ClosedResourceError`) and the new
        socket registered afresh.
        """
        if fd in self._by_fd:
            self.notify_closing(fd)
        return self.scheduled_io(fd)

    def lookup(self, fd: int) -> ScheduledIo | None:
        return self._by_fd.get(fd)

    def rearm(self, sio: ScheduledIo) -> None:
        """``sio``'s readiness was used up: have the reactor report the next one."""
        try:
            self._registry.rearm(sio.fd)
        except NotRegisteredError:
            # The backend saw the socket closed under us and dropped it: no
            # event can come, so the waiter gets `ClosedResourceError` now.
            # (Setting a readiness bit instead would spin if the handle were
            # alive: the operation's EAGAIN clears it, the wait re-arms...)
            self.notify_closing(sio.fd)

    def notify_closing(self, fd: int) -> None:
        """``fd`` is about to be closed: wake its waiters and deregister it."""
        sio = self._by_fd.pop(fd, None)
        if sio is None:
            return
        sio.closed = True
        slot = sio.token & _SLOT_MASK
        self._slab[slot] = None
        self._generations[slot] = (self._generations[slot] + 1) & _SLOT_MASK
        self._free.append(slot)
        try:
            self._registry.deregister(fd)
        except OSError:
            # Already closed behind our back: the kernel dropped it (epoll
            # fact 1), which is all deregistering would have done.
            pass
        for waker in (sio.reader, sio.writer):
            if waker is not None:
                waker.wake()

    def dispatch(self, raw: list[int]) -> None:
        """Apply one batch of events (``Events.raw``): set bits, wake waiters."""
        slab = self._slab
        wake = self._wake
        queue = self.run_queue
        waker: Any  # a Task or a CallbackWaker: both keep `scheduled` in a slot
        pairs = iter(raw)
        # (token, bits) pairs. Not strict=True: raw always has an even length,
        # and zip's keyword parsing cost 1,400 instructions per call, as much
        # as an event's dispatch (callgrind, one connection).
        for token, bits in zip(pairs, pairs):  # noqa: B905
            try:
                # The runner's own tokens index the None slots below
                # FIRST_SLOT; a try costs nothing until it raises, unlike
                # a range check on every event.
                sio = slab[token & _SLOT_MASK]
            except IndexError:
                continue  # never one of ours
            if sio is None or sio.token != token:
                continue  # the runner's, or stale: freed (and maybe reused) since
            sio.readiness |= bits
            # wake, written out: a waiter queued already is left where it is
            # (a finished task left behind is dropped by the run loop).
            if bits & READ_READY:
                waker = sio.reader
                if waker is not None and not waker.scheduled:
                    if queue is None:
                        wake(waker)
                    else:
                        waker.scheduled = True
                        queue.append(waker)
            if bits & WRITE_READY:
                waker = sio.writer
                if waker is not None and not waker.scheduled:
                    if queue is None:
                        wake(waker)
                    else:
                        waker.scheduled = True
                        queue.append(waker)

    def close(self) -> None:
        for fd in list(self._by_fd):
            self.notify_closing(fd)
