"""`serve_tcp(ssl_context=...)`: handshakes in each connection's task, bounded, bad clients shed."""

from __future__ import annotations

import functools
import logging
import socket
import ssl
from typing import Any

import pytest

import runtime
from runtime.io import TcpStream, TlsStream, serve_tcp
from tests.helpers.pairs import reset_on_close
from tests.helpers.tls_peers import Certs


async def shout(tls: TlsStream) -> None:
    while line := await tls.read_line():
        await tls.write_all(line.upper())


async def ask(port: int, certs: Certs, line: bytes) -> bytes:
    async with await TcpStream.connect("localhost", port, ssl=certs.client_context()) as tls:
        await tls.write_all(line)
        return await tls.read_line()


def start_tls_server(certs: Certs, **options: Any) -> Any:
    return functools.partial(serve_tcp, ssl_context=certs.server_context(), **options)


def test_serve_tcp_with_ssl_context_gives_handlers_a_handshaken_tls_stream(
        certs: Certs) -> None:
    seen: list[str | None] = []

    async def handler(tls: TlsStream) -> None:
        seen.append(tls.version())  # no NeedHandshakeError: it is done already
        await shout(tls)

    async def main() -> list[bytes]:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(start_tls_server(certs), handler, "127.0.0.1", 0)
            handles = [runtime.spawn(ask(port, certs, b"hello %d\n" % i)) for i in range(10)]
            replies = [await h for h in handles]
            tg.cancel_scope.cancel()
        return replies

    assert runtime.run(main()) == [b"HELLO %d\n" % i for i in range(10)]
    assert seen == ["TLSv1.3"] * 10


def test_plain_text_to_the_tls_server_is_closed_logged_and_others_are_still_served(
        certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[bytes, bytes]:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(start_tls_server(certs), shout, "127.0.0.1", 0)
            async with await TcpStream.connect("127.0.0.1", port) as plain:
                await plain.write_all(b"hello in the clear\n")
                answer = await plain.read()
            reply = await ask(port, certs, b"after\n")
            tg.cancel_scope.cancel()
        return answer, reply

    with caplog.at_level(logging.INFO, logger="runtime.io"):
        answer, reply = runtime.run(main())
    assert answer[:1] in (b"", b"\x15")  # closed, perhaps after an alert
    assert reply == b"AFTER\n"
    assert any("TLS handshake failed" in r.getMessage() and "WRONG_VERSION_NUMBER"
               in r.getMessage() for r in caplog.records), caplog.text


def test_a_client_stalling_mid_handshake_is_dropped_after_the_timeout_without_blocking_others(
        certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[bytes, bytes, float]:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(start_tls_server(certs, ssl_handshake_timeout=0.5), shout,
                                  "127.0.0.1", 0)
            start = runtime.current_time()
            async with await TcpStream.connect("127.0.0.1", port) as staller:
                # Half a ClientHello, then silence.
                await staller.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                reply = await ask(port, certs, b"meanwhile\n")  # served at once
                with runtime.fail_after(5):
                    dropped = await staller.read()
                waited = runtime.current_time() - start
            tg.cancel_scope.cancel()
        return reply, dropped, waited

    with caplog.at_level(logging.INFO, logger="runtime.io"):
        reply, dropped, waited = runtime.run(main())
    assert reply == b"MEANWHILE\n"
    assert dropped == b""
    assert 0.4 < waited < 3
    assert "no TLS handshake within 0.5 s" in caplog.text


def test_a_client_that_resets_during_the_handshake_does_not_disturb_the_server(
        certs: Certs) -> None:
    async def main() -> bytes:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(start_tls_server(certs), shout, "127.0.0.1", 0)
            raw = socket.create_connection(("127.0.0.1", port))
            raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00")
            reset_on_close(raw)
            raw.close()
            reply = await ask(port, certs, b"still here\n")
            tg.cancel_scope.cancel()
        return reply

    assert runtime.run(main()) == b"STILL HERE\n"


def test_serve_tcp_refuses_bad_tls_options_before_listening(certs: Certs) -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match=r"ssl_context must be an ssl\.SSLContext"):
            await serve_tcp(shout, "127.0.0.1", 0, ssl_context="cert.pem")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ssl_handshake_timeout must be > 0, got 0"):
            await serve_tcp(shout, "127.0.0.1", 0, ssl_context=certs.server_context(),
                            ssl_handshake_timeout=0)

    runtime.run(main())


def test_connect_with_ssl_true_uses_the_system_trust_store_and_refuses_our_test_ca(
        certs: Certs) -> None:
    async def main() -> str:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(start_tls_server(certs), shout, "127.0.0.1", 0)
            with pytest.raises(runtime.BrokenResourceError) as info:
                await TcpStream.connect("localhost", port, ssl=True)
            tg.cancel_scope.cancel()
        return str(info.value)

    assert "certificate verify failed" in runtime.run(main())
    assert ssl.create_default_context().check_hostname  # what ssl=True builds on
