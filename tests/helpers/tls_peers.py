"""TLS test peers: certificates made per session, and OpenSSL's own tools.

`certs` (a session fixture) is a fresh `trustme` CA with a server
certificate for ``localhost`` / 127.0.0.1 / ::1, one for ``other.example``
(the SNI tests) and a client certificate (mutual TLS), written as PEM files
to a temporary directory: no key is ever committed. Under Wine, where
cryptography's Rust extension does not load, the Linux side of the run
makes them (``tests/test_windows_wine.py``) and names their directory in
``$RUNTIME_TLS_TEST_CERTS``. `openssl_server` and
`openssl_client` start Debian's ``openssl s_server`` / ``s_client`` as real
processes on free ports and kill them afterwards. `tls_pair` is two
`TlsStream`\\ s joined over loopback TCP.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.io import TcpListener, TcpStream, TlsStream
from tests.helpers.platform_gaps import ON_WINDOWS

OPENSSL = shutil.which("openssl")
#: On the tests that run OpenSSL's command-line tools.
needs_openssl = pytest.mark.skipif(
    OPENSSL is None or ON_WINDOWS,
    reason="no openssl command (Debian's openssl package; .ci/run installs it)")
#: How long a test waits for an openssl process to say something.
PEER_TIMEOUT = 10.0


#: Set by the Linux side of the Wine run: where it made the certificates.
CERTS_DIR_VARIABLE = "RUNTIME_TLS_TEST_CERTS"


@dataclass
class Certs:
    ca_file: Path
    server_pem: Path  # key and chain, for localhost, 127.0.0.1, ::1
    other_pem: Path  # key and chain, for other.example
    client_pem: Path  # key and chain, for client@example (mutual TLS)
    stranger_ca_file: Path  # a CA nobody here issued from
    server_cert: Path  # server_pem's chain alone,
    server_key: Path  # and its key alone

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_pem)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.ca_file)
        return ctx

    def client_context(self, *, with_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if with_client_cert:
            ctx.load_cert_chain(self.client_pem)
        return ctx


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls"))


def _paths(where: Path) -> Certs:
    return Certs(where / "ca.pem", where / "server.pem", where / "other.pem",
                 where / "client.pem", where / "stranger-ca.pem", where / "server-cert.pem",
                 where / "server-key.pem")


def make_certs(where: Path) -> Certs:
    """A new CA and certificates issued by it, as PEM files in ``where``."""
    made_elsewhere = os.environ.get(CERTS_DIR_VARIABLE)
    if made_elsewhere:
        return _paths(Path(made_elsewhere))
    trustme = pytest.importorskip("trustme", reason="trustme (a dev extra) makes test certificates")
    ca = trustme.CA()
    paths = _paths(where)
    ca.cert_pem.write_to_path(str(paths.ca_file))
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    server.private_key_and_cert_chain_pem.write_to_path(str(paths.server_pem))
    server.private_key_pem.write_to_path(str(paths.server_key))
    for i, pem in enumerate(server.cert_chain_pems):
        pem.write_to_path(str(paths.server_cert), append=i > 0)
    ca.issue_cert("other.example").private_key_and_cert_chain_pem.write_to_path(
        str(paths.other_pem))
    ca.issue_cert("client@example", common_name="client@example"
                  ).private_key_and_cert_chain_pem.write_to_path(
        str(paths.client_pem))
    trustme.CA().cert_pem.write_to_path(str(paths.stranger_ca_file))
    return paths


@contextlib.asynccontextmanager
async def tls_pair(certs: Certs, *, client_https_compatible: bool = False,
                   server_https_compatible: bool = False, server_options: int = 0,
                   ) -> AsyncIterator[tuple[TlsStream, TlsStream]]:
    """``(client, server)`` over 127.0.0.1, handshake not yet done; closed afterwards.
    ``server_options`` are added to the server context's ``options``."""
    async with await TcpListener.bind("127.0.0.1", 0) as listener:
        raw_client = await TcpStream.connect("127.0.0.1", listener.local_address[1])
        raw_server = await listener.accept()
    client = TlsStream(raw_client, certs.client_context(), server_hostname="localhost",
                       https_compatible=client_https_compatible)
    server_context = certs.server_context()
    server_context.options |= server_options
    server = TlsStream(raw_server, server_context, server_side=True,
                       https_compatible=server_https_compatible)
    try:
        yield client, server
    finally:
        client.close()
        server.close()


class OpenSSL:
    """One running ``openssl`` process; its output so far in `output`."""

    def __init__(self, args: list[str], stdin_data: bytes | None = None) -> None:
        assert OPENSSL is not None
        self.proc = subprocess.Popen([OPENSSL, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output = b""
        if stdin_data is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin_data)
            self.proc.stdin.flush()

    def _read_some(self, deadline: float, waiting_for: str) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"openssl did not {waiting_for} in time; it printed:\n"
                                 + self.output.decode(errors="replace"))
        chunk = os.read(fd, 65536)
        self.output += chunk
        return chunk

    def read_until(self, pattern: bytes, timeout: float = PEER_TIMEOUT) -> re.Match[bytes]:
        """Blocking: collect output until the regex ``pattern`` matches it (in
        set-up or a helper thread, never on the event loop's thread)."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.output)) is None:
            if not self._read_some(deadline, f"print {pattern!r}"):
                raise AssertionError(f"openssl exited before printing {pattern!r}:\n"
                                     + self.output.decode(errors="replace"))
        return found

    def finish(self, timeout: float = PEER_TIMEOUT) -> bytes:
        """Blocking: close its stdin, collect output until it exits; all of it."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        deadline = time.monotonic() + timeout
        while self._read_some(deadline, "exit"):
            pass
        self.proc.wait(max(0.1, deadline - time.monotonic()))
        return self.output

    def stop(self) -> None:
        """Kill it if it still runs; reap it and close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@contextlib.contextmanager
def openssl_server(*args: str) -> Iterator[tuple[OpenSSL, int]]:
    """``openssl s_server`` on a free port of 127.0.0.1 serving one connection,
    ``-rev`` (each line back, reversed); yields it and its port."""
    server = OpenSSL(["s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev", *args])
    try:
        port = int(server.read_until(rb"ACCEPT 127\.0\.0\.1:(\d+)\r?\n").group(1))
        yield server, port
    finally:
        server.stop()


def openssl_client(port: int, *args: str, stdin_data: bytes = b"") -> OpenSSL:
    """``openssl s_client`` to 127.0.0.1:``port`` with ``stdin_data`` as input;
    the caller `finish`\\ es or `stop`\\ s it."""
    return OpenSSL(["s_client", "-connect", f"127.0.0.1:{port}", *args], stdin_data)
