"""`TlsStream` between two `runtime` peers: the stream API, closing, errors, cancellation.

Two `TlsStream`\\ s over a real loopback TCP connection (`tls_pair`), or one
over raw sockets playing a misbehaving peer. OpenSSL's tools as peers are in
``test_tls_openssl.py``; trio's ``SSLStream`` beside ours in
``test_tls_trio_side_by_side.py``; `serve_tcp` with TLS in ``test_serve_tls.py``.
"""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path

import pytest

import runtime
from runtime.errors import (
    BrokenResourceError,
    BusyResourceError,
    ClosedResourceError,
    IncompleteReadError,
    LineTooLong,
)
from runtime.io import NeedHandshakeError, TcpListener, TcpStream, TlsStream
from tests.helpers.backend_limits import run_backend_lacks
from tests.helpers.pairs import reset_on_close
from tests.helpers.tls_peers import Certs, tls_pair


async def echo_until_eof(tls: TlsStream) -> None:
    while data := await tls.read():
        await tls.write_all(data)
    await tls.aclose()


def test_lines_and_exact_reads_cross_in_both_directions(certs: Certs) -> None:
    async def main() -> list[bytes]:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(echo_until_eof(server))
            await client.write_all(b"one\ntwo\nthree")
            got = [await client.read_line(), await client.read_line(),
                   await client.read_exact(5)]
            await client.write_all(b"\nfour\n")
            got += await _lines_until(client, b"four\n")
            await client.aclose()
        return got

    assert runtime.run(main()) == [b"one\n", b"two\n", b"three", b"\n", b"four\n"]


async def _lines_until(tls: TlsStream, last: bytes) -> list[bytes]:
    lines = []
    async for line in tls.lines():
        lines.append(line)
        if line == last:
            break
    return lines


def test_a_1_mib_write_arrives_whole_in_16_kib_records(certs: Certs) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value

    async def main() -> tuple[bytes, int]:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(client.write_all(payload))
            got = await server.read_exact(len(payload))
            # Records carry at most 16 KiB of plaintext: one read, one record.
            await client.write_all(b"z" * 40000)
            first = await server.read(65536)
        return got, len(first)

    got, first = runtime.run(main())
    assert got == payload
    assert first == 16384


def test_read_line_limit_discards_the_long_line_and_the_next_read_starts_after_it(
        certs: Certs) -> None:
    async def main() -> bytes:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(client.write_all(b"a" * 70000 + b"\nshort\n"))
            with pytest.raises(LineTooLong):
                await server.read_line(limit=1000)
            return await server.read_line()

    assert runtime.run(main()) == b"short\n"


def test_close_notify_reads_as_eof_and_read_exact_reports_the_partial(certs: Certs) -> None:
    async def main() -> tuple[bytes, bytes]:
        async with tls_pair(certs) as (client, server):
            async with runtime.TaskGroup() as tg:
                tg.spawn(server.do_handshake())
                await client.write_all(b"abc")
                await client.aclose()
            with pytest.raises(IncompleteReadError) as info:
                await server.read_exact(10)
            return info.value.partial, await server.read()

    assert runtime.run(main()) == (b"abc", b"")


# Some Python builds (Debian's 3.11.2) set OP_IGNORE_UNEXPECTED_EOF in every
# new context, so OpenSSL reports a ragged EOF as a clean one: TlsStream must
# still tell them apart.
IGNORE_EOF = getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)


@pytest.mark.parametrize("https_compatible", [False, True])
@pytest.mark.parametrize("options", [0, IGNORE_EOF], ids=["default", "ignore-unexpected-eof"])
def test_a_peer_closing_without_close_notify_is_broken_unless_https_compatible(
        certs: Certs, https_compatible: bool, options: int) -> None:
    async def main() -> bytes | str:
        async with tls_pair(certs, server_https_compatible=https_compatible,
                            server_options=options) as (client, server):
            async with runtime.TaskGroup() as tg:
                tg.spawn(server.do_handshake())
                await client.write_all(b"abc")
            assert await server.read() == b"abc"
            client.close()  # the TCP connection ends, no close_notify: a ragged EOF
            try:
                return await server.read()
            except BrokenResourceError as exc:
                assert isinstance(exc.__cause__, ssl.SSLError)
                with pytest.raises(BrokenResourceError, match="is broken"):
                    await server.write_all(b"more")  # and it stays broken
                return str(exc)

    got = runtime.run(main())
    if https_compatible:
        assert got == b""
    else:
        assert isinstance(got, str) and "127.0.0.1" in got and "EOF" in got


def test_shutdown_write_is_a_tls_half_close_the_peer_reads_eof_and_still_answers(
        certs: Certs) -> None:
    async def main() -> tuple[bytes, bytes, bytes]:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(server.do_handshake())
            await client.write_all(b"question")
            await client.shutdown_write()
            request = await server.read()
            eof = await server.read()
            with runtime.fail_after(2):  # EOF again at once: the TCP connection is still open
                assert await server.read_line() == b""
            await server.write_all(b"answer")
            await server.aclose()
            return request, eof, await client.read_exact(6)

    assert runtime.run(main()) == (b"question", b"", b"answer")


def test_unwrap_hands_back_the_plain_stream_and_what_came_after_close_notify(
        certs: Certs) -> None:
    async def main() -> tuple[bytes, bytes]:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            async def server_side() -> None:
                assert await server.read() == b"secret"
                assert await server.read() == b""
                plain, trailing = await server.unwrap()
                assert trailing == b""
                await plain.write_all(b"in the clear")
                plain.close()

            tg.spawn(server_side())
            await client.write_all(b"secret")
            plain, trailing = await client.unwrap()
            assert client.closed
            with pytest.raises(ClosedResourceError):
                await client.read()
            rest = trailing
            while chunk := await plain.read():
                rest += chunk
            plain.close()
            return rest, b""

    assert runtime.run(main())[0] == b"in the clear"


def test_a_second_reader_or_writer_gets_busy_resource_error(certs: Certs) -> None:
    async def main() -> list[str]:
        errors = []
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(server.do_handshake())
            await client.do_handshake()
            reader = runtime.spawn(client.read())
            await runtime.sleep(0.05)
            with pytest.raises(BusyResourceError, match="already reading") as info:
                await client.read()
            errors.append(str(info.value))
            # A writer stuck behind a full socket buffer (the server reads nothing).
            writer = runtime.spawn(client.write_all(b"w" * (16 << 20)))
            await runtime.sleep(0.1)
            with pytest.raises(BusyResourceError, match="already writing"):
                await client.write_all(b"x")
            writer.abort()
            reader.abort()
            for handle in (writer, reader):
                with pytest.raises(runtime.Cancelled):
                    await handle
        return errors

    assert "127.0.0.1" in runtime.run(main())[0]


def test_handshake_properties_before_the_handshake_raise_need_handshake_error(
        certs: Certs) -> None:
    async def main() -> tuple[str | None, str | None]:
        async with tls_pair(certs) as (client, server):
            for ask in (client.version, client.cipher, client.selected_alpn_protocol,
                        client.getpeercert):
                with pytest.raises(NeedHandshakeError, match="do_handshake"):
                    ask()
            async with runtime.TaskGroup() as tg:
                tg.spawn(server.do_handshake())
                await client.do_handshake()
            await client.do_handshake()  # again: nothing to do
            return client.version(), server.version()

    assert runtime.run(main()) == ("TLSv1.3", "TLSv1.3")


def test_a_reader_and_a_writer_arriving_together_share_one_handshake(certs: Certs) -> None:
    async def main() -> bytes:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(echo_until_eof(server))
            reader = runtime.spawn(client.read_exact(4))
            tg.spawn(client.write_all(b"ping"))
            got = await reader
            await client.aclose()
            return got

    assert runtime.run(main()) == b"ping"


def test_bad_arguments_raise_typed_errors_naming_the_argument(certs: Certs) -> None:
    async def main() -> None:
        async with tls_pair(certs) as (client, _):
            with pytest.raises(ValueError, match="max_bytes must be >= 1, got 0"):
                await client.read(0)
            with pytest.raises(TypeError, match=r"ssl_context must be an ssl\.SSLContext"):
                TlsStream(client.transport, "not a context")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="server_hostname is required"):
                TlsStream(client.transport, ssl.create_default_context())
            with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
                await TcpStream.connect("127.0.0.1", 1, server_hostname="x")
            with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext"):
                await TcpStream.connect("127.0.0.1", 1, ssl="yes")  # type: ignore[call-overload]

    runtime.run(main())


def test_operations_after_close_raise_closed_resource_error(certs: Certs) -> None:
    async def main() -> None:
        async with tls_pair(certs) as (client, _):
            await client.aclose()
            await client.aclose()  # idempotent
            with pytest.raises(ClosedResourceError, match=r"TLS stream to 127\.0\.0\.1"):
                await client.read()
            with pytest.raises(ClosedResourceError):
                await client.write_all(b"x")

    runtime.run(main())


# -- bad peers -------------------------------------------------------------------------


async def _raw_pair() -> tuple[socket.socket, TcpStream, TcpListener]:
    listener = await TcpListener.bind("127.0.0.1", 0)
    raw = socket.create_connection(listener.local_address)
    return raw, await listener.accept(), listener


def test_plain_text_to_a_tls_server_fails_the_handshake_naming_the_reason(
        certs: Certs) -> None:
    async def main() -> tuple[str, bytes]:
        raw, stream, listener = await _raw_pair()
        with raw, listener:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            server = TlsStream(stream, certs.server_context(), server_side=True)
            with pytest.raises(BrokenResourceError) as info:
                await server.do_handshake()
            server.close()
            raw.settimeout(5)
            return str(info.value), raw.recv(100)

    message, answer = runtime.run(main())
    assert "TLS handshake failed" in message and "HTTP_REQUEST" in message
    # Closed, maybe after an alert record (content type 21).
    assert answer[:1] in (b"", b"\x15")


def test_a_truncated_handshake_is_broken_resource_error_not_a_hang(certs: Certs) -> None:
    async def main() -> str:
        raw, stream, listener = await _raw_pair()
        with raw, listener:
            # The first 20 bytes of a ClientHello record, then EOF.
            raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 9)
            raw.shutdown(socket.SHUT_WR)
            server = TlsStream(stream, certs.server_context(), server_side=True)
            with runtime.fail_after(5), pytest.raises(BrokenResourceError) as info:
                await server.read()
            server.close()
            return str(info.value)

    assert "handshake failed" in runtime.run(main())


def test_a_record_longer_than_tls_allows_is_refused_naming_it(certs: Certs) -> None:
    async def main() -> str:
        raw, stream, listener = await _raw_pair()
        with raw, listener:
            # A handshake record header claiming 18,433 bytes: past 2^14 + 2048.
            raw.sendall(b"\x16\x03\x01\x48\x01" + b"\x00" * 18433)
            server = TlsStream(stream, certs.server_context(), server_side=True)
            with runtime.fail_after(5), pytest.raises(BrokenResourceError) as info:
                await server.do_handshake()
            server.close()
            return str(info.value)

    message = runtime.run(main())
    assert "TLS handshake failed" in message and "LENGTH" in message.upper(), message


def test_a_reset_in_the_middle_of_a_record_is_broken_resource_error(certs: Certs) -> None:
    async def main() -> BaseException | None:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(server.do_handshake())
            await client.do_handshake()
            # Half a record's header and body, then an RST (SO_LINGER 0).
            raw = client.transport.socket  # type: ignore[attr-defined]
            raw.send(b"\x17\x03\x03\x40\x00" + b"\x00" * 100)
            reset_on_close(raw)
            client.close()
            with pytest.raises(BrokenResourceError) as info:
                await server.read()
            return info.value.__cause__

    cause = runtime.run(main())
    if run_backend_lacks("reset_error"):
        # The backend reads a reset as EOF (tests/helpers/limits.py): an EOF mid-record.
        assert isinstance(cause, ssl.SSLError | ConnectionResetError)
    else:
        assert isinstance(cause, ConnectionResetError)


# -- cancellation ------------------------------------------------------------------------


def test_cancelling_the_handshake_leaves_the_stream_broken_and_saying_so(certs: Certs) -> None:
    async def main() -> str:
        async with tls_pair(certs) as (client, _):
            # The server never answers: the handshake waits until cancelled.
            with runtime.move_on_after(0.1) as scope:
                await client.do_handshake()
            assert scope.cancelled_caught
            with pytest.raises(BrokenResourceError, match="interrupted by Cancelled") as info:
                await client.write_all(b"x")
            return repr(client) + str(info.value)

    assert "broken" in runtime.run(main())


def test_a_read_cancelled_while_waiting_loses_nothing_and_the_stream_goes_on(
        certs: Certs) -> None:
    async def main() -> list[bytes]:
        got = []
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(echo_until_eof(server))
            await client.write_all(b"first")
            got.append(await client.read_exact(5))
            with runtime.move_on_after(0.05) as scope:
                await client.read()  # nothing comes
            assert scope.cancelled_caught
            await client.write_all(b"second")
            got.append(await client.read_exact(6))
            await client.aclose()
        return got

    assert runtime.run(main()) == [b"first", b"second"]


def test_a_write_cancelled_mid_record_breaks_the_stream(certs: Certs) -> None:
    async def main() -> str:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(server.do_handshake())
            await client.do_handshake()
            with runtime.move_on_after(0.2) as scope:
                await client.write_all(b"w" * (16 << 20))  # the server reads nothing
            assert scope.cancelled_caught
            with pytest.raises(BrokenResourceError) as info:
                await client.write_all(b"more")
            return str(info.value)

    assert "interrupted by Cancelled" in runtime.run(main())


def test_aclose_in_a_cancelled_task_still_sends_close_notify(certs: Certs) -> None:
    async def main() -> bytes:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(server.do_handshake())
            await client.do_handshake()
            with runtime.CancelScope() as scope:
                scope.cancel()
                await client.aclose()  # raises Cancelled after closing, caught by the scope
            assert client.closed
            return await server.read()  # a clean EOF, not BrokenResourceError

    assert runtime.run(main()) == b""


def test_aclose_does_not_wait_for_a_peer_that_stopped_reading(certs: Certs) -> None:
    async def main() -> float:
        async with tls_pair(certs) as (client, server), runtime.TaskGroup() as tg:
            tg.spawn(server.do_handshake())
            await client.do_handshake()
            with runtime.move_on_after(0.2):
                await client.write_all(b"w" * (16 << 20))  # fills every buffer
            start = runtime.current_time()
            await client.aclose()  # broken now: closes at once
            return runtime.current_time() - start

    assert runtime.run(main()) < 0.5


def test_every_test_docs_tls_md_names_exists() -> None:
    root = Path(__file__).resolve().parents[2]
    named = set(re.findall(r"\b(test_\w+)\b(?!\.py)", (root / "docs" / "tls.md").read_text()))
    defined: set[str] = set()
    for path in (root / "tests").rglob("test_*.py"):
        defined.update(re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(), re.M))
    assert len(named) >= 4 and not named - defined, sorted(named - defined)
