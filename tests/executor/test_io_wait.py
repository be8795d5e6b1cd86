"""The IO driver seen from a task: `wait_readable`, `wait_writable`, `notify_closing`.

Real socketpairs and pipes. The contract (edge-triggered, like the reactor
under it): call a wait *after* the operation would block; it parks until a
new readiness edge, or until the fd is closed under it.
"""

from __future__ import annotations

import socket

import pytest

import runtime
from runtime.lowlevel import notify_closing, socket_source, wait_readable, wait_writable
from tests.helpers import assert_would_block, socket_pair
from tests.helpers.backend_limits import skip_unless_run_backend_supports


async def read_when_ready(sock: socket.socket) -> bytes:
    while True:
        try:
            return sock.recv(1024)
        except BlockingIOError:
            await wait_readable(sock)


def test_wait_readable_wakes_when_the_peer_sends() -> None:
    async def main(a: socket.socket, b: socket.socket) -> tuple[bytes, float]:
        async def sender() -> None:
            await runtime.sleep(0.02)
            b.send(b"hello")

        assert_would_block(lambda: a.recv(1024))
        start = runtime.current_time()
        runtime.spawn(sender())
        await wait_readable(a)
        return a.recv(1024), runtime.current_time() - start

    with socket_pair() as (a, b):
        data, waited = runtime.run(main(a, b))
    assert data == b"hello"
    assert 0.02 <= waited < 1.0


def test_wait_readable_accepts_a_raw_fd() -> None:
    async def main(r: socket.socket, w: socket.socket) -> bytes:
        async def writer() -> None:
            await runtime.sleep(0.005)
            w.send(b"raw")

        runtime.spawn(writer())
        await wait_readable(r.fileno())  # the int, not the socket object
        return r.recv(100)

    with socket_pair() as (r, w):
        assert runtime.run(main(r, w)) == b"raw"


def test_ping_pong_over_a_socketpair_many_rounds() -> None:
    rounds = 200

    async def main(a: socket.socket, b: socket.socket) -> int:
        async def echo() -> None:
            for _ in range(rounds):
                b.send(await read_when_ready(b))

        handle = runtime.spawn(echo())
        for i in range(rounds):
            a.send(i.to_bytes(4, "big"))
            assert await read_when_ready(a) == i.to_bytes(4, "big")
        await handle
        return rounds

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == rounds


def test_wait_readable_wakes_on_hangup() -> None:
    async def main(a: socket.socket, b: socket.socket) -> bytes:
        async def closer() -> None:
            await runtime.sleep(0.005)
            b.shutdown(socket.SHUT_WR)

        runtime.spawn(closer())
        await wait_readable(a)
        return a.recv(10)

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == b""


def test_wait_writable_wakes_when_the_peer_drains() -> None:
    async def main(a: socket.socket, b: socket.socket) -> int:
        sent = 0
        while True:  # fill the socket buffer until it would block
            try:
                sent += a.send(b"x" * 65536)
            except BlockingIOError:
                break

        async def drainer() -> None:
            await runtime.sleep(0.01)
            while True:
                try:
                    b.recv(1 << 20)
                except BlockingIOError:
                    return

        runtime.spawn(drainer())
        await wait_writable(a)
        return a.send(b"more")

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == 4


def test_wait_readable_is_cancellable_and_leaves_the_fd_free() -> None:
    # After an aborted wait, another task can wait on the same fd (no Busy).
    async def main(a: socket.socket, b: socket.socket) -> bytes:
        first = runtime.spawn(wait_readable(a))
        await runtime.sleep(0.001)
        first.abort()
        with pytest.raises(runtime.Cancelled):
            await first

        async def sender() -> None:
            await runtime.sleep(0.005)
            b.send(b"after")

        runtime.spawn(sender())
        return await read_when_ready(a)

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == b"after"


def test_a_reader_and_a_writer_may_wait_on_the_same_fd() -> None:
    async def main(a: socket.socket, b: socket.socket) -> tuple[bytes, bool]:
        while True:
            try:
                a.send(b"x" * 65536)
            except BlockingIOError:
                break
        reader = runtime.spawn(read_when_ready(a))
        writer = runtime.spawn(wait_writable(a))
        await runtime.sleep(0.005)
        b.send(b"r")
        data = await reader
        while True:
            try:
                b.recv(1 << 20)
            except BlockingIOError:
                break
        await writer
        return data, writer.is_finished()

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == (b"r", True)


# -- BusyResourceError ---------------------------------------------------------------


def test_second_reader_on_the_same_fd_gets_busy_resource_error() -> None:
    async def main(a: socket.socket, b: socket.socket) -> bytes:
        first = runtime.spawn(read_when_ready(a))
        await runtime.sleep(0.001)
        with pytest.raises(runtime.BusyResourceError, match="read"):
            await wait_readable(a)
        b.send(b"for the first")  # the first waiter is undisturbed
        return await first

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == b"for the first"


def test_second_writer_on_the_same_fd_gets_busy_resource_error() -> None:
    async def main(a: socket.socket, b: socket.socket) -> None:
        while True:
            try:
                a.send(b"x" * 65536)
            except BlockingIOError:
                break
        first = runtime.spawn(wait_writable(a))
        await runtime.sleep(0.001)
        with pytest.raises(runtime.BusyResourceError, match="write"):
            await wait_writable(a)
        first.abort()

    with socket_pair() as (a, b):
        runtime.run(main(a, b))


# -- notify_closing --------------------------------------------------------------------


def test_notify_closing_wakes_a_waiting_reader_with_closed_resource_error() -> None:
    async def main(a: socket.socket) -> None:
        async def waiter() -> None:
            await wait_readable(a)

        handle = runtime.spawn(waiter())
        await runtime.sleep(0.005)
        assert not handle.is_finished()
        notify_closing(a)
        a.close()
        with pytest.raises(runtime.ClosedResourceError):
            await handle

    with socket_pair() as (a, _b):
        runtime.run(main(a))


def test_notify_closing_wakes_reader_and_writer_both() -> None:
    async def main(a: socket.socket) -> list[str]:
        while True:
            try:
                a.send(b"x" * 65536)
            except BlockingIOError:
                break
        outcomes: list[str] = []

        async def wait(fn: object, name: str) -> None:
            try:
                await fn(a)  # type: ignore[operator]
            except runtime.ClosedResourceError:
                outcomes.append(name)

        r = runtime.spawn(wait(wait_readable, "reader"))
        w = runtime.spawn(wait(wait_writable, "writer"))
        await runtime.sleep(0.005)
        notify_closing(a)
        await r
        await w
        return sorted(outcomes)

    with socket_pair() as (a, _b):
        assert runtime.run(main(a)) == ["reader", "writer"]


def test_notify_closing_of_an_fd_nobody_waits_on_is_a_no_op() -> None:
    async def main(a: socket.socket) -> None:
        notify_closing(a)
        notify_closing(a)

    with socket_pair() as (a, _b):
        runtime.run(main(a))


def test_fd_number_reused_after_close_works_for_a_new_waiter() -> None:
    # The old registration is gone (generation bumped); the new socket that
    # gets the same number must be waitable, and no stale event may wake it.
    async def main() -> bytes:
        a, b = socket.socketpair()
        a.setblocking(False)
        fd = a.fileno()
        waiter = runtime.spawn(wait_readable(a))
        await runtime.sleep(0.001)
        notify_closing(a)
        a.close()
        b.close()
        with pytest.raises(runtime.ClosedResourceError):
            await waiter

        c, d = socket.socketpair()
        with c, d:
            c.setblocking(False)
            assert fd in (c.fileno(), d.fileno())
            reader = c if c.fileno() == fd else d
            writer = d if reader is c else c
            reader.setblocking(False)

            async def send_later() -> None:
                await runtime.sleep(0.005)
                writer.send(b"new")

            runtime.spawn(send_later())
            data = await read_when_ready(reader)
            notify_closing(reader)
            return data

    assert runtime.run(main()) == b"new"


def test_wait_on_a_closed_fd_raises_os_error_and_the_driver_stays_usable() -> None:
    from tests.helpers import closed_fd

    async def main(a: socket.socket, b: socket.socket) -> bytes:
        with pytest.raises(OSError):
            await wait_readable(closed_fd())
        b.send(b"still works")
        await wait_readable(a)
        return a.recv(100)

    with socket_pair() as (a, b):
        assert runtime.run(main(a, b)) == b"still works"


def test_a_socket_given_the_number_of_one_closed_behind_the_drivers_back_gets_its_events() -> None:
    # A socket closed without notify_closing (here: dropped) leaves its
    # ScheduledIo behind, and its registration died with it. The next socket
    # the kernel gives the same number must be registered afresh, not handed
    # the dead entry (it would wait for events that never come).
    skip_unless_run_backend_supports(
        "readiness_recipe", "a RingSource has no ScheduledIo")

    async def main() -> bytes:
        first, _peer = socket.socketpair()
        with _peer:
            number = first.fileno()
            socket_source(first)  # registered ...
            first.close()  # ... and closed behind the driver's back
        a, b = socket.socketpair()
        with a, b:
            mine = a if a.fileno() == number else b
            other = b if mine is a else a
            assert mine.fileno() == number, "the kernel did not reuse the fd number"
            src = socket_source(mine)
            src._sio.readiness = 0  # no seeded readiness: only a real event may wake us

            async def send_later() -> None:
                await runtime.sleep(0.01)
                other.send(b"reached")

            runtime.spawn(send_later())
            with runtime.fail_after(5):
                data = await src.recv(100)
            src.detach()
            return data

    assert runtime.run(main()) == b"reached"
