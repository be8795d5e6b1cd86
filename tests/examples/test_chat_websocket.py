"""The WebSocket face over real sockets: the same chat as TCP, and bad input closed cleanly.

Each bad input gets a clean refusal — an HTTP status before the handshake,
or a WebSocket close code after it — and a TCP bystander in the lobby keeps
chatting throughout.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests.helpers.chat_harness import ChatProcess, Client, clients
from tests.helpers.ws_client import WsClient

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def bystander(server: ChatProcess) -> Iterator[Client]:
    """A TCP client in the lobby; afterwards it must still be served."""
    (client,) = clients(server.port, ["bystander"])
    with client:
        yield client
        client.send("still here")
        client.skip_until("[lobby] <bystander> still here")


def frame(opcode: int, payload: bytes, *, fin: bool = True, length: int | None = None) -> bytes:
    """A client frame (masked, with a zero key), optionally declaring another ``length``."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload


def http_get(port: int, target: str, headers: str = "") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


# -- the same chat ------------------------------------------------------------------------


def test_a_websocket_client_chats_with_a_tcp_client_in_the_same_room(
        server: ChatProcess) -> None:
    assert server.http_port is not None
    (alice,) = clients(server.port, ["alice"])
    with alice, WsClient(server.http_port, "webby") as web:
        web.expect("[lobby] * webby joined")
        alice.expect("[lobby] * webby joined")
        alice.send("hi web")
        web.expect("[lobby] <alice> hi web")
        web.send("hi tcp \u202eevil")
        alice.skip_until("[lobby] <webby> hi tcp <U+202E>evil")
        web.send("/who")
        web.skip_until("* in lobby: alice, webby")
        web.send("/quit")
        web.skip_until("! bye: quit")
        assert web.close_code() == (1000, "quit")
        alice.skip_until("[lobby] * webby left (quit)")


def test_the_page_and_its_files_are_served_and_nothing_else(server: ChatProcess) -> None:
    assert server.http_port is not None
    page = http_get(server.http_port, "/")
    assert page.startswith(b"HTTP/1.1 200 ")
    assert b"content-type: text/html; charset=utf-8" in page.lower()
    assert b'<script src="/chat.js"' in page
    for target in ("/chat.js", "/chat.css"):
        assert http_get(server.http_port, target).startswith(b"HTTP/1.1 200 ")
    for target in ("/../session.py", "/web/index.html", "/etc/passwd", "/index.html%00"):
        assert http_get(server.http_port, target).startswith(b"HTTP/1.1 404 "), target


def test_a_websocket_is_counted_against_max_clients() -> None:
    with ChatProcess("--max-clients", "1") as server:
        assert server.http_port is not None
        with Client(server.port, "alice"), WsClient(server.http_port) as web:
            assert web.line() == "! bye: server full"
            assert web.close_code() == (1000, "server full")
        server.stop()


# -- bad input, each closed cleanly --------------------------------------------------------


def test_a_plain_http_request_to_ws_gets_426(server: ChatProcess, bystander: Client) -> None:
    assert server.http_port is not None
    reply = http_get(server.http_port, "/ws")
    assert reply.startswith(b"HTTP/1.1 426 ")
    assert b"upgrade: websocket" in reply.lower()
    assert b"/ws speaks WebSocket only" in reply


def test_a_wrong_origin_gets_403_before_any_websocket(server: ChatProcess,
                                                      bystander: Client) -> None:
    assert server.http_port is not None
    with WsClient(server.http_port, origin="https://evil.example") as web:
        assert web.rejected is not None and web.rejected.status_code == 403
    # The page's own origin is let in.
    with WsClient(server.http_port, "same", origin=f"http://127.0.0.1:{server.http_port}"):
        bystander.skip_until("[lobby] * same joined")


def test_an_allowed_other_origin_is_let_in() -> None:
    with ChatProcess("--allow-origin", "https://chat.example") as server:
        assert server.http_port is not None
        with WsClient(server.http_port, "friend", origin="https://chat.example") as web:
            web.expect("[lobby] * friend joined")
        server.stop()


def test_an_oversized_message_is_closed_with_1009(server: ChatProcess,
                                                  bystander: Client) -> None:
    assert server.http_port is not None
    with WsClient(server.http_port, "big") as web:
        web.send("x" * 4097)
        assert web.close_code() == (1009, "message too big: at most 4096 bytes")
    bystander.skip_until("[lobby] * big left (connection closed)")


def test_a_frame_declaring_100_mb_is_closed_with_1009_before_it_arrives(
        server: ChatProcess, bystander: Client) -> None:
    assert server.http_port is not None
    with WsClient(server.http_port, "huge") as web:
        web.send_raw(frame(0x1, b"y" * 8192, length=100_000_000))
        assert web.close_code() == (1009, "message too big: at most 4096 bytes")


def test_a_fragmented_flood_is_closed_with_1009(server: ChatProcess, bystander: Client) -> None:
    assert server.http_port is not None
    with WsClient(server.http_port, "frag") as web:
        flood = frame(0x1, b"a", fin=False) + frame(0x0, b"", fin=False) * 100
        web.send_raw(flood)
        assert web.close_code() == (1009, "message in too many frames: at most 64")


def test_a_binary_message_is_closed_with_1003(server: ChatProcess, bystander: Client) -> None:
    assert server.http_port is not None
    with WsClient(server.http_port, "binary") as web:
        web.send_raw(frame(0x2, b"\x00\x01"))
        assert web.close_code() == (1003, "this chat speaks text messages only")


def test_invalid_utf8_in_a_text_message_is_closed_with_1007(server: ChatProcess,
                                                            bystander: Client) -> None:
    assert server.http_port is not None
    with WsClient(server.http_port, "badutf") as web:
        web.send_raw(frame(0x1, b"caf\xe9"))
        code, _ = web.close_code()
        assert code == 1007


def test_a_fragmented_message_within_the_limits_is_one_line(server: ChatProcess,
                                                            bystander: Client) -> None:
    assert server.http_port is not None
    with WsClient(server.http_port, "pieces") as web:
        web.send_raw(frame(0x1, b"one ", fin=False) + frame(0x0, b"two ", fin=False)
                     + frame(0x0, b"three"))
        bystander.skip_until("[lobby] <pieces> one two three")


def test_a_client_that_never_answers_pings_is_closed_with_1011() -> None:
    with ChatProcess("--ping-interval", "0.3", "--ping-timeout", "0.3") as server:
        assert server.http_port is not None
        (alice,) = clients(server.port, ["alice"])
        with alice, WsClient(server.http_port, "mute", answer_pings=False) as web:
            start = time.monotonic()
            assert web.close_code() == (1011, "keepalive ping timeout")
            assert web.pings >= 1
            assert time.monotonic() - start < 5
            alice.skip_until("[lobby] * mute left (connection lost)")
        with WsClient(server.http_port, "chatty") as web:  # one that answers stays
            deadline = time.monotonic() + 1.2  # silent for 4 intervals, but reading
            while time.monotonic() < deadline:  # (and so answering the pings)
                with contextlib.suppress(TimeoutError):
                    web.line(timeout=0.1)
            web.send("still connected")
            web.skip_until("[lobby] <chatty> still connected")
            assert web.pings >= 1
        server.stop()


def test_a_shutdown_closes_websockets_with_1001_after_the_bye() -> None:
    with ChatProcess() as server:
        assert server.http_port is not None
        with WsClient(server.http_port, "webby") as web:
            web.expect("[lobby] * webby joined")
            server.stop()
            assert web.line() == "! bye: server shutting down"
            assert web.close_code() == (1001, "server shutting down")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_the_hand_made_text_frames_are_byte_for_byte_what_wsproto_writes(size: int) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Message, Request

    from examples.chat.websocket import text_frame

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="x", target="/ws")))
    list(server.events())
    server.send(AcceptConnection())
    payload = ("\u00e9" * size).encode()[:size].decode("utf-8", "ignore").encode()
    assert text_frame(payload) == server.send(Message(data=payload.decode()))
