"""examples/chat_client.py as a real process: piped stdin, a terminal, Ctrl-C, server exit."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.chat_harness import ROOT, ChatProcess, clients

CLIENT = ROOT / "examples" / "chat_client.py"
pytestmark = pytest.mark.timeout(30)


def test_piped_stdin_is_sent_and_eof_quits(server: ChatProcess) -> None:
    (bob,) = clients(server.port, ["bob"])
    with bob:
        result = subprocess.run(
            [sys.executable, str(CLIENT), "--port", str(server.port)],
            input="alice\nhello bob\n/msg bob psst\nno newline at the end",
            capture_output=True, text=True, timeout=10,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[1:] == [
            "* you are alice; /help lists the commands",
            "[lobby] * alice joined",
            "[lobby] <alice> hello bob",
            "[pm to bob] psst",
            "[lobby] <alice> no newline at the end",
            "! bye: quit",
            "(disconnected)",
        ]
        bob.expect("[lobby] * alice joined", "[lobby] <alice> hello bob", "[pm] <alice> psst",
                   "[lobby] <alice> no newline at the end", "[lobby] * alice left (quit)")


def test_stdin_from_a_regular_file_works_too(server: ChatProcess, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "input.txt")
    with open(path, "w") as f:
        f.write("from a file\n")
    with open(path) as f:
        result = subprocess.run(
            [sys.executable, str(CLIENT), "--port", str(server.port), "--nick", "filer"],
            stdin=f, capture_output=True, text=True, timeout=10,
        )
    assert result.returncode == 0, result.stderr
    assert "[lobby] <filer> from a file" in result.stdout.splitlines()


def _read_until(fd: int, want: bytes, timeout: float = 5.0) -> bytes:
    seen = b""
    deadline = time.perf_counter() + timeout
    while want not in seen:
        left = deadline - time.perf_counter()
        assert left > 0, f"never saw {want!r}; saw {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side of the pty closed
                chunk = b""
            assert chunk, f"EOF before {want!r}; saw {seen!r}"
            seen += chunk
    return seen


def test_in_a_terminal_ctrl_c_exits_cleanly(server: ChatProcess) -> None:
    (bob,) = clients(server.port, ["bob"])
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(CLIENT), "--port", str(server.port), "--nick", "tty"],
        stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
    )
    os.close(terminal)
    try:
        with bob:
            _read_until(controller, b"[lobby] * tty joined")
            os.write(controller, b"typed in a terminal\n")
            _read_until(controller, b"[lobby] <tty> typed in a terminal")
            bob.skip_until("[lobby] <tty> typed in a terminal")
            bob.send("hello tty")
            _read_until(controller, b"[lobby] <bob> hello tty")
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
            assert proc.wait(timeout=5) == 0
            bob.expect("[lobby] <bob> hello tty", "[lobby] * tty left (connection closed)")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)


def test_the_client_exits_when_the_server_goes_away() -> None:
    with ChatProcess() as server:
        proc = subprocess.Popen(
            [sys.executable, str(CLIENT), "--port", str(server.port), "--nick", "left"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stdout is not None
            for _ in range(3):
                proc.stdout.readline()  # welcome, you are, joined
            server.stop()
            assert proc.stdout.readline() == "! bye: server shutting down\n"
            assert proc.stdout.readline() == "(disconnected)\n"
            assert proc.wait(timeout=5) == 0  # stdin is still open: it must not wait on it
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
