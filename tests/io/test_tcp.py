"""`TcpListener` and `TcpStream` on 127.0.0.1 and ::1.

The fault cases (resets, refused, unreachable, out of fds) are in
``test_faults.py``; happy eyeballs has its own file.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import runtime
from runtime import ClosedResourceError
from runtime.io import TcpListener, TcpStream
from tests.helpers import HAS_IPV6
from tests.helpers.pairs import HOSTS, stream_pair
from tests.helpers.platform_gaps import needs_trio


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def test_listener_on_port_zero_reports_the_port_it_got(host: str) -> None:
    async def main() -> tuple[str, int]:
        async with await TcpListener.bind(host, 0) as listener:
            address = listener.local_address
            return address[0], address[1]

    got_host, port = runtime.run(main())
    assert got_host == host
    assert 0 < port < 65536


def test_accept_and_connect_give_streams_that_agree_on_addresses(host: str) -> None:
    async def main() -> None:
        async with await TcpListener.bind(host, 0) as listener:
            port = listener.local_address[1]
            async with await TcpStream.connect(host, port) as client, \
                    await listener.accept() as server:
                assert client.peer_address[:2] == (host, port)
                assert server.peer_address == client.local_address
                assert client.peer_address == server.local_address
                await client.write_all(b"ping")
                assert await server.read_exact(4) == b"ping"
                await server.write_all(b"pong")
                assert await client.read_exact(4) == b"pong"

    runtime.run(main())


def test_both_ends_have_tcp_nodelay_on(host: str) -> None:
    async def main() -> tuple[int, int]:
        async with stream_pair("tcp-ipv6" if ":" in host else "tcp-ipv4") as (client, server):
            opt = (socket.IPPROTO_TCP, socket.TCP_NODELAY)
            return client.socket.getsockopt(*opt), server.socket.getsockopt(*opt)

    assert all(runtime.run(main()))


def test_accept_waits_for_a_client_that_connects_later(host: str) -> None:
    async def main() -> bytes:
        async with await TcpListener.bind(host, 0) as listener:
            async def client() -> None:
                await runtime.sleep(0.03)
                async with await TcpStream.connect(host, listener.local_address[1]) as c:
                    await c.write_all(b"late client")

            runtime.spawn(client())
            async with await listener.accept() as server:
                return await server.read_exact(11)

    assert runtime.run(main()) == b"late client"


def test_many_clients_are_accepted_and_served_concurrently(host: str) -> None:
    n = 50

    async def main() -> list[bytes]:
        async with await TcpListener.bind(host, 0) as listener:
            port = listener.local_address[1]

            async def serve_one(stream: TcpStream) -> None:
                async with stream:
                    line = await stream.read_line()
                    await stream.write_all(line.upper())

            async def acceptor() -> None:
                async with runtime.TaskGroup() as tg:
                    for _ in range(n):
                        tg.spawn(serve_one(await listener.accept()))

            async def client(i: int) -> bytes:
                async with await TcpStream.connect(host, port) as c:
                    await c.write_all(f"client {i}\n".encode())
                    return await c.read_line()

            runtime.spawn(acceptor())
            handles = [runtime.spawn(client(i)) for i in range(n)]
            return [await h for h in handles]

    assert runtime.run(main()) == [f"CLIENT {i}\n".encode() for i in range(n)]


def test_connect_by_the_name_localhost_reaches_a_loopback_listener() -> None:
    # localhost resolves from /etc/hosts (no query leaves the machine).
    async def main() -> bytes:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            port = listener.local_address[1]
            async with await TcpStream.connect("localhost", port) as client, \
                    await listener.accept() as server:
                await server.write_all(b"hi")
                return await client.read_exact(2)

    assert runtime.run(main()) == b"hi"


def test_bind_to_an_address_in_use_raises_naming_the_address(host: str) -> None:
    async def main() -> None:
        async with await TcpListener.bind(host, 0) as first:
            port = first.local_address[1]
            with pytest.raises(OSError, match="in use") as info:
                await TcpListener.bind(host, port)
            assert str(port) in str(info.value)

    runtime.run(main())


needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no ::1 on this machine")


@needs_ipv6
def test_bind_all_with_no_host_listens_on_ipv4_and_ipv6_on_one_port() -> None:
    # As trio's open_tcp_listeners(port) and asyncio's start_server(None, port):
    # every interface of both families, not just getaddrinfo's first answer.
    async def main() -> list[tuple[int, bytes]]:
        listeners = await TcpListener.bind_all(None, 0)
        try:
            ports = {listener.local_address[1] for listener in listeners}
            assert len(ports) == 1, ports
            (port,) = ports
            got = []
            for listener, client_host in zip(listeners, _loopback_of(listeners), strict=True):
                async with await TcpStream.connect(client_host, port) as client, \
                        await listener.accept() as server:
                    await client.write_all(client_host.encode())
                    got.append((listener.socket.family, await server.read_exact(len(client_host))))
            return sorted(got)
        finally:
            for listener in listeners:
                listener.close()

    assert runtime.run(main()) == [(socket.AF_INET, b"127.0.0.1"), (socket.AF_INET6, b"::1")]


def _loopback_of(listeners: list[TcpListener]) -> list[str]:
    return ["::1" if lst.socket.family == socket.AF_INET6 else "127.0.0.1" for lst in listeners]


def v6_only_listener_on_a_port_free_on_ipv4() -> tuple[socket.socket, int]:
    """A listener on [::]:P, IPv6 only, where 0.0.0.0:P is free as well.

    The kernel picks P among ports free for IPv6 only: an IPv4 socket (another
    test's connection in TIME_WAIT, say) may hold the same number, which the
    caller's IPv4 bind would then find in use.
    """
    for _ in range(50):
        taken = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        taken.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        taken.bind(("::", 0))
        port: int = taken.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind(("0.0.0.0", port))
        except OSError:
            taken.close()
            continue
        taken.listen()
        return taken, port
    raise AssertionError("no port free on both IPv4 and IPv6 in 50 tries")


@needs_ipv6
def test_bind_all_fails_naming_the_address_in_use_and_closes_what_it_bound() -> None:
    # :: is taken on the port; 0.0.0.0 is free and binds first (getaddrinfo's
    # order here), so bind_all must close it again before raising.
    taken, port = v6_only_listener_on_a_port_free_on_ipv4()
    try:

        async def main() -> OSError:
            with pytest.raises(OSError) as info:
                await TcpListener.bind_all(None, port)
            return info.value

        error = runtime.run(main())
        assert "in use" in str(error) and f"('::', {port}" in str(error), error
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("0.0.0.0", port))  # free again: nothing was left listening
    finally:
        taken.close()


_BIND_LOCALHOST = """
import socket, runtime
from runtime.io import TcpListener
print(sorted({i[4][0] for i in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}))
async def main():
    listeners = await TcpListener.bind_all("localhost", 0)
    print([listener.local_address[0] for listener in listeners])
    for listener in listeners:
        listener.close()
runtime.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("unshare")
                    or not shutil.which("ip"), reason="needs Linux namespaces (unshare, ip)")
def test_bind_all_skips_an_address_the_machine_cannot_bind(tmp_path: Path) -> None:
    # localhost as most hosts files have it, 127.0.0.1 and ::1, on a machine
    # with IPv6 switched off: binding ::1 fails with EADDRNOTAVAIL, and
    # serve_tcp("localhost", ...) must still listen on 127.0.0.1. Set up in
    # fresh network and mount namespaces, which are the test's own.
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 localhost\n")
    setup = ("ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && "
             f"mount --bind {hosts} /etc/hosts && echo namespace-ready >&2 && "
             f'exec "{sys.executable}" -c "$0"')
    proc = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", setup, _BIND_LOCALHOST],
                          capture_output=True, text=True, timeout=60)
    if "namespace-ready" not in proc.stderr:  # unshare, ip, sysctl or mount refused
        pytest.skip(f"cannot set up the namespaces here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    resolved, bound = proc.stdout.splitlines()
    assert resolved == "['127.0.0.1', '::1']"  # both were tried
    assert bound == "['127.0.0.1']"


def test_bind_all_with_an_empty_host_is_every_interface() -> None:
    async def main() -> list[str]:
        listeners = await TcpListener.bind_all("", 0)
        try:
            return sorted(listener.local_address[0] for listener in listeners)
        finally:
            for listener in listeners:
                listener.close()

    assert runtime.run(main()) == (["0.0.0.0", "::"] if HAS_IPV6 else ["0.0.0.0"])


def test_closing_the_listener_wakes_a_task_blocked_in_accept(host: str) -> None:
    async def main() -> tuple[str, float]:
        listener = await TcpListener.bind(host, 0)

        async def acceptor() -> str:
            try:
                await listener.accept()
            except ClosedResourceError as exc:
                return type(exc).__name__
            return "accepted?"

        handle = runtime.spawn(acceptor())
        await runtime.sleep(0.02)
        start = runtime.current_time()
        await listener.aclose()
        with runtime.fail_after(2):
            result = await handle
        return result, runtime.current_time() - start

    result, took = runtime.run(main())
    assert result == "ClosedResourceError"
    assert took < 0.5


def test_a_close_then_a_cancel_in_one_step_tells_the_acceptor_of_the_close() -> None:
    # anyio's test_close_from_other_task: on io_uring the cancel reached the
    # parked accept before the close's completion did, and it said Cancelled.
    async def main() -> list[str]:
        listener = await TcpListener.bind("127.0.0.1", 0)
        seen: list[str] = []

        async def acceptor() -> None:
            try:
                await listener.accept()
            except ClosedResourceError:
                seen.append("closed")
                raise

        with pytest.raises(BaseExceptionGroup) as info:
            async with runtime.TaskGroup() as tg:
                tg.spawn(acceptor())
                await runtime.testing.wait_all_tasks_blocked()
                listener.close()
                tg.cancel_scope.cancel()
        seen.extend(type(e).__name__ for e in info.value.exceptions)
        return seen

    assert runtime.run(main()) == ["closed", "ClosedResourceError"]


def test_accept_on_a_closed_listener_raises_closed_resource_error() -> None:
    async def main() -> str:
        listener = await TcpListener.bind("127.0.0.1", 0)
        listener.close()
        listener.close()  # idempotent
        with pytest.raises(ClosedResourceError):
            await listener.accept()
        return repr(listener)

    assert "closed" in runtime.run(main())


def test_cancelling_a_connect_in_progress_closes_its_socket() -> None:
    # A listener whose backlog is full never completes the handshake; the
    # connect stays in progress until cancelled. The fixture checks no fd leaks.
    async def main() -> bool:
        with socket.socket() as full:
            full.bind(("127.0.0.1", 0))
            full.listen(0)
            port = full.getsockname()[1]
            fillers = []
            try:
                for _ in range(8):  # fill the accept queue (backlog 0 admits one or two)
                    s = socket.socket()
                    s.setblocking(False)
                    s.connect_ex(("127.0.0.1", port))
                    fillers.append(s)
                with runtime.move_on_after(0.2) as scope:
                    await TcpStream.connect("127.0.0.1", port)
                return scope.cancelled_caught
            finally:
                for s in fillers:
                    s.close()

    assert runtime.run(main()) is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connect_from_a_local_address_is_seen_by_the_server() -> None:
    async def main(source: int) -> tuple[Any, bool]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            port = listener.local_address[1]
            client = await TcpStream.connect("127.0.0.1", port, local_address=("127.0.0.1", source))
            async with client, await listener.accept() as server:
                return server.peer_address, server.peer_address == client.local_address

    source = _free_port()
    assert runtime.run(main(source)) == (("127.0.0.1", source), True)


@needs_trio
def test_connect_from_a_local_address_is_seen_by_the_server_as_under_trio() -> None:
    import trio

    free_port = _free_port

    async def under_runtime(source: int) -> tuple[str, bool]:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            port = listener.local_address[1]
            client = await TcpStream.connect("127.0.0.1", port, local_address=("127.0.0.1", source))
            async with client, await listener.accept() as server:
                return server.peer_address[0], server.peer_address == client.local_address

    async def under_trio(source: int) -> tuple[str, bool]:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        async with listeners[0] as listener:
            port = listener.socket.getsockname()[1]
            sock = trio.socket.socket()
            await sock.bind(("127.0.0.1", source))
            await sock.connect(("127.0.0.1", port))
            with sock:
                server = await listener.accept()
                async with server:
                    peer = server.socket.getpeername()
                    return peer[0], peer == sock.getsockname()

    source = free_port()
    assert runtime.run(under_runtime(source)) == trio.run(under_trio, free_port()) \
        == ("127.0.0.1", True)


def test_connect_from_a_local_address_in_use_names_it() -> None:
    async def main() -> None:
        async with await TcpListener.bind("127.0.0.1", 0) as listener:
            port = listener.local_address[1]
            with pytest.raises(OSError, match=rf"bind to \('127.0.0.1', {port}\)"):
                await TcpStream.connect("127.0.0.1", port, local_address=("127.0.0.1", port))

    runtime.run(main())
