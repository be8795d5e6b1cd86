"""The io_uring `Ring`: Linux's completion queue, bound with cffi (API mode).

epoll answers "which sockets *could* make progress?"; the program then does
the I/O itself. io_uring takes the I/O: the program describes an operation
("receive up to 64 KiB from fd 7 into this buffer") in a submission queue
entry (SQE), and the kernel later reports in a completion queue entry (CQE)
what happened ("7 bytes"). Both queues are rings in memory shared with the
kernel (mmapped from the ring's fd); one ``io_uring_enter`` hands over every
SQE queued since the last and can wait for completions in the same call.

Some facts about io_uring
=========================

The names in brackets are the tests in ``tests/reactor/test_uring_facts.py``
that show each fact on this kernel.

1. **Nothing is submitted until ``io_uring_enter``.** Without SQPOLL, filling
   an SQE is a plain memory write; the kernel reads the submission ring only
   inside the syscall, so a whole batch costs one syscall.
   [test_nothing_happens_before_enter]
2. **The kernel writes into the buffer after the submitting call returned.**
   A recv on a socket with no data is parked inside the kernel (an internal
   poll, ``IORING_FEAT_FAST_POLL``), also on an ``O_NONBLOCK`` socket, and the
   bytes are copied into our buffer whenever they arrive. The buffer must
   outlive the operation. [test_recv_waits_on_a_nonblocking_socket_and_writes_later]
3. **Completions come back in the order they complete**, tagged only with the
   64-bit ``user_data`` the SQE carried (our token).
   [test_completions_arrive_in_completion_order]
4. **``IORING_OP_ASYNC_CANCEL`` races the operation.** A recv still waiting
   completes with ``-ECANCELED`` (and the cancel with 0); a recv that finished
   first keeps its result and the cancel gets ``-ENOENT``. Whoever cancels must
   wait for the target's own completion and read it: it may carry data.
   [test_cancel_of_a_pending_recv_completes_it_with_ecanceled,
   test_cancel_after_completion_finds_nothing_and_the_data_stands]
5. **A pending operation holds its own reference to the file.** Closing the fd
   does not end it: the socket stays open (the peer sees no FIN) until the
   operation completes or is cancelled.
   [test_closing_the_fd_does_not_end_a_pending_recv]
6. **A peer's reset completes a pending recv with ``-ECONNRESET``.**
   [test_peer_reset_completes_a_pending_recv_with_econnreset]
7. **Completions are not dropped when the CQ ring is full**
   (``IORING_FEAT_NODROP``): the kernel keeps them on an overflow list and
   flushes them into the ring as we reap.
   [test_more_completions_than_cq_slots_are_not_lost]
8. **The submission ring is bounded**: with ``entries`` SQEs queued and not
   yet submitted there is no free slot until an ``io_uring_enter`` consumes
   them. [test_a_full_submission_queue_is_flushed_and_retried]
9. **A signal interrupts the wait**: ``io_uring_enter`` fails with ``EINTR``
   (or, if it submitted SQEs first, returns their count with nothing
   completed). [test_wait_retries_after_a_signal_with_the_remaining_timeout]
10. **With ``IORING_SETUP_DEFER_TASKRUN`` completions are posted only when we
    enter the kernel asking for events**: a recv whose data has arrived is not
    in the CQ ring until the next ``io_uring_enter(GETEVENTS)``.
    [test_deferred_completions_are_posted_at_enter]
11. **``io_uring_setup`` can be refused**: ``ENOSYS`` where the kernel lacks it,
    ``EPERM`` where ``kernel.io_uring_disabled`` or a seccomp policy (Docker's
    default) forbids it. [test_a_refused_setup_raises_uring_unavailable]
12. **An unprivileged ring's memory is locked memory**: without
    ``CAP_IPC_LOCK`` the rings (and a provided-buffer ring) count against the
    user's ``RLIMIT_MEMLOCK``, and a setup past it fails with ``ENOMEM``
    (a 4,096-entry ring needs about 600 KiB; the default limit is 64 KiB on
    older systems, 8 MiB on Debian 12, shared by all the user's rings).
    [test_a_low_memlock_limit_gets_a_smaller_ring_or_a_clear_error]
13. **Features come with kernel versions, and the probe lists opcodes**:
    ``IORING_REGISTER_PROBE`` (5.6) says which operations this kernel
    knows, not which flags; a flag's kernel is known by an opcode of the
    same release (``IORING_OP_SOCKET``: 5.19, with multishot accept and
    provided-buffer rings; ``IORING_OP_SEND_ZC``: 6.0, with multishot
    receive). [test_the_probe_finds_this_kernels_features_and_the_environment_turns_them_off]
14. **A multishot operation completes many times**: each completion but
    the last carries ``IORING_CQE_F_MORE``; a multishot receive names the
    provided buffer it filled in the flags, and ends (no ``F_MORE``, and
    ``-ENOBUFS``) when the group runs out of buffers.
    [test_a_multishot_receive_completes_per_arrival_in_provided_buffers,
    test_a_multishot_receive_ends_with_enobufs_when_the_buffers_run_out]
15. **A closed ring's locked memory is given back later**: ``close()`` on
    the ring's fd returns at once, and the kernel's exit work (a workqueue)
    tears the ring down and unaccounts its memory afterwards; a setup made
    right after can still find ``RLIMIT_MEMLOCK`` taken by rings already
    closed. [test_a_ring_closed_a_moment_ago_can_still_hold_the_memlock_limit]

What this means for us
======================

* One cffi call per operation (an ``rt_prep_*`` helper fills the SQE) and one
  ``io_uring_enter`` per `submit_and_wait`, which also reaps every completion
  into a flat list of ints (`Completions.raw`): no object per completion.
* Fact 2 makes memory safety the Ring's job: every buffer, address and
  msghdr an operation points at is referenced by the Ring from submission
  until its completion is reaped (``_owned``), whatever the caller does
  meanwhile. `close` cancels what is in flight and waits for it before the
  memory can go; if the kernel never answers, the memory is kept, not freed.
* Fact 4 and 5: to stop an operation, cancel it and wait for *its*
  completion (the executor does; see ``executor/ring_source.py``); closing
  the fd is not enough.
* Fact 8: a prep that finds the ring full submits what is queued and retries;
  only if the kernel takes nothing does it raise `SubmissionQueueFullError`.
* Fact 9: waits are retried with the time that is left, as `Poll` does.
* Fact 12: on ``ENOMEM`` the ring is halved until it fits (down to 8
  entries); if even that fails, `UringUnavailableError` names the limit.
* Fact 15: `_uring_setup.setup` waits for closed rings' memory (1 ms, doubling: 15 ms
  before it takes a smaller ring, 0.5 s in all before the error) and tries
  the asked-for size again, so a program running one runtime after another
  as an ordinary user gets a ring each time, nearly always a full one (284
  of 300 back to back here; 252 without the short wait). A limit too low
  for any ring costs that half second before `UringUnavailableError`.
  [test_runtimes_run_back_to_back_under_a_memlock_limit_each_get_a_ring]
* Fact 10: we ask for ``DEFER_TASKRUN`` (6.1+; completions are batched into
  our own enter instead of interrupting us) and fall back when refused.
* The cross-thread wake (`RingWaker`) is an eventfd with a poll operation
  on the ring, re-armed each time it fires.
* Fact 13: `Ring.features` is what the probe finds (``accept_multishot``,
  ``buffer_ring``, ``recv_multishot``), less what ``$RUNTIME_URING_DISABLE``
  names, so the older kernels' path can be run (and tested) here.
* Fact 14: `submit_and_wait` counts an operation done only at its last
  completion (``reaped_more``, counted by ``rt_reap``); a `BufferRing`'s
  buffer is copied out and given back at once (`BufferRing.take`), so the
  kernel is never left without one for longer than a loop turn.

Sources: io_uring(7), io_uring_setup(2), io_uring_enter(2),
io_uring_prep_cancel(3); Jens Axboe, "Efficient IO with io_uring" and
"What's new with io_uring"; liburing ``src/queue.c``, ``src/setup.c``.
"""

from __future__ import annotations

import errno
import math
import os
import socket
import time
import warnings
from typing import Any

from ._uring_cffi import ffi, lib
from ._uring_memory import Message, SockAddr
from ._uring_results import BufferRing, Completion, Completions
from ._uring_setup import (
    DISABLE_ENV,
    FEATURES,
    MAX_ENTRIES,
    MIN_ENTRIES,
    NEEDED,
    features,
    memlock_limit_text,
    setup,
)
from .errors import (
    RingClosedError,
    SubmissionQueueFullError,
    UringUnavailableError,
)

#: Tokens are user_data in [0, 2**63); the ring keeps the last one for itself.
INTERNAL_TOKEN = 2**63 - 1
_CData = ffi.CData
_net = lib.rt_prep_net
_RECV, _SEND = lib.IORING_OP_RECV, lib.IORING_OP_SEND
_RECVMSG, _SENDMSG = lib.IORING_OP_RECVMSG, lib.IORING_OP_SENDMSG
#: A completion's flags: more will follow (multishot); a provided buffer holds its bytes.
CQE_MORE = lib.IORING_CQE_F_MORE
CQE_BUFFER = lib.IORING_CQE_F_BUFFER
#: Memory of operations the kernel never completed at close: kept, never freed.
_NEVER_FREED: list[Any] = []
#: `Ring.close`'s one cancel for everything in flight (Linux 5.19); an older
#: kernel refuses the flags with -EINVAL, and close cancels op by op instead.
_CANCEL_EVERYTHING = lib.IORING_ASYNC_CANCEL_ANY | lib.IORING_ASYNC_CANCEL_ALL


#: An SQE's length field is 32 bits.
_MAX_SQE_LEN = 2**32 - 1
#: The most one read or write moves in Linux (2 GiB - 4 KiB); a receive
#: asking for more fails with EINVAL.
MAX_RW_COUNT = 2**31 - 4096
def _wait_ns(timeout: float) -> int:
    return max(0, math.ceil(timeout * 1e9))


class Ring:
    """An io_uring instance: queue operations tagged with tokens, reap completions.

    ::

        with Ring(256) as ring:
            buf = bytearray(4096)
            ring.recv(sock.fileno(), buf, token=1)
            completions = Completions()
            ring.submit_and_wait(completions, timeout=1.0)
            for c in completions:      # Completion(token=1, result=5, flags=0)
                ...                    # c.result < 0 is -errno

    Each operation's memory (``buf`` above) is held by the ring until its
    completion is reaped. Tokens are ints in ``[0, 2**63 - 1)``; two
    operations holding memory may not share a token while in flight. A Ring
    is used from one thread; only `RingWaker.wake` may come from another.
    Raises `UringUnavailableError` when the kernel refuses io_uring.
    """

    __slots__ = ("_buffer_rings", "_closed", "_inflight", "_owned", "_r", "_waker", "features")

    def __init__(self, entries: int = 256, *, cq_entries: int | None = None,
                 defer_taskrun: bool = True) -> None:
        if not 1 <= entries <= MAX_ENTRIES:
            raise ValueError(f"Ring entries must be in [1, {MAX_ENTRIES}], got {entries}")
        self._r = ffi.new("struct rt_ring *")
        self._r.fd = -1
        self._closed = True
        ret = setup(self._r, entries, cq_entries, defer_taskrun)
        if ret < 0:
            err = -ret
            if err in (errno.ENOSYS, errno.EPERM, errno.EACCES):
                raise UringUnavailableError(
                    err, f"io_uring_setup: {os.strerror(err)} (io_uring is not available "
                    "here: kernel.io_uring_disabled, a seccomp policy, or no kernel support)")
            if err == errno.ENOMEM:
                raise UringUnavailableError(
                    err, f"io_uring_setup: {os.strerror(err)} even for a "
                    f"{min(entries, MIN_ENTRIES)}-entry ring: {memlock_limit_text()}")
            raise OSError(err, f"io_uring_setup({entries} entries): {os.strerror(err)}")
        missing = [name for name, bit in NEEDED.items() if not self._r.features & bit]
        if missing:
            lib.rt_ring_close(self._r)
            raise UringUnavailableError(
                errno.ENOSYS, f"io_uring lacks {', '.join(missing)} on this kernel "
                "(needs Linux 5.11 or later)")
        self._closed = False
        self._owned: dict[int, Any] = {}
        self._inflight = 0
        self._waker: RingWaker | None = None  # set by RingWaker
        self._buffer_rings: list[BufferRing] = []
        #: What this kernel offers beyond the 5.11 baseline (fact 13), less
        #: what ``$RUNTIME_URING_DISABLE`` turns off: a subset of `FEATURES`.
        self.features: frozenset[str] = features(self._r)

    # -- facts about this ring ---------------------------------------------------

    def fileno(self) -> int:
        self._live()
        return int(self._r.fd)

    @property
    def sq_entries(self) -> int:
        return int(self._r.sq_entries)

    @property
    def cq_entries(self) -> int:
        return int(self._r.cq_entries)

    @property
    def defer_taskrun(self) -> bool:
        """Did the kernel accept ``IORING_SETUP_DEFER_TASKRUN`` (fact 10)?"""
        return bool(self._r.setup_flags & lib.IORING_SETUP_DEFER_TASKRUN)

    @property
    def in_flight(self) -> int:
        """Operations queued or submitted whose (final) completion is not reaped yet."""
        return self._inflight

    @property
    def queued(self) -> int:
        """SQEs filled but not yet consumed by the kernel."""
        return int(lib.rt_sq_pending(self._r))

    @property
    def ready(self) -> int:
        """Completions sitting in the CQ ring right now (read without a syscall)."""
        return int(lib.rt_cq_ready(self._r))

    @property
    def closed(self) -> bool:
        return self._closed

    def _live(self) -> None:
        if self._closed:
            raise RingClosedError("this Ring is closed")

    # -- queueing operations -------------------------------------------------------

    def _prep(self, prep: Any, token: int, owned: Any, *args: Any) -> None:
        """Fill one SQE with ``prep(ring, *args, token)``; hold ``owned`` until it completes."""
        # Any operation, owning memory or not: its completion would release
        # the memory of the one in flight under the same token.
        if token in self._owned:
            self._in_flight_already(token)
        ret = prep(self._r, *args, token)
        if ret:
            self._again(ret, prep, token, *args)
        if owned is not None:
            self._owned[token] = owned
        self._inflight += 1

    def _in_flight_already(self, token: int) -> None:
        raise ValueError(f"token {token} already has an operation in flight")

    def _again(self, ret: int, prep: Any, token: int, *args: Any) -> None:
        """A prep failed with ``ret``: raise, or make room (fact 8) and fill the SQE."""
        if ret == -errno.EBADF:
            raise RingClosedError("this Ring is closed")
        if ret == -errno.EINVAL:
            raise ValueError(f"a token is an int in [0, 2**63), got {token}")
        # -EBUSY: hand what is queued to the kernel, then there is room.
        self.submit()
        if prep(self._r, *args, token):
            raise SubmissionQueueFullError(
                errno.EBUSY, f"the submission queue ({self.sq_entries} entries) is full "
                "and io_uring_enter took none of it")

    def nop(self, token: int) -> None:
        """An operation that does nothing and completes with 0."""
        self._prep(lib.rt_prep_nop, token, None)

    # recv and send are the executor's hot path: _prep written out, one cffi call each.

    def recv(self, fd: int, buf: Any, token: int, nbytes: int = 0, flags: int = 0) -> None:
        """Receive up to ``nbytes`` (default: all of ``buf``) into ``buf``; result: the count."""
        if not isinstance(buf, _CData):
            buf = ffi.from_buffer(buf, require_writable=True)
        size = len(buf)
        if nbytes > size or nbytes < 0:
            raise ValueError(f"recv of {nbytes} bytes into a buffer of {size}")
        owned = self._owned
        if token in owned:
            self._in_flight_already(token)
        nbytes = nbytes or min(size, MAX_RW_COUNT)  # a recv may read less than the buffer
        ret = _net(self._r, _RECV, fd, buf, nbytes, flags, token)
        if ret:
            self._again(ret, _net, token, _RECV, fd, buf, nbytes, flags)
        owned[token] = buf
        self._inflight += 1

    def send(self, fd: int, data: Any, token: int, flags: int = 0) -> None:
        """Send ``data`` (any buffer); result: how many bytes the kernel took."""
        if not isinstance(data, _CData):
            data = ffi.from_buffer(data)
        owned = self._owned
        if token in owned:
            self._in_flight_already(token)
        try:
            ret = _net(self._r, _SEND, fd, data, len(data), flags, token)
        except OverflowError:
            raise ValueError(f"a send of {len(data)} bytes: one operation carries at most "
                             f"{_MAX_SQE_LEN} (an SQE's length is 32 bits); send it in parts"
                             ) from None
        if ret:
            self._again(ret, _net, token, _SEND, fd, data, len(data), flags)
        owned[token] = data
        self._inflight += 1

    def recvmsg(self, fd: int, message: Message, token: int, flags: int = 0) -> None:
        """Receive one datagram into ``message`` (see `Message.for_receive`)."""
        self._prep(_net, token, message, _RECVMSG, fd, message.msg, 1, flags)

    def sendmsg(self, fd: int, message: Message, token: int, flags: int = 0) -> None:
        """Send what ``message`` points at (see `Message.for_send`)."""
        self._prep(_net, token, message, _SENDMSG, fd, message.msg, 1, flags)

    def accept(self, fd: int, token: int, peer: SockAddr | None = None,
               flags: int = socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) -> None:
        """Accept a connection; result: the new fd. ``peer`` receives its address."""
        if peer is None:
            self._prep(lib.rt_prep_accept, token, None, fd, ffi.NULL, ffi.NULL, flags)
        else:
            peer.reset()
            self._prep(lib.rt_prep_accept, token, peer, fd, peer.ptr, peer.len_p, flags)

    def recv_multishot(self, fd: int, buffers: BufferRing, token: int, flags: int = 0) -> None:
        """Receive every arrival on ``fd`` into ``buffers`` until cancelled (Linux 6.0).

        One completion per arrival: the byte count, its buffer named in the
        flags (`BufferRing.take`), ``IORING_CQE_F_MORE`` while it stays
        armed. The last completion (no ``F_MORE``) is EOF (0), an error, or
        ``-ENOBUFS`` when ``buffers`` ran dry (arm it again).
        """
        self._prep(lib.rt_prep_recv_multishot, token, None, fd, buffers.bgid, flags)

    def accept_multishot(self, fd: int, token: int,
                         flags: int = socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) -> None:
        """Accept every connection on ``fd`` until cancelled (Linux 5.19); each
        completion is one new fd (no address), ``F_MORE`` while it stays armed."""
        self._prep(lib.rt_prep_accept_multishot, token, None, fd, flags)

    def buffer_ring(self, entries: int, size: int) -> BufferRing:
        """Register a provided-buffer ring of ``entries`` buffers of ``size`` bytes.

        Needs ``"buffer_ring"`` in `features`. Halved on ``ENOMEM`` (locked
        memory, fact 12) down to 8 buffers; past that `UringUnavailableError`
        names the limit. Freed with the ring, after what is in flight.
        """
        self._live()
        bgid = len(self._buffer_rings)
        b = ffi.new("struct rt_bufring *")
        while True:
            ret = lib.rt_bufring_setup(self._r, b, bgid, entries, size)
            if ret != -errno.ENOMEM or entries <= MIN_ENTRIES:
                break
            entries //= 2
        if ret == -errno.ENOMEM:
            raise UringUnavailableError(
                -ret, f"io_uring buffer ring: {os.strerror(-ret)}: {memlock_limit_text()}")
        if ret < 0:
            raise OSError(-ret, f"io_uring buffer ring ({entries} x {size} bytes): "
                          f"{os.strerror(-ret)}")
        ring = BufferRing(b, bgid)
        self._buffer_rings.append(ring)
        return ring

    def connect(self, fd: int, address: SockAddr, token: int) -> None:
        """Connect to the address ``address`` holds (`SockAddr.set` first); result: 0."""
        self._prep(lib.rt_prep_connect, token, address, fd, address.ptr, address.len_p[0])

    def poll_add(self, fd: int, events: int, token: int) -> None:
        """Complete once, when ``fd`` polls ``events`` (``select.POLLIN``...); result: the mask."""
        self._prep(lib.rt_prep_poll_add, token, None, fd, events, 0)

    def timeout(self, seconds: float, token: int) -> None:
        """Complete after ``seconds`` with ``-ETIME`` (the kernel's own timer)."""
        ts = ffi.new("struct __kernel_timespec *")
        ns = _wait_ns(seconds)
        ts.tv_sec, ts.tv_nsec = divmod(ns, 1_000_000_000)
        self._prep(lib.rt_prep_timeout, token, ts, ts, 0)

    def cancel(self, target: int, token: int) -> None:
        """Cancel the operation tagged ``target`` (fact 4: wait for *its* completion).

        The cancel's own completion (token ``token``) is 0 if it found the
        operation waiting, ``-ENOENT`` if nothing by that token was in flight,
        ``-EALREADY`` if it was already running.
        """
        self._prep(lib.rt_prep_cancel, token, None, target, 0)

    # -- submitting and reaping ------------------------------------------------------

    def submit(self) -> int:
        """Hand every queued SQE to the kernel without waiting; returns how many."""
        ret = lib.rt_enter(self._r, 0, -1)
        if ret < 0 and ret != -errno.EINTR:
            self._enter_failed(ret)
        return max(ret, 0)

    def run_work(self) -> None:
        """Submit what is queued and have the kernel finish what it can now,
        waiting for nothing: with ``DEFER_TASKRUN`` (fact 10) a cancelled
        operation lets go of its file (fact 5) only when we enter the kernel
        asking for events. Its completion is reaped by the next wait."""
        ret = lib.rt_run_work(self._r)
        if ret < 0 and ret != -errno.EINTR:
            self._enter_failed(ret)

    def _enter_failed(self, ret: int) -> None:
        if ret == -errno.EBADF and self._closed:
            raise RingClosedError("this Ring is closed")
        raise OSError(-ret, f"io_uring_enter: {os.strerror(-ret)}")

    def submit_and_wait(self, completions: Completions, timeout: float | None = None) -> int:
        """Submit everything queued, wait for a completion, reap them; return how many.

        ``timeout`` in seconds: ``None`` waits until something completes, ``0``
        does not wait. It never returns early with nothing (a signal's
        ``EINTR`` is retried with the time left). At most
        ``completions.capacity`` are reaped; the rest wait for the next call.
        """
        r = self._r
        if timeout is None:
            wait, ns, deadline = 1, -1, None
        elif timeout == 0:
            wait, ns, deadline = 0, -1, None
        else:
            if not timeout >= 0.0:
                raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
            if math.isinf(timeout):
                wait, ns, deadline = 1, -1, None
            else:
                wait, ns = 1, _wait_ns(timeout)
                deadline = time.monotonic() + timeout
        out = completions._out
        while True:
            ret = lib.rt_enter(r, wait, ns)
            n = lib.rt_reap(r, out, completions.capacity)
            if ret < 0 and not n and ret != -errno.ETIME and ret != -errno.EINTR:
                self._enter_failed(ret)
            if n or not wait or ret == -errno.ETIME:
                break
            # Fact 9: interrupted (EINTR, or a submit count with nothing
            # completed). Python has run any signal handler by now.
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ns = _wait_ns(left)
        if not n:
            completions.raw = []
            return 0
        raw = completions.raw = ffi.unpack(out, 3 * n)
        # A completion ends its operation unless it says more will come
        # (a multishot's F_MORE; multishots own no memory of ours).
        self._inflight -= n - r.reaped_more
        owned = self._owned
        waker = self._waker
        if owned or waker is not None:
            tokens = raw[::3]
            if owned:
                pop = owned.pop
                for token in tokens:
                    pop(token, None)
            if waker is not None and waker.token in tokens:
                waker._rearm()
        return int(n)

    # -- closing -------------------------------------------------------------------------

    def close(self, grace: float = 1.0) -> None:
        """Cancel what is in flight, wait (up to ``grace`` s) for it, then unmap and close.

        Memory of an operation the kernel has not completed by then is kept
        alive for the life of the process rather than freed under it.
        """
        if self._closed:
            return
        waker, self._waker = self._waker, None
        if waker is not None:
            waker._detach()
        if self._inflight:
            try:
                self._prep(lib.rt_prep_cancel, INTERNAL_TOKEN, None, 0, _CANCEL_EVERYTHING)
                scratch = Completions(256)
                deadline = time.monotonic() + grace
                one_by_one = False
                while self._inflight > 0 and not (one_by_one and not self._owned):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.submit_and_wait(scratch, left)
                    if not one_by_one and _refused_cancel_all(scratch.raw):
                        # Before 5.19: cancel each operation holding our
                        # memory, and wait for those alone; the rest (a
                        # waker's poll) own nothing and go with the ring's fd.
                        one_by_one = True
                        for token in list(self._owned):
                            self._prep(lib.rt_prep_cancel, INTERNAL_TOKEN, None, token, 0)
            except OSError:
                pass  # the ring is broken: what is owned stays owned, below
        buffer_rings, self._buffer_rings = self._buffer_rings, []
        if self._inflight > 0 and (self._owned or buffer_rings):
            # Something may still write into this memory: never free it.
            _NEVER_FREED.append((self._owned, buffer_rings))
        else:
            for ring in buffer_rings:
                lib.rt_bufring_free(self._r, ring._b)
        self._closed = True
        self._owned = {}
        lib.rt_ring_close(self._r)

    def __del__(self) -> None:
        # A Ring dropped unclosed would leak its fd and, worse, free buffers
        # the kernel may still write into: close it (which cancels and waits
        # for what is in flight), and say so, as an unclosed socket does.
        if not getattr(self, "_closed", True):
            warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=1)
            self.close()

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._r.fd} in_flight={self._inflight}"
        return f"<Ring {state}>"


def _refused_cancel_all(raw: list[int]) -> bool:
    """Did these ``[token, result, flags, ...]`` include close's cancel, refused?"""
    return any(raw[i] == INTERNAL_TOKEN and raw[i + 1] == -errno.EINVAL
               for i in range(0, len(raw), 3))


# Re-exported here: the Ring and its waker are one API (imported last: it needs Ring).
from ._uring_waker import RingWaker  # noqa: E402

__all__ = ["CQE_BUFFER", "CQE_MORE", "DISABLE_ENV", "FEATURES", "INTERNAL_TOKEN", "BufferRing",
           "Completion", "Completions", "Ring", "RingWaker"]
