"""`plan_wait`: how long the run loop sleeps when no task is ready."""

from __future__ import annotations

from runtime.executor.time_driver import TimerHeap
from runtime.executor.wait_plan import plan_wait
from runtime.testing import MockClock


def _timers(*deadlines: float) -> TimerHeap:
    timers = TimerHeap()
    for deadline in deadlines:
        timers.insert(deadline, lambda: None)
    return timers


def test_with_nothing_pending_it_sleeps_until_io_or_a_wake() -> None:
    assert plan_wait(TimerHeap(), lambda: 0.0, None, []) == (None, None, None, None)


def test_it_sleeps_until_the_earliest_timer_and_never_a_negative_time() -> None:
    assert plan_wait(_timers(12.0, 10.5), lambda: 10.0, None, []).timeout == 0.5
    assert plan_wait(_timers(9.0), lambda: 10.0, None, []).timeout == 0.0


def test_a_virtual_clock_standing_still_waits_for_io_not_for_its_timer() -> None:
    clock = MockClock()
    clock.start_clock()
    plan = plan_wait(_timers(5.0), clock.current_time, clock, [])
    assert plan.timeout is None and plan.jump is None and plan.deadline == 5.0


def test_an_autojump_clock_sleeps_its_threshold_then_jumps_to_the_deadline() -> None:
    clock = MockClock(autojump_threshold=0.01)
    clock.start_clock()
    plan = plan_wait(_timers(5.0), clock.current_time, clock, [])
    assert (plan.timeout, plan.deadline, plan.jump) == (0.01, 5.0, 0.01)


def test_the_shortest_cushion_bounds_the_sleep_and_replaces_the_jump() -> None:
    clock = MockClock(autojump_threshold=0.5)
    clock.start_clock()
    waiters = [[0.1, 0, object(), False]]
    plan = plan_wait(_timers(5.0), clock.current_time, clock, waiters)
    assert (plan.timeout, plan.jump, plan.idle) == (0.1, None, 0.1)
    # A timer sooner than the cushion: the timer bounds it, not the cushion.
    plan = plan_wait(_timers(10.05), lambda: 10.0, None, [[0.2, 0, object(), False]])
    assert plan.idle is None and abs(plan.timeout - 0.05) < 1e-9  # type: ignore[operator]
