"""`TimerHeap`, the run loop's timers.

The wheel it was measured against: ``tests/benchmarks/test_timer_wheel.py``.
"""

from __future__ import annotations

from runtime.executor.time_driver import TimerHeap


def test_a_callback_that_cancels_enough_timers_to_rebuild_the_heap_leaves_it_consistent() -> None:
    # Cancelling more than half the heap rebuilds it. Done from a callback
    # that fire_expired is running, the rebuild once made a new list while
    # fire_expired kept popping the old one: the entry due next fired from
    # the old list and stayed live in the new one, so len() counted a timer
    # that had fired and the tombstone count later went to -1.
    heap = TimerHeap()
    pending = heap.entries
    later = [heap.insert(10.0, lambda: None) for _ in range(200)]
    fired: list[str] = []

    def cancel_the_later_ones() -> None:
        fired.append("canceller")
        for entry in later:
            heap.cancel(entry)

    heap.insert(1.0, cancel_the_later_ones)
    heap.insert(2.0, lambda: fired.append("due"))

    assert heap.fire_expired(5.0) == 2
    assert fired == ["canceller", "due"]
    assert len(heap) == 0
    assert heap.next_deadline() is None
    assert heap.fire_expired(20.0) == 0
    assert fired == ["canceller", "due"]
    assert heap.entries is pending  # the run loop holds this list: rebuilt in place


def test_entries_is_empty_exactly_when_no_entry_is_left_to_look_at() -> None:
    # The run loop skips next_deadline and fire_expired while it is empty.
    heap = TimerHeap()
    assert not heap.entries
    entry = heap.insert(1.0, lambda: None)
    assert heap.entries
    heap.cancel(entry)
    assert heap.next_deadline() is None  # drops the tombstone
    assert not heap.entries
