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
    from .cluster import Cluster
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

    __slots__ = ("cluster", "max_clients", "nicks", "rooms", "sessions", "stopping")

    def __init__(self, max_clients: int) -> None:
        self.max_clients = max_clients
        #: The other nodes, with ``--cluster`` (``cluster.py``): every change here
        #: is told to it, and it answers for the members it knows elsewhere.
        self.cluster: Cluster | None = None
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
        if (owner is not None and owner is not session) or (
                owner is None and self.taken_elsewhere(nick)):
            return protocol.error(f"nick {nick} is taken; choose another")
        old = session.nick
        if old is not None:
            del self.nicks[fold(old)]
        self.nicks[key] = session
        session.nick = nick
        if old is not None and session.room is not None:
            line = protocol.renamed(session.room.name, old, nick)
            session.room.broadcast(line)
            if self.cluster is not None:
                self.cluster.publish("rename", session.room.name, nick, line, old=old)
                self.cluster.present(old, None)
                self.cluster.present(nick, session.room.name)
        if old is not None and self.cluster is not None and fold(old) != key:
            self.cluster.release_nick(old)
        return None

    def taken_elsewhere(self, nick: str) -> bool:
        """A member of another node has this nick."""
        return self.cluster is not None and self.cluster.remote_nick(nick) is not None

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
        self.say(room, session.nick, protocol.joined(room.name, session.nick), "join")
        if self.cluster is not None:
            self.cluster.present(session.nick, room.name)

    def say(self, room: Room, nick: str, line: bytes, kind: str = "say") -> list[Session]:
        """``line`` to every member of ``room``, on this node and the others; the
        local members the sender should wait for."""
        if self.cluster is not None:
            self.cluster.publish(kind, room.name, nick, line)
        return room.broadcast(line)

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
        if self.cluster is not None and session.nick is not None:
            # Other nodes hear of it even at shutdown (reason None), so their view is right.
            line = protocol.left(room.name, session.nick, reason or protocol.SHUTTING_DOWN)
            self.cluster.publish("leave", room.name, session.nick, line)
            self.cluster.present(session.nick, None)

    def remove(self, session: Session, reason: str | None) -> None:
        """Take a departing session out of its room and free its nick
        (announced unless ``reason`` is None); it stays in `sessions` until it is gone."""
        self.leave(session, reason)
        if session.nick is not None and self.nicks.get(fold(session.nick)) is session:
            del self.nicks[fold(session.nick)]
            if self.cluster is not None:
                self.cluster.release_nick(session.nick)

    def room_list(self) -> bytes:
        counts = {key: (room.name, len(room.members)) for key, room in self.rooms.items()}
        if self.cluster is not None:
            for key, (name, elsewhere) in self.cluster.remote_rooms().items():
                here = counts.get(key, (name, 0))
                counts[key] = (here[0], here[1] + elsewhere)
        listed = ", ".join(f"{name} ({count})" for _, (name, count) in sorted(counts.items()))
        return protocol.notice(f"rooms: {listed or 'none'}")

    def who(self, room: Room) -> list[str]:
        """The nicks in ``room``, on every node."""
        nicks = [m.nick or "?" for m in room.members]
        if self.cluster is not None:
            nicks += self.cluster.remote_members(room.name)
        return sorted(nicks, key=str.lower)
