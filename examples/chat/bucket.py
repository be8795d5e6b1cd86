"""`TokenBucket`: a per-sender rate limit that slows a sender down instead of cutting it off."""

from __future__ import annotations


class TokenBucket:
    """``rate`` lines a second on average, bursts of up to ``burst`` lines at once.

    `delay` takes a token and says how long to wait first: 0 while the
    bucket has one, else until one has dripped in. The reader sleeps that
    long and so stops reading its socket: a client that sends too fast is
    slowed by TCP's own flow control, and nothing it sent is dropped.
    ``rate`` 0 turns the limit off.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = 0.0

    def delay(self, now: float) -> float:
        """Take a token at time ``now``; the seconds to wait before using it."""
        if not self.rate:
            return 0.0
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate) - 1
        self._stamp = now
        self._tokens = tokens
        # A negative balance is a debt the next tokens pay off: wait until it is.
        return -tokens / self.rate if tokens < 0 else 0.0
