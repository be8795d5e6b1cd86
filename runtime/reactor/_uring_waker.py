"""`RingWaker`: wake a thread blocked in `Ring.submit_and_wait`, from any thread."""

from __future__ import annotations

import os
import threading

from ._uring import INTERNAL_TOKEN, Ring
from ._uring_cffi import lib
from ._uring_memory import new_eventfd
from .errors import RingClosedError, WakerExistsError

_ONE = (1).to_bytes(8, "little")


class RingWaker:
    """Wakes a thread blocked in `Ring.submit_and_wait`, from any thread.

    An eventfd with a poll operation on the ring under ``token``: `wake`
    writes the eventfd, the poll completes, and the waiting thread returns
    with a completion carrying ``token``. The ring reads the eventfd back and
    re-arms the poll when it reaps that completion. One per ring; the ring
    closes it.
    """

    __slots__ = ("_fd", "_lock", "_ring", "token")

    def __init__(self, ring: Ring, token: int) -> None:
        ring._live()
        if ring._waker is not None:
            raise WakerExistsError("this Ring already has a RingWaker")
        self._fd = new_eventfd()
        self.token = token
        self._ring = ring
        self._lock = threading.Lock()
        try:
            ring.poll_add(self._fd, lib.POLLIN, token)
        except BaseException:
            os.close(self._fd)
            raise
        ring._waker = self

    def wake(self) -> None:
        with self._lock:
            if self._fd < 0:
                raise RingClosedError("wake() on a closed RingWaker")
            try:
                os.write(self._fd, _ONE)
            except BlockingIOError:
                os.read(self._fd, 8)  # the counter is full: the poll has certainly fired
                os.write(self._fd, _ONE)

    def _rearm(self) -> None:
        with self._lock:
            if self._fd < 0:
                return
            try:
                os.read(self._fd, 8)
            except BlockingIOError:
                pass  # a spurious poll completion: nothing was written
            self._ring.poll_add(self._fd, lib.POLLIN, self.token)

    def _detach(self) -> None:
        # Called by Ring.close, which cancels the poll: then the fd can go.
        with self._lock:
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                os.close(fd)

    def close(self) -> None:
        """Stop: cancel the ring's poll on the eventfd and close it (the ring's thread)."""
        ring = self._ring
        if ring._waker is self and not ring.closed:
            ring._waker = None
            ring.cancel(self.token, INTERNAL_TOKEN)
        self._detach()
