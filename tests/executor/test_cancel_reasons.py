"""What `Cancelled` says: the reason given to `CancelScope.cancel`, or the deadline."""

from __future__ import annotations

import trio

import runtime
from tests.helpers.platform_gaps import needs_trio


@needs_trio
def test_cancelled_says_why_the_scope_was_cancelled_as_trio_does() -> None:
    async def under_runtime() -> list[str]:
        said = []
        with runtime.CancelScope() as scope:
            scope.cancel("shutting down")
            try:
                await runtime.sleep(1)
            except runtime.Cancelled as exc:
                said.append(str(exc))
                raise
        with runtime.move_on_after(0.01):
            try:
                await runtime.sleep(1)
            except runtime.Cancelled as exc:
                said.append(str(exc))
                raise
        return said

    async def under_trio() -> list[str]:
        said = []
        with trio.CancelScope() as scope:
            scope.cancel("shutting down")
            try:
                await trio.sleep(1)
            except trio.Cancelled as exc:
                said.append(str(exc))
                raise
        with trio.move_on_after(0.01):
            try:
                await trio.sleep(1)
            except trio.Cancelled as exc:
                said.append(str(exc))
                raise
        return said

    for said, canceller in ((runtime.run(under_runtime()), "main"),
                            (trio.run(under_trio), "under_trio")):
        explicit, deadline = said
        assert "'shutting down'" in explicit and canceller in explicit
        assert "deadline" in deadline
