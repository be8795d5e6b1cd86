"""`ReadySource.try_send`: the send that needs no coroutine, and what it must still honour.

`Stream.write_all` tries `try_send` first and awaits `send` only when it
answers ``None``. Skipping the coroutine must not skip the cooperative
budget, the cancellation check, or the wait for a full kernel buffer; each
test here fails if `try_send` forgets one of them.
"""

from __future__ import annotations

import socket

import runtime
from runtime.executor.runner import BUDGET
from runtime.io import Stream
from runtime.lowlevel import socket_source, wait_readable
from tests.helpers import socket_pair
from tests.helpers.backend_limits import skip_unless_run_backend_supports


def test_try_send_to_a_socket_with_room_sends_and_spends_one_unit_of_budget() -> None:
    skip_unless_run_backend_supports(
        "readiness_recipe", "every send is submitted and awaited (try_send is always None)")

    async def main(a: socket.socket) -> tuple[int | None, int]:
        src = socket_source(a)
        await runtime.checkpoint()  # a fresh step: the budget is whole
        runner = src._runner
        sent = src.try_send(b"abc")
        return sent, BUDGET - runner.budget

    with socket_pair() as (a, b):
        assert runtime.run(main(a)) == (3, 1)
        assert b.recv(10) == b"abc"


def test_try_send_to_a_full_socket_answers_none_and_write_all_waits_for_room() -> None:
    # On uring try_send is always None, and write_all's wait is the send's own.
    async def main(a: socket.socket, b: socket.socket) -> tuple[int | None, int, int]:
        stream = Stream(a)
        filled = 0
        while True:  # fill the kernel's buffers
            try:
                filled += a.send(b"x" * 65536)
            except BlockingIOError:
                break
        refused = stream._src.try_send(b"y")
        drained = 0

        async def drain() -> None:
            nonlocal drained
            await runtime.sleep(0.05)  # the writer is parked by now
            while drained < filled + 1000:
                await wait_readable(b)
                drained += len(b.recv(1 << 20))

        async with runtime.TaskGroup() as tg:
            tg.spawn(drain())
            await stream.write_all(b"z" * 1000)  # must wait until drain makes room
        return refused, filled, drained

    with socket_pair() as (a, b):
        refused, filled, drained = runtime.run(main(a, b))
    assert refused is None
    assert drained == filled + 1000


def test_write_all_to_a_ready_socket_still_yields_once_the_budget_is_spent() -> None:
    skip_unless_run_backend_supports(
        "readiness_recipe", "every send parks until its completion: none is ready at once")
    trace: list[str] = []

    async def other() -> None:
        trace.append("other ran")

    async def main(a: socket.socket) -> None:
        stream = Stream(a)
        async with runtime.TaskGroup() as tg:
            tg.spawn(other())
            for _ in range(BUDGET - 1):
                await stream.write_all(b"x")
            trace.append(f"{BUDGET - 1} writes without a yield")
            await stream.write_all(b"x")  # the budget is spent: this one yields
            trace.append("after the yield")

    with socket_pair() as (a, b):
        runtime.run(main(a))
        b.setblocking(True)  # Windows' socketpair is TCP: the bytes may still be on their way
        b.settimeout(5)
        got = b""
        while len(got) < BUDGET:
            got += b.recv(1 << 16)
        assert got == b"x" * BUDGET
    assert trace == [f"{BUDGET - 1} writes without a yield", "other ran", "after the yield"]


def test_a_send_never_overtakes_a_send_already_waiting() -> None:
    # A writer parked in send() (the buffer was full) goes first: try_send
    # answers None both before the room it waits for is seen and after the
    # writer is woken but before it has run (on uring try_send is always
    # None), and send itself then refuses (BusyResourceError, as for any
    # second writer) instead of sending.
    async def main(a: socket.socket, b: socket.socket) -> tuple[object, ...]:
        src = socket_source(a)
        while True:  # fill the kernel's buffers
            try:
                a.send(b"x" * 65536)
            except BlockingIOError:
                break
        writer = runtime.spawn(src.send(b"A" * 1000))
        await runtime.yield_now()  # the writer waits (on uring: submitted its send)
        while True:  # the peer makes room
            try:
                b.recv(1 << 20)
            except BlockingIOError:
                break
        before = src.try_send(b"B")
        while not writer._task.scheduled and not writer._task.finished:
            await runtime.yield_now()  # room is seen: the writer is woken (or done)
        after = src.try_send(b"B")
        try:
            refused: object = await src.send(b"B")
        except runtime.BusyResourceError as exc:
            refused = type(exc).__name__
        await writer
        return before, after, refused

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == (None, None, "BusyResourceError")
        b.setblocking(True)  # Windows' socketpair is TCP: the bytes may still be on their way
        b.settimeout(5)
        got = b""
        while got.count(b"A") < 1000:
            got += b.recv(1 << 20)
    assert got.strip(b"x") == b"A" * 1000, got[-20:]


def test_write_all_in_a_cancelled_scope_raises_cancelled_and_sends_nothing() -> None:
    async def main(a: socket.socket) -> str:
        stream = Stream(a)
        with runtime.CancelScope() as scope:
            scope.cancel()
            try:
                await stream.write_all(b"never sent")
            except runtime.Cancelled:
                return "Cancelled"
        return "sent"

    with socket_pair() as (a, b):
        assert runtime.run(main(a)) == "Cancelled"
        try:
            got = b.recv(100)
        except BlockingIOError:
            got = b""
        assert got == b""


def test_a_reader_woken_by_data_then_closed_before_it_runs_gets_closed_resource_error() -> None:
    # The race ReadySource.recv's written-out wait must handle: the event sets
    # READABLE and wakes the reader, then, before the reader runs, another
    # task closes the source. The reader must not call recv on the closed
    # socket (EBADF, or a stranger's fd if the number was reused).
    skip_unless_run_backend_supports(
        "readiness_recipe", "there is no readiness to race with (a RingSource has no ScheduledIo)")

    async def main(a: socket.socket, b: socket.socket) -> str:
        src = socket_source(a)
        src._sio.readiness = 0  # no try-first: park at once

        async def reader() -> str:
            try:
                await src.recv(100)
            except runtime.ClosedResourceError as exc:
                return f"ClosedResourceError: {exc}"
            return "read"

        handle = runtime.spawn(reader())
        await runtime.yield_now()  # the reader parks
        b.send(b"data")
        while not handle._task.scheduled:  # the event has woken it, it has not run yet
            await runtime.yield_now()
        src.close()
        return await handle

    with socket_pair() as (a, b):
        result = runtime.run(main(a, b))
    assert result.startswith("ClosedResourceError: fd"), result


def test_an_errno_reported_with_the_event_is_raised_by_the_read_that_would_see_eof() -> None:
    # kqueue hands a reset's errno up with EV_EOF (libkqueue has consumed
    # SO_ERROR by then); here the event's errno is set by hand on any backend.
    skip_unless_run_backend_supports("readiness_recipe", "no readiness event reaches the read")
    import errno

    from runtime.executor.io_driver import HAS_ERRNO
    from runtime.reactor import Readiness

    async def main(a: socket.socket) -> tuple[BaseException | None, bytes]:
        src = socket_source(a)
        src._sio.readiness |= Readiness.ERROR | errno.ECONNRESET * HAS_ERRNO
        raised = None
        try:
            await src.recv(100)
        except OSError as exc:
            raised = exc
        return raised, await src.recv(100)  # reported once, as SO_ERROR is

    with socket_pair() as (a, b):
        b.close()
        raised, after = runtime.run(main(a))
    assert isinstance(raised, ConnectionResetError), raised
    assert after == b""
