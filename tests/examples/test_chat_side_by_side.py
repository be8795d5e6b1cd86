"""The same chat scenario against this server and a minimal trio one: same transcript.

`trio_chat_server.py` is an independent implementation of the protocol on
trio. Each step of the scenario is one client's action; after it, every
connected client's output is collected until all are quiet, and recorded as
``(step, who, line)`` (ordered per client within a step). The two servers
must produce identical records.
"""

from __future__ import annotations

import select
from pathlib import Path

import pytest

from tests.examples.chat_harness import CHAT_SERVER, TRIO_SERVER, ChatProcess, Client

# (who, what): a line to send, "connect", or "close".
SCENARIO = [
    ("alice", "connect"),
    ("alice", "alice"),
    ("bob", "connect"),
    ("bob", "bob"),
    ("alice", "hi bob"),
    ("bob", "/join dev"),
    ("alice", "/join dev"),
    ("bob", "/me waves"),
    ("alice", "/msg bob psst"),
    ("bob", "/who"),
    ("carol", "connect"),
    ("carol", "/nick carol"),
    ("carol", "anyone here?"),
    ("alice", "/msg nobody hello?"),
    ("bob", "/quit"),
    ("alice", "bye all"),
    ("carol", "close"),
    ("alice", "/who"),
    ("alice", "close"),
]


def settle(clients: dict[str, Client], step: int, record: list[tuple[int, str, str]]) -> None:
    """Read every client until none has said anything for a moment."""
    while True:
        ready, _, _ = select.select([c.sock for c in clients.values()], [], [], 0.1)
        if not ready:
            return
        for who, client in list(clients.items()):
            if client.sock in ready:
                data = client.sock.recv(65536)
                if not data:
                    record.append((step, who, "(EOF)"))
                    client.close()
                    del clients[who]
                    continue
                client.buf += data
                while b"\n" in client.buf:
                    line, _, client.buf = client.buf.partition(b"\n")
                    record.append((step, who, line.decode()))


def transcript(script: Path) -> list[tuple[int, str, str]]:
    record: list[tuple[int, str, str]] = []
    with ChatProcess(script=script) as server:
        clients: dict[str, Client] = {}
        try:
            for step, (who, what) in enumerate(SCENARIO):
                if what == "connect":
                    clients[who] = Client(server.port)
                elif what == "close":
                    clients.pop(who).close()
                else:
                    clients[who].send(what)
                settle(clients, step, record)
        finally:
            for client in clients.values():
                client.close()
        server.stop()
    # Within a step, what different clients received is in no particular
    # order; what each one received is.
    return sorted(record, key=lambda r: (r[0], r[1]))


@pytest.mark.timeout(30)
def test_the_chat_scenario_gives_the_same_transcript_as_a_trio_server() -> None:
    ours = transcript(CHAT_SERVER)
    theirs = transcript(TRIO_SERVER)
    assert ours == theirs
    # And it is the conversation we meant to have:
    alice = [line for _, who, line in ours if who == "alice"]
    assert alice[-3:] == ["[dev] * bob left (quit)", "[dev] <alice> bye all", "* in dev: alice"]
    lines = [(who, line) for _, who, line in ours]
    assert ("bob", "[pm] <alice> psst") in lines
    assert ("carol", "[lobby] <carol> anyone here?") in lines
    assert not any(who == "alice" and "anyone here" in line for who, line in lines)
    assert ("bob", "(EOF)") in lines
