"""`open_signal_receiver`: signals as an async iterator (trio's, same rules).

How a signal reaches a task
---------------------------
Python runs a signal's handler in the main thread, between two bytecodes,
wherever that thread is: possibly in the middle of the run loop's own
bookkeeping. So the handler touches nothing but the runner's `EntryQueue`:
it queues ``deliver(signum)`` with `RuntimeToken.run_sync_soon`, the path
other threads take, which wakes the loop through the reactor's `Waker`.
The loop makes the call at step 3 of its turn, where the receiver records
the signal and wakes the task iterating it.

A signal that arrives just before ``poll()`` blocks would leave its handler
waiting until something else woke the loop; CPython's C-level handler
writes a byte to the wakeup fd (`SigintCatcher` owns it, registered with
the reactor), so the ``poll()`` returns, the handler runs, and the loop
turns. Where ``poll()`` was already blocked it fails with ``EINTR``, which
the backends retry after the handler has run.

Semantics (trio's): signals come out in the order they arrived; a signal
that arrives again while still pending is coalesced into one (it is a
set, not a count). Handlers are restored when the ``with`` block exits,
and signals that arrived but were not taken out are raised again then
(``signal.raise_signal``), for the restored handlers: none is lost. Only
the main thread may install handlers: elsewhere, `RuntimeError`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ..errors import BusyResourceError, RunFinishedError
from . import context
from .task import Waker
from .traps import checkpoint_if_cancelled, park


class SignalReceiver:
    """``async for signum in receiver``: the signals an `open_signal_receiver` caught."""

    __slots__ = ("_closed", "_pending", "_waker")

    def __init__(self) -> None:
        self._pending: dict[int, None] = {}  # insertion-ordered set: order kept, repeats merged
        self._waker: Waker | None = None
        self._closed = False

    def deliver(self, signum: int) -> None:
        """On the loop's thread: record ``signum`` and wake the task waiting for one."""
        if self._closed:
            # Raced with the block's exit: the restored handler takes it.
            signal.raise_signal(signum)
            return
        # The wakeup fd's byte has done its job; empty it so it never fills.
        context.runner().sigint.drain()
        self._pending[signum] = None
        waker, self._waker = self._waker, None
        if waker is not None:
            waker.wake()

    def pending_signal_count(self) -> int:
        """How many signals wait to be taken out (each number once)."""
        return len(self._pending)

    def __aiter__(self) -> SignalReceiver:
        return self

    async def __anext__(self) -> int:
        if self._closed:
            raise RuntimeError("the open_signal_receiver block this receiver belongs to has exited")
        if self._pending:
            await checkpoint_if_cancelled()
        else:
            if self._waker is not None:
                raise BusyResourceError("another task is already iterating this signal receiver")
            self._waker = waker = context.runner().current.waker
            try:
                while not self._pending:
                    await park()
            finally:
                if self._waker is waker:
                    self._waker = None
        signum = next(iter(self._pending))
        del self._pending[signum]
        return signum

    def _redeliver_remaining(self) -> None:
        self._closed = True
        # One at a time, each raised even if an earlier handler raises.
        if self._pending:
            signum = next(iter(self._pending))
            del self._pending[signum]
            try:
                signal.raise_signal(signum)
            finally:
                self._redeliver_remaining()


def _name(signum: object) -> str:
    try:
        return f"{signal.Signals(signum).name} ({int(signum)})"  # type: ignore[arg-type, call-overload]
    except (ValueError, TypeError):
        return repr(signum)


@contextmanager
def open_signal_receiver(*signals: int) -> Iterator[SignalReceiver]:
    """Catch ``signals`` while the block runs; iterate the receiver to take them.

    ``with runtime.open_signal_receiver(SIGHUP, SIGUSR1) as received:
    async for signum in received: ...``. Order is kept; repeats of a signal
    still pending are coalesced. The previous handlers come back when the
    block exits, and signals caught but not taken out are raised again for
    them. Main thread only (`RuntimeError` elsewhere); `ValueError` for a
    number that is not a signal or cannot be caught (SIGKILL, SIGSTOP).
    """
    if not signals:
        raise TypeError("open_signal_receiver() needs at least one signal")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "open_signal_receiver() works only in the main thread (Python runs signal "
            "handlers there); this runtime runs in thread "
            f"{threading.current_thread().name!r}")
    token = context.runner().token
    receiver = SignalReceiver()

    def handler(signum: int, frame: FrameType | None) -> None:
        try:
            token.run_sync_soon(receiver.deliver, signum)
        except RunFinishedError:
            pass  # the runtime has closed: nothing is left to hand it to

    previous: dict[int, object] = {}
    try:
        for signum in signals:
            try:
                previous[signum] = signal.signal(signum, handler)
            except (OSError, ValueError, TypeError) as exc:
                raise ValueError(f"cannot catch signal {_name(signum)}: {exc}") from None
        yield receiver
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)  # type: ignore[arg-type]
        receiver._redeliver_remaining()
