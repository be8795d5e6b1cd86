"""`broadcast`: one sender, many subscribers, and a lag policy (tokio's).

One shared ring holds the last ``capacity`` messages; every subscriber has
its own position in it, so each behaves as if it had its own bounded buffer
while every message is stored once. The sender never waits: a subscriber
that falls more than ``capacity`` messages behind gets `Lagged` (how many it
missed) and then continues from the oldest message still kept. Re-exported
from `runtime.channels` and `runtime`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from ..errors import BusyResourceError, ClosedResourceError, EndOfChannel, Lagged, WouldBlock
from ..executor.task import Waker
from ..executor.traps import checkpoint_if_cancelled, park
from ..lowlevel import current_task
from ..resource import Resource

T = TypeVar("T")


class _Broadcast:
    """One ring of the last ``capacity`` messages, shared by every subscriber.

    ``tail`` counts the messages ever sent; message number ``i`` lives in
    ``ring[i % capacity]`` until message ``i + capacity`` overwrites it.
    """

    __slots__ = ("capacity", "closed", "ring", "subscribers", "tail", "wakers")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.ring: list[Any] = [None] * capacity
        self.tail = 0
        self.subscribers = 1
        self.closed = False
        # The parked subscribers (each re-registers after a wake).
        self.wakers: dict[BroadcastReceiver[Any], Waker] = {}


class BroadcastSender(Resource, Generic[T]):
    """The one sending end of a `broadcast`. `send` never waits."""

    __slots__ = ("_bc", "_closed")

    def __init__(self, bc: _Broadcast) -> None:
        self._bc = bc
        self._closed = False

    def send(self, value: T) -> int:
        """Publish ``value`` to every subscriber; returns how many there are.

        Never waits: a subscriber ``capacity`` messages behind loses its
        oldest one (it learns of it through `Lagged`). With no subscribers
        the message is dropped (tokio reports that as an error; here it is
        the count 0, since new subscribers can come at any time).
        """
        if self._closed:
            raise ClosedResourceError("send() on a closed BroadcastSender")
        bc = self._bc
        bc.ring[bc.tail % bc.capacity] = value
        bc.tail += 1
        if bc.wakers:
            wakers = list(bc.wakers.values())
            bc.wakers.clear()
            for waker in wakers:
                waker.wake()
        return bc.subscribers

    def subscribe(self) -> BroadcastReceiver[T]:
        """A new subscriber; it sees the messages sent from now on."""
        if self._closed:
            raise ClosedResourceError("subscribe() on a closed BroadcastSender")
        self._bc.subscribers += 1
        return BroadcastReceiver(self._bc)

    def close(self) -> None:
        """End the stream: subscribers drain what they have, then `EndOfChannel`."""
        if self._closed:
            return
        self._closed = True
        bc = self._bc
        bc.closed = True
        wakers = list(bc.wakers.values())
        bc.wakers.clear()
        for waker in wakers:
            waker.wake()

    def __repr__(self) -> str:
        bc = self._bc
        return (f"<BroadcastSender {'closed' if self._closed else 'open'} capacity={bc.capacity} "
                f"sent={bc.tail} subscribers={bc.subscribers}>")


class BroadcastReceiver(Resource, Generic[T]):
    """One subscriber of a `broadcast`: its own position in the shared ring."""

    __slots__ = ("__weakref__", "_bc", "_closed", "_next")

    def __init__(self, bc: _Broadcast) -> None:
        self._bc = bc
        self._next = bc.tail
        self._closed = False

    def try_recv(self) -> T:
        """The next message without waiting.

        `Lagged` if messages were overwritten before this subscriber read
        them (then the next call returns the oldest one retained);
        `WouldBlock` if there is nothing new; `EndOfChannel` once the sender
        is closed and everything was read.
        """
        if self._closed:
            raise ClosedResourceError("recv() on a closed BroadcastReceiver")
        bc = self._bc
        position = self._next
        if position < bc.tail:
            oldest = bc.tail - bc.capacity
            if position < oldest:
                self._next = oldest
                raise Lagged(oldest - position)
            self._next = position + 1
            return bc.ring[position % bc.capacity]  # type: ignore[no-any-return]
        if bc.closed:
            raise EndOfChannel("the broadcast sender was closed")
        raise WouldBlock("no new broadcast message")

    async def recv(self) -> T:
        """Wait for the next message; a cancellation point (cancel-safe: the
        message stays in the ring). Raises as `try_recv` does, but waits
        instead of `WouldBlock`."""
        await checkpoint_if_cancelled()
        bc = self._bc
        while True:
            try:
                return self.try_recv()
            except WouldBlock:
                pass
            waker = current_task().waker
            if bc.wakers.get(self, waker) is not waker:
                # One waker per subscriber: a second would overwrite the
                # first, which would then sleep through every message.
                raise BusyResourceError("another task is already receiving on this "
                                        "BroadcastReceiver (subscribe() gives each its own)")
            bc.wakers[self] = waker
            try:
                await park()
            finally:
                bc.wakers.pop(self, None)

    def close(self) -> None:
        """Unsubscribe (idempotent); a task parked in `recv` gets `ClosedResourceError`."""
        if not self._closed:
            self._closed = True
            self._bc.subscribers -= 1
            waker = self._bc.wakers.pop(self, None)
            if waker is not None:
                waker.wake()

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        """Next message; `Lagged` propagates (loop on `recv` to skip over it)."""
        try:
            return await self.recv()
        except EndOfChannel:
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        behind = self._bc.tail - self._next
        return f"<BroadcastReceiver {'closed' if self._closed else 'open'} {behind} unread>"


def broadcast(capacity: int) -> tuple[BroadcastSender[Any], BroadcastReceiver[Any]]:
    """One sender, many subscribers, every message to each (tokio's ``broadcast``).

    ``tx, rx = broadcast(64)``; more subscribers with ``tx.subscribe()``.
    The lag policy: the sender never waits. Each subscriber may fall up to
    ``capacity`` messages behind; past that its oldest unread messages are
    overwritten, and its next receive raises ``Lagged(n)`` (``n`` = how
    many it missed), after which it continues from the oldest message still
    retained. Messages are stored once, in a ring shared by all subscribers
    (so it behaves as if each had its own bounded buffer, at the memory cost
    of one); a slot is released when it is overwritten.
    """
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        raise ValueError(f"broadcast capacity must be an int >= 1, got {capacity!r}")
    bc = _Broadcast(capacity)
    return BroadcastSender(bc), BroadcastReceiver(bc)
