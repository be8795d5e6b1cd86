"""TLS side by side: the same scenario over trio's ``SSLStream`` and over `TlsStream`.

Each scenario is written once against `Tls`, an adapter with one
implementation per framework (a connected client/server pair over loopback
TCP, send, receive, unwrap, aclose, and closing the TCP connection under
the TLS layer), and run under both frameworks; the traces must be equal,
and each test also writes its expected trace out. Errors are compared by
class name (trio's and runtime's ``BrokenResourceError`` are different
classes with the same meaning).
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import trio

from runtime.io import TcpListener, TcpStream, TlsStream
from tests.helpers.sidebyside import FRAMEWORKS, Framework
from tests.helpers.tls_peers import Certs


class Tls:
    async def pair(self, certs: Certs, https_compatible: bool = False) -> tuple[Any, Any]:
        raise NotImplementedError

    async def send(self, stream: Any, data: bytes) -> None:
        raise NotImplementedError

    async def receive(self, stream: Any) -> bytes:
        raise NotImplementedError

    async def unwrap(self, stream: Any) -> tuple[Any, bytes]:
        raise NotImplementedError

    async def aclose(self, stream: Any) -> None:
        await stream.aclose()

    async def drop_connection(self, stream: Any) -> None:
        """Close the TCP connection under the TLS layer: no close_notify."""
        raise NotImplementedError

    async def plain_send(self, plain: Any, data: bytes) -> None:
        raise NotImplementedError

    async def plain_receive(self, plain: Any) -> bytes:
        raise NotImplementedError

    async def receive_or_error(self, stream: Any) -> bytes | str:
        try:
            return await self.receive(stream)
        except Exception as exc:
            return type(exc).__name__


class RuntimeTls(Tls):
    async def pair(self, certs: Certs, https_compatible: bool = False
                   ) -> tuple[TlsStream, TlsStream]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            raw_client = await TcpStream.connect("127.0.0.1", listener.local_address[1])
            raw_server = await listener.accept()
        return (TlsStream(raw_client, certs.client_context(), server_hostname="localhost",
                          https_compatible=https_compatible),
                TlsStream(raw_server, certs.server_context(), server_side=True,
                          https_compatible=https_compatible))

    async def send(self, stream: TlsStream, data: bytes) -> None:
        await stream.write_all(data)

    async def receive(self, stream: TlsStream) -> bytes:
        return await stream.read()

    async def unwrap(self, stream: TlsStream) -> tuple[Any, bytes]:
        return await stream.unwrap()

    async def drop_connection(self, stream: TlsStream) -> None:
        stream.transport.close()

    async def plain_send(self, plain: TcpStream, data: bytes) -> None:
        await plain.write_all(data)

    async def plain_receive(self, plain: TcpStream) -> bytes:
        return await plain.read()


class TrioTls(Tls):
    async def pair(self, certs: Certs, https_compatible: bool = False
                   ) -> tuple[trio.SSLStream[Any], trio.SSLStream[Any]]:
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        async with listener:
            raw_client = await trio.open_tcp_stream("127.0.0.1",
                                                    listener.socket.getsockname()[1])
            raw_server = await listener.accept()
        return (trio.SSLStream(raw_client, certs.client_context(), server_hostname="localhost",
                               https_compatible=https_compatible),
                trio.SSLStream(raw_server, certs.server_context(), server_side=True,
                               https_compatible=https_compatible))

    async def send(self, stream: trio.SSLStream[Any], data: bytes) -> None:
        await stream.send_all(data)

    async def receive(self, stream: trio.SSLStream[Any]) -> bytes:
        return bytes(await stream.receive_some())

    async def unwrap(self, stream: trio.SSLStream[Any]) -> tuple[Any, bytes]:
        plain, trailing = await stream.unwrap()
        return plain, bytes(trailing)

    async def drop_connection(self, stream: trio.SSLStream[Any]) -> None:
        await stream.transport_stream.aclose()

    async def plain_send(self, plain: trio.SocketStream, data: bytes) -> None:
        await plain.send_all(data)

    async def plain_receive(self, plain: trio.SocketStream) -> bytes:
        return bytes(await plain.receive_some())


ADAPTERS = {"runtime": RuntimeTls, "trio": TrioTls}


@pytest.fixture(params=FRAMEWORKS)
def fw(request: pytest.FixtureRequest) -> Framework:
    return request.param()  # type: ignore[no-any-return]


def run_scenario(fw: Framework, scenario: Any, certs: Certs, *args: Any) -> list[Any]:
    trace: list[Any] = []
    tls = ADAPTERS[fw.name]()
    fw.run(lambda: scenario(fw, tls, certs, trace, *args))
    return trace


async def _receive_exactly(tls: Tls, stream: Any, n: int) -> bytes:
    got = b""
    while len(got) < n:
        got += await tls.receive(stream)
    return got


async def echo(fw: Framework, tls: Tls, certs: Certs, trace: list[Any]) -> None:
    client, server = await tls.pair(certs)

    async def serve() -> None:
        while data := await tls.receive(server):
            await tls.send(server, data)
        trace.append("server: eof")
        await tls.aclose(server)

    handle = fw.spawn(serve)
    for message in (b"one", b"two" * 5000, b"three"):
        await tls.send(client, message)
        got = await _receive_exactly(tls, client, len(message))
        trace.append(("client got", len(got), got[:5]))
    await tls.aclose(client)
    await handle.join()
    trace.append(("client after close", await tls.receive_or_error(client)))


def test_echo_then_close_notify_traces_the_same(fw: Framework, certs: Certs) -> None:
    assert run_scenario(fw, echo, certs) == [
        ("client got", 3, b"one"), ("client got", 15000, b"twotw"),
        ("client got", 5, b"three"), "server: eof",
        ("client after close", "ClosedResourceError")]


async def half_close(fw: Framework, tls: Tls, certs: Certs, trace: list[Any]) -> None:
    """The client ends TLS first (unwrap sends its close_notify and waits for
    the server's); the server reads EOF, ends TLS too, then both talk plain TCP."""
    client, server = await tls.pair(certs)

    async def serve() -> None:
        trace.append(("server got", await tls.receive(server)))
        trace.append(("server got", await tls.receive(server)))  # the close_notify: EOF
        plain, trailing = await tls.unwrap(server)
        trace.append(("server trailing", trailing))
        await tls.plain_send(plain, b"in the clear")
        await tls.aclose(plain)

    handle = fw.spawn(serve)
    await tls.send(client, b"request")
    plain, trailing = await tls.unwrap(client)
    rest = trailing
    while chunk := await tls.plain_receive(plain):
        rest += chunk
    trace.append(("client read plain", rest))
    await tls.aclose(plain)
    await handle.join()
    trace.append(("client tls after unwrap", await tls.receive_or_error(client)))


def test_half_close_and_unwrap_trace_the_same(fw: Framework, certs: Certs) -> None:
    assert run_scenario(fw, half_close, certs) == [
        ("server got", b"request"), ("server got", b""), ("server trailing", b""),
        ("client read plain", b"in the clear"),
        ("client tls after unwrap", "ClosedResourceError")]


async def ragged_eof(fw: Framework, tls: Tls, certs: Certs, trace: list[Any],
                     https_compatible: bool) -> None:
    client, server = await tls.pair(certs, https_compatible)

    async def serve() -> None:
        await tls.send(server, b"partial answer")
        await tls.drop_connection(server)

    handle = fw.spawn(serve)
    trace.append(("client got", await tls.receive(client)))
    trace.append(("client then", await tls.receive_or_error(client)))
    trace.append(("client again", await tls.receive_or_error(client)))
    await handle.join()
    await tls.aclose(client)


# trio reads a ragged EOF as a clean one where the ssl module's new contexts set
# OP_IGNORE_UNEXPECTED_EOF (Debian's Python 3.11.2); TlsStream does not (test_tls.py).
_CONTEXTS_IGNORE_EOF = bool(ssl.create_default_context().options
                            & getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0))


@pytest.mark.skipif(_CONTEXTS_IGNORE_EOF, reason="this Python's ssl contexts ignore unexpected "
                    "EOFs by default (OP_IGNORE_UNEXPECTED_EOF), and trio follows them")
@pytest.mark.parametrize("https_compatible", [False, True])
def test_ragged_eof_traces_the_same(fw: Framework, certs: Certs,
                                    https_compatible: bool) -> None:
    # https_compatible reads the first ragged EOF as EOF; the stream is
    # broken all the same, and says so next time (trio's behaviour).
    assert run_scenario(fw, ragged_eof, certs, https_compatible) == [
        ("client got", b"partial answer"),
        ("client then", b"" if https_compatible else "BrokenResourceError"),
        ("client again", "BrokenResourceError")]


async def failed_handshake(fw: Framework, tls: Tls, certs: Certs, trace: list[Any]) -> None:
    client, server = await tls.pair(certs)
    context = ssl.create_default_context(cafile=str(certs.stranger_ca_file))
    if isinstance(client, TlsStream):
        client = TlsStream(client.transport, context, server_hostname="localhost")
    else:
        client = trio.SSLStream(client.transport_stream, context, server_hostname="localhost")
    handle = fw.spawn(tls.receive_or_error, server)
    trace.append(("client", await tls.receive_or_error(client)))
    trace.append(("client again", await tls.receive_or_error(client)))
    # runtime sends the alert OpenSSL wrote, trio does not: the server's
    # handshake ends there, or (trio) when the client's connection closes.
    await tls.aclose(client)
    trace.append(("server", await handle.join()))
    await tls.aclose(server)


def test_a_failed_handshake_breaks_both_ends_the_same(fw: Framework, certs: Certs) -> None:
    assert run_scenario(fw, failed_handshake, certs) == [
        ("client", "BrokenResourceError"), ("client again", "BrokenResourceError"),
        ("server", "BrokenResourceError")]


def test_every_framework_has_an_adapter() -> None:
    # The adapters are picked by framework name; a rename must not go unnoticed.
    assert set(ADAPTERS) == {param.values[0].name for param in FRAMEWORKS}
