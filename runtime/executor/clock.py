"""The clock a `Runner` keeps time with: the system's, or one a test controls.

Timers, deadlines and `runtime.current_time` all read `Runner.clock`. The
default is `time.perf_counter` (see `runtime.time.current_time`). A
`Clock` object (trio's ``trio.abc.Clock``) replaces it for one runner: the
run loop then asks it how long to sleep in the reactor for a deadline, so a
virtual clock (`runtime.testing.MockClock`) can make an hour's sleep take
no real time at all.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What `runtime.run(..., clock=)` and `Runner(clock=)` accept."""

    def start_clock(self) -> None:
        """Called once, when the runner starts using it."""

    def current_time(self) -> float:
        """Now, in seconds (timers' deadlines are in this clock)."""

    def deadline_to_sleep_time(self, deadline: float) -> float:
        """Real seconds to wait in the reactor for ``deadline`` to come (0 if it has)."""
