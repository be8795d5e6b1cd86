"""`UdpSocket`: datagrams on 127.0.0.1 and ::1, unconnected and connected."""

from __future__ import annotations

import socket

import pytest

import runtime
from runtime import ClosedResourceError
from runtime.io import UdpSocket
from tests.helpers.backend_limits import skip_unless_run_backend_supports
from tests.helpers.pairs import HOSTS
from tests.helpers.platform_gaps import ON_WINDOWS


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def test_send_to_and_recv_from_carry_datagrams_and_name_the_sender(host: str) -> None:
    async def main() -> list[object]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            await a.send_to(b"first", b.local_address)
            await a.send_to(b"second", b.local_address)
            d1, sender = await b.recv_from()
            d2, _ = await b.recv_from()
            await b.send_to(b"reply", sender)
            d3, replier = await a.recv_from()
            return [d1, d2, d3, sender == a.local_address, replier == b.local_address]

    assert runtime.run(main()) == [b"first", b"second", b"reply", True, True]


def test_recv_from_waits_for_a_datagram_that_comes_later(host: str) -> None:
    async def main() -> tuple[bytes, float]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            async def later() -> None:
                await runtime.sleep(0.03)
                await a.send_to(b"late", b.local_address)

            runtime.spawn(later())
            start = runtime.current_time()
            data, _ = await b.recv_from()
            return data, runtime.current_time() - start

    data, waited = runtime.run(main())
    assert data == b"late"
    assert 0.02 <= waited < 2


def test_connected_socket_sends_and_receives_without_addresses(host: str) -> None:
    async def main() -> list[bytes]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            await a.connect(host, b.local_address[1])
            await b.connect(host, a.local_address[1])
            await a.send(b"ping")
            got = await b.recv()
            await b.send(b"pong")
            return [got, await a.recv()]

    assert runtime.run(main()) == [b"ping", b"pong"]


def test_a_connected_socket_drops_datagrams_from_others(host: str) -> None:
    async def main() -> bytes:
        async with await UdpSocket.bind(host, 0) as a, \
                await UdpSocket.bind(host, 0) as b, \
                await UdpSocket.bind(host, 0) as stranger:
            await a.connect(host, b.local_address[1])
            await stranger.send_to(b"from a stranger", a.local_address)
            await b.send_to(b"from b", a.local_address)
            return await a.recv()

    assert runtime.run(main()) == b"from b"


def test_recv_from_truncates_to_max_bytes_and_a_datagram_stays_whole(host: str) -> None:
    async def main() -> list[object]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            await a.send_to(b"0123456789", b.local_address)
            await a.send_to(b"next", b.local_address)
            try:
                first: object = (await b.recv_from(4))[0]
            except OSError as exc:
                first = str(exc)
            second, _ = await b.recv_from()
            return [first, second]

    first, second = runtime.run(main())
    assert second == b"next"
    if ON_WINDOWS:  # Windows fails the receive instead of truncating (naming.py)
        assert isinstance(first, str) and "longer than max_bytes=4" in first, first
    else:
        assert first == b"0123"


def test_a_burst_of_datagrams_arrives_in_order_on_loopback(host: str) -> None:
    async def main() -> list[bytes]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            for i in range(200):
                await a.send_to(b"%d" % i, b.local_address)
            return [(await b.recv_from())[0] for _ in range(200)]

    assert runtime.run(main()) == [b"%d" % i for i in range(200)]


@pytest.mark.parametrize("connected", [False, True], ids=["send_to", "connected-send"])
def test_tasks_sending_on_one_socket_at_once_all_get_through(host: str, connected: bool) -> None:
    # A datagram send the kernel takes at once is no wait, so several tasks
    # may send on one socket together (a server answering many clients), on
    # every backend: none may get BusyResourceError for another's send (the
    # uring backend did: one send in flight per socket).
    async def main() -> list[bytes]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            if connected:
                await a.connect(host, b.local_address[1])
            async with runtime.TaskGroup() as tg:
                for i in range(20):
                    data = b"%d" % i
                    tg.spawn(a.send(data) if connected else a.send_to(data, b.local_address))
            return sorted([(await b.recv_from())[0] for _ in range(20)], key=int)

    assert runtime.run(main()) == [b"%d" % i for i in range(20)]


def test_a_connected_socket_receives_every_queued_datagram_with_recv(host: str) -> None:
    # A short datagram says nothing about the queue behind it: the
    # short-read rule (a short stream read means the buffer is drained)
    # must not clear readiness here, or the datagrams already queued would
    # wait for an edge that never comes.
    async def main() -> list[bytes]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            await a.connect(host, b.local_address[1])
            await b.connect(host, a.local_address[1])
            for i in range(3):
                await a.send(b"%d" % i)
            await runtime.sleep(0.05)  # all three queued before the first recv
            got = []
            with runtime.move_on_after(2):
                for _ in range(3):
                    got.append(await b.recv())
            return got

    assert runtime.run(main()) == [b"0", b"1", b"2"]


def test_one_byte_and_empty_datagrams(host: str) -> None:
    async def main() -> list[bytes]:
        async with await UdpSocket.bind(host, 0) as a, await UdpSocket.bind(host, 0) as b:
            await a.send_to(b"x", b.local_address)
            await a.send_to(b"", b.local_address)
            return [(await b.recv_from(1))[0], (await b.recv_from())[0]]

    assert runtime.run(main()) == [b"x", b""]


def test_closing_a_udp_socket_wakes_its_receiver_and_blocks_later_use(host: str) -> None:
    async def main() -> str:
        sock = await UdpSocket.bind(host, 0)

        async def receiver() -> str:
            try:
                await sock.recv_from()
            except ClosedResourceError:
                return "closed"
            return "received?"

        handle = runtime.spawn(receiver())
        await runtime.sleep(0.02)
        await sock.aclose()
        with runtime.fail_after(2):
            result = await handle
        with pytest.raises(ClosedResourceError):
            await sock.send_to(b"x", ("127.0.0.1", 9))
        return result

    assert runtime.run(main()) == "closed"


def test_udp_socket_family_follows_the_host(host: str) -> None:
    async def main() -> int:
        async with await UdpSocket.bind(host, 0) as a:
            return len(a.local_address)

    expected = 4 if ":" in host else 2
    assert runtime.run(main()) == expected
    assert socket.has_ipv6 or host == "127.0.0.1"


def test_a_connected_udp_socket_whose_peer_is_gone_raises_connection_refused(host: str) -> None:
    skip_unless_run_backend_supports("udp_icmp", "the recv waits on")
    # The ICMP port-unreachable comes back as a socket error: recv must wake
    # and raise it rather than wait forever for a datagram.
    async def main() -> OSError:
        async with await UdpSocket.bind(host, 0) as a:
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                               socket.SOCK_DGRAM) as gone:
                gone.bind((host, 0))
                port = gone.getsockname()[1]
            await a.connect(host, port)
            await a.send(b"anyone?")
            with runtime.fail_after(2), pytest.raises(ConnectionRefusedError) as info:
                await a.recv()
            return info.value

    runtime.run(main())


def test_a_udp_error_names_the_peer() -> None:
    skip_unless_run_backend_supports("udp_icmp", "the recv waits on")
    async def main() -> tuple[OSError, int]:
        async with await UdpSocket.bind("127.0.0.1", 0) as a:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
                gone.bind(("127.0.0.1", 0))
                port = gone.getsockname()[1]
            await a.connect("127.0.0.1", port)
            await a.send(b"anyone?")
            with runtime.fail_after(2), pytest.raises(ConnectionRefusedError) as info:
                await a.recv()
            return info.value, port

    exc, port = runtime.run(main())
    assert f"127.0.0.1:{port}" in str(exc)


@pytest.mark.parametrize(("family", "wildcard"), [
    pytest.param(socket.AF_INET, "0.0.0.0", id="ipv4"),
    pytest.param(socket.AF_INET6, "::", id="ipv6", marks=HOSTS[1].marks)])
def test_bind_with_family_and_no_host_listens_on_that_familys_wildcard(family: int,
                                                                      wildcard: str) -> None:
    async def main() -> tuple[int, str]:
        async with await UdpSocket.bind(None, 0, family=family) as s:
            return s.socket.family, s.local_address[0]

    assert runtime.run(main()) == (family, wildcard)


def test_family_filters_what_the_host_resolves_to() -> None:
    async def main() -> None:
        with pytest.raises(socket.gaierror):
            await UdpSocket.bind("127.0.0.1", 0, family=socket.AF_INET6)

    runtime.run(main())


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_reuse_port_lets_two_sockets_share_a_port_and_without_it_the_second_fails() -> None:
    async def main() -> tuple[bool, bool]:
        async with await UdpSocket.bind("127.0.0.1", 0, reuse_port=True) as a:
            port = a.local_address[1]
            async with await UdpSocket.bind("127.0.0.1", port, reuse_port=True) as b:
                shared = b.local_address[1] == port
            with pytest.raises(OSError, match="address already in use"):
                await UdpSocket.bind("127.0.0.1", port)
            return shared, a.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0

    assert runtime.run(main()) == (True, True)


def test_a_wrapped_connected_socket_knows_its_peer() -> None:
    async def main() -> tuple[object, bytes]:
        raw_a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw_b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw_a.bind(("127.0.0.1", 0))
        raw_b.bind(("127.0.0.1", 0))
        raw_a.connect(raw_b.getsockname())
        async with UdpSocket(raw_a) as a, UdpSocket(raw_b) as b:
            await a.send(b"hi")
            data, _ = await b.recv_from()
            return a.peer_address == raw_b.getsockname(), data

    assert runtime.run(main()) == (True, b"hi")


def _link_local_address() -> tuple[str, str] | None:
    """(address, interface) of a link-local IPv6 address on this machine, or None."""
    if ON_WINDOWS:  # no /proc/net/if_inet6 (under Wine, the host's would be read)
        return None
    try:
        with open("/proc/net/if_inet6") as table:
            for line in table:
                hexaddr, _index, _plen, scope, _flags, name = line.split()
                if scope == "20":  # IPV6_ADDR_LINKLOCAL
                    packed = bytes.fromhex(hexaddr)
                    return socket.inet_ntop(socket.AF_INET6, packed), name
    except OSError:
        pass
    return None


def test_a_link_local_sender_keeps_its_scope_id_and_can_be_answered() -> None:
    # A link-local address means nothing without its zone (the interface): the
    # scope id must survive the receive (recvmsg's sockaddr on io_uring) so
    # that the reply goes back out the same interface. A "%zone" in the host
    # defers to the tuple's scope id on every backend, as in CPython.
    found = _link_local_address()
    if found is None:
        pytest.skip("no link-local IPv6 address found (Linux's /proc/net/if_inet6)")
    address, interface = found
    scope = socket.if_nametoindex(interface)

    async def main() -> list[object]:
        zoned = f"{address}%{interface}"  # getaddrinfo turns the zone into the scope id
        async with await UdpSocket.bind(zoned, 0) as a, await UdpSocket.bind(zoned, 0) as b:
            await a.send_to(b"ping", (zoned, b.local_address[1], 0, scope))
            data, sender = await b.recv_from()
            await b.send_to(b"pong", sender)
            reply, _ = await a.recv_from()
            return [data, reply, sender, a.local_address]

    data, reply, sender, a_address = runtime.run(main())
    assert (data, reply) == (b"ping", b"pong")
    assert sender == a_address
    assert sender[3] == scope
