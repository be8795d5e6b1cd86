"""The chat server with 1,000 clients at once: exact delivery under load, and shutdown."""

from __future__ import annotations

import contextlib
import signal
import time
from collections import Counter
from multiprocessing.connection import Connection

import pytest

from tests.examples import chat_load
from tests.examples.chat_load import ask as _ask
from tests.helpers.chat_harness import ChatProcess

CLIENTS = 1000
ROOMS = 10
MESSAGES = 100
WINDOW = 4
WORKERS = 2


def load_clients(port: int, messages: int) -> contextlib.AbstractContextManager[
        list[Connection]]:
    return chat_load.load_clients(port, messages, clients=CLIENTS, rooms=ROOMS, workers=WORKERS,
                         window=WINDOW)


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
