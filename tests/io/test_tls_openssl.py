"""`TlsStream` against OpenSSL's own tools: ``openssl s_server`` and ``s_client``.

Our client talks to ``s_server`` (``-rev``: each line comes back reversed)
and ``s_client`` talks to our `serve_tcp` server, over TLS 1.2 and 1.3,
with ALPN, SNI, mutual TLS, and the failures a real network brings: a
certificate for another host, one from an unknown CA, a missing client
certificate. Every process runs on a free port and is killed afterwards.
"""

from __future__ import annotations

import functools
import logging
import re
import ssl
from typing import Any

import pytest

import runtime
from runtime.errors import BrokenResourceError
from runtime.io import TcpStream, TlsStream, serve_tcp
from tests.helpers.tls_peers import Certs, needs_openssl, openssl_client, openssl_server

pytestmark = needs_openssl

VERSIONS = [pytest.param("-tls1_2", "TLSv1.2", id="tls1.2"),
            pytest.param("-tls1_3", "TLSv1.3", id="tls1.3")]


# -- our client, OpenSSL's server ---------------------------------------------------


@pytest.mark.parametrize(("flag", "version"), VERSIONS)
def test_client_exchanges_lines_with_openssl_s_server(certs: Certs, flag: str,
                                                        version: str) -> None:
    with openssl_server("-cert", str(certs.server_pem), flag) as (server, port):
        async def main() -> tuple[list[bytes], str | None, Any]:
            async with await TcpStream.connect("localhost", port,
                                               ssl=certs.client_context()) as tls:
                replies = []
                # s_server -rev reverses what one read gives it: lines kept short.
                for line in (b"hello\n", b"x" * 1000 + b"y\n"):
                    await tls.write_all(line)
                    replies.append(await tls.read_line())
                return replies, tls.version(), tls.cipher()

        replies, got_version, cipher = runtime.run(main())
        server.finish()
    assert replies == [b"olleh\n", b"y" + b"x" * 1000 + b"\n"]
    assert got_version == version
    assert cipher is not None and cipher[1] == version


def test_client_offers_alpn_and_reports_what_openssl_s_server_chose(certs: Certs) -> None:
    with openssl_server("-cert", str(certs.server_pem), "-alpn", "h2,http/1.1") as (_, port):
        async def main() -> str | None:
            ctx = certs.client_context()
            ctx.set_alpn_protocols(["spdy/3", "http/1.1"])
            async with await TcpStream.connect("localhost", port, ssl=ctx) as tls:
                return tls.selected_alpn_protocol()

        assert runtime.run(main()) == "http/1.1"


@pytest.mark.parametrize("name", ["localhost", "other.example"])
def test_client_sends_sni_and_openssl_s_server_picks_the_certificate_by_it(
        certs: Certs, name: str) -> None:
    # s_server serves -cert2 to a client whose SNI is -servername, -cert to
    # the rest; the handshake only verifies if the right one came back.
    with openssl_server("-cert", str(certs.server_pem), "-servername", "other.example",
                        "-cert2", str(certs.other_pem)) as (_, port):
        async def main() -> Any:
            async with await TcpStream.connect("127.0.0.1", port, ssl=certs.client_context(),
                                               server_hostname=name) as tls:
                return tls.getpeercert()

        peer = runtime.run(main())
    assert ("DNS", name) in peer["subjectAltName"]


def test_client_refuses_a_certificate_for_another_host_naming_the_host(certs: Certs) -> None:
    with openssl_server("-cert", str(certs.server_pem)) as (server, port):
        async def main() -> None:
            await TcpStream.connect("127.0.0.1", port, ssl=certs.client_context(),
                                    server_hostname="wrong.example")

        with pytest.raises(BrokenResourceError,
                           match=r"Hostname mismatch.*'wrong\.example'") as info:
            runtime.run(main())
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        # The refusal reached OpenSSL as an alert, not a bare close.
        server.read_until(rb"alert bad certificate|SSL alert number 42")


def test_client_refuses_a_certificate_from_an_untrusted_ca(certs: Certs) -> None:
    with openssl_server("-cert", str(certs.server_pem)) as (server, port):
        async def main() -> None:
            ctx = ssl.create_default_context(cafile=str(certs.stranger_ca_file))
            await TcpStream.connect("localhost", port, ssl=ctx)

        with pytest.raises(BrokenResourceError, match="unable to get local issuer certificate"):
            runtime.run(main())
        server.read_until(rb"alert unknown ca|SSL alert number 48")


def test_client_presents_its_certificate_to_an_openssl_s_server_that_requires_one(
        certs: Certs) -> None:
    with openssl_server("-cert", str(certs.server_pem), "-Verify", "1",
                        "-CAfile", str(certs.ca_file)) as (server, port):
        async def main() -> bytes:
            ctx = certs.client_context(with_client_cert=True)
            async with await TcpStream.connect("localhost", port, ssl=ctx) as tls:
                await tls.write_all(b"mutual\n")
                return await tls.read_line()

        assert runtime.run(main()) == b"lautum\n"
        server.finish()
    assert b"client@example" in server.output


def test_client_without_the_certificate_openssl_s_server_requires_gets_broken_resource_error(
        certs: Certs) -> None:
    with openssl_server("-cert", str(certs.server_pem), "-Verify", "1", "-tls1_3",
                        "-CAfile", str(certs.ca_file)) as (_, port):
        async def main() -> None:
            # TLS 1.3: the client's side of the handshake completes; the
            # server's refusal arrives as an alert on the first read.
            async with await TcpStream.connect("localhost", port,
                                               ssl=certs.client_context()) as tls:
                await tls.write_all(b"let me in\n")
                await tls.read_line()

        with pytest.raises(BrokenResourceError, match=r"(?i)certificate required"):
            runtime.run(main())


# -- OpenSSL's client, our server -----------------------------------------------------


async def shout_once(tls: TlsStream) -> None:
    """Read a line, answer it in capitals with what was negotiated, close."""
    line = await tls.read_line()
    peer = tls.getpeercert()
    who = dict(x[0] for x in peer["subject"]).get("commonName", "?") if peer else "-"
    await tls.write_all(b"%s %s %s %s\n" % (line.strip().upper(), tls.version().encode(),
                                           (tls.selected_alpn_protocol() or "-").encode(),
                                           who.encode()))


async def serve_then_run_client(context: ssl.SSLContext, *client_args: str,
                                stdin: bytes = b"hi there\n") -> bytes:
    async with runtime.TaskGroup() as tg:
        port = await tg.start(functools.partial(serve_tcp, ssl_context=context),
                              shout_once, "127.0.0.1", 0)
        # -ign_eof: keep reading after stdin's EOF until our server closes.
        client = openssl_client(port, "-ign_eof", *client_args, stdin_data=stdin)
        try:
            output = await runtime.to_thread(client.finish)
        finally:
            client.stop()
        tg.cancel_scope.cancel()
    return output


@pytest.mark.parametrize(("flag", "version"), VERSIONS)
def test_openssl_s_client_talks_to_serve_tcp_with_alpn(certs: Certs, flag: str,
                                                       version: str) -> None:
    ctx = certs.server_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    output = runtime.run(serve_then_run_client(
        ctx, "-CAfile", str(certs.ca_file), "-verify_return_error", "-servername", "localhost",
        "-alpn", "http/1.1", flag))
    assert f"HI THERE {version} http/1.1 -\n".encode() in output
    assert b"Verify return code: 0 (ok)" in output


def test_serve_tcp_sees_the_sni_openssl_s_client_sends(certs: Certs) -> None:
    names: list[str | None] = []
    ctx = certs.server_context()
    ctx.sni_callback = lambda sslobj, name, context: names.append(name)
    output = runtime.run(serve_then_run_client(
        ctx, "-CAfile", str(certs.ca_file), "-servername", "other.example"))
    assert names == ["other.example"]
    assert b"HI THERE TLSv1.3" in output


def test_serve_tcp_requires_and_reads_the_client_certificate_of_openssl_s_client(
        certs: Certs) -> None:
    output = runtime.run(serve_then_run_client(
        certs.server_context(require_client_cert=True), "-CAfile", str(certs.ca_file),
        "-cert", str(certs.client_pem)))
    assert b"HI THERE TLSv1.3 - client@example\n" in output


def test_serve_tcp_refuses_openssl_s_client_without_a_client_certificate_and_keeps_serving(
        certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[bytes, bytes]:
        ctx = certs.server_context(require_client_cert=True)
        async with runtime.TaskGroup() as tg:
            port = await tg.start(functools.partial(serve_tcp, ssl_context=ctx),
                                  shout_once, "127.0.0.1", 0)
            refused = openssl_client(port, "-ign_eof", "-CAfile", str(certs.ca_file),
                                     stdin_data=b"no cert\n")
            welcome = openssl_client(port, "-ign_eof", "-CAfile", str(certs.ca_file),
                                     "-cert", str(certs.client_pem), stdin_data=b"cert\n")
            try:
                outputs = (await runtime.to_thread(refused.finish),
                           await runtime.to_thread(welcome.finish))
            finally:
                refused.stop()
                welcome.stop()
            tg.cancel_scope.cancel()
        return outputs

    with caplog.at_level(logging.INFO, logger="runtime.io"):
        refused, welcome = runtime.run(main())
    assert b"HI THERE" not in refused
    assert re.search(rb"(?i)alert certificate required|alert number 116", refused)
    assert b"CERT TLSv1.3 - client@example\n" in welcome
    assert any("handshake failed" in r.getMessage() and "CERTIFICATE" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_openssl_s_client_refuses_our_certificate_when_it_trusts_another_ca(
        certs: Certs) -> None:
    output = runtime.run(serve_then_run_client(
        certs.server_context(), "-CAfile", str(certs.stranger_ca_file), "-verify_return_error"))
    assert b"HI THERE" not in output
    assert re.search(rb"unable to get local issuer certificate|verify error", output), output
