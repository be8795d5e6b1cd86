"""One connected client: a reader task, a writer task, and an `Outbox` between.

::

    link ──read_line──▶ reader (this task: rate limit, commands, fan-out)
                              │ put into every member's outbox, then wait
                              │ for the members that fell behind
    link ◀──write_all── writer ◀── outbox (bytes, bounded by backpressure)

The **reader** is the connection's handler task. Each line costs a token
from the client's `TokenBucket` (waiting for one when it sends faster than
``--rate``), is parsed and acted on; saying something in a room puts the
line into every member's outbox (`Room.broadcast` → `Outbox.put`). Then the
reader waits for the members that are behind (`Outbox.caught_up`): that
wait is the backpressure that keeps floods fair (see ``outbox.py``).

The **writer** (`Outbox.drain`) takes every line waiting and sends them in
one write. The server's watchdog (`check_timeouts`, about once a second)
ends a session whose write has made no progress for ``--write-timeout``
seconds ("too slow") or whose client has sent nothing for
``--idle-timeout`` seconds: two timestamps per session instead of a timer
re-armed for every line and every write.

A session ends, for whatever reason (``/quit``, EOF, reset, idle, too
slow, server shutdown), in one place, `_leave`: it leaves its room
(announced, except at shutdown), queues ``! bye: reason`` after what is
already queued, and gives the writer `LINGER` seconds (`SHUTDOWN_LINGER`
once a shutdown begins, `hurry`) in a shielded scope to send it all; then
the writer is cancelled and the link closed by the server.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import runtime

from . import protocol
from .bucket import TokenBucket
from .outbox import HIGH_WATER, Link, Outbox
from .rooms import Hub, Room

#: The reader lets other tasks run after this many lines in a row.
LINES_PER_TURN = 32
#: Seconds a departing client gets to receive its queue and the bye line.
LINGER = 5.0
SHUTDOWN_LINGER = 1.0


#: What a command handler returns: None, or a coroutine the reader awaits.
Pending = Coroutine[Any, Any, None] | None


@dataclass(frozen=True)
class Config:
    idle_timeout: float | None = 600.0  # seconds without a line from the client
    write_timeout: float = 30.0  # seconds a write may make no progress
    max_queued: int = 1 << 20  # bytes unsent to a stalled client before it is cut
    rate: float = 20.0  # lines a second per client (0: no limit)...
    burst: int = 200  # ...after a burst of this many


class Session:
    __slots__ = ("_behind", "_bucket", "_linger", "_read_scope", "_write_scope", "config",
                 "hub", "last_heard", "link", "nick", "outbox", "reason", "room")

    def __init__(self, hub: Hub, link: Link, config: Config) -> None:
        self.hub = hub
        self.link = link
        self.config = config
        self.nick: str | None = None
        self.room: Room | None = None
        self.reason: str | None = None  # why the session ends, once it does
        self.last_heard = runtime.current_time()  # when the client's last line arrived
        self.outbox = Outbox(config.max_queued, self.end)
        self._bucket = TokenBucket(config.rate, config.burst)
        self._behind: list[Session] = []  # members the last line left behind
        self._read_scope = runtime.CancelScope()
        self._write_scope = runtime.CancelScope(shield=True)
        self._linger: runtime.CancelScope | None = None

    def __repr__(self) -> str:
        return f"<Session {self.nick or '(no nick)'} {self.link.peer_address}>"

    # -- called by other sessions and the server ----------------------------------------

    def deliver(self, line: bytes) -> bool:
        """Queue ``line`` for this client; True if the sender should wait for it."""
        return self.outbox.put(line)

    def end(self, reason: str) -> None:
        """Disconnect this client with ``reason`` (the first reason given wins)."""
        if self.reason is None:
            self.reason = reason
        self._read_scope.cancel()

    def check_timeouts(self, now: float) -> None:
        """The server's watchdog: end an idle client, and one whose write makes no progress."""
        config = self.config
        if config.idle_timeout and now - self.last_heard > config.idle_timeout:
            self.end(protocol.idle(config.idle_timeout))
        if self.outbox.overdue(now, config.write_timeout):
            self.end(protocol.no_progress(config.write_timeout))
            self._write_scope.cancel()

    def hurry(self, deadline: float) -> None:
        """A shutdown began: a goodbye in progress gets until ``deadline`` at most."""
        if self._linger is not None:
            self._linger.deadline = min(self._linger.deadline, deadline)

    # -- the connection's task ------------------------------------------------------

    async def run(self) -> None:
        self.hub.sessions.add(self)
        async with runtime.TaskGroup() as tg:
            writer = tg.spawn(self._write(), name="chat writer")
            try:
                with self._read_scope:
                    await self._read_loop()
            except runtime.Cancelled:
                self.reason = protocol.SHUTTING_DOWN  # only a shutdown cancels us from outside
                raise
            finally:
                await self._leave(writer)

    async def _leave(self, writer: runtime.JoinHandle[None]) -> None:
        reason = self.reason or protocol.CONNECTION_LOST
        shutdown = reason == protocol.SHUTTING_DOWN
        self.hub.remove(self, None if shutdown else reason)
        linger = SHUTDOWN_LINGER if shutdown or self.hub.stopping else LINGER
        with runtime.CancelScope(runtime.current_time() + linger, shield=True) as self._linger:
            self.outbox.close(protocol.bye(reason))
            await writer  # it writes what is queued, then sees the end of the outbox
        self._write_scope.cancel()
        self.hub.sessions.discard(self)

    async def _read_loop(self) -> None:
        link = self.link
        bucket = self._bucket
        outbox = self.outbox
        self.deliver(protocol.WELCOME)
        lines = 0
        while True:
            try:
                # One byte over: a CR before the newline is not counted (too_long).
                raw = await link.read_line(protocol.MAX_LINE + 1)
            except runtime.LineTooLong:
                self.deliver(protocol.LINE_TOO_LONG)
                continue
            except (OSError, runtime.ClosedResourceError, runtime.BrokenResourceError):
                self.reason = protocol.CONNECTION_LOST
                return
            if not raw.endswith(b"\n"):
                # EOF. An unterminated last line (the client died mid-line) is dropped.
                self.reason = protocol.CONNECTION_CLOSED
                return
            self.last_heard = now = runtime.current_time()
            wait = bucket.delay(now)
            if wait:
                await runtime.sleep(wait)
            if protocol.too_long(raw):
                self.deliver(protocol.LINE_TOO_LONG)
            else:
                pending = self.handle(protocol.decode(raw))
                if pending is not None:  # a nick claimed across the cluster
                    await pending
            if self.reason is not None:
                return
            if outbox.queued > HIGH_WATER:  # replies to us pile up: we wait for them too
                self._behind.append(self)
            if self._behind:
                await self._wait_for_fan_out()
            lines += 1
            if lines % LINES_PER_TURN == 0:
                await runtime.checkpoint()

    async def _wait_for_fan_out(self) -> None:
        behind, self._behind = self._behind, []
        for member in behind:
            await member.outbox.caught_up()

    async def _write(self) -> None:
        try:
            with self._write_scope:
                await self.outbox.drain(self.link)
        except (OSError, runtime.ClosedResourceError, runtime.BrokenResourceError):
            self.end(protocol.CONNECTION_LOST)

    # -- commands -----------------------------------------------------------------------

    def handle(self, line: str) -> Pending:
        """Act on one line from the client. Nothing here waits, except a nick
        claimed across a cluster: that comes back as a coroutine to await."""
        command, arg = protocol.parse(line)
        if self.nick is None:
            return self._handle_unnamed(command, arg)
        if not command:
            if arg and self.room is not None:
                self._behind = self.hub.say(self.room, self.nick,
                                            protocol.said(self.room.name, self.nick, arg))
            return None
        handler = _COMMANDS.get(command)
        if handler is None:
            self.deliver(protocol.error(f"unknown command /{command}; try /help"))
            return None
        return handler(self, arg)

    def _handle_unnamed(self, command: str, arg: str) -> Pending:
        if command in ("help", "quit"):
            return _COMMANDS[command](self, arg)
        if command and command != "nick":
            self.deliver(protocol.error("choose a nick first (just type it, or /nick NAME)"))
            return None
        if self.hub.cluster is not None:
            return self._claim_nick(arg)
        self._take_nick(arg)
        return None

    def _nick(self, arg: str) -> Pending:
        if self.hub.cluster is not None:
            return self._claim_nick(arg)
        self._take_nick(arg)
        return None

    async def _claim_nick(self, nick: str) -> None:
        assert self.hub.cluster is not None
        if protocol.valid_name(nick) and not await self.hub.cluster.claim_nick(nick):
            self.deliver(protocol.error(f"nick {nick} is taken; choose another"))
        else:
            self._take_nick(nick)

    def _take_nick(self, nick: str) -> None:
        first = self.nick is None
        err = self.hub.set_nick(self, nick)
        if err is not None:
            self.deliver(err)
        elif first:
            self.deliver(protocol.notice(f"you are {self.nick}; /help lists the commands"))
            self.hub.join(self, protocol.DEFAULT_ROOM)
        elif self.room is None:
            self.deliver(protocol.notice(f"you are {self.nick}"))

    def _join(self, arg: str) -> None:
        name = arg.removeprefix("#")
        if not protocol.valid_name(name):
            self.deliver(protocol.encode(protocol.name_error("room name", name)))
        elif self.room is not None and self.room.name.lower() == name.lower():
            self.deliver(protocol.error(f"you are already in {self.room.name}"))
        else:
            self.hub.join(self, name)

    def _rooms(self, arg: str) -> None:
        self.deliver(self.hub.room_list())

    def _who(self, arg: str) -> None:
        room = self.room
        if room is None:
            self.deliver(protocol.error("you are not in a room; /join one"))
            return
        self.deliver(protocol.notice(f"in {room.name}: {', '.join(self.hub.who(room))}"))

    def _msg(self, arg: str) -> None:
        target_nick, _, text = arg.partition(" ")
        text = text.strip()
        if not target_nick or not text:
            self.deliver(protocol.error("usage: /msg NICK TEXT"))
            return
        assert self.nick is not None
        target = self.hub.find(target_nick)
        cluster = self.hub.cluster
        if target is None and cluster is not None:
            elsewhere = cluster.remote_nick(target_nick)
            if elsewhere is not None:
                cluster.publish("pm", "", self.nick, protocol.private(self.nick, text),
                                to=elsewhere)
                self.deliver(protocol.private_sent(elsewhere, text))
                return
        if target is None:
            self.deliver(protocol.error(f"no such nick: {target_nick}"))
            return
        assert target.nick is not None
        if target.deliver(protocol.private(self.nick, text)):
            self._behind.append(target)
        self.deliver(protocol.private_sent(target.nick, text))

    def _me(self, arg: str) -> None:
        if not arg:
            self.deliver(protocol.error("usage: /me ACTION"))
        elif self.room is not None:
            assert self.nick is not None
            self._behind = self.hub.say(self.room, self.nick,
                                        protocol.action(self.room.name, self.nick, arg))

    def _help(self, arg: str) -> None:
        self.deliver(b"".join(protocol.notice(text) for text in protocol.HELP))

    def _quit(self, arg: str) -> None:
        self.reason = protocol.QUIT


_COMMANDS = {
    "nick": Session._nick,
    "join": Session._join,
    "rooms": Session._rooms,
    "who": Session._who,
    "msg": Session._msg,
    "me": Session._me,
    "help": Session._help,
    "quit": Session._quit,
}
