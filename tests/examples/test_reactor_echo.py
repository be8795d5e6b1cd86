"""`examples/reactor_echo.py`, run as a real process and spoken to over real sockets."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import connect_loopback as connect
from tests.helpers import free_port, recv_exactly

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "reactor_echo.py"
Server = tuple[subprocess.Popen[str], int]


@pytest.fixture
def server() -> Iterator[Server]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == f"echo server listening on 127.0.0.1:{port}\n", proc.stderr.read()
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def stop(proc: subprocess.Popen[str], signum: int) -> str:
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return out


@pytest.mark.timeout(20)
def test_echoes_lines_then_exits_zero_on_sigterm(server: Server) -> None:
    proc, port = server
    with connect(port) as sock:
        for line in (b"hello\n", b"reactor\n", b"x" * 1000):
            sock.sendall(line)
            assert recv_exactly(sock, len(line)) == line
    assert stop(proc, signal.SIGTERM) == "echo server stopped\n"


@pytest.mark.timeout(20)
def test_exits_zero_on_sigint(server: Server) -> None:
    proc, port = server
    with connect(port) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        stop(proc, signal.SIGINT)


@pytest.mark.timeout(20)
def test_serves_several_clients_at_once(server: Server) -> None:
    proc, port = server
    socks = [connect(port) for _ in range(10)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"client %d" % i)
        for i, sock in enumerate(reversed(socks)):
            want = b"client %d" % (len(socks) - 1 - i)
            assert recv_exactly(sock, len(want)) == want
    finally:
        for sock in socks:
            sock.close()
    stop(proc, signal.SIGTERM)


@pytest.mark.timeout(30)
def test_a_client_that_reads_late_gets_every_byte_back(server: Server) -> None:
    # Send 16 MiB before reading any: far more than the socket buffers hold,
    # so the server must keep what we cannot take yet and wait for WRITABLE.
    proc, port = server
    payload = bytes(range(256)) * (16 * 4096)
    with connect(port) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
    stop(proc, signal.SIGTERM)


@pytest.mark.timeout(20)
def test_a_half_closed_client_still_gets_its_echo(server: Server) -> None:
    proc, port = server
    payload = b"y" * (1 << 20)
    with connect(port) as sock:

        def send_all_then_half_close() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_all_then_half_close)
        sender.start()
        try:
            assert recv_exactly(sock, len(payload)) == payload
            assert sock.recv(1) == b""  # then the server closes
        finally:
            sender.join()
    stop(proc, signal.SIGTERM)
