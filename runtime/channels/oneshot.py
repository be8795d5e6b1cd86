"""`oneshot`: a channel for exactly one value (tokio's ``sync/oneshot.rs``).

The sender puts the value in a shared slot and wakes the receiver, if it is
parked; the receiver takes it. Closing either end tells the other: a
receive whose sender closed without sending raises `EndOfChannel`, a send
whose receiver is gone raises `BrokenResourceError`. Re-exported from
`runtime.channels` and `runtime`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ..errors import (
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
    EndOfChannel,
    WouldBlock,
)
from ..executor.task import Waker
from ..executor.traps import checkpoint_if_cancelled, park
from ..lowlevel import current_task
from ..resource import Resource

T = TypeVar("T")


class _Oneshot:
    __slots__ = ("receiver_closed", "sender_closed", "sent", "taken", "value", "waker")

    def __init__(self) -> None:
        self.value: Any = None
        self.sent = False
        self.taken = False
        self.sender_closed = False
        self.receiver_closed = False
        self.waker: Waker | None = None


class OneshotSender(Resource, Generic[T]):
    """Sends the one value of a `oneshot` (no waiting: there is room for one)."""

    __slots__ = ("_st",)

    def __init__(self, st: _Oneshot) -> None:
        self._st = st

    def send(self, value: T) -> None:
        """Deliver ``value``; `BrokenResourceError` if the receiver is closed.

        A second send, or one after `close`, is a `ClosedResourceError`.
        """
        st = self._st
        if st.sent or st.sender_closed:
            raise ClosedResourceError("this oneshot sender was already used or closed")
        if st.receiver_closed:
            raise BrokenResourceError("the oneshot's receiver was closed")
        st.value = value
        st.sent = True
        self._wake()

    def close(self) -> None:
        """Give up without sending: the receiver gets `EndOfChannel`."""
        st = self._st
        if not st.sender_closed:
            st.sender_closed = True
            self._wake()

    def _wake(self) -> None:
        waker, self._st.waker = self._st.waker, None
        if waker is not None:
            waker.wake()

class OneshotReceiver(Resource, Generic[T]):
    """Receives the one value of a `oneshot`: ``value = await rx``."""

    __slots__ = ("_st",)

    def __init__(self, st: _Oneshot) -> None:
        self._st = st

    def try_recv(self) -> T:
        """The value if it was sent; `WouldBlock` if not yet.

        `EndOfChannel` if the sender closed without sending, or the value
        was already received.
        """
        st = self._st
        if st.receiver_closed:
            raise ClosedResourceError("recv() on a closed oneshot receiver")
        if st.sent and not st.taken:
            st.taken = True
            value, st.value = st.value, None
            return value  # type: ignore[no-any-return]
        if st.sent or st.sender_closed:
            raise EndOfChannel("the oneshot's sender closed without sending"
                               if not st.sent else "the oneshot's value was already received")
        raise WouldBlock("the oneshot's value was not sent yet")

    async def recv(self) -> T:
        """Wait for the value; a cancellation point. The value stays if cancelled."""
        await checkpoint_if_cancelled()
        st = self._st
        task = current_task()
        while True:
            try:
                return self.try_recv()
            except WouldBlock:
                pass
            if st.waker is not None and st.waker is not task.waker:
                raise BusyResourceError("another task is already receiving on this oneshot")
            st.waker = task.waker
            try:
                await park()
            finally:
                st.waker = None

    def __await__(self) -> Any:
        return self.recv().__await__()

    def close(self) -> None:
        """Refuse the value: a later `OneshotSender.send` raises `BrokenResourceError`,
        and a task parked in `recv` gets `ClosedResourceError`."""
        st = self._st
        st.receiver_closed = True
        st.value = None
        waker, st.waker = st.waker, None
        if waker is not None:
            waker.wake()

def oneshot() -> tuple[OneshotSender[Any], OneshotReceiver[Any]]:
    """A channel for exactly one value (tokio's ``oneshot``): ``tx.send(v)``; ``await rx``."""
    st = _Oneshot()
    return OneshotSender(st), OneshotReceiver(st)


# -- broadcast -------------------------------------------------------------------
