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
import os
import select
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import Cancelled, ClosedResourceError
from ..reactor import Events, Poll, UringUnavailableError
from .traps import PARK, park_uncancellable

if TYPE_CHECKING:
    from ..reactor import BufferRing, Ring
    from .task import Task

#: The poll on the epoll fd, and every ASYNC_CANCEL (whose own result we do
#: not need: we wait for the cancelled operation's completion instead).
EPOLL_TOKEN = 0
CANCEL_TOKEN = 1
FIRST_SLOT = 2
#: SQ slots: a loop turn of 1,000 connections (a recv and a send each) fits
#: without a mid-turn flush; the CQ gets four times as many.
ENTRIES = 4096
#: The provided buffers multishot receives share: 1,024 of 8 KiB (8 MiB of
#: address space, resident as the kernel cycles through them). Each is
#: copied out and given back as its completion is reaped, so one loop turn
#: of up to 1,024 arrivals never runs the group dry.
BUFFERS, BUFFER_SIZE = 1024, 8192
#: A multishot op's results not yet taken (chunks received, connections
#: accepted) past which it is cancelled until its reader catches up: the
#: kernel's socket buffer (or backlog) then pushes back on the peer, as it
#: does on readiness.
MAX_QUEUED = 64
#: `Op.result` of a multishot op that is not armed and should be (again):
#: never armed yet, or ended by -ENOBUFS or by a MAX_QUEUED cancel.
REARM = 1


class Op:
    """One direction of one socket: at most one operation in flight at a time.

    ``pending``: submitted, completion not reaped yet. ``waker``: the task
    that submitted it, until that task has taken the result: the op is busy
    while either is set, so a second task cannot re-submit on it (and
    overwrite the first one's result) in the gap between the completion and
    the first task's resumption. ``closed``: its socket was closed
    (`RingDriver.release`): a cancelled wait then means `ClosedResourceError`.
    """

    __slots__ = ("accepts", "closed", "pending", "result", "stopping", "taken", "token",
                 "waker")

    def __init__(self, token: int) -> None:
        self.token = token
        self.pending = False
        self.closed = False
        self.result = 0
        self.waker: Task | None = None
        #: A multishot op's results, oldest first, until a task takes them
        #: (bytes received, or fds accepted when ``accepts``); None for a
        #: one-shot op. ``stopping``: a MAX_QUEUED cancel is on its way.
        self.taken: deque[Any] | None = None
        self.accepts = False
        self.stopping = False


class RingDriver:
    """An io_uring `Ring` driving socket operations, with the epoll `Poll` inside it."""

    __slots__ = ("_completions", "_cqe_buffer", "_cqe_more", "_epfd", "_free", "_poll",
                 "_release", "_slab", "_wake", "accept_multishot", "buffers", "dropped", "ring")

    def __init__(self, poll: Poll, wake: Callable[[Task], None],
                 entries: int | None = None) -> None:
        try:
            from ..reactor import CQE_BUFFER, CQE_MORE, Completions, Ring
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
        #: (read, write) ops of sources dropped without close, appended by
        #: their finalizers (any thread: list.append is atomic), released at
        #: the next `poll`.
        self.dropped: list[tuple[Op, Op]] = []
        self.ring.poll_add(self._epfd, select.POLLIN, EPOLL_TOKEN)
        self._cqe_more = CQE_MORE
        self._cqe_buffer = CQE_BUFFER
        #: Multishot receives draw from these; None where the kernel lacks
        #: them (before 6.0, or RUNTIME_URING_DISABLE): one recv per read.
        self.buffers: BufferRing | None = None
        features = self.ring.features
        if "recv_multishot" in features and "buffer_ring" in features:
            try:
                self.buffers = self.ring.buffer_ring(BUFFERS, BUFFER_SIZE)
            except OSError:
                pass  # no locked memory left for it (fact 12): one-shot receives
        self.accept_multishot = "accept_multishot" in features

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

    def multishot(self, op: Op, accepts: bool = False) -> None:
        """Make ``op`` a multishot op (armed by `arm`, its results queued in ``op.taken``)."""
        op.taken = deque()
        op.accepts = accepts
        op.result = REARM

    def arm(self, op: Op, fd: int) -> None:
        """Submit ``op``'s multishot receive (or accept) on ``fd``."""
        if op.accepts:
            self.ring.accept_multishot(fd, op.token)
        else:
            assert self.buffers is not None
            self.ring.recv_multishot(fd, self.buffers, op.token)
        op.pending = True

    def release(self, op: Op) -> None:
        """The socket is done with ``op``: cancel what it has in flight, free its slot.

        A task parked on ``op`` is woken now, as a close wakes readiness
        waiters: it learns of the close before a cancel can reach it.
        """
        op.closed = True
        if op.waker is not None:
            self._wake(op.waker)
        if op.pending and not self.ring.closed:
            self.ring.cancel(op.token, CANCEL_TOKEN)
            self._release.add(op)
        else:
            self._free_slot(op)
        self._drop_taken(op)

    @staticmethod
    def _drop_taken(op: Op) -> None:
        taken = op.taken
        if taken and op.accepts:
            for fd in taken:  # accepted for a listener now closed
                os.close(fd)
        if taken:
            taken.clear()

    def _free_slot(self, op: Op) -> None:
        if self._slab[op.token] is op:
            self._slab[op.token] = None
            self._free.append(op.token)

    def flush(self, settle: bool = False) -> None:
        """Hand queued SQEs to the kernel now: before a socket's fd is closed, the
        operations naming that fd number must hold the file (fact 5), not the number.

        ``settle``: a multishot was just cancelled; have the kernel run the
        cancel's deferred work now, so the operation lets go of the file and
        closing the fd closes the connection at once (the peer sees it even
        if the loop does not turn again for a while).
        """
        if settle:
            self.ring.run_work()
        elif self.ring.queued:
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
            closed_first = op.closed  # the socket was closed before the cancel came
            if op.pending:
                self.ring.cancel(op.token, CANCEL_TOKEN)
                while op.pending:
                    await park_uncancellable()
            if op.result == -errno.ECANCELED:
                if closed_first:
                    # As on readiness, where the close wakes the waiter at
                    # once: the close came first, so it is what the task is
                    # told (the cancel is seen at its next checkpoint).
                    raise ClosedResourceError(
                        "the socket was closed while a task waited on it") from None
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
        if self.dropped:
            self._release_dropped()
        if not ring.submit_and_wait(self._completions, timeout):
            return 0
        raw = self._completions.raw
        slab = self._slab
        wake = self._wake
        more, max_queued = self._cqe_more, MAX_QUEUED
        buffers = self.buffers
        if buffers is not None:
            memory, size, shift = buffers.memory, buffers.size, buffers.SHIFT
        epoll_ready = False
        for i in range(0, len(raw), 3):
            token = raw[i]
            if token >= FIRST_SLOT:
                op = slab[token]
                if op is None:
                    continue
                taken = op.taken
                if taken is None:
                    op.result = raw[i + 1]
                    op.pending = False
                elif raw[i + 2] & more:
                    # A multishot's result, and it stays armed: queue it.
                    # Received bytes are copied out of their buffer here
                    # (a slice of the buffer memory: one bytes, no call);
                    # the buffers go back after the loop, in one call.
                    result = raw[i + 1]
                    if op.accepts:
                        taken.append(result)
                    else:
                        start = (raw[i + 2] >> shift) * size
                        taken.append(memory[start:start + result])
                    if len(taken) >= max_queued and not op.stopping:
                        op.stopping = True
                        ring.cancel(token, CANCEL_TOKEN)
                else:
                    self._ended(op, raw[i + 1], raw[i + 2])
                task = op.waker
                if task is not None:
                    wake(task)
                if self._release and not op.pending and op in self._release:
                    self._release.discard(op)
                    self._free_slot(op)
                    self._drop_taken(op)
            elif token == EPOLL_TOKEN:
                epoll_ready = True
        if buffers is not None:
            buffers.recycle_reaped(self._completions)
        if not epoll_ready:
            return 0
        # Drain, then re-arm: an event arriving in between finds epoll's fd
        # readable when the new poll is armed, so it completes at once.
        n = self._poll.poll(events, 0)
        ring.poll_add(self._epfd, select.POLLIN, EPOLL_TOKEN)
        return n

    def _release_dropped(self) -> None:
        dropped, self.dropped = self.dropped, []
        for ops in dropped:
            for op in ops:
                if not op.closed:
                    self.release(op)

    def _ended(self, op: Op, result: int, flags: int) -> None:
        """A multishot op's last completion (no ``F_MORE``): what a reader sees next."""
        op.pending = False
        op.stopping = False
        taken = op.taken
        assert taken is not None
        if flags & self._cqe_buffer:
            # (The buffer goes back with the batch's, after poll's loop.)
            buffers = self.buffers
            assert buffers is not None
            if result > 0:
                start = (flags >> buffers.SHIFT) * buffers.size
                taken.append(buffers.memory[start:start + result])
                result = REARM  # ended with data (say, the CQ overflowed): arm again
        elif op.accepts and result >= 0:
            taken.append(result)
            result = REARM
        if result in (-errno.ENOBUFS, -errno.ECANCELED) and not op.closed:
            result = REARM  # out of buffers, or our MAX_QUEUED cancel: arm again
        op.result = result

    def close(self) -> None:
        """Cancel everything in flight and wait for it (`Ring.close`), then release the ring."""
        self.ring.close()
