"""`serve_tcp`: one handler task per connection, clean shutdown, EMFILE backoff."""

from __future__ import annotations

import logging
import os
import select
import socket
import subprocess
import sys
import time

import pytest

import runtime
from runtime.io import TcpStream, serve_tcp
from tests.helpers import HAS_IPV6
from tests.helpers.pairs import HOSTS
from tests.helpers.platform_gaps import posix_only


async def echo(stream: TcpStream) -> None:
    while data := await stream.read():
        await stream.write_all(data)


@pytest.mark.parametrize("host", HOSTS)
def test_serve_tcp_reports_its_port_through_start_and_serves_each_client(host: str) -> None:
    async def main() -> list[bytes]:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(serve_tcp, echo, host, 0)
            assert isinstance(port, int) and port > 0

            async def client(i: int) -> bytes:
                async with await TcpStream.connect(host, port) as c:
                    await c.write_all(b"hello %d\n" % i)
                    return await c.read_line()

            handles = [runtime.spawn(client(i)) for i in range(20)]
            replies = [await h for h in handles]
            tg.cancel_scope.cancel()
        return replies

    assert runtime.run(main()) == [b"hello %d\n" % i for i in range(20)]


@pytest.mark.skipif(not HAS_IPV6, reason="no ::1 on this machine")
def test_serve_tcp_with_no_host_serves_ipv4_and_ipv6_clients_on_the_port_it_reports() -> None:
    async def main() -> list[bytes]:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(serve_tcp, echo, None, 0)
            replies = []
            for client_host in ("127.0.0.1", "::1"):
                async with await TcpStream.connect(client_host, port) as c:
                    await c.write_all(b"from %s\n" % client_host.encode())
                    replies.append(await c.read_line())
            tg.cancel_scope.cancel()
        return replies

    assert runtime.run(main()) == [b"from 127.0.0.1\n", b"from ::1\n"]


def test_cancelling_serve_tcp_closes_the_listener_and_cancels_every_handler() -> None:
    async def main() -> tuple[list[str], bool]:
        trace: list[str] = []

        async def handler(stream: TcpStream) -> None:
            trace.append("handler started")
            try:
                await stream.read()  # the client never sends
            finally:
                trace.append("handler cleaned up")

        async with runtime.TaskGroup() as tg:
            port = await tg.start(serve_tcp, handler, "127.0.0.1", 0)
            clients = [await TcpStream.connect("127.0.0.1", port) for _ in range(3)]
            while trace.count("handler started") < 3:
                await runtime.sleep(0.005)
            tg.cancel_scope.cancel()
        trace.append("server stopped")
        # Each handler's stream was closed: the clients read EOF.
        eofs = [await c.read() for c in clients]
        for c in clients:
            await c.aclose()
        # The listener is closed: connecting is refused.
        with pytest.raises(ConnectionRefusedError):
            await TcpStream.connect("127.0.0.1", port)
        return trace, eofs == [b""] * 3

    trace, all_eof = runtime.run(main())
    assert trace == ["handler started"] * 3 + ["handler cleaned up"] * 3 + ["server stopped"]
    assert all_eof


def test_a_failing_handler_is_logged_and_the_server_keeps_serving(
        caplog: pytest.LogCaptureFixture) -> None:
    async def handler(stream: TcpStream) -> None:
        line = await stream.read_line()
        if line == b"boom\n":
            raise ValueError("handler blew up")
        await stream.write_all(b"ok\n")

    async def main() -> bytes:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(serve_tcp, handler, "127.0.0.1", 0)
            async with await TcpStream.connect("127.0.0.1", port) as bad:
                await bad.write_all(b"boom\n")
                assert await bad.read() == b""  # the server closed it
            async with await TcpStream.connect("127.0.0.1", port) as good:
                await good.write_all(b"hi\n")
                reply = await good.read_line()
            tg.cancel_scope.cancel()
        return reply

    with caplog.at_level(logging.ERROR, logger="runtime.io"):
        assert runtime.run(main()) == b"ok\n"
    failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ValueError]
    assert len(failures) == 1
    assert "127.0.0.1" in failures[0].getMessage()


def test_serve_tcp_on_a_port_in_use_fails_start_with_the_bind_error() -> None:
    async def main() -> OSError:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            async with runtime.TaskGroup() as tg:
                with pytest.raises(OSError) as info:
                    await tg.start(serve_tcp, echo, "127.0.0.1", taken.getsockname()[1])
        return info.value

    assert "in use" in str(runtime.run(main()))


# -- out of fds ----------------------------------------------------------------------------

_EMFILE_SERVER = """
import logging, resource, sys
import runtime
from runtime.io import serve_tcp

logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

async def echo(stream):
    while data := await stream.read():
        await stream.write_all(data)

async def main():
    async with runtime.TaskGroup() as tg:
        print(await tg.start(serve_tcp, echo, "127.0.0.1", 0), flush=True)

runtime.run(main())
"""


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc/<pid>/stat (fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for_line(stream: object, needle: str, timeout: float) -> str:
    fd = stream.fileno()  # type: ignore[attr-defined]
    deadline = time.perf_counter() + timeout
    seen = ""
    while needle not in seen:
        left = deadline - time.perf_counter()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"no {needle!r} within {timeout}s; stderr so far: {seen!r}")
        chunk = os.read(fd, 65536).decode()
        if not chunk:
            raise AssertionError(f"server exited; stderr: {seen!r}")
        seen += chunk
    return seen


def _echo_once(sock: socket.socket, data: bytes, timeout: float) -> bytes:
    sock.settimeout(timeout)
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


@posix_only("RLIMIT_NOFILE (and /proc)")
def test_accept_out_of_fds_backs_off_without_spinning_and_recovers_when_fds_free_up() -> None:
    limit = 40
    server = subprocess.Popen([sys.executable, "-c", _EMFILE_SERVER, str(limit)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    clients: list[socket.socket] = []
    try:
        assert server.stdout is not None and server.stderr is not None
        port = int(server.stdout.readline())
        # More clients than the server has fds: the kernel completes every
        # handshake (the backlog is 1024), the server accepts until EMFILE.
        for _ in range(2 * limit):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        _wait_for_line(server.stderr, "accept() failed", timeout=10)

        # Out of fds: one second of wall time must cost far less than one
        # second of CPU (a spinning accept loop burns all of it).
        time.sleep(0.2)
        before = _cpu_seconds(server.pid)
        time.sleep(1.0)
        spent = _cpu_seconds(server.pid) - before
        assert spent < 0.3, f"accept loop used {spent:.2f} s of CPU in 1 s while out of fds"

        # Connections accepted before the fds ran out are still served.
        assert _echo_once(clients[0], b"still here", timeout=5) == b"still here"

        # Free fds: all but the last 10 clients hang up, their handlers close
        # their streams, and the waiting connections (the last one included)
        # now fit and get accepted.
        for c in clients[:-10]:
            c.close()
        del clients[:-10]
        assert _echo_once(clients[-1], b"accepted at last", timeout=10) == b"accepted at last"
        assert server.poll() is None
    finally:
        for c in clients:
            c.close()
        server.terminate()
        server.communicate(timeout=10)
