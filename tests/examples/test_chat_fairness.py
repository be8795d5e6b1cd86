"""Fairness under floods: backpressure slows flooders; readers who keep up are never cut off.

The server runs as a subprocess; every client is a real socket. The
flood scenario is the one that used to disconnect every bystander
(issue 24): 40 clients each write 40 lines at once into a room where 50
others are reading.
"""

from __future__ import annotations

import re
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers.chat_harness import ChatProcess, Client, clients

pytestmark = pytest.mark.timeout(60)

SAID = re.compile(rb"\[lobby\] <(f\d+)> (\d+) ")


def rss_kib(pid: int, field: str = "VmHWM") -> int:
    """The server's resident memory (``VmHWM``: its peak so far), from ``/proc``."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class Swarm:
    """Many connected clients driven by one ``selectors`` loop (non-blocking)."""

    def __init__(self, members: list[Client]) -> None:
        self.members = members
        self.out = {c.sock: b"" for c in members}
        self.got: dict[socket.socket, list[bytes]] = {c.sock: [] for c in members}
        self.rest = {c.sock: c.buf for c in members}
        self.ended: set[socket.socket] = set()
        for c in members:
            c.sock.setblocking(False)

    def send(self, client: Client, data: bytes) -> None:
        self.out[client.sock] += data

    def run_until(self, done: object, timeout: float) -> None:
        """Pump sends and receives until ``done()`` is true; fail after ``timeout`` s."""
        assert callable(done)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            for sock in self.out:
                sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            while not done():
                assert time.monotonic() < deadline, "the flood was not delivered in time"
                for key, mask in sel.select(0.5):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if mask & selectors.EVENT_WRITE and self.out[sock]:
                        sent = sock.send(self.out[sock])
                        self.out[sock] = self.out[sock][sent:]
                    if mask & selectors.EVENT_READ:
                        self._read(sock)
                    if not self.out[sock]:
                        sel.modify(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> None:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            self.ended.add(sock)
            return
        *lines, self.rest[sock] = (self.rest[sock] + chunk).split(b"\n")
        self.got[sock].extend(lines)


@contextmanager
def room_of(port: int, nicks: list[str]) -> Iterator[list[Client]]:
    members = clients(port, nicks)
    try:
        yield members
    finally:
        for c in members:
            c.close()


@pytest.mark.slow
@pytest.mark.parametrize("size", [8, 1000], ids=["short-lines", "1KiB-lines"])
def test_40_flooders_never_disconnect_50_reading_bystanders_and_each_line_arrives_once_in_order(
        size: int) -> None:
    flooders = [f"f{i}" for i in range(40)]
    bystanders = [f"b{i}" for i in range(50)]
    with ChatProcess("--rate", "0") as server:
        with room_of(server.port, flooders + bystanders) as members:
            swarm = Swarm(members)
            pad = "x" * size
            for c in members[:40]:
                swarm.send(c, b"".join(f"{i} {pad}\n".encode() for i in range(40)))
            everyone_has_all = lambda: all(  # noqa: E731
                sum(1 for line in lines if SAID.match(line)) >= 1600
                for lines in swarm.got.values())
            swarm.run_until(lambda: everyone_has_all() or swarm.ended, timeout=40)
            for c in members:
                lines = swarm.got[c.sock]
                assert not [line for line in lines if line.startswith(b"!")], c.nick
                assert c.sock not in swarm.ended, f"{c.nick} was disconnected"
                seen: dict[bytes, list[int]] = {}
                for line in lines:
                    m = SAID.match(line)
                    if m:
                        seen.setdefault(m[1], []).append(int(m[2]))
                assert seen == {f.encode(): list(range(40)) for f in flooders}, c.nick
            peak = rss_kib(server.pid)
        server.stop()
    # 90 outboxes share 1,600 lines (1.6 MB at 1 KiB); the interpreter alone is ~20 MB.
    assert peak < 100 * 1024, f"server peak RSS {peak / 1024:.0f} MiB"


@contextmanager
def stuck_room(port: int) -> Iterator[tuple[Client, Client, Client]]:
    """A talker, a reader, and a client that never reads (with a tiny receive buffer)."""
    talker, reader = clients(port, ["talker", "reader"])
    stuck = Client(port, "stuck", rcvbuf=4096)
    with talker, reader, stuck:
        talker.expect("[lobby] * stuck joined")
        reader.expect("[lobby] * stuck joined")
        yield talker, reader, stuck


def talk_until_cut_off(talker: Client, reader: Client, left: str, limit: int = 5000) -> None:
    """``talker`` says 4 KB lines until ``left`` is announced; ``reader`` must get every one."""
    big = "t" * 4000
    saw_left = {talker.nick: False, reader.nick: False}
    for i in range(limit):
        said = f"[lobby] <talker> {i} {big}"
        talker.send(f"{i} {big}")
        for c in (talker, reader):
            lines = c.skip_until(said)
            assert set(lines[:-1]) <= {left}, (c.nick, [line[:80] for line in lines])
            saw_left[c.nick] = saw_left[c.nick] or left in lines
        if any(saw_left.values()):
            break
    else:
        pytest.fail("the stuck client was never cut off")
    for c in (talker, reader):
        if not saw_left[c.nick]:
            c.skip_until(left)
    talker.send("still here")
    reader.skip_until("[lobby] <talker> still here")


def test_a_client_that_never_reads_is_cut_after_the_write_timeout_and_others_carry_on() -> None:
    with ChatProcess("--write-timeout", "1", "--max-queued", "1000000000", "--rate", "0") as server:
        with stuck_room(server.port) as (talker, reader, stuck):
            talk_until_cut_off(talker, reader,
                               "[lobby] * stuck left (too slow: nothing could be sent for 1 s)")
            # The stuck client's connection is closed (after whatever it had).
            stuck.sock.settimeout(5)
            while stuck.sock.recv(1 << 20):
                pass
        server.stop()


def test_a_stalled_client_is_cut_when_its_unsent_bytes_pass_max_queued() -> None:
    with ChatProcess("--max-queued", "200000", "--rate", "0") as server:
        with stuck_room(server.port) as (talker, reader, _):
            talk_until_cut_off(talker, reader,
                               "[lobby] * stuck left (too slow: over 200000 bytes unsent)")
            peak = rss_kib(server.pid)
        server.stop()
    assert peak < 100 * 1024, f"server peak RSS {peak / 1024:.0f} MiB"


def test_a_flooder_waits_for_a_slow_but_steady_reader_instead_of_cutting_it_off() -> None:
    # The reader drains its socket a little at a time: its outbox passes the
    # high-water mark, so the flooder is held back until it catches up.
    with ChatProcess("--rate", "0") as server:
        flooder, slow = clients(server.port, ["flooder", "slow"])
        with flooder, slow:
            n, big = 400, "w" * 2000  # 800 KB: far past the 64 KiB high-water mark
            flooder.sock.setblocking(False)
            data = b"".join(f"{i} {big}\n".encode() for i in range(n))
            got = 0
            while got < n:
                if data:
                    try:
                        data = data[flooder.sock.send(data):]
                    except BlockingIOError:
                        pass
                slow.sock.settimeout(5)
                chunk = slow.sock.recv(4096)
                assert chunk, "the slow reader was disconnected"
                slow.buf += chunk
                while b"\n" in slow.buf:
                    line, _, slow.buf = slow.buf.partition(b"\n")
                    assert line == f"[lobby] <flooder> {got} {big}".encode(), line[:60]
                    got += 1
                time.sleep(0.0005)
        server.stop()


def test_the_rate_limit_slows_a_sender_down_and_loses_nothing() -> None:
    with ChatProcess("--rate", "20", "--burst", "5") as server:
        alice, bob = clients(server.port, ["alice", "bob"])
        with alice, bob:
            start = time.monotonic()
            alice.send_raw(b"".join(f"line {i}\n".encode() for i in range(25)))
            for i in range(25):
                bob.expect(f"[lobby] <alice> line {i}")
            took = time.monotonic() - start
        server.stop()
    # 5 at once, then 20 more at 20 a second: at least ~1 s, whatever the load.
    assert took >= 0.9, f"25 lines took {took:.2f} s: the rate limit did not apply"
