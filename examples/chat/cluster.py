"""`Cluster`: chat nodes joined through Redis, so rooms span processes and hosts.

Every node serves its own clients exactly as a lone server does (``rooms.py``,
``session.py``); the cluster only adds what the other nodes need to know.

**Delivery** goes through one Redis Stream, ``chat:events``. A node appends
(``XADD ... MAXLEN ~``) every line said in a room, every join, leave and
rename, and every private message to a nick on another node, as an entry
carrying the ready-to-send protocol line. Every node reads the stream with
``XREAD BLOCK`` from the last id it has seen and delivers each entry from
another node to its own members of that room. One stream read in order by
everybody keeps each sender's order, and reading *from the last id seen*
(not pub/sub's "from now") means a node whose connection dropped for a
while catches up on what it missed.

Exactly once: a node numbers its entries (``seq``) and sends them from one
task, in order. When a connection breaks with a batch in flight, the node
cannot know whether Redis appended it, so it sends the batch again; readers
keep the highest ``seq`` seen per node and skip what they have had.

**Nicks** are unique across the cluster: ``SET chat:nick:<nick> <node> NX EX
ttl`` claims one atomically; the owning node refreshes its nicks every
``ttl / 3`` seconds, so a dead node's nicks free themselves after ``ttl``.
**Presence**: each node's members are in a hash, ``chat:node:<id>`` (nick →
room), read once at start-up, and kept up to date from the stream's joins,
leaves and renames after that; ``/who`` and ``/rooms`` are answered from
that view without a round trip. A node also keeps ``chat:alive:<id>`` (with
the same expiry): when another node's key is gone, it has died, and each
node announces its members' departure to its own clients.

**When Redis is away** a node keeps serving: local rooms work, lines for
other nodes wait in a bounded queue (`OUTBOX_LIMIT` entries; the oldest
are dropped past it, with a warning) and go out when Redis is back, and
every local client is told once, ``* cluster link down`` then ``* cluster
link up``. Nicks chosen meanwhile are checked locally only, and claimed in
Redis on reconnect. What Redis itself loses depends on its persistence:
with an append-only file, nothing said is lost; without one, a restart
loses the stream and the keys, so entries appended but not yet read by a
node are gone (a window of milliseconds while everyone is connected), and
nodes restore nicks and presence on their next refresh. No node crashes or
spins either way: reconnecting backs off exponentially (``redis.Backoff``).

Entries this node cannot read (another version, missing fields, wrong
types) are logged and skipped; so are Redis's error replies (``-ERR``,
``-OOM``): a lost line is logged, never a crashed node.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import runtime

from . import protocol
from .redis import Backoff, RedisAddress, RedisConnection, RedisConnectionError, RedisReplyError
from .rooms import fold

if TYPE_CHECKING:
    from .rooms import Hub

log = logging.getLogger("chat.cluster")

STREAM = "chat:events"
#: Entries the stream keeps (approximately: ``MAXLEN ~``). A node that is
#: away for longer than the cluster takes to say this many lines misses some.
STREAM_LENGTH = 100_000
#: The entry format this node writes and reads (the ``v`` field).
VERSION = b"1"
#: Entries waiting for Redis at most; past it the oldest are dropped.
OUTBOX_LIMIT = 10_000
#: Entries sent per round trip, and read per ``XREAD``.
BATCH = 500
#: Milliseconds one ``XREAD`` blocks in the server before returning empty.
BLOCK_MS = 2000

# Refresh a nick only if nobody else holds it (after a Redis restart without
# persistence, another node may have claimed it meanwhile): 1 kept, 0 lost.
_REFRESH_NICK = """
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""
# Release a nick only if this node holds it.
_RELEASE_NICK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ClusterUnavailableError(Exception):
    """The cluster's Redis cannot be reached at start-up (the message names it)."""


def nick_key(nick: str) -> str:
    return f"chat:nick:{fold(nick)}"


def node_key(node: str) -> str:
    return f"chat:node:{node}"


def alive_key(node: str) -> str:
    return f"chat:alive:{node}"


@dataclass(frozen=True)
class Entry:
    """One stream entry, as read: who sent it, in which order, and what to deliver."""

    node: str
    seq: int
    kind: str  # "say", "join", "leave", "rename", "pm"
    room: str  # the room's display name ("" for a private message)
    nick: str  # the sender (for "rename": the new nick)
    line: bytes  # the protocol line to deliver
    old: str = ""  # "rename": the previous nick
    to: str = ""  # "pm": the nick it is for

    @classmethod
    def parse(cls, fields: Sequence[bytes]) -> Entry:
        """From ``XREAD``'s flat [field, value, ...] list; `ValueError` saying what is wrong."""
        if len(fields) % 2:
            raise ValueError("odd number of fields")
        data = dict(zip(fields[::2], fields[1::2], strict=True))
        version = data.get(b"v")
        if version != VERSION:
            raise ValueError(f"entry version {version!r}, this node reads {VERSION!r}")
        try:
            kind = data[b"kind"].decode()
            entry = cls(node=data[b"node"].decode(), seq=int(data[b"seq"]), kind=kind,
                        room=data.get(b"room", b"").decode(), nick=data[b"nick"].decode(),
                        line=data[b"line"], old=data.get(b"old", b"").decode(),
                        to=data.get(b"to", b"").decode())
        except (KeyError, ValueError, UnicodeDecodeError, AttributeError) as exc:
            raise ValueError(f"missing or malformed field: {exc!r}") from None
        if kind not in ("say", "join", "leave", "rename", "pm"):
            raise ValueError(f"unknown kind {kind!r}")
        return entry


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Cluster:
    """This node's link to the others: see the module docstring."""

    def __init__(self, hub: Hub, address: RedisAddress, *, nick_ttl: float = 15.0,
                 node: str | None = None) -> None:
        self.hub = hub
        self.address = address
        self.nick_ttl = nick_ttl
        self.node = node or new_node_id()
        self.link_up = False
        #: Other nodes' members: node → {folded nick: (nick, room display name)}.
        self.remote: dict[str, dict[str, tuple[str, str]]] = {}
        self._seq = itertools.count(1)
        self._last_seq: dict[str, int] = {}  # highest seq delivered, per sending node
        self._last_id = b"0-0"
        self._outbox: deque[list[Any]] = deque()  # commands waiting for Redis, in order
        self._outbox_ready = runtime.Event()
        self._writer: RedisConnection | None = None
        self._reader: RedisConnection | None = None
        self._backoff = Backoff()
        self._stale_view = False
        self._relinking = runtime.Lock()

    # -- start and run --------------------------------------------------------------

    async def start(self) -> None:
        """Connect (failing fast, naming the address), read the cluster's presence,
        and announce this node."""
        try:
            self._writer = await RedisConnection.connect(self.address)
            self._reader = await RedisConnection.connect(self.address)
            last = await self._writer.execute("XREVRANGE", STREAM, "+", "-", "COUNT", 1)
            if last:
                self._last_id = last[0][0]
            await self._load_presence(self._writer)
            await self._refresh(self._writer)
        except (RedisConnectionError, RedisReplyError) as exc:
            self.close()
            where = "" if str(self.address) in str(exc) else f" at {self.address}"
            raise ClusterUnavailableError(f"cannot use the cluster's Redis{where}: {exc}") from exc
        self.link_up = True

    async def run(self) -> None:
        """Send, receive and refresh until cancelled."""
        try:
            async with runtime.TaskGroup() as tg:
                tg.spawn(self._send_loop(), name="cluster sender")
                tg.spawn(self._receive_loop(), name="cluster receiver")
                tg.spawn(self._refresh_loop(), name="cluster refresh")
        finally:
            self.close()

    def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()

    # -- what the hub tells us --------------------------------------------------------

    def publish(self, kind: str, room: str, nick: str, line: bytes, **extra: str) -> None:
        """Queue an entry for the other nodes (never waits)."""
        fields = ["v", VERSION, "node", self.node, "seq", next(self._seq), "kind", kind,
                  "room", room, "nick", nick, "line", line]
        for name, value in extra.items():
            fields += [name, value]
        self._queue(["XADD", STREAM, "MAXLEN", "~", STREAM_LENGTH, "*", *fields])

    def present(self, nick: str, room: str | None) -> None:
        """Record where a local member is (``room`` None: gone) in this node's hash."""
        if room is None:
            self._queue(["HDEL", node_key(self.node), fold(nick)])
        else:
            self._queue(["HSET", node_key(self.node), fold(nick), f"{nick}\t{room}"])

    def release_nick(self, nick: str) -> None:
        self._queue(["EVAL", _RELEASE_NICK, 1, nick_key(nick), self.node])

    async def claim_nick(self, nick: str) -> bool:
        """Claim ``nick`` for this node across the cluster; False if another node has it.

        While the link is down the claim is local only (availability over
        uniqueness); the refresh after reconnecting claims it in Redis.
        """
        folded = fold(nick)
        if any(folded in members for members in self.remote.values()):
            return False
        if self._writer is None or self._writer.broken:
            return True
        try:
            ok = await self._writer.execute("SET", nick_key(nick), self.node, "NX",
                                            "EX", max(1, round(self.nick_ttl)))
            if ok is None:
                owner = await self._writer.execute("GET", nick_key(nick))
                return bool(owner == self.node.encode())
            return True
        except RedisReplyError as exc:
            log.warning("claiming nick %s: %s", nick, exc)
            return True
        except RedisConnectionError:
            return True  # the sender's loop notices and reconnects

    # -- the view of other nodes -----------------------------------------------------

    def remote_members(self, room: str) -> list[str]:
        key = fold(room)
        return [nick for members in self.remote.values()
                for nick, where in members.values() if fold(where) == key]

    def remote_rooms(self) -> dict[str, tuple[str, int]]:
        """folded room → (display name, members on other nodes)."""
        rooms: dict[str, tuple[str, int]] = {}
        for members in self.remote.values():
            for _, where in members.values():
                name, count = rooms.get(fold(where), (where, 0))
                rooms[fold(where)] = (name, count + 1)
        return rooms

    def remote_nick(self, nick: str) -> str | None:
        """The nick as its owner spells it, if a member of another node has it."""
        folded = fold(nick)
        for members in self.remote.values():
            if folded in members:
                return members[folded][0]
        return None

    # -- sending --------------------------------------------------------------------------

    def _queue(self, command: list[Any]) -> None:
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            log.warning("cluster outbox full (%d): the oldest entry was dropped", OUTBOX_LIMIT)
        self._outbox.append(command)
        self._outbox_ready.set()

    async def _send_loop(self) -> None:
        while True:
            if not self._outbox:
                self._outbox_ready = runtime.Event()
                await self._outbox_ready.wait()
            batch = list(itertools.islice(self._outbox, BATCH))
            try:
                assert self._writer is not None
                replies = await self._writer.pipeline(batch)
            except RedisConnectionError as exc:
                # The batch stays queued: sent again after reconnecting (readers
                # skip the entries they already had, by seq).
                await self._relink(exc)
                continue
            for _ in batch:
                self._outbox.popleft()
            for command, reply in zip(batch, replies, strict=True):
                if isinstance(reply, RedisReplyError):
                    log.warning("Redis refused %s: %s", command[0], reply)

    # -- receiving ---------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            try:
                assert self._reader is not None
                reply = await self._reader.execute(
                    "XREAD", "COUNT", BATCH, "BLOCK", BLOCK_MS, "STREAMS", STREAM,
                    self._last_id, timeout=BLOCK_MS / 1000 + 5)
            except RedisConnectionError as exc:
                await self._relink(exc)
                continue
            except RedisReplyError as exc:
                log.warning("reading the stream: %s", exc)
                await runtime.sleep(self._backoff.next_delay())
                continue
            if not reply:
                continue
            behind = []
            for entry_id, fields in reply[0][1]:
                self._last_id = entry_id
                try:
                    entry = Entry.parse(fields)
                except ValueError as exc:
                    log.warning("skipped stream entry %s: %s", entry_id.decode(), exc)
                    continue
                behind += self._apply(entry)
            # Fairness across nodes as within one (outbox.py): a remote flood
            # waits for the local members it left behind.
            for session in behind:
                await session.outbox.caught_up()

    def _apply(self, entry: Entry) -> list[Any]:
        """Deliver one entry from another node; the local members left behind."""
        if entry.node == self.node or entry.seq <= self._last_seq.get(entry.node, 0):
            return []
        self._last_seq[entry.node] = entry.seq
        members = self.remote.setdefault(entry.node, {})
        if entry.kind == "join":
            members[fold(entry.nick)] = (entry.nick, entry.room)
        elif entry.kind == "leave":
            members.pop(fold(entry.nick), None)
        elif entry.kind == "rename":
            members.pop(fold(entry.old), None)
            members[fold(entry.nick)] = (entry.nick, entry.room)
        if entry.kind == "pm":
            target = self.hub.find(entry.to)
            return [target] if target is not None and target.deliver(entry.line) else []
        room = self.hub.rooms.get(fold(entry.room))
        return room.broadcast(entry.line) if room is not None else []

    # -- presence, nicks and liveness ----------------------------------------------------

    async def _load_presence(self, conn: RedisConnection) -> None:
        """Add to the view of other nodes what their hashes say (members who left
        meanwhile go by their leave entries, or with their node)."""
        remote = self.remote
        cursor = b"0"
        while True:
            cursor, keys = await conn.execute("SCAN", cursor, "MATCH", "chat:node:*",
                                              "COUNT", 1000)
            for key in keys:
                node = key.decode().removeprefix("chat:node:")
                if node == self.node:
                    continue
                members = await conn.execute("HGETALL", key)
                view = remote.setdefault(node, {})
                for folded, value in zip(members[::2], members[1::2], strict=True):
                    nick, _, room = value.decode().partition("\t")
                    view[folded.decode()] = (nick, room)
            if cursor == b"0":
                break

    async def _refresh(self, conn: RedisConnection) -> None:
        """Keep this node's keys alive (and put them back after a Redis restart
        without persistence); then say goodbye for nodes whose keys expired."""
        ttl = max(1, round(self.nick_ttl))
        local = [s for s in self.hub.nicks.values() if s.nick is not None]
        commands: list[list[Any]] = [["SET", alive_key(self.node), "1", "EX", ttl]]
        commands += [["EVAL", _REFRESH_NICK, 1, nick_key(s.nick), self.node, ttl]
                     for s in local if s.nick is not None]
        present = [field for s in local if s.room is not None and s.nick is not None
                   for field in (fold(s.nick), f"{s.nick}\t{s.room.name}")]
        if present:
            commands.append(["HSET", node_key(self.node), *present])
        commands.append(["EXPIRE", node_key(self.node), ttl])
        others = list(self.remote)
        commands += [["EXISTS", alive_key(node)] for node in others]
        replies = await conn.pipeline(commands)
        for session, kept in zip(local, replies[1:1 + len(local)], strict=True):
            if kept == 0:
                session.deliver(protocol.error(
                    f"the nick {session.nick} is also taken on another node; "
                    "choose another with /nick"))
        for node, alive in zip(others, replies[len(replies) - len(others):], strict=True):
            if alive == 0:
                # Its nick keys can outlive its alive key by up to a refresh
                # period (a nick claimed after its last refresh): free them
                # before saying they left, so a "left" nick can be taken at once.
                members = self.remote.get(node, {})
                if members:
                    await conn.pipeline([["EVAL", _RELEASE_NICK, 1, nick_key(nick), node]
                                         for nick, _ in members.values()])
                self._node_lost(node)

    def _node_lost(self, node: str) -> None:
        members = self.remote.pop(node, {})
        log.warning("node %s is gone (its keys expired): %d members left", node, len(members))
        for nick, room_name in members.values():
            room = self.hub.rooms.get(fold(room_name))
            if room is not None:
                room.broadcast(protocol.left(room.name, nick, "node lost"))

    async def _refresh_loop(self) -> None:
        while True:
            await runtime.sleep(self.nick_ttl / 3)
            try:
                assert self._writer is not None
                if self._stale_view:
                    await self._load_presence(self._writer)
                    self._stale_view = False
                await self._refresh(self._writer)
            except RedisConnectionError as exc:
                await self._relink(exc)
            except RedisReplyError as exc:
                log.warning("refreshing this node's keys: %s", exc)

    # -- the link -------------------------------------------------------------------------

    async def _relink(self, exc: Exception) -> None:
        """The link broke (``exc`` says how): tell local clients once, then open
        both connections again, backing off, and tell them it is back.

        The sender, the receiver and the refresher all call this; the first
        does the work while the others wait for it."""
        if self.link_up:
            self.link_up = False
            log.warning("cluster link down: %s", exc)
            self._tell_everyone("cluster link down")
            self.close()  # so that no loop goes on with a connection to a Redis now gone
        async with self._relinking:
            while self.link_up is False:
                try:
                    for name in ("_writer", "_reader"):
                        conn: RedisConnection | None = getattr(self, name)
                        if conn is None or conn.broken:
                            setattr(self, name, await RedisConnection.connect(self.address))
                except RedisConnectionError:
                    await runtime.sleep(self._backoff.next_delay())
                    continue
                self._backoff.reset()
                self.link_up = True
                log.warning("cluster link up")
                self._tell_everyone("cluster link up")
                self._outbox_ready.set()
                self._stale_view = True  # entries may have been lost meanwhile

    def _tell_everyone(self, text: str) -> None:
        line = protocol.notice(text)
        for session in list(self.hub.sessions):
            if session.nick is not None:
                session.deliver(line)
