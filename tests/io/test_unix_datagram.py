"""`UnixDatagramSocket`: datagrams between Unix sockets bound to paths,
unconnected and connected, and the same exchange under trio."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio

import runtime
from runtime import ClosedResourceError
from runtime.io import UnixDatagramSocket
from tests.helpers.platform_gaps import ON_WINDOWS

pytestmark = pytest.mark.skipif(ON_WINDOWS, reason="CPython on Windows has no AF_UNIX")


def test_send_to_and_recv_from_keep_boundaries_and_name_the_sender(tmp_path: Path) -> None:
    a_path, b_path = str(tmp_path / "a"), str(tmp_path / "b")

    async def main() -> list[object]:
        async with await UnixDatagramSocket.bind(a_path) as a, \
                await UnixDatagramSocket.bind(b_path) as b:
            await a.send_to(b"first", b_path)
            await a.send_to(b"second", b_path)
            got = [await b.recv_from(), await b.recv_from()]
            await b.send_to(b"reply", got[0][1])
            return [*got, await a.recv_from(), a.local_address]

    assert runtime.run(main()) == [(b"first", a_path), (b"second", a_path),
                                   (b"reply", b_path), a_path]


def test_connected_socket_sends_and_receives_without_paths(tmp_path: Path) -> None:
    a_path, b_path = str(tmp_path / "a"), str(tmp_path / "b")

    async def main() -> list[object]:
        async with await UnixDatagramSocket.bind(a_path) as a, \
                await UnixDatagramSocket.bind(b_path) as b:
            await a.connect(b_path)
            await b.connect(a_path)
            await a.send(b"ping")
            got = await b.recv()
            await b.send(b"pong")
            return [got, await a.recv(), a.peer_address]

    assert runtime.run(main()) == [b"ping", b"pong", b_path]


def test_an_unbound_socket_can_send(tmp_path: Path) -> None:
    path = str(tmp_path / "server")

    async def main() -> bytes:
        async with await UnixDatagramSocket.bind(path) as server, \
                await UnixDatagramSocket.bind() as client:
            await client.send_to(b"hello", path)
            data, _ = await server.recv_from()
            return data

    assert runtime.run(main()) == b"hello"


def test_recv_from_waits_and_close_wakes_the_waiter(tmp_path: Path) -> None:
    async def main() -> str:
        async with await UnixDatagramSocket.bind(str(tmp_path / "s")) as s:
            async def close_later() -> None:
                await runtime.sleep(0.02)
                s.close()

            runtime.spawn(close_later())
            try:
                await s.recv_from()
            except ClosedResourceError:
                return "closed"
            return "received"

    assert runtime.run(main()) == "closed"


def test_errors_name_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nobody")

    async def main() -> None:
        async with await UnixDatagramSocket.bind() as s:
            with pytest.raises(FileNotFoundError, match="nobody"):
                await s.send_to(b"x", missing)
            with pytest.raises(FileNotFoundError, match="nobody"):
                await s.connect(missing)
        with pytest.raises(OSError, match="bind to"):
            await UnixDatagramSocket.bind(str(tmp_path))  # a directory is there

    runtime.run(main())


def test_a_wrapped_connected_socket_knows_its_peer(tmp_path: Path) -> None:
    async def main() -> object:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        async with UnixDatagramSocket(a) as x, UnixDatagramSocket(b) as y:
            await x.send(b"over the pair")
            return await y.recv()

    assert runtime.run(main()) == b"over the pair"


def test_the_exchange_matches_trio(tmp_path: Path) -> None:
    def paths(tag: str) -> tuple[str, str]:
        return str(tmp_path / f"{tag}a"), str(tmp_path / f"{tag}b")

    async def under_runtime() -> list[object]:
        a_path, b_path = paths("r")
        async with await UnixDatagramSocket.bind(a_path) as a, \
                await UnixDatagramSocket.bind(b_path) as b:
            await a.send_to(b"1", b_path)
            await a.connect(b_path)
            await a.send(b"2")
            return [(await b.recv_from())[0], (await b.recv_from())[0]]

    async def under_trio() -> list[object]:
        a_path, b_path = paths("t")
        raw_a = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        raw_b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        raw_a.bind(a_path)  # trio's own bind of a path runs in a thread that outlives the test
        raw_b.bind(b_path)
        with trio.socket.from_stdlib_socket(raw_a) as a, trio.socket.from_stdlib_socket(raw_b) as b:
            await a.sendto(b"1", b_path)
            await a.connect(b_path)
            await a.send(b"2")
            return [(await b.recvfrom(100))[0], (await b.recvfrom(100))[0]]

    assert runtime.run(under_runtime()) == trio.run(under_trio) == [b"1", b"2"]
