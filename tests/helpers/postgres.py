"""A real PostgreSQL server for a test: Debian's binaries, a temp dir, a free port.

`postgres_server` runs ``initdb`` and ``pg_ctl start`` in a fresh temporary
directory (trust authentication, listening on 127.0.0.1 only, its socket in
that directory), yields its port, and stops it and removes the directory
after. PostgreSQL refuses to run as root, so as root it runs as the
unprivileged ``nobody`` through ``runuser``. Skips, saying why, when the
binaries or ``runuser`` are missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "nobody"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[int]:
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not initdb.exists() or not pg_ctl.exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN} (Debian: postgresql-15)")
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root and runuser is missing, so postgres cannot run "
                        "as an unprivileged user")
        prefix = [runuser, "-u", USER, "--"]
    tmp = tempfile.mkdtemp(prefix="pg-test-")
    data = os.path.join(tmp, "data")
    if prefix:
        shutil.chown(tmp, user=USER)
    port = _free_port()
    started = False
    try:
        subprocess.run([*prefix, str(initdb), "-D", data, "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True, timeout=60)
        options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*prefix, str(pg_ctl), "-D", data, "-l", os.path.join(tmp, "log"),
                        "-o", options, "-w", "-t", "60", "start"],
                       check=True, capture_output=True, timeout=90)
        started = True
        yield port
    finally:
        if started:
            subprocess.run([*prefix, str(pg_ctl), "-D", data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
