"""`RingReceiver`: a socket's multishot receive on the runtime's io_uring, for a callback.

`RingSource` (``ring_source.py``) parks a *task* on a socket's receive op.
An event loop built on the runtime (`runtime.asyncio`) has no task per
socket: it has a callback (``protocol.data_received``) to call whenever
bytes came. A `RingReceiver` is that: one multishot receive (one SQE for
every receive until it ends), the kernel picking a provided buffer for
each, `RingDriver.poll` copying the bytes into `received` as their
completions are reaped, and the `Waker` given (a `CallbackWaker`) woken.
There is no ``recv`` system call per read, and no readiness to re-check.

Backpressure is the driver's: past ``MAX_QUEUED`` chunks not taken, the
receive is cancelled, and `arm_or_end` starts it again once the owner has caught
up (so a paused reader leaves the peer blocked on the kernel's socket
buffer, as on readiness).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from .ring_driver import REARM

if TYPE_CHECKING:
    from .ring_driver import Op, RingDriver
    from .task import Waker


class RingReceiver:
    """One socket's stream of received chunks, as the ring delivers them."""

    __slots__ = ("_driver", "_op", "fd", "received")

    def __init__(self, driver: RingDriver, fd: int, waker: Waker) -> None:
        self._driver = driver
        self.fd = fd
        op: Op = driver.op()
        driver.multishot(op)
        op.waker = waker  # type: ignore[assignment]  # woken by poll, never stepped as a task
        self._op = op
        #: Chunks received and not taken yet, oldest first (``bytes``).
        self.received: deque[bytes] = op.taken  # type: ignore[assignment]

    def arm_or_end(self) -> int | None:
        """Have the receive running (submit it unless it is, or it ended for
        good), and say how it stands: ``None`` while more may come;
        ``0`` once the peer's EOF came; an errno once the receive failed.
        (Asked once `received` is empty: what came before the end is in it.)
        One call for the owner's every delivery, so it is written for speed."""
        op = self._op
        if op.pending:
            return None
        result = op.result
        if result == REARM:
            if not op.closed:
                self._driver.arm(op, self.fd)
            return None
        return None if op.closed else -result

    def close(self) -> None:
        """Cancel the receive and have the kernel let go of the socket now, so
        that closing the fd right after closes the connection (ring fact 5)."""
        op = self._op
        if op.closed:
            return
        armed = op.pending
        self._driver.release(op)
        if armed:
            self._driver.flush(settle=True)
