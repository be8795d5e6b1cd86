"""`TimerWheel` behaves as `TimerHeap` does: same callbacks, same order.

The heap is the model (it is what the runner uses); hypothesis drives both
with the same random programs of inserts, cancels and clock advances, and
every `fire_expired` must fire the same entries in the same order. The clock
is simulated: both structures take ``now`` as an argument.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.executor.time_driver import TimerHeap, fired
from runtime.executor.timer_wheel import TimerWheel

ORIGIN = 1000.0

ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.floats(-0.01, 5.0)),
        st.tuples(st.just("insert_far"), st.floats(5.0, 1e5)),
        st.tuples(st.just("cancel"), st.integers(0, 200)),
        st.tuples(st.just("advance"), st.floats(0.0, 0.3)),
        st.tuples(st.just("advance_far"), st.floats(0.3, 100.0)),
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_wheel_fires_what_the_heap_fires_in_the_same_order(program: list[tuple]) -> None:
    heap, wheel = TimerHeap(), TimerWheel(origin=ORIGIN)
    now = ORIGIN
    heap_fired: list[int] = []
    wheel_fired: list[int] = []
    entries: list[tuple[list, list]] = []
    for op, arg in program:
        if op in ("insert", "insert_far"):
            i = len(entries)
            deadline = now + arg
            entries.append((heap.insert(deadline, lambda i=i: heap_fired.append(i)),
                            wheel.insert(deadline, lambda i=i: wheel_fired.append(i))))
        elif op == "cancel" and entries:
            h, w = entries[arg % len(entries)]
            heap.cancel(h)
            wheel.cancel(w)
        else:
            now += arg
            assert wheel.fire_expired(now) == heap.fire_expired(now)
            assert wheel_fired == heap_fired
        assert len(wheel) == len(heap)
        for h, w in entries:
            assert fired(h) == fired(w)
    # Drain: drive the wheel by its own next_deadline, as the run loop does.
    for _ in range(10_000):
        deadline = wheel.next_deadline()
        if deadline is None:
            break
        now = max(now, deadline)
        wheel.fire_expired(now)
        heap.fire_expired(now)
    assert heap.next_deadline() is None
    assert len(wheel) == 0
    assert wheel_fired == heap_fired


def test_an_entry_never_fires_before_its_deadline() -> None:
    wheel = TimerWheel(origin=0.0)
    fired_at: list[tuple[float, float]] = []
    deadlines = [0.0004, 0.0011, 0.0639, 0.064, 0.0641, 4.0959, 4.096, 4.097, 300.5]
    for d in deadlines:
        wheel.insert(d, lambda d=d: fired_at.append((d, now)))
    now = 0.0
    while (deadline := wheel.next_deadline()) is not None:
        assert deadline >= now or deadline <= now  # a number, not NaN
        now = max(now, deadline)
        wheel.fire_expired(now)
    assert [d for d, _ in fired_at] == deadlines
    assert all(at >= d for d, at in fired_at)
    assert all(at - d <= 0.0011 for d, at in fired_at)  # at most one tick late


def test_next_deadline_is_none_when_empty_and_after_cancel() -> None:
    wheel = TimerWheel(origin=0.0)
    assert wheel.next_deadline() is None
    entry = wheel.insert(10.0, lambda: None)
    assert wheel.next_deadline() is not None
    wheel.cancel(entry)
    wheel.cancel(entry)
    assert wheel.next_deadline() is None
    assert len(wheel) == 0


def test_callbacks_may_insert_due_timers_which_fire_in_the_same_call() -> None:
    wheel = TimerWheel(origin=0.0)
    trace: list[str] = []

    def first() -> None:
        trace.append("first")
        wheel.insert(0.0005, lambda: trace.append("inserted while firing"))

    wheel.insert(0.001, first)
    assert wheel.fire_expired(0.002) == 2
    assert trace == ["first", "inserted while firing"]
