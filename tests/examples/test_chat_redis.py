"""The chat cluster's Redis client against a real ``redis-server`` (no mocks)."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest

import runtime
from examples.chat.redis import (
    Backoff,
    RedisAddress,
    RedisClient,
    RedisConnection,
    RedisConnectionError,
    RedisReplyError,
    encode,
)
from tests.helpers.redis_server import RedisServer, free_port, redis_server

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


def address(server: RedisServer, db: int = 0) -> RedisAddress:
    return RedisAddress(server.host, server.port, db)


def test_an_address_is_parsed_from_a_redis_url() -> None:
    assert RedisAddress.parse("redis://10.0.0.5:6380/2") == RedisAddress("10.0.0.5", 6380, 2)
    assert RedisAddress.parse("redis://cache") == RedisAddress("cache", 6379, 0)
    assert str(RedisAddress.parse("redis://[::1]:7000/1")) == "redis://[::1]:7000/1"


@pytest.mark.parametrize("url", ["http://h:1/0", "redis://", "redis://h:port/0", "redis://h/x",
                                 "redis://h/-1"])
def test_a_bad_url_is_a_value_error_naming_it(url: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(url))):
        RedisAddress.parse(url)


def test_arguments_are_encoded_as_bulk_strings_and_other_types_refused() -> None:
    assert encode(["SET", b"k", 5]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n"
    with pytest.raises(TypeError, match="not dict"):
        encode(["SET", {}])
    with pytest.raises(TypeError, match="not bool"):
        encode(["SET", True])


def test_commands_get_their_replies_of_every_resp_type(redis: RedisServer) -> None:
    async def main() -> list[object]:
        async with await RedisConnection.connect(address(redis)) as conn:
            return [await conn.execute("SET", "k", "v"), await conn.execute("GET", "k"),
                    await conn.execute("INCRBY", "n", 41), await conn.execute("GET", "missing"),
                    await conn.execute("RPUSH", "l", "a", "b"),
                    await conn.execute("LRANGE", "l", 0, -1)]

    assert runtime.run(main()) == [b"OK", b"v", 41, None, 2, [b"a", b"b"]]


def test_a_pipeline_is_one_write_and_keeps_each_error_in_its_place(redis: RedisServer) -> None:
    async def main() -> list[object]:
        async with await RedisConnection.connect(address(redis)) as conn:
            replies = await conn.pipeline([("SET", "s", "x"), ("INCR", "s"), ("GET", "s")])
            # The connection is still in step after an error reply.
            replies.append(await conn.execute("PING"))
            return replies

    ok, error, value, pong = runtime.run(main())
    assert (ok, value, pong) == (b"OK", b"x", b"PONG")
    assert isinstance(error, RedisReplyError) and error.code == "ERR"
    assert error.command == "INCR"


def test_an_error_reply_is_raised_typed_with_its_code(redis: RedisServer) -> None:
    async def main() -> None:
        async with await RedisConnection.connect(address(redis)) as conn:
            await conn.execute("SET", "s", "x")
            await conn.execute("LPUSH", "s", "y")

    with pytest.raises(RedisReplyError, match="LPUSH: WRONGTYPE") as info:
        runtime.run(main())
    assert info.value.code == "WRONGTYPE"


def test_the_database_number_in_the_address_is_selected(redis: RedisServer) -> None:
    async def main() -> tuple[object, object]:
        async with await RedisConnection.connect(address(redis, db=3)) as conn3:
            await conn3.execute("SET", "where", "three")
        async with await RedisConnection.connect(address(redis)) as conn0:
            in0 = await conn0.execute("GET", "where")
            await conn0.execute("SELECT", 3)
            return in0, await conn0.execute("GET", "where")

    assert runtime.run(main()) == (None, b"three")


def test_many_tasks_share_a_connection_and_each_gets_its_own_reply(redis: RedisServer) -> None:
    async def main() -> dict[int, object]:
        results: dict[int, object] = {}
        async with await RedisConnection.connect(address(redis)) as conn:
            async def one(i: int) -> None:
                results[i] = await conn.execute("ECHO", f"task {i}")

            async with runtime.TaskGroup() as tg:
                for i in range(50):
                    tg.spawn(one(i))
        return results

    assert runtime.run(main()) == {i: f"task {i}".encode() for i in range(50)}


def test_an_unreachable_server_is_a_connection_error_naming_the_address() -> None:
    port = free_port()

    async def main() -> None:
        await RedisConnection.connect(RedisAddress("127.0.0.1", port))

    with pytest.raises(RedisConnectionError, match=f"redis://127.0.0.1:{port}/0"):
        runtime.run(main())


def test_a_silent_server_times_out_and_the_connection_is_not_reused() -> None:
    # A listener that accepts and never answers: a hung Redis.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        async def main() -> str:
            async with await RedisConnection.connect(RedisAddress("127.0.0.1", port)) as conn:
                with pytest.raises(RedisConnectionError, match=r"no reply within 0\.2 s"):
                    await conn.execute("PING", timeout=0.2)
                assert conn.broken
                with pytest.raises(RedisConnectionError) as again:
                    await conn.execute("PING")
                return str(again.value)

        assert "no reply" in runtime.run(main())
        accepted, _ = listener.accept()
        accepted.close()


def test_a_cancelled_command_breaks_the_connection_so_no_reply_goes_astray(
        redis: RedisServer) -> None:
    async def main() -> None:
        async with await RedisConnection.connect(address(redis)) as conn:
            with runtime.move_on_after(0.1):
                await conn.execute("BLPOP", "never", 5, timeout=10)
            assert conn.broken
            with pytest.raises(RedisConnectionError, match="interrupted"):
                await conn.execute("PING")

    runtime.run(main())


def test_a_server_that_is_not_redis_is_a_protocol_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer_garbage() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(100)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer_garbage)
        thread.start()

        async def main() -> None:
            async with await RedisConnection.connect(RedisAddress("127.0.0.1", port)) as conn:
                await conn.execute("PING")

        try:
            with pytest.raises(RedisConnectionError, match="not a RESP reply"):
                runtime.run(main())
        finally:
            thread.join(5)


def test_the_client_reconnects_after_the_server_restarts(redis: RedisServer) -> None:
    async def main() -> object:
        async with RedisClient(redis.url) as client:
            await client.call("PING")
            redis.stop()
            with pytest.raises(RedisConnectionError):
                await client.call("PING")
            redis.start()
            await client.wait_connected()
            return await client.call("PING")

    assert runtime.run(main()) == b"PONG"


def test_wait_connected_retries_with_backoff_until_the_server_is_up(tmp_path) -> None:
    server = RedisServer(str(tmp_path))
    waits: list[float] = []

    class CountingBackoff(Backoff):
        def next_delay(self) -> float:
            delay = super().next_delay()
            waits.append(delay)
            if len(waits) == 3:
                server.start()  # up after the third failed attempt
            return delay

    async def main() -> object:
        async with RedisClient(server.url, backoff=CountingBackoff(first=0.01)) as client:
            await client.wait_connected()
            return await client.call("PING")

    try:
        assert runtime.run(main()) == b"PONG"
    finally:
        server.stop()
    assert len(waits) == 3


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    low = Backoff(first=0.1, cap=1.0, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(6)] == pytest.approx(
        [0.05, 0.1, 0.2, 0.4, 0.5, 0.5])
    high = Backoff(first=0.1, cap=1.0, rng=lambda: 1.0)
    assert [high.next_delay() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    high.reset()
    assert high.next_delay() == pytest.approx(0.1)
