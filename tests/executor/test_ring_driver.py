"""The completion driver (``backend="uring"``): what only the completion model has to get right.

Cancelling an operation the kernel owns, memory the kernel writes after
the task moved on, many operations in flight, a full submission queue, a
reset peer, and the readiness users (wait_readable, to_thread) that must keep
working with the ring as the loop's only wait. Every test runs its own
``runtime.run(..., backend="uring")``; the rest of the executor, io, sync,
channel and chat suites run on uring in ``tests/test_uring_pass.py``.
"""

from __future__ import annotations

import array
import errno
import gc
import mmap
import os
import pathlib
import socket
import warnings
import weakref

import pytest

import runtime
from runtime.errors import ClosedResourceError
from runtime.executor import context, ring_driver
from runtime.io import Stream, TcpListener, TcpStream
from runtime.lowlevel import socket_source, wait_readable
from tests.helpers.backend_pass import why_uring_unavailable
from tests.helpers.pairs import reset_on_close
from tests.helpers.uring import run_with_io_uring_refused

pytestmark = pytest.mark.skipif(why_uring_unavailable() is not None,
                                reason=str(why_uring_unavailable()))


def run(main: object) -> object:
    return runtime.run(main, backend="uring")  # type: ignore[arg-type]


def ring_in_flight() -> int:
    driver = context.runner().ring
    assert driver is not None
    return driver.ring.in_flight


# -- one operation per direction, owned until its result is taken -------------------------------


def test_a_second_reader_cannot_resubmit_on_an_op_whose_result_is_not_taken_yet() -> None:
    # The first reader's completion is reaped in the same loop turn that wakes
    # the second reader (its gate read completes first). The second gets
    # BusyResourceError rather than re-submit on the op and overwrite (or
    # leak, for accept) the first one's result. (On epoll the second, finding
    # readiness set, would read the data itself: one op per direction is the
    # completion model's stricter rule.)
    async def main() -> dict[str, object]:
        gate_r, gate_w = socket.socketpair()
        a, b = socket.socketpair()
        with gate_w, b:
            src, gate = socket_source(a), socket_source(gate_r)
            got: dict[str, object] = {}

            async def first() -> None:
                got["first"] = await src.recv(100)

            async def second() -> None:
                await gate.recv(1)
                try:
                    got["second"] = await src.recv(100)
                except runtime.BusyResourceError:
                    got["second"] = "busy"

            with runtime.fail_after(5):
                async with runtime.TaskGroup() as tg:
                    tg.spawn(second())
                    tg.spawn(first())
                    await runtime.sleep(0.05)  # both parked in the kernel
                    gate_w.send(b"g")
                    b.send(b"data")
            src.close()
            gate.close()
        return got

    assert run(main()) == {"first": b"data", "second": "busy"}


def test_closing_a_stream_wakes_a_readiness_waiter_on_its_socket() -> None:
    async def main() -> str:
        a, b = socket.socketpair()
        with b:
            stream = Stream(a)

            async def close_soon() -> None:
                await runtime.sleep(0.02)
                stream.close()

            runtime.spawn(close_soon())
            with runtime.fail_after(5):
                try:
                    await wait_readable(a)
                except ClosedResourceError:
                    return "ClosedResourceError"
            return "returned"

    assert run(main()) == "ClosedResourceError"


# -- cancellation: no data lost, no freed buffer written --------------------------------------


def test_a_cancelled_recv_into_holds_its_buffer_until_the_kernel_lets_go() -> None:
    async def main() -> tuple[bool, bool, bytes, bytes]:
        a, b = socket.socketpair()
        with b:
            src = socket_source(a)
            buf = array.array("b", bytes(16))
            alive = weakref.ref(buf)
            with runtime.move_on_after(0.05):
                await src.recv_into(buf)
            # Cancelled: the kernel's completion (-ECANCELED) has been reaped
            # before Cancelled was raised, and the ring has let go of the buffer.
            op = src._read  # type: ignore[attr-defined]
            ring = context.runner().ring.ring  # type: ignore[union-attr]
            released = not op.pending and op.token not in ring._owned
            untouched = bytes(buf)
            del buf
            gc.collect()
            b.send(b"after the cancel")
            data = await src.recv(100)  # not written into the old buffer: here
            src.close()
            return released, alive() is None, untouched, data

    released, freed, untouched, data = run(main())  # type: ignore[misc]
    assert released and freed
    assert untouched == bytes(16) and data == b"after the cancel"


@pytest.mark.parametrize("multishot", [False, True], ids=["one-shot", "multishot"])
def test_data_racing_a_cancel_is_returned_or_left_for_the_next_read(
        multishot: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # One-shot: the peer's bytes are in the socket before the cancel is even
    # submitted, with the recv still queued (even rounds) or already waiting
    # in the kernel (odd rounds): the recv may win (Stream.read returns the
    # bytes; Cancelled comes at the next checkpoint) or the cancel may (the
    # bytes stay in the socket). Multishot: nothing is cancelled in the
    # kernel; bytes that arrive after the reader left wait in the source's
    # queue. Either way, every byte sent is read once, in order.
    if not multishot:
        monkeypatch.setenv("RUNTIME_URING_DISABLE", "recv_multishot")

    async def main() -> tuple[bytes, int]:
        got = bytearray()
        won = 0
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            peer = socket.create_connection(listener.local_address)
            peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with peer:
                async with await listener.accept() as stream:
                    for i in range(200):

                        async def send_then_cancel(
                            scope: runtime.CancelScope, message: bytes, submitted: bool
                        ) -> None:
                            if submitted:  # let the loop hand the recv to the kernel first
                                await runtime.sleep(0.001)
                            peer.send(message)  # arrives while the read waits
                            scope.cancel()

                        with runtime.CancelScope() as scope:
                            sender = runtime.spawn(
                                send_then_cancel(scope, b"<%d>" % i, bool(i % 2)))
                            got += await stream.read(100)
                            won += 1
                        await sender  # its bytes are sent before the next round's
                    peer.shutdown(socket.SHUT_WR)
                    while chunk := await stream.read(100):
                        got += chunk
        return bytes(got), won

    got, won = run(main())  # type: ignore[misc]
    assert got == b"".join(b"<%d>" % i for i in range(200))
    if not multishot:
        # Even rounds: the recv is issued before the cancel and finds the bytes.
        assert won >= 100, won


def test_read_exact_keeps_bytes_that_completed_during_a_cancel_in_the_stream_buffer() -> None:
    async def main() -> bytes:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            peer = socket.create_connection(listener.local_address)
            with peer:
                async with await listener.accept() as stream:
                    for _ in range(50):
                        with runtime.CancelScope() as scope:

                            async def half(scope: runtime.CancelScope = scope) -> None:
                                peer.send(b"ab")  # half of what read_exact wants
                                scope.cancel()

                            runtime.spawn(half())
                            await stream.read_exact(4)
                        peer.send(b"cd")
                        assert await stream.read_exact(4) == b"abcd"
                    return b"ok"

    assert run(main()) == b"ok"


def test_closing_a_stream_wakes_its_reader_with_closed_resource_error() -> None:
    async def main() -> str:
        a, b = socket.socketpair()
        with b:
            stream = Stream(a)

            async def close_soon() -> None:
                await runtime.sleep(0.02)
                stream.close()

            runtime.spawn(close_soon())
            try:
                await stream.read()
            except ClosedResourceError as exc:
                b.setblocking(False)
                await wait_readable(b)  # the cancelled recv let the socket go: EOF
                assert b.recv(10) == b""
                return str(exc)
            return "read returned"

    assert "closed while reading" in str(run(main()))


# -- many operations, a small queue ------------------------------------------------------------


def test_1000_reads_in_flight_at_once_all_complete() -> None:
    async def main() -> tuple[int, list[bytes]]:
        pairs = [socket.socketpair() for _ in range(1000)]
        streams = [Stream(a) for a, _ in pairs]
        results: list[bytes] = [b""] * 1000
        peak = 0
        try:
            async with runtime.TaskGroup() as tg:
                for i, stream in enumerate(streams):

                    async def read(i: int = i, stream: Stream = stream) -> None:
                        results[i] = await stream.read_exact(5)

                    tg.spawn(read())
                await runtime.sleep(0.05)
                peak = ring_in_flight()
                for i, (_, b) in enumerate(pairs):
                    b.send(b"%05d" % i)
        finally:
            for stream in streams:
                stream.close()
            for _, b in pairs:
                b.close()
        return peak, results

    peak, results = run(main())  # type: ignore[misc]
    assert peak >= 1000
    assert results == [b"%05d" % i for i in range(1000)]


def test_a_full_submission_queue_is_flushed_while_tasks_keep_submitting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ring_driver, "ENTRIES", 8)  # 100 reads queued in one turn

    async def main() -> tuple[int, list[bytes]]:
        entries = context.runner().ring.ring.sq_entries  # type: ignore[union-attr]
        pairs = [socket.socketpair() for _ in range(100)]
        got: list[bytes] = []
        async with runtime.TaskGroup() as tg:
            for a, b in pairs:
                b.send(b"x")

                async def read(a: socket.socket = a) -> None:
                    async with Stream(a) as stream:
                        got.append(await stream.read())

                tg.spawn(read())
        for _, b in pairs:
            b.close()
        return entries, got

    entries, got = run(main())  # type: ignore[misc]
    assert entries == 8 and got == [b"x"] * 100


# -- errors the kernel reports in completions ----------------------------------------------------


def test_a_peer_reset_completes_the_pending_read_with_connection_reset_error() -> None:
    async def main() -> BaseException:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            peer = socket.create_connection(listener.local_address)
            async with await listener.accept() as stream:

                async def reset() -> None:
                    await runtime.sleep(0.02)  # the read is in the kernel by then
                    reset_on_close(peer)
                    peer.close()

                runtime.spawn(reset())
                try:
                    await stream.read()
                except OSError as exc:
                    return exc
        raise AssertionError("read returned")

    exc = run(main())
    assert isinstance(exc, ConnectionResetError) and exc.errno == errno.ECONNRESET
    assert "127.0.0.1" in str(exc)  # named by the io layer, as on epoll


def test_a_refused_connect_is_a_connection_refused_error_naming_the_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: refused
        port = s.getsockname()[1]

        async def main() -> None:
            await TcpStream.connect("127.0.0.1", port)

        with pytest.raises(ConnectionRefusedError, match=f"127.0.0.1.*{port}"):
            run(main())


# -- readiness users keep working with the ring as the loop's wait --------------------------------


def test_wait_readable_to_thread_and_timers_work_beside_the_ring() -> None:
    async def main() -> tuple[bytes, int]:
        r, w = os.pipe()
        try:
            async def write_later() -> None:
                await runtime.sleep(0.02)
                await runtime.to_thread(os.write, w, b"pipe")

            runtime.spawn(write_later())
            await wait_readable(r)  # epoll, polled from inside the ring
            return os.read(r, 10), await runtime.to_thread(lambda: 7)
        finally:
            os.close(r)
            os.close(w)

    assert run(main()) == (b"pipe", 7)


def test_the_environment_variable_selects_the_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> bool:
        return context.runner().ring is not None

    monkeypatch.setenv("RUNTIME_BACKEND", "uring")
    assert runtime.run(main()) is True
    monkeypatch.setenv("RUNTIME_BACKEND", "epoll")
    assert runtime.run(main()) is False


@pytest.mark.timeout(60)
def test_a_kernel_that_refuses_io_uring_gets_a_clear_error_and_epoll_still_runs() -> None:
    child = run_with_io_uring_refused("""
        import runtime
        from runtime.reactor.errors import UringUnavailableError

        async def main():
            return "ran"

        try:
            runtime.run(main(), backend="uring")
        except UringUnavailableError as exc:
            print("uring:", exc)
        print("default:", runtime.run(main()))
    """)
    assert child.returncode == 0, child.stderr
    lines = child.stdout.splitlines()
    assert lines[0].startswith("uring: [Errno 1] io_uring_setup: Operation not permitted")
    assert lines[1] == "default: ran"
    assert "never awaited" not in child.stderr


def test_an_operation_bigger_than_one_sqe_carries_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    # An SQE's length is 32 bits: a 5 GiB write_all would not fit one send
    # (cffi refused it with OverflowError). Each operation moves at most
    # MAX_OP_BYTES; write_all sends the rest, and a read asks for no more.
    # Shown with the cap lowered to 64 KiB; the one-shot receive (multishot
    # off) is the read that asks for a size.
    from runtime.executor import ring_source
    from runtime.reactor import Ring

    monkeypatch.setattr(ring_source, "MAX_OP_BYTES", 65536)
    monkeypatch.setenv("RUNTIME_URING_DISABLE", "recv_multishot")
    sends = _spy_on_ring_sends(monkeypatch, Ring)
    payload = bytes(range(256)) * 16384  # 4 MiB: more than the socket buffers take at once

    async def main() -> tuple[bytes, int]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            client = await TcpStream.connect("127.0.0.1", listener.local_address[1])
            async with client, await listener.accept() as server:
                async def write() -> None:
                    await client.write_all(payload)
                    await client.shutdown_write()

                runtime.spawn(write())
                got = bytearray()
                largest = 0
                while chunk := await server.read(1 << 20):
                    largest = max(largest, len(chunk))
                    got += chunk
                return bytes(got), largest

    got, largest = run(main())  # type: ignore[misc]
    assert got == payload
    assert largest <= 65536
    assert sends and max(sends) <= 65536  # what try_send's plain send left went capped


def _spy_on_ring_sends(monkeypatch: pytest.MonkeyPatch, ring_class: type) -> list[int]:
    """The length of every `Ring.send` from now on."""
    sends: list[int] = []
    real = ring_class.send

    def send(self: object, fd: int, data: object, token: int, flags: int = 0) -> None:
        sends.append(len(data))  # type: ignore[arg-type]
        real(self, fd, data, token, flags)

    monkeypatch.setattr(ring_class, "send", send)
    return sends


@pytest.mark.timeout(60)
def test_write_all_of_5_gib_goes_out_in_capped_operations_until_the_peer_resets(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    # 5 GiB without 5 GiB of memory: a shared mapping of a sparse file reads
    # as zeros and allocates nothing. The peer reads 4 MiB, checks them, and
    # resets; write_all must have sent in SQE-sized operations (never a
    # length past 32 bits) and end with the reset, not an OverflowError.
    from runtime.executor.ring_source import MAX_OP_BYTES
    from runtime.reactor import Ring

    sends = _spy_on_ring_sends(monkeypatch, Ring)

    async def main(view: memoryview) -> tuple[type[BaseException] | None, bytes]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            client = await TcpStream.connect("127.0.0.1", listener.local_address[1])
            async with client, await listener.accept() as server:
                async def write() -> type[BaseException] | None:
                    try:
                        await client.write_all(view)
                    except OSError as exc:
                        return type(exc)  # not exc: its frames hold views of the mapping
                    return None

                writer = runtime.spawn(write())
                got = await server.read_exact(4 << 20)
                reset_on_close(server.socket)
                await server.aclose()
                return await writer, got

    with open(tmp_path / "sparse", "w+b") as f:
        f.truncate(5 << 30)
        mapping = mmap.mmap(f.fileno(), 5 << 30, access=mmap.ACCESS_READ)
    with memoryview(mapping) as view:
        error, got = run(main(view))  # type: ignore[misc]
    gc.collect()
    mapping.close()
    assert got == bytes(4 << 20)
    assert error in (ConnectionResetError, BrokenPipeError), error
    assert sends and max(sends) <= MAX_OP_BYTES


def test_streams_dropped_without_close_release_their_ops_and_the_peer_sees_the_close() -> None:
    # A TCP stream's multishot receive holds the file open in the kernel (ring
    # fact 5): if a dropped stream left it armed, its slot, its operation and
    # the connection itself would live on, and the peer would never see EOF.
    async def main() -> tuple[int, int, int, int, list[bytes]]:
        driver = context.runner().ring
        assert driver is not None
        live = lambda: sum(op is not None for op in driver._slab)  # noqa: E731
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            port = listener.local_address[1]
            async with await TcpStream.connect("127.0.0.1", port), await listener.accept():
                pass  # the listener's (multishot) accept is armed from here on
            before = (live(), driver.ring.in_flight)
            clients = []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                for _ in range(10):
                    client = await TcpStream.connect("127.0.0.1", port)
                    server = await listener.accept()
                    await client.write_all(b"x")
                    assert await server.read() == b"x"  # its multishot is armed now
                    clients.append(client)
                    del server  # dropped, never closed
                gc.collect()
            eofs = []
            for client in clients:
                with runtime.fail_after(5):
                    eofs.append(await client.read())
                await client.aclose()
            after = (live(), driver.ring.in_flight)
        return (*before, *after, eofs)

    live_before, in_flight_before, live_after, in_flight_after, eofs = run(main())  # type: ignore[misc]
    assert eofs == [b""] * 10
    assert (live_after, in_flight_after) == (live_before, in_flight_before)


def test_closing_a_stream_with_its_multishot_armed_closes_the_connection_at_once() -> None:
    # The armed receive holds the file (ring fact 5) until its cancel's
    # deferred work runs (fact 10): close runs it, so the peer sees the close
    # even while this task goes on without letting the loop turn.
    async def main() -> bytes:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            raw = socket.create_connection(listener.local_address)
            with raw:
                stream = await listener.accept()
                raw.send(b"x")
                assert await stream.read() == b"x"  # armed from here on
                await stream.aclose()
                raw.settimeout(2)
                return raw.recv(10)  # blocking: the loop does not turn

    assert run(main()) == b""
