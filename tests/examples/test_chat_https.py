"""The browser face over TLS: with ``--tls-cert`` the page is served over HTTPS and ``/ws``
is ``wss://`` (runtime's `TlsStream`, certificates from trustme)."""

from __future__ import annotations

import shutil
import socket
import ssl

import pytest

from tests.helpers.browser import CHROMIUM, open_page, say, sees
from tests.helpers.chat_harness import ChatProcess
from tests.helpers.tls_peers import Certs, make_certs
from tests.helpers.ws_client import WsClient

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("chat-https"))


def https_get(port: int, target: str, ctx: ssl.SSLContext) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_the_page_is_served_over_https_and_chats_over_wss(certs: Certs) -> None:
    with ChatProcess("--tls-cert", str(certs.server_pem)) as server:
        assert server.http_port is not None
        assert server.banner[2] == f"in a browser: https://127.0.0.1:{server.http_port}/"
        ctx = certs.client_context()
        page = https_get(server.http_port, "/", ctx)
        assert page.startswith(b"HTTP/1.1 200 ") and b"/chat.js" in page
        with WsClient(server.http_port, "alice", tls=ctx) as alice, \
                WsClient(server.http_port, "bob", tls=ctx) as bob:
            alice.skip_until("[lobby] * bob joined")
            bob.send("hello over wss")
            alice.skip_until("[lobby] <bob> hello over wss")
        server.stop()


def test_plain_http_to_the_https_port_is_refused_and_others_are_served(certs: Certs) -> None:
    with ChatProcess("--tls-cert", str(certs.server_pem)) as server:
        assert server.http_port is not None
        with WsClient(server.http_port, "alice", tls=certs.client_context()) as alice:
            with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as plain:
                plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                reply = b""
                while chunk := plain.recv(65536):
                    reply += chunk
                assert b"<!doctype html>" not in reply  # no page without TLS
            alice.send("still fine")
            alice.skip_until("[lobby] <alice> still fine")
        server.stop()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing")
def test_a_browser_page_over_https_talks_over_wss(certs: Certs, browser: object) -> None:
    with ChatProcess("--tls-cert", str(certs.server_pem)) as server:
        assert server.http_port is not None
        with WsClient(server.http_port, "tcpish", tls=certs.client_context()) as other:
            page = open_page(browser, server.http_port, "secure", scheme="https")
            assert page.evaluate("location.protocol") == "https:"
            other.skip_until("[lobby] * secure joined")
            say(page, "hello over wss")
            other.skip_until("[lobby] <secure> hello over wss")
            other.send("hi secure")
            sees(page, "[lobby] <tcpish> hi secure")
        server.stop()
