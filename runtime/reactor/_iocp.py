r"""The IOCP backend: readiness for sockets, built on Windows' completion queue.

IOCP versus readiness
=====================

epoll and kqueue answer "which of my sockets could I read now?". An I/O
completion port answers another question: "which of the operations I started
have finished?". You hand the kernel a buffer and an OVERLAPPED with
``WSARecv``; some time later a packet comes out of
``GetQueuedCompletionStatusEx`` saying the bytes are in your buffer. There is
no call that says "tell me when this socket is readable" and delivers that to
a port. ``select()`` and ``WSAPoll()`` are readiness calls but block on their
own and do not scale; ``WSAEventSelect`` needs an event object per socket and
``WaitForMultipleObjects`` stops at 64 handles.

What AFD is
===========

Under Winsock sits a kernel driver, AFD ("ancillary function driver",
``afd.sys``), and every socket is a file object on it. ``select()`` itself is
built on one of its ioctls, ``IOCTL_AFD_POLL``: "complete when any of these
AFD_POLL_* conditions holds on this socket". Issued as an ordinary overlapped
ioctl on a handle opened on ``\Device\Afd``, that poll *is* an operation, so
its completion goes to our port like any read. That turns a completion queue
into a readiness queue: one outstanding poll per registered socket, and a
completion means "this socket became ready". libuv, wepoll, mio and trio all
do this; it is undocumented, and stable because they all do.

Some facts about AFD polling
============================

The names in brackets are tests in ``tests/reactor/test_iocp_facts.py``, which
run on Windows (and in CI under Wine, see docs/windows.md).

1. **A poll completes once, then the socket is silent** until another poll is
   issued. [test_an_afd_poll_completes_once_then_is_silent]
2. **A poll checks the level when it is issued**: asked for AFD_POLL_RECEIVE
   while unread bytes wait, it completes at once. Re-issuing after every
   completion would therefore be level-triggered: an event per wait for as
   long as the bytes sit there. [test_an_afd_poll_on_unread_data_completes_at_once]
3. **The packet carries what we passed in**: ``lpOverlapped`` is the
   ``ApcContext`` we gave ``NtDeviceIoControlFile`` (we give the address of
   the request's IO_STATUS_BLOCK) and the key is the one the AFD handle was
   associated with. [test_the_packet_carries_the_request_address_and_the_afd_key]
4. **A cancelled poll still completes**, with ``STATUS_CANCELLED``, and the
   kernel owns its buffers until that packet is dequeued: they must outlive a
   `deregister`. [test_a_cancelled_poll_still_delivers_a_packet]
5. **Closing the socket completes its poll with AFD_POLL_LOCAL_CLOSE**, asked
   for or not. [test_closing_a_socket_completes_its_poll_with_local_close]
6. **A refused connect is AFD_POLL_CONNECT_FAIL**, a peer's FIN is
   AFD_POLL_DISCONNECT. [test_refused_connect_reports_connect_fail,
   test_peer_shutdown_reports_disconnect]
7. **Posted packets are not coalesced**: N ``PostQueuedCompletionStatus``
   calls give N packets. [test_posted_packets_are_not_coalesced]
8. **A wait returns at most the buffer's count**; the rest stay queued for the
   next wait. [test_more_packets_than_the_buffer_arrive_over_several_waits]
9. **One poll per socket per port at a time.** Two simultaneous polls on one
   socket confuse the kernel (trio's notes-to-self ``afd-lab.py``: the
   writable poll completes when the socket becomes readable; trio's finding on
   Windows, not reproduced by our tests), so all interest
   in one socket is folded into a single poll, and changing it means cancel,
   wait for the cancelled packet, then issue the new one. Two *ports* may
   each poll the same socket. [test_one_socket_in_two_selectors_is_two_registrations]

What this means for us
======================

* **Edge-triggered, emulated as mio does** (``src/sys/windows/selector.rs``).
  When a poll completes we report the events the user asked for and then
  *mask* the classes we reported (readable, writable, priority, failure) in
  the socket's wanted set; the poll re-issued right away asks only for the
  rest (fact 2 would otherwise fire it again at once). The user's side: after
  an event, do I/O until it would block, **then re-arm** with `rearm(fd)` or
  `reregister` (mio's io source does the reregister inside ``do_io`` on
  ``WouldBlock``). The epoll and kqueue kernels see the would-block
  themselves; AFD cannot, so this is the one thing the io layer above must
  tell the Windows backend. Re-arming when nothing was masked costs nothing;
  otherwise it is a cancel and a new poll, and since ``rearm(fd)`` names no
  direction it unmasks every class: a reader's re-arm of a writable socket
  also brings back a writable event nobody waits for (mio pays the same).
* **Sockets only.** AFD polls sockets; a pipe or a file cannot be registered
  (``EBADF``, the error for "not something this queue can watch").
* **AFD handles are shared by groups of 32 sockets** (`GROUP_SIZE`).
* **Closing without deregistering** is noticed (fact 5): the registration is
  dropped silently, as epoll drops a closed fd, and the fd number may be
  registered again.
* **No EINTR**: the wait is not alertable, so nothing but a packet or the
  timeout ends it. Packets that produce no event (a cancelled or stale poll)
  are absorbed and the wait resumes with the time left, so `select` keeps the
  contract's "never early, never empty before the timeout". A Ctrl-C handler
  runs only once the wait returns; to be woken, register a socket and give
  it to ``signal.set_wakeup_fd`` (Windows takes sockets there), the self-pipe
  trick. [test_a_signal_wakes_a_blocking_poll_through_set_wakeup_fd]
* **The waker** posts a packet with its own key. A flag keeps one packet in
  flight (fact 7), so many wakes before a poll are one event, as with eventfd.
* **Errors**: Windows codes become the same `OSError` subclasses and errno
  names Linux raises (``_windows_cffi.winerror_to_oserror``): WSAENOTSOCK on
  a closed socket is ``EBADF``, WSAECONNRESET is `ConnectionResetError`.

Sources: trio ``_core/_io_windows.py`` (its notes and python-trio/trio#52);
wepoll (``src/afd.c``, ``src/poll-group.c``, ``src/sock.c``); mio
``src/sys/windows/{afd,selector,event}.rs``; ReactOS
``sdk/include/reactos/drivers/afd/shared.h`` for the AFD structures;
Microsoft's docs for ``GetQueuedCompletionStatusEx``, ``CancelIoEx``,
``PostQueuedCompletionStatus``, ``NtDeviceIoControlFile`` and ``SIO_BASE_HANDLE``.
"""

from __future__ import annotations

import errno
import math
import os
import sys
import threading
import time

if sys.platform != "win32":
    # Keeps `available_backends()` honest elsewhere: no DLLs, no backend.
    raise ImportError("the IOCP backend exists only on Windows")

from . import _readiness as R
from . import _windows_cffi as win
from ._selector import WaitingThread
from .errors import AlreadyRegisteredError, NotRegisteredError, PollClosedError
from .events import Events
from .interest import Interest

#: Sockets per AFD handle. Every poll on a handle is a request queued on that
#: one file object, and trio found cancelling one of N such polls to take
#: "something like O(N**2)" (it chose 500: "at 1000, the cubic scaling is just
#: starting to bite" when N are cancelled at once). We cancel on every
#: interest change, every re-arm of a pending poll and every deregister, not
#: only at shutdown, so we keep N small, as wepoll (32) and mio (32, from
#: wepoll) do. The price is one kernel handle per 32 sockets: 313 for 10,000.
#: Not measured on Windows; under Wine the cost is Wine's, not the kernel's.
GROUP_SIZE = 32

# Completion keys: which kind of packet this is. The token is not the key: a
# key is fixed per associated handle, and one AFD handle serves many sockets.
_AFD_KEY = 1
_WAKE_KEY = 2

# The AFD_POLL_* bits each Interest asks for, and the classes masked once reported.
_READ_CLASS = win.AFD_POLL_RECEIVE | win.AFD_POLL_ACCEPT | win.AFD_POLL_DISCONNECT
_WRITE_CLASS = win.AFD_POLL_SEND
_PRIORITY_CLASS = win.AFD_POLL_RECEIVE_EXPEDITED
# Always asked for, whatever the interest, as epoll always reports EPOLLERR/HUP.
_FAIL_CLASS = win.AFD_POLL_ABORT | win.AFD_POLL_CONNECT_FAIL
_CLASSES = (_READ_CLASS, _WRITE_CLASS, _PRIORITY_CLASS, _FAIL_CLASS)


def _afd_flags(interest: Interest) -> int:
    flags = _FAIL_CLASS
    if interest & Interest.READABLE:
        flags |= _READ_CLASS
    if interest & Interest.WRITABLE:
        flags |= _WRITE_CLASS
    if interest & Interest.PRIORITY:
        flags |= _PRIORITY_CLASS
    return flags


def _readiness(afd: int) -> int:
    """AFD_POLL_* bits -> our portable bits, mio's rules (``src/sys/windows/event.rs``)."""
    r = 0
    if afd & (_READ_CLASS | _FAIL_CLASS):
        r |= R.READABLE
    if afd & (win.AFD_POLL_SEND | _FAIL_CLASS):
        r |= R.WRITABLE
    if afd & (win.AFD_POLL_DISCONNECT | _FAIL_CLASS):
        r |= R.READ_CLOSED
    if afd & _FAIL_CLASS:
        r |= R.WRITE_CLOSED
    if afd & win.AFD_POLL_CONNECT_FAIL:
        r |= R.ERROR
    if afd & win.AFD_POLL_RECEIVE_EXPEDITED:
        r |= R.PRIORITY
    return r


# Every combination of the nine AFD_POLL_* bits, computed once.
_READINESS = [_readiness(bits) for bits in range(0x200)]

_IDLE, _PENDING, _CANCELLED = "idle", "pending", "cancelled"


class _AfdGroup:
    """One ``\\Device\\Afd`` handle and how many sockets poll through it."""

    __slots__ = ("handle", "size")

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.size = 0


class _SockState:
    """One registered socket (mio's ``SockState``, wepoll's ``sock_state_t``).

    ``wanted`` is what the next poll asks for: the interest's bits minus the
    classes already reported and not yet re-armed. ``asked`` is what the poll
    in flight asks for.
    """

    __slots__ = (
        "asked",
        "base",
        "deleted",
        "fd",
        "group",
        "interest",
        "poll",
        "state",
        "token",
        "wanted",
    )

    def __init__(self, fd: int, base: int, token: int, flags: int, group: _AfdGroup) -> None:
        self.fd = fd
        self.base = base
        self.token = token
        self.interest = flags
        self.wanted = flags
        self.asked = 0
        self.group = group
        self.poll = win.AfdPoll()
        self.state = _IDLE
        self.deleted = False


def _timeout_ms(timeout: float) -> int:
    # Round up, as the epoll backend does: waking early makes callers spin.
    # Clamped first: a huge float times 1000 can be infinity, which has no
    # ceiling (select waits again for what is left after a clamped slice).
    if timeout >= (win.INFINITE - 1) / 1000:
        return win.INFINITE - 1
    return math.ceil(timeout * 1000)


class IocpSelector:
    """One completion port and the AFD polls feeding it. See the module essay."""

    name = "iocp"
    #: AFD polls check the level once, when issued: see the essay's re-arm part.
    needs_rearm = True

    def __init__(self) -> None:
        self._port = win.create_port()
        # Guards every table below. Held for bookkeeping only, never across
        # the blocking wait, so Registry calls from other threads go through
        # while one thread waits.
        self._lock = threading.Lock()
        self._socks: dict[int, _SockState] = {}
        self._inflight: dict[int, _SockState] = {}  # request address -> socket
        self._groups: list[_AfdGroup] = []
        self._buffer = win.CompletionBuffer(1)
        self._waker_token: int | None = None
        self._wake_posted = False
        self._closed = False
        self._waiting = WaitingThread()  # close wakes a thread inside select first

    def fileno(self) -> int:
        """The port's HANDLE. Not a socket: it cannot be nested in another Poll."""
        return -1 if self._closed else self._port

    # -- registration ----------------------------------------------------------------

    def _live(self) -> None:
        if self._closed:
            raise PollClosedError("this Poll is closed")

    def _acquire_group(self) -> _AfdGroup:
        for group in self._groups:
            if group.size < GROUP_SIZE:
                break
        else:
            handle = win.open_afd("Runtime")
            try:
                win.associate(handle, self._port, _AFD_KEY)
            except BaseException:
                win.close_handle(handle)
                raise
            group = _AfdGroup(handle)
            self._groups.append(group)
        group.size += 1
        return group

    def _release(self, sock: _SockState) -> None:
        sock.group.size -= 1
        # Empty AFD handles are kept for the next registration; close() frees them.

    def _submit(self, sock: _SockState) -> None:
        """Issue the socket's one poll for what it wants now (fact 9)."""
        sock.poll.submit(
            sock.group.handle, sock.base, sock.wanted | win.AFD_POLL_LOCAL_CLOSE, sock.fd
        )
        sock.asked = sock.wanted
        sock.state = _PENDING
        self._inflight[sock.poll.address] = sock

    def _update(self, sock: _SockState) -> None:
        """Make the poll in flight ask for at least ``sock.wanted``."""
        if sock.state == _IDLE:
            self._submit(sock)
        elif (
            sock.state == _PENDING
            and sock.wanted & ~sock.asked
            # A poll cannot be changed: cancel it; its STATUS_CANCELLED packet
            # (fact 4) brings us back to `_feed`, which issues the new one.
            and win.cancel_io(sock.group.handle, sock.poll.address)
        ):
            sock.state = _CANCELLED
        # _CANCELLED: the re-issue is already on its way.

    def register(self, fd: int, token: int, interest: Interest) -> None:
        with self._lock:
            self._live()
            if fd in self._socks:
                raise AlreadyRegisteredError(fd)
            if fd < 0:
                raise OSError(errno.EBADF, f"{os.strerror(errno.EBADF)}: fd {fd} is not a socket")
            base = win.base_socket(fd)
            group = self._acquire_group()
            sock = _SockState(fd, base, token, _afd_flags(interest), group)
            try:
                # Issued now, not at the next wait, so a closed socket fails
                # here (Wine's SIO_BASE_HANDLE does not check the handle).
                self._submit(sock)
            except BaseException:
                group.size -= 1
                raise
            self._socks[fd] = sock

    def reregister(self, fd: int, token: int, interest: Interest) -> None:
        with self._lock:
            self._live()
            sock = self._socks.get(fd)
            if sock is None:
                raise NotRegisteredError(fd)
            sock.token = token
            sock.interest = sock.wanted = _afd_flags(interest)
            self._update(sock)

    def rearm(self, fd: int) -> None:
        """Report ``fd``'s readiness again: call after an operation would block.

        The hook the edge-triggered emulation needs (see the essay); a no-op
        when nothing was masked. epoll and kqueue implement it as nothing at all.
        """
        with self._lock:
            self._live()
            sock = self._socks.get(fd)
            if sock is None:
                raise NotRegisteredError(fd)
            if sock.wanted != sock.interest:
                sock.wanted = sock.interest
                self._update(sock)

    def deregister(self, fd: int) -> None:
        with self._lock:
            self._live()
            sock = self._socks.pop(fd, None)
            if sock is None:
                raise NotRegisteredError(fd)
            sock.deleted = True
            if sock.state == _PENDING:
                # Its buffers stay referenced from _inflight until the packet comes.
                win.cancel_io(sock.group.handle, sock.poll.address)
                sock.state = _CANCELLED
            elif sock.state == _IDLE:
                self._release(sock)

    # -- waiting ------------------------------------------------------------------------

    def select(self, events: Events, timeout: float | None) -> int:
        with self._lock:
            self._live()
            if events.capacity != self._buffer.capacity:
                self._buffer = win.CompletionBuffer(events.capacity)
            buffer = self._buffer
            # Under the lock, with the live check: a close after it sees us.
            self._waiting.thread = threading.get_ident()
        deadline = None if timeout is None else time.perf_counter() + timeout
        ms = win.INFINITE if timeout is None else _timeout_ms(timeout)
        try:
            return self._wait(events, buffer, ms, deadline)
        finally:
            self._waiting.thread = 0
            self._waiting.exits += 1

    def _wait(self, events: Events, buffer: win.CompletionBuffer, ms: int,
              deadline: float | None) -> int:
        while True:
            try:
                packets = buffer.wait(self._port, ms)
            except OSError:
                if self._closed:
                    raise PollClosedError(
                        "Poll was closed while a thread waited in poll()"
                    ) from None
                raise
            if packets:
                with self._lock:
                    raw = self._feed(packets)
                if self._closed:  # close() woke us (see there)
                    raise PollClosedError("Poll was closed while a thread waited in poll()")
                if raw:
                    events.raw = raw
                    return len(raw) >> 1
                # Only cancelled or stale polls: nothing to report.
            if deadline is not None:
                # Wait for what is left. Also after a timeout: Windows waits
                # count in clock ticks (15.6 ms) and may end a little before
                # the deadline (perf_counter: time.monotonic has those ticks too).
                left = deadline - time.perf_counter()
                if left <= 0:
                    events.raw = []
                    return 0
                ms = _timeout_ms(left)

    def _feed(self, packets: list[tuple[int, int]]) -> list[int]:
        """Turn packets into ``[token, readiness, ...]`` and re-issue polls. Under the lock."""
        raw: list[int] = []
        for key, address in packets:
            if key == _WAKE_KEY:
                self._wake_posted = False
                if self._waker_token is not None:
                    raw += (self._waker_token, R.READABLE)
                continue
            sock = self._inflight.pop(address, None)
            if sock is None:
                continue
            sock.state = _IDLE
            if sock.deleted:
                self._release(sock)
                continue
            status = sock.poll.status
            if status == win.STATUS_CANCELLED:
                reported = 0
            elif status != win.STATUS_SUCCESS:
                # The poll itself failed (never seen): say "everything", so the
                # user's next operation meets the real error, and leave the
                # socket idle until a rearm rather than fail the same way again.
                raw += (sock.token, _READINESS[_READ_CLASS | _WRITE_CLASS | _FAIL_CLASS])
                sock.wanted = 0
                continue
            else:
                afd = sock.poll.events
                if afd & win.AFD_POLL_LOCAL_CLOSE:
                    self._drop_closed(sock)  # fact 5: closed under us
                    continue
                reported = afd & sock.asked & sock.wanted
            if reported:
                raw += (sock.token, _READINESS[reported & 0x1FF])
                for cls in _CLASSES:
                    if reported & cls:
                        sock.wanted &= ~cls
            try:
                self._submit(sock)
            except OSError as exc:
                # Never raise from here: the packets after this one are already
                # dequeued and would be lost.
                if exc.errno == errno.EBADF:
                    self._drop_closed(sock)  # closed between the packet and now
                elif sock.wanted:
                    raw += (sock.token, _READINESS[_READ_CLASS | _WRITE_CLASS | _FAIL_CLASS])
                    sock.wanted = 0  # idle until a rearm, as for a failed poll
        return raw

    def _drop_closed(self, sock: _SockState) -> None:
        sock.deleted = True
        if self._socks.get(sock.fd) is sock:
            del self._socks[sock.fd]
        self._release(sock)

    # -- waker and close ---------------------------------------------------------------

    def new_waker(self, token: int) -> IocpWaker:
        with self._lock:
            self._live()
            self._waker_token = token
        return IocpWaker(self)

    def _wake(self, waker: IocpWaker) -> None:
        with self._lock:
            if self._closed or waker.closed:
                raise PollClosedError("wake() on a closed Waker")
            if not self._wake_posted:
                win.post(self._port, _WAKE_KEY)
                self._wake_posted = True

    def _close_waker(self, waker: IocpWaker) -> None:
        with self._lock:
            if not waker.closed:
                waker.closed = True
                self._waker_token = None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            exits = self._waiting.other()
            if exits is not None:
                # Wake the waiting thread, and let it leave, before the port
                # goes: Wine does not end a wait on a port closed under it
                # (Windows documents that it does; not verified here).
                win.post(self._port, _WAKE_KEY)
                self._wake_posted = True
        if exits is not None:
            self._waiting.wait_gone(exits)
        with self._lock:
            for sock in list(self._socks.values()):
                sock.deleted = True
                if sock.state == _PENDING:
                    win.cancel_io(sock.group.handle, sock.poll.address)
            self._socks.clear()
            # Fact 4: the kernel writes each request's buffers until its packet
            # is dequeued. Drain the packets before the buffers can be freed.
            drain = win.CompletionBuffer(64)
            deadline = time.perf_counter() + 1.0
            while self._inflight and time.perf_counter() < deadline:
                for _, address in drain.wait(self._port, 50):
                    self._inflight.pop(address, None)
            if self._inflight:
                # Never seen; if it happens, leaking beats a kernel write into freed memory.
                _LEAKED.extend(self._inflight.values())
            for group in self._groups:
                win.close_handle(group.handle)
            self._groups.clear()
            win.close_handle(self._port)


#: Requests whose cancellation never completed before `close` (see there).
_LEAKED: list[_SockState] = []


class IocpWaker:
    """A `Waker` on Windows: a packet posted to the port under its own key."""

    __slots__ = ("_selector", "closed")

    def __init__(self, selector: IocpSelector) -> None:
        self._selector = selector
        self.closed = False

    def wake(self) -> None:
        self._selector._wake(self)

    def close(self) -> None:
        self._selector._close_waker(self)
