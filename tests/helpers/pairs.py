"""Connected `runtime.io` streams for the io tests, over every transport.

`stream_pair` yields ``(client, server)``: two `Stream`s joined by a real
TCP connection on 127.0.0.1 or ::1, or a Unix socket under a temporary
directory. Both are closed afterwards, whatever the test did to them.
"""

from __future__ import annotations

import socket
import struct
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from runtime.io import Stream, TcpListener, TcpStream, UnixListener, UnixStream
from tests.helpers import HAS_IPV6
from tests.helpers.platform_gaps import needs_af_unix

_no_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no ::1 on this machine")

#: Every transport a `Stream` runs over, as pytest params.
STREAM_KINDS = [
    pytest.param("tcp-ipv4", id="tcp-ipv4"),
    pytest.param("tcp-ipv6", id="tcp-ipv6", marks=_no_ipv6),
    pytest.param("unix", id="unix", marks=needs_af_unix),
]
#: The TCP transports only.
TCP_KINDS = STREAM_KINDS[:2]
#: Loopback hosts for TCP/UDP tests.
HOSTS = [
    pytest.param("127.0.0.1", id="ipv4"),
    pytest.param("::1", id="ipv6", marks=_no_ipv6),
]


@asynccontextmanager
async def stream_pair(kind: str = "tcp-ipv4") -> AsyncIterator[tuple[Stream, Stream]]:
    """A connected ``(client, server)`` pair of `Stream`s of ``kind``."""
    if kind == "unix":
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "s.sock")
            async with await UnixListener.bind(path) as listener:
                client = await UnixStream.connect(path)
                server = await listener.accept()
            async with client, server:
                yield client, server
        return
    host = {"tcp-ipv4": "127.0.0.1", "tcp-ipv6": "::1"}[kind]
    async with await TcpListener.bind(host, 0) as listener:
        client = await TcpStream.connect(host, listener.local_address[1])
        server = await listener.accept()
    async with client, server:
        yield client, server


def reset_on_close(sock: socket.socket) -> None:
    """Make ``close()`` send an RST instead of a FIN (SO_LINGER with timeout 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
