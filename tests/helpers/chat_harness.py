"""Running a chat server as a real process and talking to it over real sockets.

`ChatProcess` starts ``examples/chat_server.py`` (or any script that prints
``... listening on HOST:PORT`` first, like ``trio_chat_server.py``) with
``--port 0`` and reads the port from that line. `Client` is a plain blocking
socket with a timeout that reads whole lines. Both close what they opened,
so the suite's leak check holds.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAT_SERVER = ROOT / "examples" / "chat_server.py"
TRIO_SERVER = ROOT / "tests" / "examples" / "trio_chat_server.py"
TIMEOUT = 5.0

WELCOME = "* welcome to runtime chat; what is your nick? (1-32 of A-Z a-z 0-9 _ -)"


def raise_fd_limit(want: int = 20000) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class ChatProcess:
    """A chat server subprocess; ``with ChatProcess(...) as server: server.port``."""

    def __init__(self, *args: str, script: Path = CHAT_SERVER, fd_limit: int | None = None,
                 sigint_ignored: bool = False) -> None:
        raise_fd_limit()
        self.stdout = ""
        self.stderr = ""

        def before_exec() -> None:
            if fd_limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
            if sigint_ignored:  # as for a '&' job of a non-interactive shell
                signal.signal(signal.SIGINT, signal.SIG_IGN)

        # Our server also serves browsers; on a free port, so tests never collide on 8080.
        web = ["--http-port", "0"] if script == CHAT_SERVER and "--http-port" not in args else []
        options = [*web, *args]
        serves_http = script == CHAT_SERVER and options[options.index("--http-port") + 1] != "-1"
        self.proc = subprocess.Popen(
            [sys.executable, str(script), "--port", "0", *web, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=before_exec if fd_limit is not None or sigint_ignored else None,
        )
        try:
            assert self.proc.stdout is not None and self.proc.stderr is not None
            first = self.proc.stdout.readline()
            assert " listening on 127.0.0.1:" in first, (first, self.proc.stderr.read())
            self.port = int(first.rsplit(":", 1)[1])
            self.banner = [first.rstrip("\n"), self.proc.stdout.readline().rstrip("\n")]
            self.http_port: int | None = None
            if serves_http:
                self.banner.append(self.proc.stdout.readline().rstrip("\n"))
                self.http_port = int(self.banner[-1].rsplit(":", 1)[1].rstrip("/"))
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> float:
        """Send ``signum``; wait for the exit; return the seconds it took. Exit 0 required."""
        start = time.perf_counter()
        self.proc.send_signal(signum)
        self.stdout, self.stderr = self.proc.communicate(timeout=timeout)
        took = time.perf_counter() - start
        assert self.proc.returncode == 0, (self.proc.returncode, self.stderr)
        return took

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far (Linux ``/proc``)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        out, err = self.proc.communicate(timeout=10)
        self.stdout += out or ""
        self.stderr += err or ""

    def __enter__(self) -> ChatProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineReader:
    """What a test does with a chat connection's lines, given ``line()`` (TCP or WebSocket)."""

    nick: str | None
    sock: socket.socket

    def line(self, timeout: float | None = None) -> str:
        raise NotImplementedError

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def expect(self, *wanted: str) -> None:
        for want in wanted:
            got = self.line()
            assert got == want, f"{self.nick}: expected {want!r}, got {got!r}"

    def skip_until(self, pred: Callable[[str], bool] | str, limit: int = 100_000) -> list[str]:
        """Lines up to and including the first that matches; returns them all."""
        match = (lambda s: s == pred) if isinstance(pred, str) else pred
        seen = []
        for _ in range(limit):
            line = self.line()
            seen.append(line)
            if match(line):
                return seen
        raise AssertionError(f"{self.nick}: no matching line in {limit}: {seen[-5:]}")

    def quiet(self, wait: float = 0.15) -> list[str]:
        """Every line that arrives until nothing has for ``wait`` seconds."""
        lines = []
        while True:
            try:
                lines.append(self.line(timeout=wait))
            except TimeoutError:
                return lines

    def expect_nothing(self, wait: float = 0.15) -> None:
        extra = self.quiet(wait)
        assert not extra, f"{self.nick}: unexpected {extra}"


class Client(LineReader):
    """One chat connection: ``send`` lines, ``line()`` reads the next one."""

    def __init__(self, port: int, nick: str | None = None, *, timeout: float = TIMEOUT,
                 rcvbuf: int | None = None, host: str = "127.0.0.1") -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.buf = b""
        self.nick = nick
        if nick is not None:
            try:
                assert self.line() == WELCOME
                self.send(nick)
                self.expect(f"* you are {nick}; /help lists the commands")
            except BaseException:
                self.close()
                raise

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\n")

    def line_bytes(self, timeout: float | None = None) -> bytes:
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError(f"EOF; unterminated rest: {self.buf!r}")
                self.buf += chunk
        finally:
            if timeout is not None:
                self.sock.settimeout(TIMEOUT)
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def line(self, timeout: float | None = None) -> str:
        return self.line_bytes(timeout).decode()

    def read_to_eof(self) -> list[str]:
        """Every remaining line; the server must then close the connection."""
        lines = []
        while True:
            try:
                lines.append(self.line())
            except EOFError as exc:
                assert not self.buf, exc
                return lines

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        """Close abruptly: SO_LINGER 0 makes the kernel send RST, not FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def clients(port: int, nicks: Sequence[str]) -> list[Client]:
    """Connect one client per nick, in order, each seeing its own join."""
    made: list[Client] = []
    try:
        for nick in nicks:
            client = Client(port, nick)
            made.append(client)
            client.expect(f"[lobby] * {nick} joined")
            for other in made[:-1]:
                other.expect(f"[lobby] * {nick} joined")
    except BaseException:
        for client in made:
            client.close()
        raise
    return made
