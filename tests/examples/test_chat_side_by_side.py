"""The same chat scenario against this server and a minimal trio one: same transcript.

`trio_chat_server.py` is an independent implementation of the protocol on
trio. Each step of the scenario is one client's action; what every client
receives because of it is recorded as ``(step, who, line)``. The two
servers must produce identical records.

Knowing when a step is over uses the protocol itself, not a quiet period
(which a busy machine would stretch): the actor sends ``/msg SELF sync``,
and since its lines are handled in order, its sync reply comes after
everything its action caused; then each other client does the same, and as
its outbound queue is FIFO, its sync reply comes after whatever the action
put there. The sync lines themselves are left out of the record.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.chat_harness import CHAT_SERVER, TRIO_SERVER, ChatProcess, Client

# (who, what): "connect", a nick (the first line after connecting), a line,
# "/quit", or "close".
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

Record = list[tuple[int, str, str]]


def sync(client: Client, who: str, step: int, record: Record) -> None:
    """Read ``client`` up to its reply to ``/msg SELF sync<step>``."""
    client.send(f"/msg {who} sync{step}")
    while (line := client.line()) != f"[pm to {who}] sync{step}":
        if line != f"[pm] <{who}> sync{step}":
            record.append((step, who, line))


def transcript(script: Path) -> Record:
    record: Record = []
    with ChatProcess(script=script) as server:
        clients: dict[str, Client] = {}
        named: set[str] = set()
        try:
            for step, (who, what) in enumerate(SCENARIO):
                if what == "connect":
                    clients[who] = Client(server.port)
                    record.append((step, who, clients[who].line()))  # the welcome
                    continue
                if what == "close":
                    clients.pop(who).close()
                    named.discard(who)
                    time.sleep(0.1)  # nobody else shares a room with them: nothing to see
                    continue
                actor = clients[who]
                actor.send(what)
                if what == "/quit":
                    record.extend((step, who, line) for line in actor.read_to_eof())
                    record.append((step, who, "(EOF)"))
                    clients.pop(who).close()
                    named.discard(who)
                else:
                    named.add(who)  # after its first line, every client here has a nick
                    sync(actor, who, step, record)
                for other in sorted(named - {who}):
                    sync(clients[other], other, step, record)
        finally:
            for client in clients.values():
                client.close()
        server.stop()
    return record


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
