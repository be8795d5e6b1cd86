"""Chat nodes on separate hosts: each node, and Redis, in its own network namespace.

The test builds a small LAN: a bridge in this namespace (the test's clients
reach every host through it) and one namespace per host, each joined to the
bridge by a veth pair, with addresses from 198.18.0.0/15 (RFC 2544's
benchmarking range, so no real network collides). Everything it made is
removed after. Needs root (``ip netns``); skipped with that reason otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from tests.helpers.chat_harness import CHAT_SERVER, Client
from tests.helpers.redis_server import RedisServer

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux's"),
]

SUBNET = "198.18.77"
BRIDGE_ADDRESS = f"{SUBNET}.1"


def _ip(*args: str, netns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def lan(hosts: list[str]) -> Iterator[dict[str, tuple[str, str]]]:
    """Namespaces named after ``hosts`` on one bridge: host → (netns, address)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2's ip to make network namespaces")
    tag = f"rt{os.getpid() % 100000}"
    bridge = f"{tag}br"
    made: dict[str, tuple[str, str]] = {}
    try:
        try:
            _ip("link", "add", bridge, "type", "bridge")
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot make a bridge here: {exc.stderr.decode().strip()}")
        _ip("addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, host in enumerate(hosts, start=10):
            netns, veth, address = f"{tag}-{host}", f"{tag}v{i}", f"{SUBNET}.{i}"
            _ip("netns", "add", netns)
            made[host] = (netns, address)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
            _ip("link", "set", veth, "master", bridge, "up")
            _ip("addr", "add", f"{address}/24", "dev", "eth0", netns=netns)
            _ip("link", "set", "eth0", "up", netns=netns)
            _ip("link", "set", "lo", "up", netns=netns)
        yield made
    finally:
        for netns, _ in made.values():  # deleting a namespace deletes its veth pair
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True, timeout=10)


@contextlib.contextmanager
def node_in(netns: str, address: str, redis_url: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, str(CHAT_SERVER), "--host", address,
         "--port", "7878", "--http-port", "-1", "--cluster", redis_url, "--nick-ttl", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert first.startswith(f"chat server listening on {address}:7878"), (
            first, proc.stderr.read() if proc.poll() is not None else "")
        yield proc
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_nodes_on_separate_hosts_share_rooms_through_redis_on_a_third() -> None:
    with lan(["redis", "node1", "node2"]) as hosts, \
            tempfile.TemporaryDirectory(prefix="redis-test-") as directory:
        redis_netns, redis_address = hosts["redis"]
        redis = RedisServer(directory, host=redis_address, netns=redis_netns)
        redis.start()
        try:
            (ns1, addr1), (ns2, addr2) = hosts["node1"], hosts["node2"]
            with node_in(ns1, addr1, redis.url) as node1, node_in(ns2, addr2, redis.url):
                alice = Client(7878, "alice", host=addr1)
                alice.expect("[lobby] * alice joined")
                bob = Client(7878, "bob", host=addr2)
                bob.expect("[lobby] * bob joined")
                alice.expect("[lobby] * bob joined")
                alice.send("hello across hosts")
                for client in (alice, bob):
                    client.expect("[lobby] <alice> hello across hosts")
                bob.send("/who")
                bob.expect("* in lobby: alice, bob")
                # The first host goes away (its node killed): the second hears of it.
                node1.kill()
                node1.wait(timeout=10)
                assert alice.read_to_eof() == []
                bob.expect("[lobby] * alice left (node lost)")
                for client in (alice, bob):
                    client.close()
        finally:
            redis.stop()
