"""`RingSocketTransport`: runtime.asyncio's stream sockets read by io_uring multishot receives.

Each test runs a loop on ``backend="uring"`` and checks an asyncio
transport promise that the ring's reading must keep: flow control, EOF,
resets, buffered protocols, ``max_size``, closing. Skipped (with the reason)
where this kernel or install cannot run io_uring with provided buffers.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import runtime.asyncio as ra
from tests.helpers.backend_pass import why_uring_unavailable

T = TypeVar("T")

_why = why_uring_unavailable()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"io_uring: {_why}")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return ra.run(coro, backend="uring")


class Collect(asyncio.Protocol):
    """Keeps what it receives, and says when EOF or the end came."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def eof_received(self) -> bool:
        self.eof.set_result(None)
        return True  # keep the write side open

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def _connected(protocol_factory: Any, small_buffers: bool = False,
                     ) -> tuple[Any, socket.socket]:
    """A transport on the ring for one end of a TCP pair; the other end, blocking.

    ``small_buffers``: 64 KiB kernel buffers each way, so a reader that
    stops soon stops the peer (loopback's autotuning would let ~10 MB wait).
    """
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.socket()
    if small_buffers:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)  # inherited
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    with listener:
        await loop.sock_connect(peer, listener.getsockname())
        ours, _ = listener.accept()
    transport, protocol = await loop.connect_accepted_socket(protocol_factory, ours)
    _assert_reads_on_the_ring(transport)
    return protocol, peer


def _assert_reads_on_the_ring(transport: Any) -> None:
    # Its reader is the ring's, not a readiness FdWatch.
    loop, fd = asyncio.get_running_loop(), transport.get_extra_info("socket").fileno()
    assert type(transport).__name__ == "RingSocketTransport"
    assert loop._ring_readers.get(fd) is transport  # type: ignore[attr-defined]
    assert fd not in loop._watches  # type: ignore[attr-defined]


async def _send_then_eof(peer: socket.socket, payload: bytes, eof: asyncio.Future[None]) -> None:
    """Send ``payload`` from the peer, then its EOF; wait until the protocol saw the EOF."""
    peer.setblocking(False)
    with peer:
        await asyncio.get_running_loop().sock_sendall(peer, payload)
        peer.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(eof, 10)


def test_a_socket_transport_on_uring_reads_by_the_ring_in_order_to_eof() -> None:
    async def main() -> None:
        protocol, peer = await _connected(Collect)
        with peer:
            for i in range(100):
                peer.sendall(b"ping %d\n" % i)
            peer.shutdown(socket.SHUT_WR)
            await asyncio.wait_for(protocol.eof, 5)
        protocol.transport.close()
        await protocol.lost
        assert b"".join(protocol.chunks) == b"".join(b"ping %d\n" % i for i in range(100))

    run(main())


def test_pause_reading_holds_data_received_until_resume_and_loses_nothing() -> None:
    payload = os.urandom(4 << 20)  # past MAX_QUEUED chunks and the kernel's buffers

    async def main() -> None:
        protocol, peer = await _connected(Collect, small_buffers=True)
        transport = protocol.transport
        transport.pause_reading()
        peer.setblocking(False)
        loop = asyncio.get_running_loop()
        sending = loop.create_task(loop.sock_sendall(peer, payload))
        await asyncio.sleep(0.2)
        assert protocol.chunks == []  # paused: nothing delivered
        assert not sending.done()  # and the kernel pushed back on the peer
        transport.resume_reading()
        await asyncio.wait_for(sending, 10)
        peer.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(protocol.eof, 10)
        peer.close()
        transport.close()
        await protocol.lost
        assert b"".join(protocol.chunks) == payload

    run(main())


def test_a_peers_reset_is_connection_lost_with_connection_reset_error() -> None:
    async def main() -> None:
        protocol, peer = await _connected(Collect)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.close()  # linger 0: an RST
        exc = await asyncio.wait_for(protocol.lost, 5)
        assert isinstance(exc, ConnectionResetError)

    run(main())


def test_eof_with_keep_open_still_lets_the_protocol_write() -> None:
    async def main() -> None:
        protocol, peer = await _connected(Collect)
        with peer:
            peer.sendall(b"question")
            peer.shutdown(socket.SHUT_WR)
            await asyncio.wait_for(protocol.eof, 5)
            protocol.transport.write(b"answer")
            protocol.transport.close()
            await protocol.lost
            assert peer.recv(100) == b"answer"
            assert peer.recv(100) == b""
        assert protocol.chunks == [b"question"]

    run(main())


class SmallBuffers(asyncio.BufferedProtocol):
    """A buffered protocol whose buffers are 1,000 bytes: chunks arrive split."""

    def __init__(self) -> None:
        self.buffer = bytearray(1000)
        self.got = bytearray()
        self.eof = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.got += self.buffer[:nbytes]

    def eof_received(self) -> None:
        self.eof.set_result(None)


def test_max_size_bounds_each_data_received_on_the_ring() -> None:
    payload = os.urandom(200_000)

    async def main() -> list[bytes]:
        protocol, peer = await _connected(Collect)
        protocol.transport.max_size = 1000
        await _send_then_eof(peer, payload, protocol.eof)
        return protocol.chunks

    chunks = run(main())
    assert b"".join(chunks) == payload
    assert max(map(len, chunks)) <= 1000


def test_closing_the_transport_closes_the_connection_at_once() -> None:
    # The multishot receive holds the socket's file: the transport must cancel
    # it before closing the fd, or the peer would not see the close.
    async def main() -> None:
        protocol, peer = await _connected(Collect)
        with peer:
            peer.sendall(b"hello")
            while not protocol.chunks:  # the receive is in the kernel now
                await asyncio.sleep(0.01)
            protocol.transport.close()
            await protocol.lost
            peer.settimeout(5)
            assert peer.recv(10) == b""

    run(main())


def test_a_protocol_that_raises_in_data_received_loses_only_its_connection() -> None:
    class Broken(Collect):
        def data_received(self, data: bytes) -> None:
            raise ValueError("the protocol broke")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda loop, context: errors.append(context))
        broken, broken_peer = await _connected(Broken)
        fine, fine_peer = await _connected(Collect)
        with broken_peer, fine_peer:
            broken_peer.sendall(b"boom")
            exc = await asyncio.wait_for(broken.lost, 5)
            assert isinstance(exc, ValueError)
            fine_peer.sendall(b"still here")
            fine_peer.shutdown(socket.SHUT_WR)
            await asyncio.wait_for(fine.eof, 5)
            fine.transport.close()
            await fine.lost
        assert b"".join(fine.chunks) == b"still here"
        assert "data_received" in errors[0]["message"]

    run(main())


def test_without_multishot_receives_sockets_get_the_readiness_transport(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Kernels before 6.0 (forced here): the loop still runs on the ring, and
    # its sockets read on readiness as on epoll.
    monkeypatch.setenv("RUNTIME_URING_DISABLE", "recv_multishot")

    async def main() -> str:
        loop = asyncio.get_running_loop()
        assert not loop._host.receives_on_ring
        left, right = socket.socketpair()
        transport, protocol = await loop.connect_accepted_socket(Collect, left)
        with right:
            right.sendall(b"hi")
            right.shutdown(socket.SHUT_WR)
            await asyncio.wait_for(protocol.eof, 5)
        transport.close()
        await protocol.lost
        assert protocol.chunks == [b"hi"]
        return type(transport).__name__

    assert run(main()) == "SocketTransport"


class PausingBuffered(SmallBuffers):
    """Pauses after every buffer it is given and resumes on the next turn:
    each pause lands mid-chunk, so the rest must be put back in order."""

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        self.transport.pause_reading()  # type: ignore[attr-defined]
        asyncio.get_running_loop().call_soon(self.transport.resume_reading)  # type: ignore[attr-defined]


@pytest.mark.parametrize("protocol_class", [SmallBuffers, PausingBuffered],
                         ids=["small buffers", "pausing mid-chunk"])
def test_a_buffered_protocol_gets_every_byte_in_order(protocol_class: type[SmallBuffers]) -> None:
    payload = os.urandom(1 << 20)

    async def main() -> bytes:
        protocol, peer = await _connected(protocol_class)
        await _send_then_eof(peer, payload, protocol.eof)
        return bytes(protocol.got)

    assert run(main()) == payload


def test_a_read_only_buffer_from_get_buffer_fails_the_connection_not_the_stream() -> None:
    class ReadOnly(SmallBuffers):
        def __init__(self) -> None:
            super().__init__()
            self.lost = asyncio.get_running_loop().create_future()

        def get_buffer(self, sizehint: int) -> bytes:  # type: ignore[override]
            return bytes(100)

        def connection_lost(self, exc: Exception | None) -> None:
            self.lost.set_result(exc)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: None)
        protocol, peer = await _connected(ReadOnly)
        with peer:
            peer.sendall(b"data")
            exc = await asyncio.wait_for(protocol.lost, 5)
        assert isinstance(exc, TypeError)

    run(main())


def test_eof_received_returning_false_closes_the_transport() -> None:
    class Closing(Collect):
        def eof_received(self) -> bool:
            self.eof.set_result(None)
            return False

    async def main() -> None:
        protocol, peer = await _connected(Closing)
        with peer:
            peer.sendall(b"bye")
            peer.shutdown(socket.SHUT_WR)
            assert await asyncio.wait_for(protocol.lost, 5) is None
            peer.settimeout(5)
            assert peer.recv(10) == b""  # our side closed too
        assert protocol.chunks == [b"bye"]

    run(main())


def test_abort_drops_what_is_queued_and_closes_at_once() -> None:
    async def main() -> None:
        protocol, peer = await _connected(Collect)
        with peer:
            peer.sendall(b"first")
            while not protocol.chunks:
                await asyncio.sleep(0.01)
            protocol.transport.pause_reading()
            peer.sendall(b"queued, never delivered")
            await asyncio.sleep(0.05)
            protocol.transport.abort()
            assert await asyncio.wait_for(protocol.lost, 5) is None
            peer.settimeout(5)
            try:
                assert peer.recv(100) == b""
            except ConnectionResetError:
                pass  # unread bytes at close: the kernel resets instead
        assert protocol.chunks == [b"first"]

    run(main())


def test_a_unix_stream_socket_reads_on_the_ring_too() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        transport, protocol = await loop.connect_accepted_socket(Collect, ours)
        _assert_reads_on_the_ring(transport)
        await _send_then_eof(peer, b"over a unix socket" * 1000, protocol.eof)
        transport.close()
        await protocol.lost
        assert b"".join(protocol.chunks) == b"over a unix socket" * 1000

    run(main())
