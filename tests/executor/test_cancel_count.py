"""The cheap checkpoint sees every live cancel, and only live ones.

`checkpoint_if_cancelled` (and the ready socket operations that inline it)
skip the walk up the scope chain while the runner counts no cancelled scope
in the tree. So the count must never be zero while a cancel is live (the
cheap checkpoint would miss it), and must never be left standing by a scope
that has gone (every checkpoint after it would pay for the walk, and a count
driven below zero would hide the next cancel). These tests check what a
task sees: Cancelled where a cancel is live, nothing where none is.
"""

from __future__ import annotations

import socket

import pytest

import runtime
from runtime import Cancelled, CancelScope
from runtime.lowlevel import checkpoint_if_cancelled


async def _cheap_checkpoint_cancels() -> bool:
    """Does the cheap checkpoint raise `Cancelled` here? (Re-raised to the scope.)"""
    try:
        await checkpoint_if_cancelled()
    except Cancelled:
        return True
    return False


def test_scopes_entered_already_expired_cancel_the_cheap_checkpoint_and_only_inside() -> None:
    async def main() -> list[bool]:
        seen = []
        for scope in (runtime.move_on_after(0), runtime.move_on_at(runtime.current_time() - 1)):
            with scope:
                seen.append(await _cheap_checkpoint_cancels())
            seen.append(await _cheap_checkpoint_cancels())
        with pytest.raises(TimeoutError), runtime.fail_after(0):
            await checkpoint_if_cancelled()
        seen.append(await _cheap_checkpoint_cancels())
        return seen

    assert runtime.run(main()) == [True, False, True, False, False]


def test_a_scope_cancelled_before_entering_cancels_the_cheap_checkpoint_inside() -> None:
    async def main() -> list[bool]:
        scope = CancelScope()
        scope.cancel()
        seen = [await _cheap_checkpoint_cancels()]
        with scope:
            seen.append(await _cheap_checkpoint_cancels())
        seen.append(await _cheap_checkpoint_cancels())
        return seen

    assert runtime.run(main()) == [False, True, False]


def test_a_cancel_after_many_scopes_came_and_went_is_still_seen() -> None:
    # Each expired scope entered and left must undo exactly what it did:
    # a count left too low would let this last cancel slip through.
    async def main() -> bool:
        for _ in range(50):
            with runtime.move_on_after(0):
                await checkpoint_if_cancelled()
            scope = CancelScope()
            scope.cancel()
            with scope:
                pass
        with CancelScope() as last:
            last.cancel()
            return await _cheap_checkpoint_cancels()

    assert runtime.run(main()) is True


def test_a_ready_recv_in_a_cancelled_scope_raises_and_leaves_the_data() -> None:
    async def main() -> tuple[bool, bytes]:
        a, b = socket.socketpair()
        src = runtime.lowlevel.socket_source(a)
        try:
            b.send(b"kept")
            cancelled = True
            with runtime.move_on_after(0):
                await src.recv(100)
                cancelled = False
            return cancelled, await src.recv(100)
        finally:
            src.close()
            b.close()

    assert runtime.run(main()) == (True, b"kept")


def test_cancel_from_a_worker_thread_is_refused_before_anything_changes() -> None:
    async def main() -> tuple[str, bool, bool, str]:
        with CancelScope() as scope:
            def cancel_from_worker() -> str:
                try:
                    scope.cancel()
                except RuntimeError as exc:
                    return str(exc)
                return "no error"

            said = await runtime.to_thread(cancel_from_worker)
            state = (scope.cancel_called, await _cheap_checkpoint_cancels())
            # Still cancellable the right way, from a task, and delivered.
            scope.cancel()
            try:
                await runtime.checkpoint()
                outcome = "not delivered"
            except Cancelled:
                outcome = "Cancelled"
                raise
        return said, *state, outcome

    said, cancel_called, seen, outcome = runtime.run(main())
    assert "not running the runtime" in said
    assert (cancel_called, seen, outcome) == (False, False, "Cancelled")
