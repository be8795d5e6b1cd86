"""The completion driver: the run loop's wait, on an io_uring `Ring`.

With ``runtime.run(main(), backend="uring")`` the socket operations of
`runtime.io` are not tried and retried on readiness; each one is submitted
to the kernel as an operation and the task parks until its completion
(`RingSource`, in ``ring_source.py``). This module is the other half:

* `Op`: one direction of one socket (its reader or its writer), reused for
  every operation that direction submits. Its token is its slot in a slab.
* `RingDriver.wait`: the leaf awaitable. It parks until the op's completion
  has been reaped. If the task is cancelled first, the operation is
  cancelled in the kernel (``IORING_OP_ASYNC_CANCEL``) and the task waits,
  uncancellably, for the operation's own completion: the buffer stays
  referenced (by the `Ring`) until the kernel is done with it. If the
  operation won the race (it completed, with data, before the cancel
  reached it) its result is returned and the cancellation, which is
  level-triggered, is raised at the task's next checkpoint: nothing it
  received is lost.
* `RingDriver.poll`: what the run loop calls instead of `Poll.poll`. One
  ``io_uring_enter`` submits every SQE the tasks queued since the last
  turn and waits, up to the `TimerHeap`'s next deadline (a timespec per
  wait, ``IORING_ENTER_EXT_ARG``); completions wake their tasks directly.

Timers stay in the `TimerHeap`, by measurement (``benchmarks/uring_timers.py``,
10,000 timers, median of 5, CPU time): 10k sleeps U(0, 50 ms) cost 36 ms
with the heap against 158 ms as one ``IORING_OP_TIMEOUT`` each (the kernel
files each new timeout in a list, so 10k of them take 146 ms just to
submit and fire up to 150 ms late), and 10k cancelled timeouts (the common
``move_on_after``) 4 ms against 48 ms (a cancel and two completions each).

Readiness still has users: `wait_readable` on arbitrary fds, the runner's
`Waker` (to_thread, wakes from other threads) and the SIGINT socket. They
stay on the epoll `Poll`, whose own fd is watched *from inside the ring*
with a poll operation: when it completes, epoll has events, and `poll`
drains them (``epoll_wait`` with a zero timeout) for `IoDriver.dispatch`,
then re-arms the poll. So the loop sleeps in one place, the ring, and the
readiness path costs nothing while nobody uses it.
"""

from __future__ import annotations

import errno
import select
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import Cancelled, ClosedResourceError
from ..reactor import Events, Poll, UringUnavailableError
from .traps import PARK, park_uncancellable

if TYPE_CHECKING:
    from ..reactor import Ring
    from .task import Task

#: The poll on the epoll fd, and every ASYNC_CANCEL (whose own result we do
#: not need: we wait for the cancelled operation's completion instead).
EPOLL_TOKEN = 0
CANCEL_TOKEN = 1
FIRST_SLOT = 2
#: SQ slots: a loop turn of 1,000 connections (a recv and a send each) fits
#: without a mid-turn flush; the CQ gets four times as many.
ENTRIES = 4096


class Op:
    """One direction of one socket: at most one operation in flight at a time.

    ``pending``: submitted, completion not reaped yet. ``waker``: the task
    that submitted it, until that task has taken the result: the op is busy
    while either is set, so a second task cannot re-submit on it (and
    overwrite the first one's result) in the gap between the completion and
    the first task's resumption. ``closed``: its socket was closed
    (`RingDriver.release`): a cancelled wait then means `ClosedResourceError`.
    """

    __slots__ = ("closed", "pending", "result", "token", "waker")

    def __init__(self, token: int) -> None:
        self.token = token
        self.pending = False
        self.closed = False
        self.result = 0
        self.waker: Task | None = None


class RingDriver:
    """An io_uring `Ring` driving socket operations, with the epoll `Poll` inside it."""

    __slots__ = ("_completions", "_epfd", "_free", "_poll", "_release", "_slab", "_wake", "ring")

    def __init__(self, poll: Poll, wake: Callable[[Task], None],
                 entries: int | None = None) -> None:
        try:
            from ..reactor import Completions, Ring
        except ImportError:
            raise UringUnavailableError(
                errno.ENOSYS, "the io_uring backend was not built into this install "
                "(Linux, with <linux/io_uring.h> present at pip install)") from None
        self.ring: Ring = Ring(entries or ENTRIES)
        # Called with each task a completion makes ready: the runner passes
        # its same-thread `wake_here`, as it does to the `IoDriver`.
        self._wake = wake
        self._completions = Completions(1024)
        self._poll = poll
        self._epfd = poll.fileno()
        self._slab: list[Op | None] = [None] * FIRST_SLOT
        self._free: list[int] = []
        #: Ops of closed sources whose operation is still in flight: freed
        #: when its completion comes (its slot must not be reused before).
        self._release: set[Op] = set()
        self.ring.poll_add(self._epfd, select.POLLIN, EPOLL_TOKEN)

    # -- ops -------------------------------------------------------------------------

    def op(self) -> Op:
        """A new `Op` with a slot of its own."""
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._slab)
            self._slab.append(None)
        op = self._slab[slot] = Op(slot)
        return op

    def release(self, op: Op) -> None:
        """The socket is done with ``op``: cancel what it has in flight, free its slot."""
        op.closed = True
        if op.pending:
            self.ring.cancel(op.token, CANCEL_TOKEN)
            self._release.add(op)
        else:
            self._free_slot(op)

    def _free_slot(self, op: Op) -> None:
        if self._slab[op.token] is op:
            self._slab[op.token] = None
            self._free.append(op.token)

    def flush(self) -> None:
        """Hand queued SQEs to the kernel now: before a socket's fd is closed, the
        operations naming that fd number must hold the file (fact 5), not the number."""
        if self.ring.queued:
            self.ring.submit()

    async def wait(self, op: Op, task: Task) -> int:
        """Park ``task`` (the caller) until ``op``'s operation completes; its
        result (``-errno`` on failure).

        Submitted already by the caller (``op.pending`` set). On `Cancelled`,
        cancel it in the kernel and wait for its completion before raising,
        unless it completed anyway: then return that result (see the module
        docstring).
        """
        op.waker = task
        try:
            while op.pending:
                await PARK  # park(), without the call
        except Cancelled:
            if op.pending:
                self.ring.cancel(op.token, CANCEL_TOKEN)
                while op.pending:
                    await park_uncancellable()
            if op.result == -errno.ECANCELED:
                raise
            return op.result
        except BaseException:
            # GeneratorExit (the coroutine was closed) and the like: we cannot
            # wait. Cancel it; the Ring keeps the buffer until it completes.
            # (A closed Ring has cancelled and reaped everything already.)
            if op.pending and not self.ring.closed:
                self.ring.cancel(op.token, CANCEL_TOKEN)
            raise
        finally:
            op.waker = None
        result = op.result
        if result == -errno.ECANCELED and op.closed:
            raise ClosedResourceError("the socket was closed while a task waited on it")
        return result

    # -- the run loop's wait -----------------------------------------------------------

    def poll(self, events: Events, timeout: float | None) -> int:
        """Submit, wait up to ``timeout``, complete ops; fill ``events`` with readiness.

        The run loop's replacement for `Poll.poll`: completions wake their
        tasks here; the return value is the number of readiness events (from
        the epoll `Poll`, when its fd polled readable) for `IoDriver.dispatch`.
        """
        ring = self.ring
        if not ring.submit_and_wait(self._completions, timeout):
            return 0
        raw = self._completions.raw
        slab = self._slab
        wake = self._wake
        epoll_ready = False
        for i in range(0, len(raw), 3):
            token = raw[i]
            if token >= FIRST_SLOT:
                op = slab[token]
                if op is None:
                    continue
                op.result = raw[i + 1]
                op.pending = False
                task = op.waker
                if task is not None:
                    wake(task)
                if self._release and op in self._release:
                    self._release.discard(op)
                    self._free_slot(op)
            elif token == EPOLL_TOKEN:
                epoll_ready = True
        if not epoll_ready:
            return 0
        # Drain, then re-arm: an event arriving in between finds epoll's fd
        # readable when the new poll is armed, so it completes at once.
        n = self._poll.poll(events, 0)
        ring.poll_add(self._epfd, select.POLLIN, EPOLL_TOKEN)
        return n

    def close(self) -> None:
        """Cancel everything in flight and wait for it (`Ring.close`), then release the ring."""
        self.ring.close()
