"""`TimerWheel` against `TimerHeap`: the same timers fire, never early.

The heap is the model (it is what the runner uses). The wheel has tokio's
resolution, 1 ms rounded up, so it may fire a timer up to 1 ms after the
heap does, never before its deadline. hypothesis drives both with the same
random programs of inserts, cancels and clock advances (the clock is
simulated: both take ``now`` as an argument) and checks: nothing fires
early; nothing fires more than 1 ms late; each call fires in (deadline,
insertion) order; in the end the same timers have fired.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.timer_wheel import TimerWheel
from runtime.executor.time_driver import TimerHeap, fired

ORIGIN = 1000.0
LATE = 0.0011  # one tick, plus float slack

ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.floats(1e-6, 5.0)),
        st.tuples(st.just("insert_far"), st.floats(5.0, 1e5)),
        st.tuples(st.just("cancel"), st.integers(0, 200)),
        st.tuples(st.just("advance"), st.floats(0.0, 0.3)),
        st.tuples(st.just("advance_far"), st.floats(0.3, 100.0)),
    ),
    max_size=120,
)


class Recorder:
    def __init__(self) -> None:
        self.now = ORIGIN
        self.fired: list[int] = []
        self.calls: list[list[int]] = [[]]

    def callback(self, i: int, deadlines: list[float]) -> None:
        assert self.now >= deadlines[i], "fired before its deadline"
        self.fired.append(i)
        self.calls[-1].append(i)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_wheel_fires_what_the_heap_fires_never_early_at_most_a_tick_late(
        program: list[tuple]) -> None:
    heap, wheel = TimerHeap(), TimerWheel(origin=ORIGIN)
    h_rec, w_rec = Recorder(), Recorder()
    now = ORIGIN
    deadlines: list[float] = []
    entries: list[tuple[list, list]] = []
    for op, arg in program:
        if op in ("insert", "insert_far"):
            i = len(entries)
            deadlines.append(now + arg)
            entries.append((
                heap.insert(now + arg, lambda i=i: h_rec.callback(i, deadlines)),
                wheel.insert(now + arg, lambda i=i: w_rec.callback(i, deadlines)),
            ))
        elif op == "cancel" and entries:
            # Only timers both agree are pending: within the last tick before
            # its deadline the heap may have fired one the wheel still holds.
            i = arg % len(entries)
            if deadlines[i] > now + LATE:
                heap.cancel(entries[i][0])
                wheel.cancel(entries[i][1])
        else:
            now += arg
            h_rec.now = w_rec.now = now
            w_rec.calls.append([])
            heap.fire_expired(now)
            wheel.fire_expired(now)
            late = {i for i in h_rec.fired if deadlines[i] <= now - LATE}
            assert late <= set(w_rec.fired), "more than a tick late"
    # Drain, driving the wheel by its own next_deadline as the run loop does.
    while (deadline := wheel.next_deadline()) is not None:
        now = max(now, deadline)
        h_rec.now = w_rec.now = now
        w_rec.calls.append([])
        wheel.fire_expired(now)
        heap.fire_expired(now)
        for i in w_rec.calls[-1]:
            assert now - deadlines[i] <= LATE, "drained more than a tick late"
    assert heap.next_deadline() is None
    assert len(wheel) == len(heap) == 0
    assert sorted(w_rec.fired) == sorted(h_rec.fired)
    for call in w_rec.calls:
        assert call == sorted(call, key=lambda i: (deadlines[i], i))
    for h, w in entries:
        assert fired(h) and fired(w)


def test_an_entry_never_fires_before_its_deadline() -> None:
    wheel = TimerWheel(origin=0.0)
    fired_at: list[tuple[float, float]] = []
    deadlines = [0.0004, 0.0011, 0.0639, 0.064, 0.0641, 4.0959, 4.096, 4.097, 300.5]
    for d in deadlines:
        wheel.insert(d, lambda d=d: fired_at.append((d, now)))
    now = 0.0
    while (deadline := wheel.next_deadline()) is not None:
        now = max(now, deadline)
        wheel.fire_expired(now)
    assert [d for d, _ in fired_at] == deadlines
    assert all(at >= d for d, at in fired_at)
    assert all(at - d <= LATE for d, at in fired_at)


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


def test_timers_crossing_the_top_level_boundary_still_fire() -> None:
    # 2^36 ticks after the origin (2.2 years of uptime), elapsed ^ tick has a
    # bit above the top level's; the wheel must file it at the top level.
    wheel = TimerWheel(origin=0.0)
    boundary = (1 << 36) / 1000.0
    wheel.fire_expired(boundary - 0.5)
    trace: list[float] = []
    for d in (boundary - 0.2, boundary + 0.3, boundary + 70.0):
        wheel.insert(d, lambda d=d: trace.append(d))
    now = boundary - 0.5
    while (deadline := wheel.next_deadline()) is not None:
        now = max(now, deadline)
        wheel.fire_expired(now)
    assert trace == [boundary - 0.2, boundary + 0.3, boundary + 70.0]
