"""The chat server with 1,000 clients at once: exact delivery under load, and shutdown."""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import pytest

from tests.examples import chat_load
from tests.helpers.chat_harness import ChatProcess

CLIENTS = 1000
ROOMS = 10
MESSAGES = 100
WINDOW = 4
WORKERS = 2


def _ask(conns: list[Connection], command: str | None, timeout: float = 120) -> list[Any]:
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
def load_clients(port: int, messages: int) -> Iterator[list[Connection]]:
    """Start the workers with every client connected and in its room."""
    ctx = multiprocessing.get_context("fork")
    members = Counter(i % ROOMS for i in range(CLIENTS))
    share = -(-CLIENTS // WORKERS)
    procs, conns = [], []
    try:
        for w in range(WORKERS):
            ours, theirs = ctx.Pipe()
            indices = range(w * share, min(CLIENTS, (w + 1) * share))
            proc = ctx.Process(target=chat_load.worker,
                               args=(theirs, port, indices, ROOMS, dict(members), messages, WINDOW))
            proc.start()
            theirs.close()
            procs.append(proc)
            conns.append(ours)
        assert _ask(conns, None) == ["ready"] * WORKERS
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


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_1000_clients_100_messages_each_in_10_rooms_exactly_once_in_order(
        capsys: pytest.CaptureFixture[str]) -> None:
    with ChatProcess() as server:
        start = time.perf_counter()
        with load_clients(server.port, MESSAGES) as workers:
            connected = time.perf_counter() - start
            start = time.perf_counter()
            results = _ask(workers, "talk")
            took = time.perf_counter() - start
            problems = [p for _, found in results for p in found]
            assert not problems, problems
            delivered = sum(n for n, _ in results)
            assert delivered == CLIENTS * MESSAGES * (CLIENTS // ROOMS)
        server.stop()
    report = (f"chat load: {CLIENTS} clients connected and joined in {connected:.1f} s; "
              f"{CLIENTS * MESSAGES:,} messages -> {delivered:,} deliveries in {took:.1f} s "
              f"= {delivered / took:,.0f} deliveries/s "
              f"({CLIENTS * MESSAGES / took:,.0f} messages/s in)")
    with capsys.disabled():  # shown even without -s
        print("\n" + report)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_shutdown_with_1000_clients_connected_says_goodbye_to_each() -> None:
    with ChatProcess() as server, load_clients(server.port, 0) as workers:
        for conn in workers:
            conn.send("goodbye")
        time.sleep(0.2)  # the workers are reading
        took = server.stop(signal.SIGTERM)
        last_lines = [line for lines in _ask(workers, None) for line in lines]
        assert Counter(last_lines) == {b"! bye: server shutting down": CLIENTS}
        assert took < 2.0, f"the server took {took:.2f} s to exit"
