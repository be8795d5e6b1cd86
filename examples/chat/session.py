"""One connected client: a reader task, a writer task, and a bounded queue between.

::

    socket ──read_line──▶ reader (this task: commands, fan-out)
                              │ try_send into every member's queue
    socket ◀──write_all── writer ◀── outbound channel (bounded, `queue` lines)

The **reader** is the connection's handler task. It parses each line and
acts on it; saying something in a room puts the line into the outbound
queue of every member (`Room.broadcast` → `deliver`), never waiting. It
yields to the scheduler every `LINES_PER_TURN` lines, so one fast sender
cannot fill everybody's queue before their writers get to run: between two
turns of a writer, each sender in the room adds at most `LINES_PER_TURN`
lines, so a client that reads promptly is never "too slow" unless more
than ``queue / LINES_PER_TURN`` (32 by default) members are pasting
floods at once. Smaller turns mean smaller writes (a syscall per writer
per turn): 8 lines a turn cut fan-out throughput to a third in
``benchmarks/chat.py``.

The **writer** drains the queue: it takes every line waiting and sends them
in one ``write_all``. When the socket's kernel buffer is full (the client
reads slowly), ``write_all`` waits; the queue fills; the next ``try_send``
finds it full and the client is disconnected ("too slow") instead of
stalling the room or growing memory without bound.

Ending a session, for whatever reason (``/quit``, EOF, reset, idle, too
slow, server shutdown): the reason is recorded, the reader's cancel scope
is cancelled (if it was not the reader itself that ended), the session
leaves its room (announced, except at shutdown), and a final ``! bye:
reason`` goes into the queue. The writer runs in a shielded scope, so it
drains the queue (whole lines) and the bye line even while the server is
being cancelled; that goodbye gets `LINGER` seconds (`SHUTDOWN_LINGER` at
shutdown, and no more than that once a shutdown begins, even for a client
that was already lingering), then the writer is cancelled and the socket
closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import runtime
from runtime.io import Stream

from . import protocol
from .rooms import Hub, Room

#: The reader lets other tasks run after this many lines in a row.
LINES_PER_TURN = 32
#: The most lines the writer joins into one write.
MAX_BATCH = 512
#: Seconds a departing client gets to receive its queue and the bye line.
LINGER = 5.0
SHUTDOWN_LINGER = 1.0


@dataclass(frozen=True)
class Config:
    idle_timeout: float | None = None  # seconds without a line from the client
    queue: int = 1024  # outbound lines buffered per client


class Session:
    __slots__ = ("_read_scope", "_rx", "_tx", "_write_scope", "config", "hub", "nick",
                 "reason", "room", "stream")

    def __init__(self, hub: Hub, stream: Stream, config: Config) -> None:
        self.hub = hub
        self.stream = stream
        self.config = config
        self.nick: str | None = None
        self.room: Room | None = None
        self.reason: str | None = None  # why the session ends, once it does
        self._tx, self._rx = runtime.channel(config.queue)
        self._read_scope = runtime.CancelScope()
        self._write_scope = runtime.CancelScope(shield=True)

    def __repr__(self) -> str:
        return f"<Session {self.nick or '(no nick)'} {self.stream.peer_address}>"

    # -- called by other sessions -------------------------------------------------

    def deliver(self, line: bytes) -> None:
        """Queue ``line`` for this client without waiting; a full queue ends it."""
        if self.reason is not None:
            return
        try:
            self._tx.try_send(line)
        except runtime.WouldBlock:
            self.end(protocol.TOO_SLOW)
        except (runtime.BrokenResourceError, runtime.ClosedResourceError):
            pass  # the writer is gone; our reader is ending too

    def end(self, reason: str) -> None:
        """Disconnect this client with ``reason`` (the first reason given wins)."""
        if self.reason is None:
            self.reason = reason
        self._read_scope.cancel()

    # -- the connection's task ------------------------------------------------------

    async def run(self) -> None:
        hub = self.hub
        hub.sessions.add(self)
        async with runtime.TaskGroup() as tg:
            writer = tg.spawn(self._write_loop(), name="chat writer")
            stopping = False
            try:
                with self._read_scope:
                    await self._read_loop()
                if self.reason is None:  # our own scope's deadline: idle
                    self.reason = protocol.idle(self.config.idle_timeout or 0)
            except runtime.Cancelled:
                # Our scope catches its own cancellation, so this one comes from
                # outside: the server is shutting down. Nobody is told who left.
                stopping = True
                self.reason = protocol.SHUTTING_DOWN
                raise
            finally:
                reason = self.reason or protocol.CONNECTION_LOST
                hub.remove(self, None if stopping else reason)
                try:
                    # Not shielded: a shutdown that comes while a departing
                    # client lingers must not wait out its LINGER seconds.
                    with runtime.move_on_after(LINGER):
                        await self._say_goodbye(writer, reason)
                except runtime.Cancelled:
                    # The server is stopping (now, or it already was).
                    with runtime.move_on_after(SHUTDOWN_LINGER, shield=True):
                        await self._say_goodbye(writer, reason)
                    raise
                finally:
                    self._write_scope.cancel()

    async def _say_goodbye(self, writer: runtime.JoinHandle[None], reason: str) -> None:
        # Called again if a shutdown cut the first call short: a cancelled
        # send queued nothing, and a second send on the closed sender is
        # refused (ClosedResourceError), so the bye line goes out once.
        try:
            await self._tx.send(protocol.bye(reason))
        except (runtime.BrokenResourceError, runtime.ClosedResourceError):
            pass  # the writer already stopped (the connection broke), or we closed
        self._tx.close()
        await writer  # it writes what is queued, then sees the end of the channel

    async def _read_loop(self) -> None:
        stream = self.stream
        scope = self._read_scope
        idle = self.config.idle_timeout
        self.deliver(protocol.WELCOME)
        lines = 0
        while True:
            if idle is not None:
                scope.deadline = runtime.current_time() + idle
            try:
                # One byte over: a CR before the newline is not counted (too_long).
                raw = await stream.read_line(protocol.MAX_LINE + 1)
            except runtime.LineTooLong:
                self.deliver(protocol.LINE_TOO_LONG)
                continue
            except (OSError, runtime.ClosedResourceError):
                self.reason = protocol.CONNECTION_LOST
                return
            if not raw.endswith(b"\n"):
                # EOF. An unterminated last line (the client died mid-line) is dropped.
                self.reason = protocol.CONNECTION_CLOSED
                return
            if protocol.too_long(raw):
                self.deliver(protocol.LINE_TOO_LONG)
                continue
            self.handle(protocol.decode(raw))
            if self.reason is not None:
                return
            lines += 1
            if lines % LINES_PER_TURN == 0:
                await runtime.checkpoint()

    async def _write_loop(self) -> None:
        rx = self._rx
        stream = self.stream
        try:
            with self._write_scope:
                while True:
                    try:
                        batch = await rx.recv_many(MAX_BATCH)
                    except runtime.EndOfChannel:
                        return
                    await stream.write_all(b"".join(batch) if len(batch) > 1 else batch[0])
        except (OSError, runtime.ClosedResourceError):
            self.end(protocol.CONNECTION_LOST)
        finally:
            rx.close()

    # -- commands -----------------------------------------------------------------------

    def handle(self, line: str) -> None:
        """Act on one line from the client (synchronously: nothing here waits)."""
        command, arg = protocol.parse(line)
        if self.nick is None:
            self._handle_unnamed(command, arg)
            return
        if not command:
            if arg and self.room is not None:
                self.room.broadcast(protocol.said(self.room.name, self.nick, arg))
            return
        handler = _COMMANDS.get(command)
        if handler is None:
            self.deliver(protocol.error(f"unknown command /{command}; try /help"))
        else:
            handler(self, arg)

    def _handle_unnamed(self, command: str, arg: str) -> None:
        if command in ("help", "quit"):
            _COMMANDS[command](self, arg)
        elif command and command != "nick":
            self.deliver(protocol.error("choose a nick first (just type it, or /nick NAME)"))
        else:
            err = self.hub.set_nick(self, arg)
            if err is not None:
                self.deliver(err)
                return
            self.deliver(protocol.notice(f"you are {self.nick}; /help lists the commands"))
            self.hub.join(self, protocol.DEFAULT_ROOM)

    def _nick(self, arg: str) -> None:
        err = self.hub.set_nick(self, arg)
        if err is not None:
            self.deliver(err)
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
        nicks = ", ".join(sorted((m.nick or "?" for m in room.members), key=str.lower))
        self.deliver(protocol.notice(f"in {room.name}: {nicks}"))

    def _msg(self, arg: str) -> None:
        target_nick, _, text = arg.partition(" ")
        text = text.strip()
        if not target_nick or not text:
            self.deliver(protocol.error("usage: /msg NICK TEXT"))
            return
        target = self.hub.find(target_nick)
        if target is None:
            self.deliver(protocol.error(f"no such nick: {target_nick}"))
            return
        assert self.nick is not None and target.nick is not None
        target.deliver(protocol.private(self.nick, text))
        self.deliver(protocol.private_sent(target.nick, text))

    def _me(self, arg: str) -> None:
        if not arg:
            self.deliver(protocol.error("usage: /me ACTION"))
        elif self.room is not None:
            assert self.nick is not None
            self.room.broadcast(protocol.action(self.room.name, self.nick, arg))

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
