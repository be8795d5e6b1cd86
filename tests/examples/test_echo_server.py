"""`examples/echo_server.py` (runtime's streams API) as a real process.

Started on port 0; the port comes from its first line of output.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import connect_loopback as connect
from tests.helpers import recv_exactly

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "echo_server.py"
Server = tuple[subprocess.Popen[str], int]


@pytest.fixture
def server() -> Iterator[Server]:
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"echo server listening on 127\.0\.0\.1:(\d+)\n", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def stop(proc: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return out, err


@pytest.mark.timeout(20)
def test_echoes_then_exits_zero_on_sigterm(server: Server) -> None:
    proc, port = server
    with connect(port) as sock:
        for message in (b"hello\n", b"runtime\n", b"x" * 100_000, b"1"):
            sock.sendall(message)
            assert recv_exactly(sock, len(message)) == message
    out, err = stop(proc, signal.SIGTERM)
    assert out == "echo server stopped\n"
    assert "Traceback" not in err


@pytest.mark.timeout(20)
def test_exits_zero_on_sigint(server: Server) -> None:
    proc, port = server
    with connect(port) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
    out, err = stop(proc, signal.SIGINT)
    assert out == "echo server stopped\n"
    assert "Traceback" not in err


@pytest.mark.timeout(20)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_with_clients_connected_closes_them_and_exits_zero(
        server: Server, signum: int) -> None:
    proc, port = server
    socks = [connect(port) for _ in range(5)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"%d" % i)
            assert recv_exactly(sock, 1) == b"%d" % i
        stop(proc, signum)
        for sock in socks:
            assert sock.recv(1) == b""  # every connection was closed on the way out
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.timeout(20)
def test_serves_several_clients_at_once(server: Server) -> None:
    proc, port = server
    socks = [connect(port) for _ in range(20)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"client %d" % i)
        for i in reversed(range(len(socks))):
            want = b"client %d" % i
            assert recv_exactly(socks[i], len(want)) == want
    finally:
        for sock in socks:
            sock.close()
    stop(proc, signal.SIGTERM)


@pytest.mark.timeout(30)
def test_a_half_closed_client_gets_every_byte_back_then_eof(server: Server) -> None:
    proc, port = server
    payload = bytes(range(256)) * 4096  # 1 MiB, more than the socket buffers hold
    with connect(port) as sock:

        def send_all_then_half_close() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all_then_half_close)
        sender.start()
        try:
            assert recv_exactly(sock, len(payload)) == payload
            assert sock.recv(1) == b""
        finally:
            sender.join()
    stop(proc, signal.SIGTERM)


@pytest.mark.timeout(30)
def test_exits_zero_on_sigterm_even_when_started_with_sigint_ignored() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("echo server listening on")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pytest.fail("still running 5 s after SIGTERM")
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
