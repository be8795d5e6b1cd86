"""The runner's count of live cancelled scopes, which lets checkpoints skip the
scope walk while it is zero: it must never be zero while a cancel is live, and
must come back to zero when none is."""

from __future__ import annotations

import pytest

import runtime
from runtime import Cancelled, CancelScope
from runtime.executor import context


def test_scopes_entered_already_expired_leave_the_count_at_zero() -> None:
    async def main() -> list[int]:
        counts = []
        for scope in (runtime.move_on_after(0), runtime.move_on_at(runtime.current_time() - 1)):
            with scope:
                counts.append(context.runner().live_cancels)
                await runtime.checkpoint()
            counts.append(context.runner().live_cancels)
        with pytest.raises(TimeoutError), runtime.fail_after(0):
            await runtime.checkpoint()
        counts.append(context.runner().live_cancels)
        return counts

    assert runtime.run(main()) == [1, 0, 1, 0, 0]


def test_a_scope_cancelled_before_entering_is_counted_while_inside() -> None:
    async def main() -> list[int]:
        scope = CancelScope()
        scope.cancel()
        counts = [context.runner().live_cancels]
        with scope:
            counts.append(context.runner().live_cancels)
            await runtime.checkpoint()
        counts.append(context.runner().live_cancels)
        return counts

    assert runtime.run(main()) == [0, 1, 0]


def test_cancel_from_a_worker_thread_is_refused_before_anything_changes() -> None:
    async def main() -> tuple[str, bool, int, str]:
        with CancelScope() as scope:
            def cancel_from_worker() -> str:
                try:
                    scope.cancel()
                except RuntimeError as exc:
                    return str(exc)
                return "no error"

            said = await runtime.to_thread(cancel_from_worker)
            state = (scope.cancel_called, context.runner().live_cancels)
            # Still cancellable the right way, from a task, and delivered.
            scope.cancel()
            try:
                await runtime.checkpoint()
                outcome = "not delivered"
            except Cancelled:
                outcome = "Cancelled"
                raise
        return said, *state, outcome

    said, cancel_called, live, outcome = runtime.run(main())
    assert "not running the runtime" in said
    assert (cancel_called, live, outcome) == (False, 0, "Cancelled")
