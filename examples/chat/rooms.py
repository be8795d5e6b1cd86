"""Rooms and the nick registry: the state every session shares.

Everything here is plain synchronous code run by whichever session's task
is handling a line, so no locks are needed: the runtime runs one task at a
time and nothing here awaits. Fan-out never waits either: `Room.broadcast`
puts the line into each member's outbox (`Outbox.put`) and returns
the members that are behind, for the sender to wait for (``outbox.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import protocol

if TYPE_CHECKING:
    from .session import Session


def fold(name: str) -> str:
    """The key names are compared by (nicks and rooms are case-insensitive)."""
    return name.lower()


class Room:
    __slots__ = ("members", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[Session, None] = {}  # insertion-ordered set

    def broadcast(self, line: bytes) -> list[Session]:
        """Queue ``line`` for every member; the members the sender should wait for."""
        # put() never removes a member (a kick only marks it), so the dict
        # does not change size while we walk it. (Session.deliver, inlined:
        # this is the fan-out's hot loop.)
        return [member for member in self.members if member.outbox.put(line)]


class Hub:
    """Who is connected, under which nick, in which room."""

    __slots__ = ("max_clients", "nicks", "rooms", "sessions", "stopping")

    def __init__(self, max_clients: int) -> None:
        self.max_clients = max_clients
        self.stopping = False  # the server is shutting down
        self.sessions: set[Session] = set()  # every connection, until its goodbye is done
        self.nicks: dict[str, Session] = {}
        self.rooms: dict[str, Room] = {protocol.DEFAULT_ROOM: Room(protocol.DEFAULT_ROOM)}

    def full(self) -> bool:
        return len(self.sessions) >= self.max_clients

    # -- nicks -----------------------------------------------------------------

    def set_nick(self, session: Session, nick: str) -> bytes | None:
        """Give ``session`` the nick ``nick``; an error line if it cannot have it."""
        if not protocol.valid_name(nick):
            return protocol.encode(protocol.name_error("nick", nick))
        key = fold(nick)
        owner = self.nicks.get(key)
        if owner is not None and owner is not session:
            return protocol.error(f"nick {nick} is taken; choose another")
        old = session.nick
        if old is not None:
            del self.nicks[fold(old)]
        self.nicks[key] = session
        session.nick = nick
        if old is not None and session.room is not None:
            session.room.broadcast(protocol.renamed(session.room.name, old, nick))
        return None

    def find(self, nick: str) -> Session | None:
        return self.nicks.get(fold(nick))

    # -- rooms -----------------------------------------------------------------

    def join(self, session: Session, name: str) -> None:
        """Move ``session`` into room ``name`` (created on first use)."""
        key = fold(name)
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(name)
        if session.room is not None:
            self.leave(session, f"moved to {room.name}")
        room.members[session] = None
        session.room = room
        assert session.nick is not None
        room.broadcast(protocol.joined(room.name, session.nick))

    def leave(self, session: Session, reason: str | None) -> None:
        """Take ``session`` out of its room; announce it unless ``reason`` is None."""
        room = session.room
        if room is None:
            return
        session.room = None
        del room.members[session]
        if not room.members and fold(room.name) != protocol.DEFAULT_ROOM:
            del self.rooms[fold(room.name)]
        elif reason is not None:
            assert session.nick is not None
            room.broadcast(protocol.left(room.name, session.nick, reason))

    def remove(self, session: Session, reason: str | None) -> None:
        """Take a departing session out of its room and free its nick
        (announced unless ``reason`` is None); it stays in `sessions` until it is gone."""
        self.leave(session, reason)
        if session.nick is not None and self.nicks.get(fold(session.nick)) is session:
            del self.nicks[fold(session.nick)]

    def room_list(self) -> bytes:
        rooms = sorted(self.rooms.values(), key=lambda r: fold(r.name))
        listed = ", ".join(f"{room.name} ({len(room.members)})" for room in rooms)
        return protocol.notice(f"rooms: {listed or 'none'}")
