"""The typed errors `runtime` raises. Each message names what was wrong."""

from __future__ import annotations


class Cancelled(BaseException):
    """Raised inside a task at a checkpoint when its cancel scope is cancelled.

    A `BaseException` (like trio's) so a broad ``except Exception`` does not
    swallow it. Let it propagate: the scope that was cancelled catches it.
    """


class ClosedResourceError(Exception):
    """The resource was closed, possibly by another task while this one waited."""


class BusyResourceError(Exception):
    """Another task is already waiting on this resource in the same direction."""


class BrokenResourceError(Exception):
    """The other end went away (e.g. every receiver of a channel was closed)."""


class EndOfChannel(Exception):
    """Every sender was closed and the buffer is drained."""


class WouldBlock(Exception):
    """A ``try_*`` operation could not complete without waiting."""


class IncompleteReadError(EOFError):
    """EOF came before ``expected`` bytes; ``partial`` holds what was read."""

    def __init__(self, partial: bytes, expected: int) -> None:
        super().__init__(f"EOF after {len(partial)} of {expected} expected bytes")
        self.partial = partial
        self.expected = expected


class LineTooLong(ValueError):
    """A line (or a read_until chunk) exceeded its limit without a separator.

    The over-long data is discarded up to and including the next separator,
    so the stream stays usable for the next line.
    """

    def __init__(self, limit: int, separator: bytes) -> None:
        super().__init__(f"no {separator!r} within {limit} bytes: line too long")
        self.limit = limit
        self.separator = separator


class Lagged(Exception):
    """A broadcast subscriber fell behind and ``missed`` messages were overwritten.

    Its next receive returns the oldest message still retained (tokio's
    ``RecvError::Lagged``).
    """

    def __init__(self, missed: int) -> None:
        super().__init__(f"the subscriber fell behind and missed {missed} message(s)")
        self.missed = missed


class RunFinishedError(RuntimeError):
    """A call into a runtime (`RuntimeToken.run_sync_soon`, `runtime.from_thread`)
    that has finished: its `Runner` is closed (trio's ``RunFinishedError``)."""
