"""`socket_source`: the io layer's one way to wrap a socket, on either backend."""

from __future__ import annotations

import socket

import pytest

import runtime
import runtime.reactor
from runtime.executor.ready_source import ReadySource
from runtime.lowlevel import socket_source
from tests.helpers.backend_pass import why_uring_unavailable


def _source_class_on(backend: str | None) -> type:
    async def main() -> type:
        a, b = socket.socketpair()
        src = socket_source(a)
        try:
            await src.send(b"x")
            assert b.recv(1) == b"x"
            assert not a.getblocking()
            return type(src)
        finally:
            src.close()
            b.close()

    made: type = runtime.run(main(), backend=backend)
    return made


@pytest.mark.timeout(10)
def test_socket_source_makes_a_ready_source_on_a_readiness_backend() -> None:
    assert _source_class_on(runtime.reactor.default_backend()) is ReadySource


@pytest.mark.timeout(10)
def test_socket_source_makes_a_ring_source_on_io_uring() -> None:
    why = why_uring_unavailable()
    if why is not None:
        pytest.skip(why)
    from runtime.executor.ring_source import RingSource

    assert _source_class_on("uring") is RingSource
