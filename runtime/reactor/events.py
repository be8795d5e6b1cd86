"""`Events` (the buffer `Poll.poll` fills) and `Event` (one readiness report)."""

from __future__ import annotations

from collections.abc import Iterator

from . import _readiness as R
from .token import Token


class Event:
    """One readiness report: which registration (`token`) and what is ready.

    mio's contract holds: an event is a *hint*. It can be spurious, and it
    does not promise the next operation succeeds; after an event, do the I/O
    until it raises ``BlockingIOError``, and only then wait again.
    """

    __slots__ = ("readiness", "token")

    def __init__(self, token: Token, readiness: int) -> None:
        self.token = token
        self.readiness = readiness

    def is_readable(self) -> bool:
        return bool(self.readiness & R.READABLE)

    def is_writable(self) -> bool:
        return bool(self.readiness & R.WRITABLE)

    def is_read_closed(self) -> bool:
        """The peer will send no more (EOF, half-close, or hang-up)."""
        return bool(self.readiness & R.READ_CLOSED)

    def is_write_closed(self) -> bool:
        """Writing can no longer succeed (hang-up, reset, failed connect)."""
        return bool(self.readiness & R.WRITE_CLOSED)

    def is_error(self) -> bool:
        """The source has a pending error (read it with ``SO_ERROR``, or `error`)."""
        return bool(self.readiness & R.ERROR)

    def error(self) -> int:
        """The errno reported with this event, or 0.

        kqueue reports a socket's pending error with ``EV_EOF`` (in
        ``fflags``); on libkqueue reporting it consumes ``SO_ERROR``, so this
        is the only place it survives. epoll and IOCP leave it in ``SO_ERROR``.
        """
        return self.readiness >> R.ERRNO_SHIFT

    def is_priority(self) -> bool:
        return bool(self.readiness & R.PRIORITY)

    def __repr__(self) -> str:
        names = [n for n in ("readable", "writable", "read_closed", "write_closed",
                             "error", "priority") if getattr(self, "is_" + n)()]
        return f"Event(token={self.token}, {'|'.join(names) or 'none'})"


class Events:
    """A reusable buffer of up to `capacity` events, filled by `Poll.poll`.

    Iterating gives `Event` objects. `raw` is the same content as a flat list
    ``[token, readiness, token, readiness, ...]`` for callers (the executor)
    that do not want an object per event. Each poll replaces `raw` with a new
    list (it never mutates the old one), so a list taken earlier stays as it was.
    """

    __slots__ = ("capacity", "raw")

    def __init__(self, capacity: int = 1024) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"Events capacity must be a positive int, got {capacity!r}")
        self.capacity = capacity
        # A plain attribute, not a property: the run loop reads it after every
        # poll, and the backends assign it (a property and a setter method
        # were two Python calls per loop turn, ~600 instructions).
        self.raw: list[int] = []

    def clear(self) -> None:
        self.raw = []

    def __len__(self) -> int:
        return len(self.raw) >> 1

    def is_empty(self) -> bool:
        return not self.raw

    def __iter__(self) -> Iterator[Event]:
        raw = self.raw
        for i in range(0, len(raw), 2):
            yield Event(Token(raw[i]), raw[i + 1])

    def __repr__(self) -> str:
        return f"Events(capacity={self.capacity}, len={len(self)})"
