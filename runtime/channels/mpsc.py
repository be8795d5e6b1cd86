"""The bounded channel: ``tx, rx = channel(capacity)``, many senders and receivers.

The bounded channel
-------------------
``tx, rx = channel(capacity)`` shares one `_Channel`: a buffer of at most
``capacity`` messages and two queues of `Waiter` nodes (the same nodes the
locks in `runtime.sync` use, from ``executor/waiter.py``), parked senders
holding their message and parked receivers waiting for one. The structure
keeps one invariant: a receiver parks only when the buffer is empty, so when
one is parked a send *hands* its message straight to the first of them (as
trio's memory channel does) instead of buffering it. (A thread's message
drained while a receiver waited can break it for a moment; `_Channel.feed`
restores it.) A receive that makes room moves the first
parked sender's message into the buffer and wakes it; with ``capacity=0``
there is no buffer and a receive takes the message out of the parked
sender's node: a rendezvous, the send completes only when someone took it.

Cancel safety
-------------
* A cancelled ``send`` has not enqueued: its message lives in its own node
  until a receiver takes it, and the cancelled sender removes the node.
* A cancelled ``recv`` loses nothing: the cancel calls the parked waiter's
  abort callback (``park(waiter.abort)``), which takes it out of the queue
  before a message can be handed to it.
* A send or recv served before the cancel came (its message taken, or a
  message handed to it) completes and returns normally; the cancellation,
  level-triggered, is raised at the next checkpoint.

Closing
-------
Each handle is closed once (`close`, ``with``/``async with``); a closed
handle raises `ClosedResourceError`, and so does a wait that was parked on
it. When the last `Sender` closes, receivers drain the buffer and then get
`EndOfChannel` (``async for`` ends). When the last `Receiver` closes, the
buffer is dropped and every send raises `BrokenResourceError`.

Feeding from a thread
---------------------
`Sender.send_from_thread` is called from a plain thread. It must not touch
the loop's structure, so it goes through an *inbox*: under a small lock it
appends the message (accepted at once if the buffer has room) or a
`_ThreadWaiter` (if full: the thread then blocks on a `threading.Event`),
and wakes the first parked receiver with its `Waker`, which is
thread-safe. Receivers move the inbox into the channel before they look at
the buffer, and again whenever they wake. A `Sender.close` on such a
thread is queued the same way, behind the messages it sent. Every other
method belongs on the loop's thread. See `Sender.send_from_thread`.

Sources: trio ``_channel.py`` (memory channels: hand-off, close rules),
tokio ``sync/mpsc``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from ..errors import (
    BrokenResourceError,
    ClosedResourceError,
    EndOfChannel,
    WouldBlock,
)
from ..executor import context
from ..executor.traps import PARK, budget_spent_or_cancelled
from ..executor.waiter import DONE, FAILED, GONE, WAITING, Waiter, take_first, wait_served
from ..resource import Resource

T = TypeVar("T")

#: What `_Channel.take` returns when there is nothing to take.
_EMPTY: Any = object()
#: In the inbox: "this sender was closed on another thread; finish it here".
_CLOSE: Any = object()


class _ThreadWaiter(Waiter):
    """A parked *thread* in a channel's sender queue (see `send_from_thread`).

    Its "waker" is itself: `wake` sets a `threading.Event`. Serving it and
    the thread giving up on a timeout race, so both decide under a lock.
    """

    __slots__ = ("_event", "_lock")

    def __init__(self, queue: deque[Waiter], value: Any, owner: Sender[Any],
                 lock: threading.Lock) -> None:
        super().__init__(queue, None, self, value, owner)
        self._event = threading.Event()
        self._lock = lock

    def claim(self) -> bool:
        with self._lock:
            if self.state is not WAITING:
                return False
            self.state = DONE  # ours now; the thread may no longer withdraw
            return True

    def withdraw(self) -> bool:
        """Called by the thread on timeout: True if it left unserved."""
        with self._lock:
            if self.state is WAITING:
                self.state = GONE
                return True
            return False

    def wake(self) -> None:
        self._event.set()


class _Channel:
    """The state both ends of a `channel` share (tokio's ``Chan``)."""

    __slots__ = (
        "buffer",
        "capacity",
        "inbox",
        "inbox_lock",
        "receivers",
        "recv_waiters",
        "send_waiters",
        "senders",
    )

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.buffer: deque[Any] = deque()
        self.send_waiters: deque[Waiter] = deque()
        self.recv_waiters: deque[Waiter] = deque()
        self.senders = 1
        self.receivers = 1
        # Messages, parked threads and closes from other threads; see drain_inbox.
        self.inbox: deque[tuple[Any, Any]] = deque()
        self.inbox_lock = threading.Lock()

    def offer(self, value: Any) -> bool:
        """Hand ``value`` to a parked receiver or buffer it; False if full."""
        if self.inbox:
            self.drain_inbox()
        waiter = take_first(self.recv_waiters)
        if waiter is not None:
            waiter.value = value
            waiter.state = DONE
            waiter.waker.wake()
            return True
        if len(self.buffer) < self.capacity:
            self.buffer.append(value)
            return True
        return False

    def take(self) -> Any:
        """The next message (refilling from parked senders), or ``_EMPTY``."""
        if self.inbox:
            self.drain_inbox()
        buffer = self.buffer
        if buffer:
            value = buffer.popleft()
            if self.send_waiters:
                self.refill()
            return value
        # Empty buffer: a rendezvous takes straight from a parked sender.
        waiter = take_first(self.send_waiters)
        if waiter is None:
            return _EMPTY
        value = waiter.value
        waiter.value = None
        waiter.state = DONE
        waiter.waker.wake()
        return value

    def refill(self) -> None:
        """Move parked senders' messages into the buffer while it has room."""
        buffer = self.buffer
        while len(buffer) < self.capacity:
            waiter = take_first(self.send_waiters)
            if waiter is None:
                return
            buffer.append(waiter.value)
            waiter.value = None
            waiter.state = DONE
            waiter.waker.wake()

    def feed(self) -> None:
        """Serve parked receivers after a drain of the inbox.

        Only then can parked receivers meet buffered messages or parked
        senders (a thread's, drained while a receiver waited): hand them
        the buffer first, then the parked senders' messages directly.
        """
        buffer = self.buffer
        while self.recv_waiters and (buffer or self.send_waiters):
            receiver = take_first(self.recv_waiters)
            if receiver is None:
                break
            if buffer:
                receiver.value = buffer.popleft()
            else:
                sender = take_first(self.send_waiters)
                if sender is None:
                    self.recv_waiters.appendleft(receiver)  # still waiting, still first
                    break
                receiver.value = sender.value
                sender.value = None
                sender.state = DONE
                sender.waker.wake()
            receiver.state = DONE
            receiver.waker.wake()
        if self.send_waiters:
            self.refill()

    def drain_inbox(self) -> None:
        """Move what threads queued into the channel (on the loop's thread)."""
        inbox = self.inbox
        while inbox:
            value, waiter = inbox.popleft()
            if waiter is None:
                self.buffer.append(value)  # accepted when the thread sent it
            elif waiter is _CLOSE:
                self.feed()  # parked receivers take what came before the close
                value._finish_close(from_inbox=True)
            elif waiter.state is WAITING:
                self.send_waiters.append(waiter)
        self.feed()

    def wake_a_receiver(self) -> None:
        """From another thread: wake a parked receiver to drain the inbox.

        Reading the queue from here races with the loop, harmlessly: a
        receiver registers before it checks the inbox, and one leaving the
        queue checks it on the way out.
        """
        try:
            first = self.recv_waiters[0]
        except IndexError:
            return
        first.waker.wake()

    def fail(self, queue: deque[Waiter], error: type[Exception], message: str,
             owner: Any = None) -> None:
        """Wake parked waiters (all, or ``owner``'s) with ``error(message)``."""
        failed = []
        kept = []
        while queue:
            waiter = queue.popleft()
            if owner is not None and waiter.owner is not owner:
                kept.append(waiter)
            elif waiter.claim():
                waiter.state = FAILED
                waiter.value = error(message)
                failed.append(waiter)
        queue.extend(kept)
        for waiter in failed:  # wake once the queue is consistent
            waiter.waker.wake()


class Sender(Resource, Generic[T]):
    """The sending end of a `channel`. `clone` it for more producers."""

    __slots__ = ("_ch", "_closed")

    def __init__(self, ch: _Channel) -> None:
        self._ch = ch
        self._closed = False

    async def send(self, value: T) -> None:
        """Send ``value``, waiting while the channel is full; a cancellation point.

        `BrokenResourceError` if every receiver is closed (then or while
        waiting), `ClosedResourceError` if this sender is. A cancelled send
        did not enqueue its message.
        """
        runner = context.runner()
        # spend_budget(runner), written out: a send and a recv per message of
        # micro.py's pingpong (see Runner.wake for what the calls cost).
        runner.budget -= 1
        if runner.budget <= 0 or runner.live_cancels:
            await budget_spent_or_cancelled(runner)
        ch = self._ch
        if self._closed:
            raise ClosedResourceError("send() on a closed Sender")
        if not ch.receivers:
            raise BrokenResourceError("send() on a channel whose receivers are all closed")
        if ch.offer(value):
            return
        task = runner.current
        waiter = Waiter(ch.send_waiters, task, task, value, self)  # a Task is its own Waker
        await wait_served(waiter)
        if waiter.state is FAILED:
            raise waiter.value

    def try_send(self, value: T) -> None:
        """Send without waiting: `WouldBlock` if the channel is full."""
        ch = self._ch
        if self._closed:
            raise ClosedResourceError("try_send() on a closed Sender")
        if not ch.receivers:
            raise BrokenResourceError("try_send() on a channel whose receivers are all closed")
        if not ch.offer(value):
            raise WouldBlock("the channel is full")

    def send_from_thread(self, value: T, timeout: float | None = None) -> None:
        """Send ``value`` from a thread that is not running the runtime.

        Blocks the calling thread while the channel is full (with
        ``capacity=0``, until a receiver takes the message), like
        ``queue.Queue.put``; raises `TimeoutError` if ``timeout`` seconds
        pass first, and then the message was not sent. Returns as soon as
        the message is accepted; a parked receiver is woken through its
        `Waker`. `BrokenResourceError` if every receiver is closed (then or
        while waiting), `ClosedResourceError` if this sender is closed.

        The check for room happens on the thread, so messages racing in
        from several threads at once can overfill the buffer by one each.
        Calling this on the runtime's own thread is a `RuntimeError`: it
        would block the loop that must make the room.
        """
        if context.runner_or_none() is not None:
            raise RuntimeError(
                "send_from_thread() called on a thread running a runtime; use await send()")
        # Everything below touches only the inbox (under its lock) and wakers.
        ch = self._ch
        waiter: _ThreadWaiter | None = None
        with ch.inbox_lock:
            if self._closed:
                raise ClosedResourceError("send_from_thread() on a closed Sender")
            if not ch.receivers:
                raise BrokenResourceError(
                    "send_from_thread() on a channel whose receivers are all closed")
            if len(ch.buffer) + len(ch.inbox) < ch.capacity and not ch.send_waiters:
                ch.inbox.append((value, None))
            else:
                waiter = _ThreadWaiter(ch.send_waiters, value, self, ch.inbox_lock)
                ch.inbox.append((value, waiter))
        ch.wake_a_receiver()
        if waiter is None:
            return
        if not waiter._event.wait(timeout):
            if waiter.withdraw():
                raise TimeoutError(f"send_from_thread() found the channel full for {timeout} s")
            waiter._event.wait()  # the loop claimed it just now; its verdict is coming
        if waiter.state is FAILED:
            raise waiter.value

    def clone(self) -> Sender[T]:
        """Another sender on the same channel; each must be closed."""
        if self._closed:
            raise ClosedResourceError("clone() of a closed Sender")
        self._ch.senders += 1
        return Sender(self._ch)

    def close(self) -> None:
        """Close this handle (idempotent). The last one ends the receivers' stream.

        Also safe from a plain thread (one feeding with `send_from_thread`):
        there the close is queued and the loop finishes it, after the
        messages this thread sent before.
        """
        if self._closed:
            return
        ch = self._ch
        with ch.inbox_lock:
            self._closed = True
            if context.runner_or_none() is None:
                ch.inbox.append((self, _CLOSE))
                remote = True
            else:
                remote = False
        if remote:
            ch.wake_a_receiver()
        else:
            self._finish_close()

    def _finish_close(self, from_inbox: bool = False) -> None:
        ch = self._ch
        ch.senders -= 1
        if not from_inbox:
            ch.drain_inbox()
        ch.fail(ch.send_waiters, ClosedResourceError, "the Sender was closed while sending",
                owner=self)
        if not ch.senders:
            ch.fail(ch.recv_waiters, EndOfChannel, "every sender of the channel was closed")

    def __repr__(self) -> str:
        return f"<Sender {'closed' if self._closed else 'open'} {_describe(self._ch)}>"


class Receiver(Resource, Generic[T]):
    """The receiving end of a `channel`; ``async for x in rx`` until it ends."""

    __slots__ = ("_ch", "_closed")

    def __init__(self, ch: _Channel) -> None:
        self._ch = ch
        self._closed = False

    async def recv(self) -> T:
        """The next message, waiting for one; a cancellation point.

        `EndOfChannel` once every sender is closed and the buffer is
        drained; `ClosedResourceError` if this receiver is closed. A
        cancelled recv loses no message.
        """
        runner = context.runner()
        # spend_budget(runner), written out: a send and a recv per message of
        # micro.py's pingpong (see Runner.wake for what the calls cost).
        runner.budget -= 1
        if runner.budget <= 0 or runner.live_cancels:
            await budget_spent_or_cancelled(runner)
        ch = self._ch
        if self._closed:
            raise ClosedResourceError("recv() on a closed Receiver")
        value = ch.take()
        if value is not _EMPTY:
            return value  # type: ignore[no-any-return]
        if not ch.senders:
            raise EndOfChannel("every sender of the channel was closed")
        task = runner.current
        waiter = Waiter(ch.recv_waiters, task, task, None, self)  # a Task is its own Waker
        ch.recv_waiters.append(waiter)
        # park(waiter.abort), written out as wait_served does (see there).
        task.abort = waiter.abort
        try:
            while waiter.state is WAITING:
                if ch.inbox:  # a thread may have sent while we registered
                    ch.drain_inbox()
                    if waiter.state is not WAITING:
                        break
                await PARK
        except BaseException:
            waiter.abort()  # not a cancel (those abort first): the coroutine was closed
            raise
        finally:
            task.abort = None
            if ch.inbox:
                ch.drain_inbox()
        if waiter.state is FAILED:
            raise waiter.value
        return waiter.value  # type: ignore[no-any-return]

    async def recv_many(self, limit: int) -> list[T]:
        """Wait for one message, then take up to ``limit`` in all that are ready.

        tokio's ``recv_many``: a consumer that handles messages in batches
        (a writer joining lines into one ``send``) gets them without a
        ``try_recv`` per message and the `WouldBlock` that ends the loop.
        Raises what `recv` raises; after the first message nothing here is a
        cancellation point, so a cancelled call loses nothing.
        """
        if limit < 1:
            raise ValueError(f"recv_many() limit must be >= 1, got {limit}")
        batch = [await self.recv()]
        take = self._ch.take
        while len(batch) < limit:
            value = take()
            if value is _EMPTY:
                break
            batch.append(value)
        return batch

    def try_recv(self) -> T:
        """The next message without waiting: `WouldBlock` if there is none yet."""
        ch = self._ch
        if self._closed:
            raise ClosedResourceError("try_recv() on a closed Receiver")
        value = ch.take()
        if value is not _EMPTY:
            return value  # type: ignore[no-any-return]
        if not ch.senders:
            raise EndOfChannel("every sender of the channel was closed")
        raise WouldBlock("the channel is empty")

    def clone(self) -> Receiver[T]:
        """Another receiver on the same channel (each message goes to one of them)."""
        if self._closed:
            raise ClosedResourceError("clone() of a closed Receiver")
        self._ch.receivers += 1
        return Receiver(self._ch)

    def close(self) -> None:
        """Close this handle (idempotent). The last one breaks the senders."""
        if self._closed:
            return
        self._closed = True
        ch = self._ch
        ch.fail(ch.recv_waiters, ClosedResourceError, "the Receiver was closed while receiving",
                owner=self)
        with ch.inbox_lock:
            ch.receivers -= 1
            last = not ch.receivers
        if last:
            ch.drain_inbox()
            ch.buffer.clear()
            ch.fail(ch.send_waiters, BrokenResourceError,
                    "every receiver of the channel was closed")

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.recv()
        except EndOfChannel:
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        return f"<Receiver {'closed' if self._closed else 'open'} {_describe(self._ch)}>"


def _describe(ch: _Channel) -> str:
    return (f"capacity={ch.capacity} buffered={len(ch.buffer)} "
            f"senders={ch.senders} receivers={ch.receivers}")


def channel(capacity: float) -> tuple[Sender[Any], Receiver[Any]]:
    """A bounded channel: ``tx, rx = channel(16)``.

    ``capacity`` messages are buffered (``0``: a rendezvous, each send waits
    for a receiver; ``math.inf``: unbounded). Any number of senders and
    receivers (`clone`); each message goes to exactly one receiver, in
    order. Works between tasks of one runtime; see `Sender.send_from_thread`
    for threads.
    """
    if capacity != math.inf and (not isinstance(capacity, int) or isinstance(capacity, bool)):
        raise TypeError(f"channel capacity must be an int or math.inf, got {capacity!r}")
    if capacity < 0:
        raise ValueError(f"channel capacity must be >= 0, got {capacity}")
    ch = _Channel(capacity)
    return Sender(ch), Receiver(ch)
