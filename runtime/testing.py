"""Helpers for tests of code that runs on `runtime` (trio's ``trio.testing``)."""

from __future__ import annotations

import bisect
import itertools
import math
import time

from .executor import context
from .executor.traps import park

_order = itertools.count()


async def wait_all_tasks_blocked(cushion: float = 0.0) -> None:
    """Return once every other task is blocked, and has stayed so for ``cushion`` s.

    Blocked means parked with nothing about to wake it: the run queue empty
    and no IO event or timer arriving within ``cushion`` seconds. For tests
    that must know the others have reached their waits ("is it stuck?").
    Several waiters with the same cushion wake together; one with a longer
    cushion wakes after those with a shorter one (trio's rule). A
    cancellation point.
    """
    cushion = float(cushion)
    if not cushion >= 0 or cushion == math.inf:
        raise ValueError(f"wait_all_tasks_blocked() needs a finite cushion >= 0, got {cushion!r}")
    runner = context.runner()
    waiter = [cushion, next(_order), runner.current, False]
    bisect.insort(runner.idle_waiters, waiter, key=lambda w: (w[0], w[1]))
    try:
        while not waiter[3]:
            await park()
    finally:
        if not waiter[3]:
            runner.idle_waiters.remove(waiter)


class MockClock:
    """A virtual clock for tests (trio's ``MockClock``): ``runtime.run(main(), clock=MockClock())``.

    Virtual time starts at 0 and runs at ``rate`` times real time (0: it
    stands still unless `jump` moves it). With ``autojump_threshold`` set,
    whenever every task has been blocked for that many *real* seconds, the
    clock jumps to the next timer's deadline: ``autojump_threshold=0`` runs a
    program full of sleeps and timeouts as fast as it can compute, in the
    same order as it would take in real time. Sleeps, deadlines, `fail_after`,
    timeouts in io and anything reading `runtime.current_time` follow it.
    """

    def __init__(self, rate: float = 0.0, autojump_threshold: float = math.inf) -> None:
        self._real_base = time.perf_counter()
        self._virtual_base = 0.0
        self._rate = 0.0
        self._autojump_threshold = math.inf
        self.rate = rate
        self.autojump_threshold = autojump_threshold

    def __repr__(self) -> str:
        return (f"<MockClock time={self.current_time():.4f} rate={self._rate} "
                f"autojump_threshold={self.autojump_threshold}>")

    @property
    def rate(self) -> float:
        """Virtual seconds per real second (>= 0)."""
        return self._rate

    @rate.setter
    def rate(self, rate: float) -> None:
        rate = float(rate)
        if not rate >= 0 or rate == math.inf:
            raise ValueError(f"MockClock rate must be finite and >= 0, got {rate!r}")
        self._rebase()
        self._rate = rate

    @property
    def autojump_threshold(self) -> float:
        """Real seconds every task must stay blocked before time jumps (inf: never)."""
        return self._autojump_threshold

    @autojump_threshold.setter
    def autojump_threshold(self, threshold: float) -> None:
        threshold = float(threshold)
        if not threshold >= 0:
            raise ValueError(f"MockClock autojump_threshold must be >= 0, got {threshold!r}")
        self._autojump_threshold = threshold

    def _rebase(self) -> None:
        now = time.perf_counter()
        self._virtual_base += (now - self._real_base) * self._rate
        self._real_base = now

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return self._virtual_base + (time.perf_counter() - self._real_base) * self._rate

    def deadline_to_sleep_time(self, deadline: float) -> float:
        virtual = deadline - self.current_time()
        if virtual <= 0:
            return 0.0
        # Standing still, a deadline never comes by itself: the reactor waits
        # for IO, a wake, a jump or the autojump instead.
        return virtual / self._rate if self._rate > 0 else math.inf

    def jump(self, seconds: float) -> None:
        """Move virtual time ``seconds`` forward (timers due by then fire next turn)."""
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError(f"MockClock can only jump forward, got {seconds!r}")
        self._rebase()
        self._virtual_base += seconds

    def autojump(self, deadline: float) -> None:
        """The run loop's call when every task stayed blocked: jump to ``deadline``."""
        self.jump(max(0.0, deadline - self.current_time()))


__all__ = ["MockClock", "wait_all_tasks_blocked"]
