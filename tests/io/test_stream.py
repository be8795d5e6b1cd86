"""`Stream`: buffered reads, line limits, write_all, half-close, close, one reader.

Every test runs over real sockets: TCP on 127.0.0.1 and ::1 and a Unix
socket (`tests.helpers.pairs.stream_pair`). The peer is another `Stream` in the
same runtime unless the test needs a plain socket's control (SO_LINGER).
"""

from __future__ import annotations

import hashlib
import os
import socket
import tracemalloc

import pytest

import runtime
from runtime import BusyResourceError, ClosedResourceError
from runtime.io import IncompleteReadError, LineTooLong, Stream
from tests.helpers.backend_limits import skip_unless_run_backend_supports
from tests.helpers.pairs import STREAM_KINDS, stream_pair


@pytest.fixture(params=STREAM_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


# -- read ------------------------------------------------------------------------------


def test_read_returns_what_arrived_then_empty_bytes_at_eof(kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"hello")
            first = await server.read(100)
            await client.shutdown_write()
            return [first, await server.read(100), await server.read(100)]

    assert runtime.run(main()) == [b"hello", b"", b""]


def test_read_waits_for_data_that_comes_later(kind: str) -> None:
    async def main() -> tuple[bytes, float]:
        async with stream_pair(kind) as (client, server):
            async def later() -> None:
                await runtime.sleep(0.05)
                await client.write_all(b"late")

            runtime.spawn(later())
            start = runtime.current_time()
            data = await server.read()
            return data, runtime.current_time() - start

    data, waited = runtime.run(main())
    assert data == b"late"
    assert 0.04 <= waited < 2.0


def test_read_max_bytes_splits_buffered_data(kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"abc\ndefgh")
            line = await server.read_line()  # fills the buffer with everything
            return [line, await server.read(2), await server.read(2), await server.read(100)]

    assert runtime.run(main()) == [b"abc\n", b"de", b"fg", b"h"]


def test_read_exact_rejects_a_negative_count() -> None:
    async def main() -> None:
        async with stream_pair() as (client, server):
            await client.write_all(b"abc")
            with pytest.raises(ValueError, match="read_exact\\(\\) n must be >= 0, got -2"):
                await server.read_exact(-2)
            assert await server.read_exact(3) == b"abc"  # nothing was taken

    runtime.run(main())


def test_read_rejects_a_max_bytes_below_one() -> None:
    async def main() -> None:
        async with stream_pair() as (_, server):
            with pytest.raises(ValueError, match="max_bytes"):
                await server.read(0)

    runtime.run(main())


def test_one_byte_writes_and_one_byte_reads_carry_every_byte_in_order(kind: str) -> None:
    payload = bytes(range(256)) * 4

    async def main() -> tuple[bytes, bytes]:
        async with stream_pair(kind) as (client, server):
            async def writer() -> None:
                for i in range(len(payload)):
                    await client.write_all(payload[i : i + 1])
                await client.shutdown_write()

            handle = runtime.spawn(writer())
            got = bytearray()
            while chunk := await server.read(1):
                assert len(chunk) == 1
                got += chunk
            await handle
            # read_exact(1) the other way round.
            for b in payload[:64]:
                await server.write_all(bytes([b]))
            back = b"".join([await client.read_exact(1) for _ in range(64)])
            return bytes(got), back

    got, back = runtime.run(main())
    assert got == payload
    assert back == payload[:64]


# -- read_exact ------------------------------------------------------------------------


def test_read_exact_assembles_bytes_that_arrive_in_pieces(kind: str) -> None:
    async def main() -> bytes:
        async with stream_pair(kind) as (client, server):
            async def dribble() -> None:
                for piece in (b"ab", b"cde", b"f", b"ghij"):
                    await client.write_all(piece)
                    await runtime.sleep(0.005)

            runtime.spawn(dribble())
            data = await server.read_exact(8)
            assert await server.read_exact(2) == b"ij"
            return data

    assert runtime.run(main()) == b"abcdefgh"


def test_read_exact_hitting_eof_raises_incomplete_read_with_the_partial_bytes(kind: str) -> None:
    async def main() -> IncompleteReadError:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"only 10 b.")
            await client.shutdown_write()
            with pytest.raises(IncompleteReadError) as info:
                await server.read_exact(16)
            assert await server.read(10) == b""  # nothing left behind
            return info.value

    err = runtime.run(main())
    assert err.partial == b"only 10 b."
    assert err.expected == 16
    assert isinstance(err, EOFError)
    assert "10 of 16" in str(err)


def test_read_exact_at_eof_with_nothing_read_has_empty_partial() -> None:
    async def main() -> bytes:
        async with stream_pair() as (client, server):
            await client.shutdown_write()
            with pytest.raises(IncompleteReadError) as info:
                await server.read_exact(1)
            return info.value.partial

    assert runtime.run(main()) == b""


# -- read_until / read_line / lines ----------------------------------------------------


def test_read_line_returns_lines_with_their_newline_and_the_tail_at_eof(kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"one\ntwo\n\nthree")
            await client.shutdown_write()
            return [await server.read_line() for _ in range(5)]

    assert runtime.run(main()) == [b"one\n", b"two\n", b"\n", b"three", b""]


def test_read_until_finds_a_multibyte_separator_split_across_reads(kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            async def dribble() -> None:
                for piece in (b"GET / HTTP/1.1\r", b"\n", b"Host: x\r", b"\n\r", b"\nbody"):
                    await client.write_all(piece)
                    await runtime.sleep(0.005)

            runtime.spawn(dribble())
            head = await server.read_until(b"\r\n\r\n")
            return [head, await server.read_exact(4)]

    assert runtime.run(main()) == [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"body"]


def test_read_until_rejects_an_empty_separator() -> None:
    async def main() -> None:
        async with stream_pair() as (_, server):
            with pytest.raises(ValueError, match="separator"):
                await server.read_until(b"")

    runtime.run(main())


def test_line_over_the_limit_raises_line_too_long_and_the_next_line_reads_fine(kind: str) -> None:
    async def main() -> list[object]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"short\n" + b"x" * 100 + b"\nnext\n")
            out: list[object] = [await server.read_line(limit=10)]
            with pytest.raises(LineTooLong) as info:
                await server.read_line(limit=10)
            out.append(info.value.limit)
            out.append(await server.read_line(limit=10))
            return out

    assert runtime.run(main()) == [b"short\n", 10, b"next\n"]


def test_line_over_the_limit_whose_end_arrives_later_is_skipped_up_to_its_newline(
        kind: str) -> None:
    # The over-long line's end is not buffered yet when LineTooLong is raised:
    # the next read_line must discard the rest of it as it arrives.
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"y" * 5000)

            async def rest() -> None:
                await runtime.sleep(0.02)
                await client.write_all(b"y" * 5000)
                await runtime.sleep(0.02)
                await client.write_all(b"yyy\nafter\n")
                await client.shutdown_write()

            runtime.spawn(rest())
            with pytest.raises(LineTooLong):
                await server.read_line(limit=1000)
            return [await server.read_line(limit=1000), await server.read_line(limit=1000)]

    assert runtime.run(main()) == [b"after\n", b""]


def test_an_over_long_line_ending_in_half_a_separator_does_not_swallow_the_next_line(
        kind: str) -> None:
    # The refused line's buffered tail ends in "\r", the first half of its
    # "\r\n": dropping it would make the skip run on to the *next* "\r\n".
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"abcdefgh\r")
            with pytest.raises(LineTooLong):
                await server.read_until(b"\r\n", limit=4)
            await client.write_all(b"\nNEXT\r\nLAST\r\n")
            return [await server.read_until(b"\r\n", limit=4),
                    await server.read_until(b"\r\n", limit=4)]

    assert runtime.run(main()) == [b"NEXT\r\n", b"LAST\r\n"]


def test_a_line_within_the_limit_is_accepted_however_its_separator_arrives(kind: str) -> None:
    async def main() -> bytes:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"abcde\r")  # five bytes of line, half a separator

            async def rest() -> None:
                await runtime.sleep(0.02)
                await client.write_all(b"\n")

            runtime.spawn(rest())
            return await server.read_until(b"\r\n", limit=5)

    assert runtime.run(main()) == b"abcde\r\n"


def test_read_and_read_exact_after_line_too_long_start_after_the_refused_line(
        kind: str) -> None:
    # LineTooLong promises that the refused line is skipped up to its
    # separator: by whichever read comes next, not by read_line alone.
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"x" * 10)
            with pytest.raises(LineTooLong):
                await server.read_line(limit=4)
            await client.write_all(b"yy\nBODY1\nline2\n")
            got = [await server.read_exact(6), await server.read_line()]
            await client.write_all(b"z" * 10)
            with pytest.raises(LineTooLong):
                await server.read_line(limit=4)
            await client.write_all(b"zz\nafter")
            got.append(await server.read(100))
            return got

    assert runtime.run(main()) == [b"BODY1\n", b"line2\n", b"after"]


def test_a_line_of_exactly_the_limit_is_accepted(kind: str) -> None:
    async def main() -> bytes:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"a" * 16 + b"\n")
            return await server.read_line(limit=16)

    assert runtime.run(main()) == b"a" * 16 + b"\n"


def test_lines_iterates_until_eof(kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            async def send() -> None:
                for i in range(5):
                    await client.write_all(f"line {i}\n".encode())
                    await runtime.sleep(0.001)
                await client.shutdown_write()

            runtime.spawn(send())
            return [line async for line in server.lines()]

    assert runtime.run(main()) == [f"line {i}\n".encode() for i in range(5)]


# -- write_all and flow control ----------------------------------------------------------


def test_writing_16_mib_to_a_slow_reader_keeps_memory_bounded_and_delivers_every_byte(
        kind: str) -> None:
    size = 16 * 1024 * 1024
    payload = os.urandom(size)  # allocated before tracing starts: not counted

    async def main() -> tuple[str, int, int, float]:
        async with stream_pair(kind) as (client, server):
            async def slow_reader() -> tuple[str, int]:
                digest = hashlib.sha256()
                n = 0
                while chunk := await server.read(65536):
                    digest.update(chunk)
                    n += len(chunk)
                    await runtime.sleep(0.0005)
                return digest.hexdigest(), n

            handle = runtime.spawn(slow_reader())
            start = runtime.current_time()
            await client.write_all(payload)
            await client.shutdown_write()
            digest, n = await handle
            _, peak = tracemalloc.get_traced_memory()
            return digest, n, peak, runtime.current_time() - start

    tracemalloc.start()
    try:
        digest, n, peak, took = runtime.run(main())
    finally:
        tracemalloc.stop()
    assert n == size
    assert digest == hashlib.sha256(payload).hexdigest()
    # The sender never copies the payload; the reader holds one chunk at a
    # time. A buffering writer would peak near 16 MiB.
    assert peak < 2 * 1024 * 1024, f"peak traced memory {peak} bytes"
    assert took < 20


def test_write_all_accepts_bytearray_and_memoryview_of_other_item_sizes(kind: str) -> None:
    import array

    async def main() -> bytes:
        async with stream_pair(kind) as (client, server):
            await client.write_all(bytearray(b"ab"))
            await client.write_all(memoryview(array.array("H", [0x6463])))  # 2-byte items
            await client.write_all(b"")
            await client.shutdown_write()
            return await server.read_exact(4)

    assert runtime.run(main()) == b"ab" + array.array("H", [0x6463]).tobytes()


# -- half-close ------------------------------------------------------------------------


def test_half_close_from_the_client_lets_the_server_reply_after_eof(kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await client.write_all(b"request")
            await client.shutdown_write()
            got = b""
            while chunk := await server.read():
                got += chunk
            await server.write_all(b"reply to " + got)
            await server.aclose()
            return [got, await client.read_exact(16), await client.read()]

    assert runtime.run(main()) == [b"request", b"reply to request", b""]


def test_half_close_from_the_server_lets_the_client_keep_sending(kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(kind) as (client, server):
            await server.write_all(b"banner")
            await server.shutdown_write()
            banner = await client.read_exact(6)
            eof = await client.read()
            await client.write_all(b"still talking")
            await client.shutdown_write()
            got = b""
            while chunk := await server.read():
                got += chunk
            return [banner, eof, got]

    assert runtime.run(main()) == [b"banner", b"", b"still talking"]


def test_shutdown_write_on_a_closed_stream_raises_closed_resource_error() -> None:
    async def main() -> None:
        async with stream_pair() as (client, _):
            await client.aclose()
            with pytest.raises(ClosedResourceError):
                await client.shutdown_write()

    runtime.run(main())


# -- closing and busy ---------------------------------------------------------------------


def test_closing_a_stream_wakes_the_task_reading_it_with_closed_resource_error(
        kind: str) -> None:
    async def main() -> tuple[str, float]:
        async with stream_pair(kind) as (_, server):
            async def reader() -> str:
                try:
                    await server.read()
                except ClosedResourceError as exc:
                    return str(exc)
                return "no error"

            handle = runtime.spawn(reader())
            await runtime.sleep(0.02)
            start = runtime.current_time()
            server.close()
            with runtime.fail_after(2):
                message = await handle
            return message, runtime.current_time() - start

    message, took = runtime.run(main())
    assert "closed" in message
    assert took < 0.5


def test_closing_a_stream_wakes_the_task_blocked_in_write_all(kind: str) -> None:
    async def main() -> type[BaseException] | None:
        async with stream_pair(kind) as (client, _):
            async def writer() -> type[BaseException] | None:
                try:
                    await client.write_all(b"z" * (64 * 1024 * 1024))  # peer never reads
                except ClosedResourceError as exc:
                    return type(exc)
                return None

            handle = runtime.spawn(writer())
            await runtime.sleep(0.05)
            client.close()
            with runtime.fail_after(2):
                return await handle

    assert runtime.run(main()) is ClosedResourceError


def test_every_operation_on_a_closed_stream_raises_closed_resource_error() -> None:
    async def main() -> None:
        async with stream_pair() as (client, _):
            await client.aclose()
            await client.aclose()  # idempotent
            assert client.closed
            for op in (client.read(), client.read_exact(1), client.read_line(),
                       client.write_all(b"x")):
                with pytest.raises(ClosedResourceError):
                    await op

    runtime.run(main())


def test_two_tasks_reading_one_stream_the_second_gets_busy_resource_error(kind: str) -> None:
    async def main() -> list[str]:
        async with stream_pair(kind) as (client, server):
            trace: list[str] = []

            async def reader(name: str) -> None:
                try:
                    data = await server.read_line()
                    trace.append(f"{name} read {data!r}")
                except BusyResourceError:
                    trace.append(f"{name} busy")

            first = runtime.spawn(reader("first"))
            await runtime.sleep(0.01)
            second = runtime.spawn(reader("second"))
            await second
            await client.write_all(b"for first\n")
            await first
            return trace

    assert runtime.run(main()) == ["second busy", "first read b'for first\\n'"]


def test_two_tasks_writing_one_stream_the_second_gets_busy_resource_error(kind: str) -> None:
    async def main() -> bool:
        async with stream_pair(kind) as (client, server):
            async def big_writer() -> None:
                await client.write_all(b"w" * (32 * 1024 * 1024))

            handle = runtime.spawn(big_writer())
            await runtime.sleep(0.02)  # big_writer is now waiting for the peer
            with pytest.raises(BusyResourceError):
                await client.write_all(b"interleaved")
            handle.abort()
            with pytest.raises(runtime.Cancelled):
                await handle
            return server.closed

    assert runtime.run(main()) is False


def test_a_cancelled_read_leaves_the_stream_usable(kind: str) -> None:
    async def main() -> bytes:
        async with stream_pair(kind) as (client, server):
            with runtime.move_on_after(0.02) as scope:
                await server.read()
            assert scope.cancelled_caught
            await client.write_all(b"after cancel\n")
            return await server.read_line()

    assert runtime.run(main()) == b"after cancel\n"


def test_stream_repr_and_addresses_name_the_peer() -> None:
    async def main() -> tuple[Stream, Stream, str]:
        async with stream_pair() as (client, server):
            assert client.peer_address == server.local_address
            assert server.peer_address == client.local_address
            return client, server, repr(client)

    client, _server, text = runtime.run(main())
    assert f"127.0.0.1:{client.peer_address[1]}" in text
    assert "closed" in repr(client)


# -- the readiness path ----------------------------------------------------------------


class CountingSocket(socket.socket):
    """A real socket that counts its ``recv`` calls (the syscalls a read makes)."""

    recv_calls = 0

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        type(self).recv_calls += 1
        return super().recv(bufsize, flags)


def test_a_short_read_clears_readiness_so_the_next_read_waits_without_an_eagain() -> None:
    skip_unless_run_backend_supports("readiness_recipe", "there are no recv calls to count")
    # tokio PR #4840: fewer bytes than asked means the kernel buffer is empty,
    # so the next read parks at once instead of trying recv for an EAGAIN.
    # Two reads of data that arrives in two bursts: two recv calls, not three.
    async def main() -> tuple[list[bytes], int]:
        a, b = socket.socketpair()
        with a:
            conn = CountingSocket(b.family, b.type, fileno=b.detach())
            CountingSocket.recv_calls = 0
            async with Stream(conn) as stream:
                a.send(b"first")
                got = [await stream.read(100)]  # short: 5 of 100

                async def later() -> None:
                    await runtime.sleep(0.02)
                    a.send(b"second")

                runtime.spawn(later())
                got.append(await stream.read(100))
                return got, CountingSocket.recv_calls

    got, calls = runtime.run(main())
    assert got == [b"first", b"second"]
    assert calls == 2


def test_a_read_of_data_already_buffered_in_the_kernel_takes_one_recv() -> None:
    skip_unless_run_backend_supports("readiness_recipe", "there are no recv calls to count")
    # Try the syscall first: data that is already there costs one recv and
    # no wait for an event.
    async def main() -> tuple[bytes, int]:
        a, b = socket.socketpair()
        with a:
            a.send(b"ready")
            conn = CountingSocket(b.family, b.type, fileno=b.detach())
            CountingSocket.recv_calls = 0
            async with Stream(conn) as stream:
                return await stream.read(100), CountingSocket.recv_calls

    assert runtime.run(main()) == (b"ready", 1)
