"""Transports and servers on `RuntimeEventLoop`: TCP, Unix, UDP, SSL, pipes, subprocesses."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import sys
import tempfile

import pytest

import runtime.asyncio as ra


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


async def _echo_streams(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def test_tcp_protocol_echo_keeps_one_registration_for_many_round_trips() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        fd = writer.get_extra_info("socket").fileno()
        sio = loop._host.lookup_io(fd)
        for i in range(200):
            writer.write(b"ping %d\n" % i)
            assert await reader.readline() == b"ping %d\n" % i
        if loop._host.receives_on_ring:
            # On io_uring the ring receives: readiness never hears of the socket.
            assert type(writer.transport).__name__ == "RingSocketTransport"
            assert sio is None and loop._host.lookup_io(fd) is None
        else:
            # The same ScheduledIo throughout: registered once, never re-armed.
            assert loop._host.lookup_io(fd) is sio is not None
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    ra.run(main())


def test_tcp_streams_move_a_megabyte_each_way_with_backpressure() -> None:
    payload = os.urandom(1 << 20)

    async def main() -> None:
        server = await asyncio.start_server(_echo_streams, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send() -> None:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()

        sender = asyncio.create_task(send())
        got = await asyncio.wait_for(reader.read(-1), 20)
        await sender
        assert got == payload
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    ra.run(main())


class Keeper(asyncio.Protocol):
    """Keeps every bytes object data_received hands it, and when each came."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        assert type(data) is bytes
        self.chunks.append(data)

    def eof_received(self) -> None:
        self.done.set_result(None)


async def _send_and_keep(payload: bytes) -> list[bytes]:
    """Send ``payload`` in 1,000 writes to a Keeper server; return what it was handed."""
    loop = asyncio.get_running_loop()
    keeper = Keeper()
    server = await loop.create_server(lambda: keeper, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    step = len(payload) // 1000
    for i in range(0, len(payload), step):
        writer.write(payload[i:i + step])
        await writer.drain()
        await asyncio.sleep(0)
    writer.write_eof()
    await keeper.done
    writer.close()
    server.close()
    await server.wait_closed()
    return keeper.chunks


def test_received_bytes_stay_as_they_came_though_the_loop_reuses_its_buffer() -> None:
    payload = os.urandom(1_000_000)
    chunks = ra.run(_send_and_keep(payload))
    assert len(chunks) > 1  # many reads went through the one buffer
    assert b"".join(chunks) == payload  # and no earlier chunk changed under a later read


@pytest.mark.parametrize("max_size", [1 << 20, 1000])
def test_a_transports_max_size_raised_or_lowered_still_reads_everything(max_size: int) -> None:
    # Raised past the loop's 256 KiB buffer, reads go through recv(max_size)
    # as on the stdlib's transport; lowered, no read is larger than it.
    sizes: list[int] = []

    class Sized(Keeper):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.max_size = max_size  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            sizes.append(len(data))
            super().data_received(data)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        keeper = Sized()
        server = await loop.create_server(lambda: keeper, "127.0.0.1", 0)
        _, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
        writer.write(payload)
        writer.write_eof()
        await keeper.done
        writer.close()
        server.close()
        return b"".join(keeper.chunks)

    payload = os.urandom(3_000_000)
    assert ra.run(main()) == payload
    assert max(sizes) <= max_size


def test_udp_datagrams_larger_than_the_loops_buffer_with_a_raised_max_size() -> None:
    class Collect(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.got: asyncio.Queue[bytes] = asyncio.Queue()

        def datagram_received(self, data: bytes, addr: object) -> None:
            self.got.put_nowait(data)

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        server_t, server_p = await loop.create_datagram_endpoint(Collect,
                                                                 local_addr=("127.0.0.1", 0))
        client_t, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=server_t.get_extra_info("sockname"))
        got = []
        for max_size in (1 << 20, 100, 65_000):
            server_t.max_size = max_size
            client_t.sendto(bytes([max_size % 251]) * 60_000)
            got.append(await asyncio.wait_for(server_p.got.get(), 5))
        client_t.close()
        server_t.close()
        return got

    big, truncated, fits = ra.run(main())
    assert big == bytes([(1 << 20) % 251]) * 60_000
    assert truncated == bytes([100 % 251]) * 100  # truncated to max_size, as the stdlib does
    assert fits == bytes([65_000 % 251]) * 60_000


def test_two_loops_in_two_threads_receive_their_own_bytes() -> None:
    import threading

    payloads = [bytes([n]) * 2_000_000 for n in (1, 2)]
    got: dict[int, bytes] = {}

    def one(n: int) -> None:
        got[n] = b"".join(ra.run(_send_and_keep(payloads[n])))

    threads = [threading.Thread(target=one, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got[0] == payloads[0] and got[1] == payloads[1]


def test_unix_stream_server_and_client() -> None:
    async def main(path: str) -> None:
        server = await asyncio.start_unix_server(_echo_streams, path)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"over unix")
        writer.write_eof()
        assert await reader.read() == b"over unix"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    with tempfile.TemporaryDirectory() as tmp:
        ra.run(main(os.path.join(tmp, "sock")))


def test_udp_datagrams_each_way() -> None:
    class Collect(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.got: asyncio.Queue[tuple[bytes, object]] = asyncio.Queue()

        def datagram_received(self, data: bytes, addr: object) -> None:
            self.got.put_nowait((data, addr))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server_t, server_p = await loop.create_datagram_endpoint(Collect,
                                                                 local_addr=("127.0.0.1", 0))
        addr = server_t.get_extra_info("sockname")
        client_t, _ = await loop.create_datagram_endpoint(Collect, remote_addr=addr)
        for i in range(5):
            client_t.sendto(b"d%d" % i)
        got = [(await asyncio.wait_for(server_p.got.get(), 5))[0] for _ in range(5)]
        assert got == [b"d0", b"d1", b"d2", b"d3", b"d4"]
        client_t.close()
        server_t.close()

    ra.run(main())


def test_ssl_echo_through_the_stdlib_sslproto() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def main() -> None:
        server = await asyncio.start_server(_echo_streams, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                       server_hostname="localhost")
        writer.write(b"secret")
        assert await reader.readexactly(6) == b"secret"
        # start_tls on a plain connection, too
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    ra.run(main())


def test_subprocess_pipes_and_exit_code() -> None:
    async def main() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(b"shout"), 20)
        assert out == b"SHOUT"
        assert proc.returncode == 0

    ra.run(main())


def test_sock_methods_connect_send_and_receive() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        client = socket.socket()
        client.setblocking(False)
        with listener, client:
            accept = asyncio.create_task(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            conn, _ = await accept
            with conn:
                await loop.sock_sendall(client, b"x" * 100_000)
                got = b""
                while len(got) < 100_000:
                    got += await loop.sock_recv(conn, 65536)
                assert got == b"x" * 100_000

    ra.run(main())


def test_sendfile_sends_a_file_over_a_transport() -> None:
    data = os.urandom(300_000)

    async def main(path: str) -> None:
        received = bytearray()
        done = asyncio.get_running_loop().create_future()

        class Sink(asyncio.Protocol):
            def data_received(self, chunk: bytes) -> None:
                received.extend(chunk)

            def eof_received(self) -> None:
                done.set_result(None)

        loop = asyncio.get_running_loop()
        server = await loop.create_server(Sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        with open(path, "rb") as f:
            assert await loop.sendfile(transport, f) == len(data)
        transport.write_eof()
        await asyncio.wait_for(done, 10)
        assert bytes(received) == data
        transport.close()
        server.close()
        await server.wait_closed()

    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        ra.run(main(f.name))


def test_a_signal_handler_runs_as_a_callback() -> None:
    import signal

    async def main() -> None:
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        os.kill(os.getpid(), signal.SIGUSR1)
        assert await asyncio.wait_for(got, 5) == "usr1"
        assert loop.remove_signal_handler(signal.SIGUSR1)

    ra.run(main())


def test_a_transport_on_a_reused_fd_number_gets_its_events() -> None:
    # An fd closed behind the loop's back leaves a dead registration under its
    # number; a transport made on a new socket with that number must not
    # inherit it (uvloop's test_create_server_protocol_factory_context hung).
    async def main() -> None:
        loop = asyncio.get_running_loop()
        old_a, old_b = socket.socketpair()
        loop.add_reader(old_a, lambda: None)
        number = old_a.fileno()
        old_a.close()  # no remove_reader: behind the loop's back
        old_b.close()
        a, b = socket.socketpair()
        if number not in (a.fileno(), b.fileno()):
            a.close()
            b.close()
            pytest.skip("the kernel did not reuse the fd number")
        got = loop.create_future()

        class Collect(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                got.set_result(data)

        mine, other = (a, b) if a.fileno() == number else (b, a)
        transport, _ = await loop.connect_accepted_socket(Collect, mine)
        other.send(b"through the new registration")
        assert await asyncio.wait_for(got, 5) == b"through the new registration"
        transport.close()
        other.close()

    ra.run(main())
