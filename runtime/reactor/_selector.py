"""The contract every reactor backend implements (mio's ``src/sys/mod.rs``).

A backend is one module (``_epoll.py``, ``_kqueue.py``, ``_iocp.py``)
exporting a `Selector` class with exactly these methods. `Poll`,
`Registry` and `Waker` are written once against this contract, so a new
backend never changes them.

Rules a backend must keep:

* **Edge-triggered, registered once.** After `register`, the backend reports a
  readiness *change*, not a level: no syscall is needed per wait, and an event
  may be coalesced or spurious. The user's side of the contract is to do I/O
  until it would block before waiting again.
* **Readiness in portable bits** (`_readiness`): the backend translates its
  kernel's flags; nothing above it sees ``EPOLLIN`` or ``EVFILT_READ``.
* **Typed errors**: `AlreadyRegisteredError` for a second `register` of one
  fd, `NotRegisteredError` for `reregister`/`deregister` of an unknown fd,
  `OSError` (with the kernel's errno and the fd in the message) for the rest.
* **EINTR** from a blocking wait is retried with the remaining timeout.
* `select` fills `events` (at most ``events.capacity``) and returns the count.
* `rearm(fd)` is called by the user after an operation on ``fd`` would
  block. Kernels that see the would-block themselves (epoll, kqueue) set
  ``needs_rearm = False`` and do nothing; IOCP's emulated edge-triggering
  (``_iocp.py``) needs it to report the masked readiness again. Only where
  it does any work can it fail: `NotRegisteredError` for an fd the backend
  does not hold (IOCP drops a socket closed under it), `OSError` if the new
  poll cannot be issued.
* `new_waker(token)` returns a `SysWaker` whose `wake` is safe from any
  thread and makes a blocked `select` return an event carrying ``token``.
* `close` from another thread ends a `select` blocked meanwhile with
  `PollClosedError` (`WaitingThread` keeps track of it).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from .events import Events
from .interest import Interest


class SysWaker(Protocol):
    def wake(self) -> None: ...

    def close(self) -> None: ...


class Selector(Protocol):
    #: The backend's name as `Poll(backend=...)` spells it.
    name: str
    #: Whether `rearm` does anything (callers may skip the call when it does not).
    needs_rearm: bool

    def fileno(self) -> int: ...

    def register(self, fd: int, token: int, interest: Interest) -> None: ...

    def reregister(self, fd: int, token: int, interest: Interest) -> None: ...

    def deregister(self, fd: int) -> None: ...

    def rearm(self, fd: int) -> None: ...

    def select(self, events: Events, timeout: float | None) -> int: ...

    def new_waker(self, token: int) -> SysWaker: ...

    def close(self) -> None: ...


class WaitingThread:
    """Which thread is inside a selector's blocking wait, for `close`.

    One thread polls at a time, as in mio. `select` sets ``thread`` before
    its wait and, on the way out, clears it and counts the exit; `close`,
    if `other` says another thread is inside, wakes it by the backend's own
    means and then `wait_gone` until it has left before tearing down.
    """

    __slots__ = ("exits", "thread")

    #: How long `wait_gone` waits for a woken thread to leave.
    GRACE = 5.0

    def __init__(self) -> None:
        self.thread = 0
        self.exits = 0

    def other(self) -> int | None:
        """The exit count to wait past if a thread other than this one is inside."""
        exits = self.exits  # read first: a thread leaving now counts
        thread = self.thread
        return exits if thread and thread != threading.get_ident() else None

    def wait_gone(self, exits: int) -> None:
        """Until the thread `other` saw has left once (it may come back: closed)."""
        deadline = time.monotonic() + self.GRACE
        while self.exits == exits and time.monotonic() < deadline:
            time.sleep(0.0005)
