"""Sockets side by side: the same TCP scenario under trio and under `runtime`.

The scenarios run through `tests.helpers.sidebyside.Framework` (run, spawn, join)
plus a small socket adapter, `Net`, with one implementation per framework:
listen, accept, connect, send_all, receive_some, send_eof, aclose. trio
wraps a socket error in ``trio.BrokenResourceError`` (the ``OSError`` is its
``__cause__``); `runtime` raises the ``OSError`` itself. The adapter's
`error_name` reports the ``OSError`` class in both cases, so the traces
compare what the kernel said, not how each framework packages it.

Each test writes its expected trace out, so a divergence shows which
framework moved.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest
import trio

from runtime.io import TcpListener, TcpStream
from tests.helpers.backend_limits import skip_unless_run_backend_supports
from tests.helpers.pairs import HOSTS
from tests.helpers.sidebyside import FRAMEWORKS, Framework


class Net:
    async def listen(self, host: str) -> tuple[Any, int]:
        raise NotImplementedError

    async def accept(self, listener: Any) -> Any:
        raise NotImplementedError

    async def connect(self, host: str, port: int) -> Any:
        raise NotImplementedError

    async def send_all(self, stream: Any, data: bytes) -> None:
        raise NotImplementedError

    async def receive_some(self, stream: Any, max_bytes: int = 65536) -> bytes:
        raise NotImplementedError

    async def send_eof(self, stream: Any) -> None:
        raise NotImplementedError

    async def aclose(self, resource: Any) -> None:
        raise NotImplementedError

    def raw_socket(self, stream: Any) -> Any:
        raise NotImplementedError

    def error_name(self, exc: BaseException) -> str:
        return type(exc).__name__

    async def receive_exactly(self, stream: Any, n: int) -> bytes:
        got = b""
        while len(got) < n:
            chunk = await self.receive_some(stream, n - len(got))
            if not chunk:
                break
            got += chunk
        return got

    async def receive_to_eof(self, stream: Any) -> bytes:
        got = b""
        while chunk := await self.receive_some(stream):
            got += chunk
        return got


class RuntimeNet(Net):
    async def listen(self, host: str) -> tuple[TcpListener, int]:
        listener = await TcpListener.bind(host, 0)
        return listener, listener.local_address[1]

    async def accept(self, listener: TcpListener) -> TcpStream:
        return await listener.accept()

    async def connect(self, host: str, port: int) -> TcpStream:
        return await TcpStream.connect(host, port)

    async def send_all(self, stream: TcpStream, data: bytes) -> None:
        await stream.write_all(data)

    async def receive_some(self, stream: TcpStream, max_bytes: int = 65536) -> bytes:
        return await stream.read(max_bytes)

    async def send_eof(self, stream: TcpStream) -> None:
        await stream.shutdown_write()

    async def aclose(self, resource: Any) -> None:
        await resource.aclose()

    def raw_socket(self, stream: TcpStream) -> socket.socket:
        return stream.socket


class TrioNet(Net):
    async def listen(self, host: str) -> tuple[trio.SocketListener, int]:
        (listener,) = await trio.open_tcp_listeners(0, host=host)
        return listener, listener.socket.getsockname()[1]

    async def accept(self, listener: trio.SocketListener) -> trio.SocketStream:
        return await listener.accept()

    async def connect(self, host: str, port: int) -> trio.SocketStream:
        return await trio.open_tcp_stream(host, port)

    async def send_all(self, stream: trio.SocketStream, data: bytes) -> None:
        await stream.send_all(data)

    async def receive_some(self, stream: trio.SocketStream, max_bytes: int = 65536) -> bytes:
        return bytes(await stream.receive_some(max_bytes))

    async def send_eof(self, stream: trio.SocketStream) -> None:
        await stream.send_eof()

    async def aclose(self, resource: Any) -> None:
        await resource.aclose()

    def raw_socket(self, stream: trio.SocketStream) -> Any:
        return stream.socket

    def error_name(self, exc: BaseException) -> str:
        if isinstance(exc, trio.BrokenResourceError) and isinstance(exc.__cause__, OSError):
            return type(exc.__cause__).__name__
        return type(exc).__name__


NETS = {"runtime": RuntimeNet, "trio": TrioNet}


@pytest.fixture(params=FRAMEWORKS)
def fw(request: pytest.FixtureRequest) -> Framework:
    return request.param()  # type: ignore[no-any-return]


@pytest.fixture
def net(fw: Framework) -> Net:
    return NETS[fw.name]()


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def reset_on_close(net: Net, stream: Any) -> None:
    net.raw_socket(stream).setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))


# -- echo ------------------------------------------------------------------------------


def test_echo_trace_matches(fw: Framework, net: Net, host: str) -> None:
    trace: list[Any] = []

    async def main() -> str:
        listener, port = await net.listen(host)

        async def server() -> None:
            stream = await net.accept(listener)
            total = 0
            while data := await net.receive_some(stream):
                total += len(data)
                await net.send_all(stream, data)
            trace.append(f"server saw EOF after {total} bytes")
            await net.aclose(stream)

        handle = fw.spawn(server)
        client = await net.connect(host, port)
        for message in (b"one", b"two" * 1000, b"3"):
            await net.send_all(client, message)
            trace.append(("echoed", await net.receive_exactly(client, len(message)) == message))
        await net.send_eof(client)
        trace.append(("client read", await net.receive_some(client)))
        await handle.join()
        await net.aclose(client)
        await net.aclose(listener)
        return "done"

    trace.append(fw.run(main))
    assert trace == [("echoed", True)] * 3 + [
        "server saw EOF after 3004 bytes", ("client read", b""), "done"]


# -- half-close ------------------------------------------------------------------------


def test_half_close_in_both_directions_trace_matches(fw: Framework, net: Net, host: str) -> None:
    trace: list[Any] = []

    async def main() -> str:
        listener, port = await net.listen(host)

        async def server() -> None:
            # Round 1: the client half-closes; the server reads to EOF, replies.
            stream = await net.accept(listener)
            trace.append(("server got", await net.receive_to_eof(stream)))
            await net.send_all(stream, b"response")
            await net.aclose(stream)
            # Round 2: the server half-closes first; the client keeps sending.
            stream = await net.accept(listener)
            await net.send_all(stream, b"banner")
            await net.send_eof(stream)
            trace.append(("server got", await net.receive_to_eof(stream)))
            await net.aclose(stream)

        handle = fw.spawn(server)
        client = await net.connect(host, port)
        await net.send_all(client, b"request")
        await net.send_eof(client)
        trace.append(("client got", await net.receive_to_eof(client)))
        await net.aclose(client)

        client = await net.connect(host, port)
        trace.append(("client got", await net.receive_to_eof(client)))
        await net.send_all(client, b"after the server's EOF")
        await net.send_eof(client)
        await handle.join()
        await net.aclose(client)
        await net.aclose(listener)
        return "done"

    trace.append(fw.run(main))
    assert trace == [
        ("server got", b"request"),
        ("client got", b"response"),
        ("client got", b"banner"),
        ("server got", b"after the server's EOF"),
        "done",
    ]


# -- peer reset ------------------------------------------------------------------------


def test_peer_reset_while_reading_trace_matches(fw: Framework, net: Net, host: str) -> None:
    if fw.name == "runtime":
        skip_unless_run_backend_supports("reset_error", "a reset reads as EOF, not ECONNRESET")
    trace: list[Any] = []

    async def main() -> str:
        listener, port = await net.listen(host)
        accepted: list[Any] = []

        async def server() -> None:
            stream = await net.accept(listener)
            accepted.append(stream)
            trace.append(("server read", await net.receive_some(stream)))
            try:
                await net.receive_some(stream)
            except Exception as exc:
                trace.append(("server read raised", net.error_name(exc)))
            try:
                await net.send_all(stream, b"anyone there?")
            except Exception as exc:
                trace.append(("server write raised", net.error_name(exc)))
            await net.aclose(stream)

        handle = fw.spawn(server)
        client = await net.connect(host, port)
        await net.send_all(client, b"hello")
        while not accepted:
            await fw.sleep(0.005)
        await fw.sleep(0.05)  # the server has read "hello" and waits again
        trace.append("client resets the connection")
        reset_on_close(net, client)
        await net.aclose(client)
        await handle.join()
        await net.aclose(listener)
        return "done"

    trace.append(fw.run(main))
    assert trace == [
        ("server read", b"hello"),
        "client resets the connection",
        ("server read raised", "ConnectionResetError"),
        ("server write raised", "BrokenPipeError"),
        "done",
    ]


def test_peer_reset_while_writing_trace_matches(fw: Framework, net: Net, host: str) -> None:
    # Which of ECONNRESET / EPIPE the blocked send sees depends on timing in
    # the kernel, so the trace records that the write broke, not which errno.
    trace: list[Any] = []

    async def main() -> str:
        listener, port = await net.listen(host)
        accepted: list[Any] = []

        async def server() -> None:
            stream = await net.accept(listener)
            accepted.append(stream)
            try:
                await net.send_all(stream, b"x" * (64 * 1024 * 1024))
                trace.append("server wrote everything?")
            except Exception as exc:
                broken = net.error_name(exc) in ("ConnectionResetError", "BrokenPipeError")
                trace.append(("server write broke", broken))
            await net.aclose(stream)

        handle = fw.spawn(server)
        client = await net.connect(host, port)
        while not accepted:
            await fw.sleep(0.005)
        await fw.sleep(0.1)  # the server's send is blocked on full buffers
        trace.append("client resets the connection")
        reset_on_close(net, client)
        await net.aclose(client)
        await handle.join()
        await net.aclose(listener)
        return "done"

    trace.append(fw.run(main))
    assert trace == ["client resets the connection", ("server write broke", True), "done"]
