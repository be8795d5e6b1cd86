"""`Poll` (the event queue) and `Registry` (what it watches)."""

from __future__ import annotations

import errno
import math
import os
from typing import Protocol

from ._backends import open_selector
from ._selector import Selector, SysWaker
from .errors import PollClosedError, WakerExistsError
from .events import Events
from .interest import Interest, check_interest
from .token import Token, check_token

#: File descriptors are C ints.
_FD_MAX = 2**31 - 1


class HasFileno(Protocol):
    def fileno(self) -> int: ...


Source = int | HasFileno


def fd_of(source: Source) -> int:
    """The fd number of ``source`` (an int fd, or anything with ``fileno()``).

    `TypeError` for anything else; `OSError` (``EBADF``) for a number no fd can have.
    """
    if isinstance(source, int):
        fd = source
    else:
        fileno = getattr(source, "fileno", None)
        if fileno is None:
            raise TypeError(f"a source is an int fd or has fileno(); got {type(source).__name__}")
        fd = int(fileno())
    if fd > _FD_MAX:
        # No fd is this big (the kernel's are C ints); say so as the kernel
        # would for any other bad fd, not with the binding's OverflowError.
        raise OSError(errno.EBADF, f"{os.strerror(errno.EBADF)}: fd {fd}")
    return fd


class Registry:
    """Registers sources with a `Poll`. Get it as ``poll.registry``.

    A source is an int fd or anything with ``fileno()``. Registrations are
    edge-triggered: after an event, do I/O until it raises
    ``BlockingIOError`` before expecting another, and expect the odd spurious
    event. Deregister a source *before* closing it (closing a dup'ed fd would
    otherwise leave a live registration behind).
    """

    __slots__ = ("_closed", "_selector", "_waker")

    def __init__(self, selector: Selector) -> None:
        self._selector = selector
        self._closed = False
        self._waker: object | None = None

    def _live(self) -> Selector:
        if self._closed:
            raise PollClosedError("this Poll is closed")
        return self._selector

    def register(self, source: Source, token: Token, interest: Interest) -> None:
        """Start reporting ``interest`` readiness of ``source`` under ``token``.

        Raises `AlreadyRegisteredError` if it is registered already, `OSError`
        (``EBADF``) for a closed or invalid fd, `ValueError` for an empty
        interest or a token outside 64 bits.
        """
        self._live().register(fd_of(source), check_token(token), check_interest(interest))

    def reregister(self, source: Source, token: Token, interest: Interest) -> None:
        """Replace the token and interest of a registered source."""
        self._live().reregister(fd_of(source), check_token(token), check_interest(interest))

    def deregister(self, source: Source) -> None:
        """Stop reporting ``source``; raises `NotRegisteredError` if it was not registered."""
        self._live().deregister(fd_of(source))

    def rearm(self, source: Source) -> None:
        """Say that an operation on ``source`` just would block.

        Call it before waiting again. Only IOCP needs it
        (``needs_rearm``): its edge-triggering is emulated and re-reports a
        readiness it has masked only when re-armed. Elsewhere it does nothing.
        """
        selector = self._live()
        if selector.needs_rearm:
            selector.rearm(fd_of(source))

    @property
    def needs_rearm(self) -> bool:
        """Whether `rearm` does anything on this backend (hot paths may skip it)."""
        return self._selector.needs_rearm

    def _attach_waker(self, owner: object, token: int) -> SysWaker:
        if self._waker is not None:
            raise WakerExistsError("this Poll already has a Waker (one per Poll, as in mio)")
        sys_waker = self._live().new_waker(check_token(token))
        self._waker = owner
        return sys_waker

    def _detach_waker(self, owner: object) -> None:
        if self._waker is owner:
            self._waker = None


class Poll:
    """An OS event queue: register sources, then wait for their readiness.

    ::

        with Poll() as poll:
            poll.registry.register(sock, Token(0), Interest.READABLE)
            events = Events()
            poll.poll(events, timeout=1.0)
            for event in events:
                ...   # read from sock until BlockingIOError

    ``backend`` picks the OS queue (``"epoll"`` on Linux; ``None`` chooses the
    platform's default). `poll` may be called from one thread at a time;
    `Registry` calls and `Waker.wake` are safe from any thread.
    """

    __slots__ = ("registry",)

    def __init__(self, backend: str | None = None) -> None:
        # The selector lives in the registry alone: the one that decides
        # whether the Poll is open, for both (`Registry._live`).
        self.registry = Registry(open_selector(backend))

    @property
    def backend(self) -> str:
        return self.registry._selector.name

    def fileno(self) -> int:
        """The queue's own fd (epoll/kqueue), e.g. to nest it in another queue."""
        return self.registry._live().fileno()

    def poll(self, events: Events, timeout: float | None = None) -> int:
        """Wait for readiness, fill ``events``, return how many arrived.

        ``timeout`` is in seconds: ``None`` blocks until an event, ``0`` returns
        at once. It never returns before ``timeout`` unless an event arrived
        (a signal handler's ``EINTR`` is retried with the time left). Events
        can be spurious: treat each as a hint to try the I/O.
        """
        # Registry._live written out: the run loop calls this every turn.
        registry = self.registry
        if registry._closed:
            raise PollClosedError("this Poll is closed")
        if timeout is not None:  # None and 0 (the run loop's) need no checks
            if timeout == 0:
                return registry._selector.select(events, 0)  # 0.0, False...: the int 0
            timeout = float(timeout)
            if not timeout >= 0.0:  # also catches NaN
                raise ValueError(f"poll timeout must be >= 0 seconds or None, got {timeout!r}")
            if math.isinf(timeout):
                timeout = None
        return registry._selector.select(events, timeout)

    def close(self) -> None:
        """Close the queue and its `Waker`. Registered fds are not closed.

        A thread blocked in `poll` meanwhile wakes with `PollClosedError`.
        """
        registry = self.registry
        if registry._closed:
            return
        waker = registry._waker
        if waker is not None:
            waker.close()  # type: ignore[attr-defined]
        registry._closed = True
        registry._selector.close()

    @property
    def closed(self) -> bool:
        return self.registry._closed

    def __enter__(self) -> Poll:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.registry._selector.fileno()}"
        return f"<Poll backend={self.backend} {state}>"
