"""A load generator for the chat server: many clients in a few worker processes.

Client ``i`` is nick ``u<i>`` in room ``r<i % rooms>``. Each worker drives
its share of the clients over non-blocking sockets and a ``selectors``
loop, in three phases the parent steps through a pipe:

1. **connect**: every client connects, sends its nick and ``/join``, and
   waits for its own join line; then the worker reports ``ready``.
2. **talk** (on ``talk``): every client sends ``messages`` lines (its
   sequence numbers ``0, 1, ...``), keeping at most ``window`` of them in
   flight (sent but not yet seen coming back), and reads until it has every
   message of every member of its room. Each received message is checked
   against the next number expected from its sender: that proves each was
   delivered exactly once and in the sender's order.
3. **goodbye** (on ``goodbye``): read every client to EOF and report the last
   line each saw (the parent signals the server meanwhile).

Workers are separate processes so that checking ten million lines does not
share one CPU with itself; the server runs in its own process too.
"""

from __future__ import annotations

import multiprocessing
import re
import selectors
import socket
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

MESSAGE = re.compile(rb"\] <u(\d+)> (\d+)\n")


@dataclass
class LoadClient:
    index: int
    room: int
    sock: socket.socket
    pending: bytes = b""
    next_from: dict[int, int] = field(default_factory=dict)
    received: int = 0
    sent: int = 0
    echoed: int = 0
    lines: list[bytes] = field(default_factory=list)


def _connect(port: int | Sequence[int], indices: range, rooms: int) -> list[LoadClient]:
    ports = [port] if isinstance(port, int) else list(port)
    made = []
    for i in indices:
        sock = socket.create_connection(("127.0.0.1", ports[i % len(ports)]), timeout=30)
        sock.setblocking(False)
        made.append(LoadClient(i, i % rooms, sock))
    return made


def _read(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1 << 20)
    except BlockingIOError:
        return b""


def _wait_joined(clients: list[LoadClient], deadline: float) -> None:
    sel = selectors.DefaultSelector()
    waiting = {}
    for c in clients:
        c.sock.sendall(b"u%d\n/join r%d\n" % (c.index, c.room))
        c.pending = b"[r%d] * u%d joined\n" % (c.room, c.index)  # what we wait for
        waiting[c.sock.fileno()] = (c, bytearray())
        sel.register(c.sock, selectors.EVENT_READ)
    try:
        while waiting:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(waiting)} clients never saw their join")
            for key, _ in sel.select(1.0):
                c, buf = waiting[key.fd]
                data = _read(c.sock)
                if not data:
                    raise ConnectionError(f"u{c.index} disconnected while joining: {buf[-200:]}")
                buf += data
                i = buf.find(c.pending)
                if i >= 0:
                    # Keep what came after our own join for the talk phase.
                    c.pending = bytes(buf[i + len(c.pending):])
                    del waiting[key.fd]
                    sel.unregister(c.sock)
    finally:
        sel.close()


def _talk(clients: list[LoadClient], members: dict[int, int], messages: int, window: int,
          deadline: float) -> list[str]:
    """Run the talk phase; returns the problems found (empty: all good)."""
    problems: list[str] = []
    sel = selectors.DefaultSelector()
    by_fd = {}
    expected = {c.index: members[c.room] * messages for c in clients}
    for c in clients:
        by_fd[c.sock.fileno()] = c
        sel.register(c.sock, selectors.EVENT_READ)
        c.sent = min(window, messages)
        c.sock.sendall(b"".join(b"%d\n" % k for k in range(c.sent)))
    unfinished = len(clients)

    def take(c: LoadClient, data: bytes) -> None:
        data = c.pending + data
        cut = data.rfind(b"\n") + 1
        c.pending = data[cut:]
        nxt = c.next_from
        me = c.index
        for sender_b, seq_b in MESSAGE.findall(data, 0, cut):
            sender = int(sender_b)
            seq = int(seq_b)
            want = nxt.get(sender, 0)
            if seq != want:
                problems.append(f"u{me} got message {seq} from u{sender}, expected {want}")
            nxt[sender] = seq + 1
            c.received += 1
            if sender == me:
                c.echoed = seq + 1
        if c.sent < messages and c.sent < c.echoed + window:
            upto = min(messages, c.echoed + window)
            c.sock.sendall(b"".join(b"%d\n" % k for k in range(c.sent, upto)))
            c.sent = upto

    try:
        for c in clients:
            if c.pending:
                take(c, b"")
        while unfinished and not problems:
            if time.perf_counter() > deadline:
                stuck = [c for c in clients if c.received < expected[c.index]]
                problems.append(f"timed out; {len(stuck)} clients short, e.g. u{stuck[0].index} "
                                f"has {stuck[0].received} of {expected[stuck[0].index]}")
                break
            for key, _ in sel.select(1.0):
                c = by_fd[key.fd]
                data = _read(c.sock)
                if not data:
                    problems.append(f"u{c.index} was disconnected: {c.pending[-200:]!r}")
                    continue
                before = c.received
                take(c, data)
                if before < expected[c.index] <= c.received:
                    unfinished -= 1
                    if c.received > expected[c.index]:
                        problems.append(f"u{c.index} got {c.received} messages, "
                                        f"expected {expected[c.index]}")
    finally:
        sel.close()
    return problems


def _goodbye(clients: list[LoadClient], deadline: float) -> list[bytes]:
    """Read every client to EOF; the last line each saw."""
    sel = selectors.DefaultSelector()
    by_fd = {}
    last: list[bytes] = []
    for c in clients:
        by_fd[c.sock.fileno()] = c
        sel.register(c.sock, selectors.EVENT_READ)
    try:
        while by_fd and time.perf_counter() < deadline:
            for key, _ in sel.select(1.0):
                c = by_fd[key.fd]
                try:
                    data = _read(c.sock)
                except ConnectionError:
                    data = b""
                if data:
                    c.pending = (c.pending + data)[-200:]
                    continue
                lines = c.pending.rstrip(b"\n").split(b"\n")
                last.append(lines[-1])
                sel.unregister(c.sock)
                del by_fd[key.fd]
    finally:
        sel.close()
    last.extend(b"(no EOF)" for _ in by_fd)
    return last


def worker(conn: Connection, port: int | Sequence[int], indices: range, rooms: int,
           members: dict[int, int], messages: int, window: int) -> None:
    """One load-generator process; see the module docstring for the phases."""
    clients: list[LoadClient] = []
    try:
        clients = _connect(port, indices, rooms)
        _wait_joined(clients, time.perf_counter() + 60)
        conn.send("ready")
        while True:
            command = conn.recv()
            if command == "talk":
                problems = _talk(clients, members, messages, window, time.perf_counter() + 100)
                conn.send((sum(c.received for c in clients), problems[:10]))
            elif command == "goodbye":
                conn.send(_goodbye(clients, time.perf_counter() + 10))
            else:
                return
    except BaseException as exc:
        conn.send(f"worker failed: {exc!r}")
    finally:
        for c in clients:
            c.sock.close()
        conn.close()


def ask(conns: list[Connection], command: str | None, timeout: float = 120) -> list[Any]:
    if command is not None:
        for conn in conns:
            conn.send(command)
    answers = []
    for conn in conns:
        assert conn.poll(timeout), f"no answer to {command!r} in {timeout} s"
        answer = conn.recv()
        assert not (isinstance(answer, str) and answer.startswith("worker failed")), answer
        answers.append(answer)
    return answers


@contextmanager
def load_clients(port: int | Sequence[int], messages: int, *, clients: int, rooms: int,
                 workers: int, window: int) -> Iterator[list[Connection]]:
    """Start the load workers (processes) with every client connected and in its
    room; client ``i`` connects to ``port`` (or to ``port[i % len(port)]``)."""
    ctx = multiprocessing.get_context("fork")
    members = Counter(i % rooms for i in range(clients))
    share = -(-clients // workers)
    procs, conns = [], []
    try:
        for w in range(workers):
            ours, theirs = ctx.Pipe()
            indices = range(w * share, min(clients, (w + 1) * share))
            proc = ctx.Process(target=worker,
                               args=(theirs, port, indices, rooms, dict(members), messages, window))
            proc.start()
            theirs.close()
            procs.append(proc)
            conns.append(ours)
        assert ask(conns, None) == ["ready"] * workers
        yield conns
    finally:
        for conn in conns:
            try:
                conn.send("exit")
            except OSError:
                pass
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
            proc.close()
        for conn in conns:
            conn.close()
