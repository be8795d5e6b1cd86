"""A real Redis server for a test: Debian's ``redis-server``, a temp dir, a free port.

`RedisServer` starts ``redis-server`` in a fresh temporary directory on a
free loopback port (no config file: every option on the command line), waits
until it answers ``PING``, and stops it and removes the directory after. It
can be stopped and started again on the same port and directory, with or
without persistence (append-only file), which is what the cluster's outage
tests need; ``netns`` runs it in that network namespace (the test must be able
to reach ``host`` from its own). Skips, saying why, when ``redis-server`` is
not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; `start`/`stop` may be called more than once."""

    def __init__(self, directory: str, *, host: str = "127.0.0.1", port: int | None = None,
                 persistent: bool = False, netns: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian: redis-server)")
        self.binary = binary
        self.directory = directory
        self.host = host
        self.port = port or free_port()
        self.persistent = persistent
        self.netns = netns
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", self.host,
                "--dir", self.directory, "--save", "", "--daemonize", "no",
                "--protected-mode", "no", "--logfile", os.path.join(self.directory, "log"),
                "--appendonly", "yes" if self.persistent else "no",
                "--appendfsync", "always"]
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = Path(self.directory, "log")
                tail = log.read_text()[-2000:] if log.exists() else "(no log)"
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{tail}")
            time.sleep(0.02)

    def _ready(self) -> bool:
        return _answers_ping(self.host, self.port)

    def stop(self) -> None:
        """Stop at once, like a crash (SIGKILL): what is not on disk is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextlib.contextmanager
def redis_server(*, persistent: bool = False) -> Iterator[RedisServer]:
    """A started `RedisServer` in a temporary directory, stopped and removed after."""
    directory = tempfile.mkdtemp(prefix="redis-test-")
    server = RedisServer(directory, persistent=persistent)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
