"""The chat server over TLS (``--tls-cert``/``--tls-key``) and ``chat_client.py --tls``.

Real processes: the server and the client are the example scripts; the
certificates are made by trustme for this module.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys

import pytest

import runtime
from runtime.io import TcpStream
from tests.helpers.chat_harness import ROOT, ChatProcess
from tests.helpers.tls_peers import Certs, make_certs

CLIENT = ROOT / "examples" / "chat_client.py"
SERVER = ROOT / "examples" / "chat_server.py"
pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("chat-tls"))


def run_client(port: int, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLIENT), "--port", str(port), *args],
                          input=stdin, capture_output=True, text=True, timeout=15)


@pytest.mark.parametrize("key_apart", [False, True], ids=["key-in-cert-file", "tls-key"])
def test_chat_client_talks_tls_to_the_chat_server(tls_files: Certs, key_apart: bool) -> None:
    files = (["--tls-cert", str(tls_files.server_cert), "--tls-key", str(tls_files.server_key)]
             if key_apart else ["--tls-cert", str(tls_files.server_pem)])
    with ChatProcess(*files) as server:
        assert "--tls" in server.banner[1]
        result = run_client(server.port, "--tls", "--cafile", str(tls_files.ca_file),
                            stdin="alice\nhello over tls\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "[lobby] <alice> hello over tls" in lines
    assert lines[-2:] == ["! bye: quit", "(disconnected)"]


def test_a_tls_chat_client_and_a_runtime_tls_client_see_each_other(tls_files: Certs) -> None:
    with ChatProcess("--tls-cert", str(tls_files.server_pem)) as server:
        async def main() -> list[bytes]:
            ctx = tls_files.client_context()
            async with await TcpStream.connect("127.0.0.1", server.port, ssl=ctx) as bob:
                await bob.write_all(b"bob\n")
                seen = [await bob.read_line() for _ in range(3)]  # welcome, you are, joined
                result = await runtime.to_thread(functools.partial(
                    run_client, server.port, "--tls", "--cafile", str(tls_files.ca_file),
                    "--nick", "carol", stdin="hi bob\n"))
                assert result.returncode == 0, result.stderr
                for _ in range(3):
                    seen.append(await bob.read_line())
                return seen

        seen = runtime.run(main())
    assert seen[3:] == [b"[lobby] * carol joined\n", b"[lobby] <carol> hi bob\n",
                        b"[lobby] * carol left (quit)\n"]


def test_the_chat_client_refuses_a_server_its_cas_did_not_sign(tls_files: Certs) -> None:
    with ChatProcess("--tls-cert", str(tls_files.server_pem)) as server:
        result = run_client(server.port, "--tls", "--cafile", str(tls_files.stranger_ca_file),
                            stdin="x\n")
    assert result.returncode == 1
    assert "certificate verify failed" in result.stderr and "127.0.0.1" in result.stderr


def test_plain_text_to_the_tls_chat_server_is_dropped_and_it_goes_on(tls_files: Certs) -> None:
    with ChatProcess("--tls-cert", str(tls_files.server_pem)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as plain:
            plain.sendall(b"alice\n")
            assert plain.recv(100)[:1] in (b"", b"\x15")  # closed, maybe after an alert
        result = run_client(server.port, "--tls", "--cafile", str(tls_files.ca_file),
                            stdin="dave\n")
    assert "* you are dave; /help lists the commands" in result.stdout


@pytest.mark.parametrize(("args", "complaint"), [
    (["--tls-cert", "/nonexistent/cert.pem"], "cannot load --tls-cert /nonexistent/cert.pem"),
    (["--tls-key", "key.pem"], "--tls-key needs --tls-cert"),
])
def test_the_chat_server_names_a_bad_tls_option(args: list[str], complaint: str) -> None:
    result = subprocess.run([sys.executable, str(SERVER), "--port", "0", *args],
                            capture_output=True, text=True, timeout=15)
    assert result.returncode == 2
    assert complaint in result.stderr


def test_the_chat_server_names_a_key_that_does_not_match(tls_files: Certs) -> None:
    result = subprocess.run([sys.executable, str(SERVER), "--port", "0", "--tls-cert",
                             str(tls_files.server_cert), "--tls-key",
                             str(tls_files.ca_file)], capture_output=True, text=True, timeout=15)
    assert result.returncode == 2
    assert f"cannot load --tls-cert {tls_files.server_cert}" in result.stderr


def test_a_tls_client_sees_the_goodbye_and_a_clean_close_when_the_server_stops(
        tls_files: Certs) -> None:
    with ChatProcess("--tls-cert", str(tls_files.server_pem)) as server:
        proc = subprocess.Popen(
            [sys.executable, str(CLIENT), "--port", str(server.port), "--nick", "leaver",
             "--tls", "--cafile", str(tls_files.ca_file)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            for _ in range(3):
                proc.stdout.readline()  # welcome, you are, joined
            server.stop()
            assert proc.stdout.readline() == "! bye: server shutting down\n"
            # close_notify arrived: an EOF, not "(connection lost: ...)"
            assert proc.stdout.readline() == "(disconnected)\n"
            assert proc.wait(timeout=5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
