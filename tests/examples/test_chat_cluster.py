"""Chat nodes joined through a real Redis: delivery, nicks, presence, failures."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.examples import chat_load
from tests.helpers.chat_harness import CHAT_SERVER, ChatProcess, Client
from tests.helpers.redis_server import RedisServer, redis_server

pytestmark = pytest.mark.timeout(60)

NICK_TTL = 2.0  # seconds: a dead node's members leave within this (and a refresh)


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@contextlib.contextmanager
def nodes(redis: RedisServer, count: int, *args: str) -> Iterator[list[ChatProcess]]:
    started: list[ChatProcess] = []
    try:
        for _ in range(count):
            started.append(ChatProcess("--cluster", redis.url, "--http-port", "-1",
                                       "--nick-ttl", str(NICK_TTL), *args))
        yield started
    finally:
        for node in started:
            node.close()


def joined(port: int, nick: str) -> Client:
    client = Client(port, nick)
    client.expect(f"[lobby] * {nick} joined")
    return client


def eventually(client: Client, command: str, want: str, timeout: float = 5.0) -> None:
    """Send ``command`` until its answer is ``want`` (views of other nodes lag a little)."""
    deadline = time.monotonic() + timeout
    while True:
        client.send(command)
        got = client.line()
        if got == want:
            return
        assert time.monotonic() < deadline, f"{client.nick}: {command} gave {got!r}, not {want!r}"
        time.sleep(0.05)


def alice_and_bob(n1: ChatProcess, n2: ChatProcess) -> tuple[Client, Client]:
    """alice on the first node and bob on the second, both in the lobby."""
    alice = joined(n1.port, "alice")
    bob = joined(n2.port, "bob")
    alice.expect("[lobby] * bob joined")
    # Whether bob is told "alice joined" depends on when the second node read
    # her join from the stream: before bob joined, or after (a loaded
    # machine). Ask until that node knows her; any such line comes before
    # the answer that lists her, so nothing of it is left to read after.
    deadline = time.monotonic() + 5
    while True:
        bob.send("/who")
        answer = bob.skip_until(lambda line: line.startswith("* in lobby:"))[-1]
        if answer == "* in lobby: alice, bob":
            return alice, bob
        assert time.monotonic() < deadline, f"the second node never saw alice: {answer!r}"
        time.sleep(0.05)


def test_a_line_said_on_one_node_reaches_every_node_once(redis: RedisServer) -> None:
    with nodes(redis, 3) as (n1, n2, n3):
        alice, bob = alice_and_bob(n1, n2)
        carol = joined(n3.port, "carol")
        alice.expect("[lobby] * carol joined")
        bob.expect("[lobby] * carol joined")
        alice.send("hello from node one")
        for client in (alice, bob, carol):
            client.expect("[lobby] <alice> hello from node one")
        carol.send("/me waves from node three")
        for client in (alice, bob, carol):
            client.expect("[lobby] * carol waves from node three")
        for client in (alice, bob, carol):
            client.expect_nothing(0.3)  # nothing twice
        for client in (alice, bob, carol):
            client.close()
        for node in (n1, n2, n3):
            node.stop()


def test_who_and_rooms_are_cluster_wide(redis: RedisServer) -> None:
    with nodes(redis, 2) as (n1, n2):
        alice, bob = alice_and_bob(n1, n2)
        bob.send("/join dev")
        bob.expect("[dev] * bob joined")
        alice.expect("[lobby] * bob left (moved to dev)")
        # The view of other nodes is eventually consistent: bob's join to dev
        # may be the next stream entry, read a moment after his leave.
        eventually(alice, "/rooms", "* rooms: dev (1), lobby (1)")
        alice.send("/join dev")
        alice.expect("[dev] * alice joined")
        bob.expect("[dev] * alice joined")
        eventually(bob, "/who", "* in dev: alice, bob")
        bob.send("/nick robert")
        bob.expect("[dev] * bob is now known as robert")
        alice.expect("[dev] * bob is now known as robert")
        eventually(alice, "/who", "* in dev: alice, robert")
        alice.close()
        bob.close()


def test_a_nick_is_unique_across_the_cluster_and_freed_when_its_owner_leaves(
        redis: RedisServer) -> None:
    with nodes(redis, 2) as (n1, n2):
        alice = joined(n1.port, "alice")
        other = Client(n2.port)
        other.line()  # welcome
        other.send("Alice")
        other.expect("! nick Alice is taken; choose another")
        alice.send("/quit")
        alice.read_to_eof()
        deadline = time.monotonic() + 5
        while True:  # the release reaches Redis a moment after the quit
            other.send("alice")
            line = other.line()
            if line == "* you are alice; /help lists the commands":
                break
            assert line == "! nick alice is taken; choose another", line
            assert time.monotonic() < deadline, "the nick was never freed"
            time.sleep(0.05)
        other.close()


def test_a_private_message_reaches_a_nick_on_another_node(redis: RedisServer) -> None:
    with nodes(redis, 2) as (n1, n2):
        alice, bob = alice_and_bob(n1, n2)
        alice.send("/msg BOB meet in #dev?")
        alice.expect("[pm to bob] meet in #dev?")
        bob.expect("[pm] <alice> meet in #dev?")
        alice.close()
        bob.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_300_clients_on_3_nodes_50_messages_in_5_rooms_exactly_once_in_order(
        redis: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    clients, rooms, messages = 300, 5, 50
    with nodes(redis, 3, "--rate", "0") as started:
        ports = [node.port for node in started]
        with chat_load.load_clients(ports, messages, clients=clients, rooms=rooms,
                                    workers=2, window=4) as workers:
            start = time.perf_counter()
            results = chat_load.ask(workers, "talk", timeout=200)
            took = time.perf_counter() - start
            problems = [p for _, found in results for p in found]
            assert not problems, problems
            delivered = sum(n for n, _ in results)
            assert delivered == clients * messages * (clients // rooms)
    with capsys.disabled():
        print(f"\nchat cluster: 3 nodes, {delivered:,} deliveries in {took:.1f} s")


def test_a_killed_node_s_clients_see_eof_and_the_others_see_its_members_leave(
        redis: RedisServer) -> None:
    with nodes(redis, 2) as (n1, n2):
        alice, bob = alice_and_bob(n1, n2)
        n2.proc.send_signal(signal.SIGKILL)
        assert bob.read_to_eof() == []
        start = time.monotonic()
        alice.expect("[lobby] * bob left (node lost)")
        assert time.monotonic() - start < NICK_TTL * 3
        alice.send("/who")
        alice.expect("* in lobby: alice")
        # The dead node's nick is free again.
        bob2 = joined(n1.port, "bob")
        alice.expect("[lobby] * bob joined")
        alice.send("still here")
        bob2.expect("[lobby] <alice> still here")
        alice.close()
        bob2.close()


def _chat_through_an_outage(redis: RedisServer) -> tuple[list[str], list[str], float]:
    """alice and carol on node 1, bob on node 2; Redis is down for 3 s while alice
    talks. Returns what carol and bob saw of it, and node 1's CPU seconds meanwhile."""
    with nodes(redis, 2) as (n1, n2):
        alice = joined(n1.port, "alice")
        carol = joined(n1.port, "carol")
        alice.expect("[lobby] * carol joined")
        bob = joined(n2.port, "bob")
        for client in (alice, carol):
            client.expect("[lobby] * bob joined")
        redis.stop()
        cpu = n1.cpu_seconds() + n2.cpu_seconds()
        outage = time.monotonic()
        for i in range(5):
            alice.send(f"during the outage {i}")
            carol.skip_until(f"[lobby] <alice> during the outage {i}")  # local: at once
            time.sleep(0.5)
        time.sleep(max(0.0, 3.0 - (time.monotonic() - outage)))
        cpu = n1.cpu_seconds() + n2.cpu_seconds() - cpu
        redis.start()
        seen = bob.skip_until("[lobby] <alice> during the outage 4")
        alice.send("after the outage")
        bob.skip_until("[lobby] <alice> after the outage")
        carol_seen = carol.quiet(0.3)
        for client in (alice, bob, carol):
            client.close()
        return carol_seen, seen, cpu


@pytest.mark.slow
@pytest.mark.parametrize("persistent", [True, False], ids=["aof", "no-persistence"])
def test_redis_down_for_3_seconds_local_chat_goes_on_and_nothing_said_is_lost(
        tmp_path: pytest.TempPathFactory, persistent: bool) -> None:
    # Lines said while Redis is away wait in the node and go out after, with or
    # without persistence; what a non-persistent restart loses is Redis's own
    # state, which the nodes put back (next test).
    server = RedisServer(str(tmp_path), persistent=persistent)
    server.start()
    try:
        _, bob_saw, cpu = _chat_through_an_outage(server)
    finally:
        server.stop()
    said = [line for line in bob_saw if "during the outage" in line]
    assert said == [f"[lobby] <alice> during the outage {i}" for i in range(5)]
    assert "* cluster link down" in bob_saw and "* cluster link up" in bob_saw
    assert cpu < 1.0, f"the nodes spun while Redis was away: {cpu:.2f} CPU s in 3 s"


def test_after_a_restart_without_persistence_nodes_restore_nicks_and_presence(
        tmp_path: pytest.TempPathFactory) -> None:
    server = RedisServer(str(tmp_path), persistent=False)
    server.start()
    try:
        with nodes(server, 2) as (n1, n2):
            alice = joined(n1.port, "alice")
            watcher = joined(n2.port, "watcher")  # hears node 2's link notices
            alice.expect("[lobby] * watcher joined")
            server.stop()
            server.start()  # empty: the stream, the nicks and the presence are gone
            alice.skip_until("* cluster link up")
            watcher.skip_until("* cluster link up")
            deadline = time.monotonic() + NICK_TTL * 3
            while _redis_cli(server, "GET", "chat:nick:alice") != "":
                assert time.monotonic() < deadline, "alice's nick was never claimed again"
                time.sleep(0.1)
            bob = joined(n2.port, "bob")
            alice.skip_until("[lobby] * bob joined")
            eventually(bob, "/who", "* in lobby: alice, bob, watcher")
            imposter = Client(n2.port)
            imposter.line()
            imposter.send("alice")
            imposter.expect("! nick alice is taken; choose another")
            for client in (alice, bob, imposter, watcher):
                client.close()
    finally:
        server.stop()


def _redis_cli(server: RedisServer, *args: str) -> str:
    out = subprocess.run(["redis-cli", "-p", str(server.port), "--raw", *args],
                         capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.strip()  # "" for a missing key


def test_garbled_and_unknown_entries_and_error_replies_are_logged_and_skipped(
        redis: RedisServer) -> None:
    with nodes(redis, 2) as (n1, n2):
        alice, bob = alice_and_bob(n1, n2)
        _redis_cli(redis, "XADD", "chat:events", "*", "v", "1", "node", "x", "seq", "many")
        _redis_cli(redis, "XADD", "chat:events", "*", "v", "9", "node", "y", "seq", "1",
                   "kind", "say", "room", "lobby", "nick", "eve", "line", "[lobby] <eve> v9\n")
        # A full Redis: every write is refused with -OOM.
        _redis_cli(redis, "CONFIG", "SET", "maxmemory-policy", "noeviction")
        _redis_cli(redis, "CONFIG", "SET", "maxmemory", "1")
        alice.send("while redis is full")
        bob.expect_nothing(0.5)  # that line is lost across nodes, and logged
        _redis_cli(redis, "CONFIG", "SET", "maxmemory", "0")
        alice.send("after")
        bob.expect("[lobby] <alice> after")
        alice.expect("[lobby] <alice> while redis is full", "[lobby] <alice> after")
        for client in (alice, bob):
            client.close()
        n1.stop()
        n2.stop()
    logs = n1.stderr + n2.stderr
    assert "skipped stream entry" in logs and "malformed field" in logs
    assert "entry version b'9'" in logs
    assert "Redis refused XADD" in logs and "OOM" in logs


def test_an_unreachable_redis_at_start_up_fails_fast_naming_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(CHAT_SERVER), "--port", "0", "--http-port", "-1",
         "--cluster", f"redis://127.0.0.1:{port}/0"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert f"redis://127.0.0.1:{port}/0" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - start < 10


def test_workers_share_the_port_and_rooms(redis: RedisServer) -> None:
    with ChatProcess("--cluster", redis.url, "--workers", "2", "--http-port", "-1",
                     "--nick-ttl", str(NICK_TTL)) as server:
        # Connections spread over the two workers; every pair still talks.
        workers = _children(server.pid)
        assert len(workers) == 2, workers
        clients = [joined(server.port, f"u{i}") for i in range(8)]
        for i, client in enumerate(clients):
            # Joins from the other worker may come before or after local ones:
            # order is kept per sender, not across senders on different nodes.
            waiting = {f"[lobby] * {other.nick} joined" for other in clients[i + 1:]}
            while waiting:
                waiting.discard(client.line())
        clients[0].send("hello all")
        for client in clients:
            client.skip_until("[lobby] <u0> hello all")
        clients[0].send("/who")
        clients[0].expect("* in lobby: " + ", ".join(sorted(f"u{i}" for i in range(8))))
        for client in clients:
            client.close()
        server.stop()
        assert server.banner[1].startswith("2 workers share the port")
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_workers_stop_when_their_supervisor_is_killed(redis: RedisServer) -> None:
    with ChatProcess("--cluster", redis.url, "--workers", "2", "--http-port", "-1") as server:
        workers = _children(server.pid)
        assert len(workers) == 2, workers
        server.proc.kill()  # SIGKILL: the supervisor cannot pass anything on
        server.close()  # returns once the workers, holding its stdout, are gone
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its supervisor"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc; any thread may have forked)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found
