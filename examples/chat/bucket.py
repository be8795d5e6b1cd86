"""`TokenBucket`: a per-sender rate limit that slows a sender down instead of cutting it off."""

from __future__ import annotations

import runtime


class TokenBucket:
    """``rate`` lines a second on average, bursts of up to ``burst`` lines at once.

    `take` returns at once while the bucket has a token and otherwise sleeps
    until one has dripped in. The sleeping reader stops reading its socket,
    so a client that sends too fast is slowed by TCP's own flow control, and
    nothing it sent is dropped. ``rate`` 0 turns the limit off.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = runtime.current_time()

    async def take(self) -> None:
        if not self.rate:
            return
        now = runtime.current_time()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            await runtime.sleep((1 - self._tokens) / self.rate)
            self._tokens = 1.0
            self._stamp = runtime.current_time()
        self._tokens -= 1
