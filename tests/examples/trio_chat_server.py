"""A minimal chat server on trio, speaking the same protocol as examples/chat_server.py.

Only what the side-by-side scenario uses: a nick as the first line, plain
lines, ``/join``, ``/me``, ``/msg``, ``/who``, ``/quit``, and leaving on EOF.
Written independently of ``examples/chat`` (only the wording of the lines is
shared), so that the same transcript from both servers means both behave the
same, not that they share a bug.

    python tests/examples/trio_chat_server.py --port 0
"""

from __future__ import annotations

import argparse
import functools
import re
import signal

import trio

NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
QUEUE = 1024


class Client:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.nick: str | None = None
        self.room: str | None = None
        self.send, self.receive = trio.open_memory_channel[bytes](QUEUE)
        self.cancel = trio.CancelScope()

    def put(self, text: str) -> None:
        try:
            self.send.send_nowait((text + "\n").encode())
        except trio.WouldBlock:
            self.cancel.cancel()  # too slow
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


class Server:
    def __init__(self) -> None:
        self.nicks: dict[str, Client] = {}
        self.rooms: dict[str, dict[Client, None]] = {"lobby": {}}

    def tell(self, room: str, text: str) -> None:
        for member in list(self.rooms.get(room, ())):
            member.put(f"[{room}] {text}")

    def join(self, client: Client, room: str) -> None:
        if client.room is not None:
            self.leave(client, f"moved to {room}")
        self.rooms.setdefault(room, {})[client] = None
        client.room = room
        self.tell(room, f"* {client.nick} joined")

    def leave(self, client: Client, reason: str) -> None:
        room, client.room = client.room, None
        if room is None:
            return
        del self.rooms[room][client]
        if not self.rooms[room] and room != "lobby":
            del self.rooms[room]
        self.tell(room, f"* {client.nick} left ({reason})")

    def line(self, client: Client, line: str) -> bool:
        """Handle one line; False to hang up."""
        if client.nick is None:
            nick = line.removeprefix("/nick ").strip()
            if not NAME.fullmatch(nick) or nick.lower() in self.nicks:
                client.put("! no")
                return True
            client.nick = nick
            self.nicks[nick.lower()] = client
            client.put(f"* you are {nick}; /help lists the commands")
            self.join(client, "lobby")
            return True
        command, _, arg = line.partition(" ")
        assert client.room is not None
        if command == "/quit":
            return False
        if command == "/join":
            self.join(client, arg.strip())
        elif command == "/me":
            self.tell(client.room, f"* {client.nick} {arg.strip()}")
        elif command == "/who":
            nicks = sorted((m.nick or "" for m in self.rooms[client.room]), key=str.lower)
            client.put(f"* in {client.room}: {', '.join(nicks)}")
        elif command == "/msg":
            target_nick, _, text = arg.partition(" ")
            target = self.nicks.get(target_nick.lower())
            if target is None:
                client.put(f"! no such nick: {target_nick}")
            else:
                target.put(f"[pm] <{client.nick}> {text.strip()}")
                client.put(f"[pm to {target.nick}] {text.strip()}")
        elif line:
            self.tell(client.room, f"<{client.nick}> {line}")
        return True

    async def handle(self, stream: trio.SocketStream) -> None:
        client = Client(stream)
        reason = "connection closed"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.write, client)
            client.put("* welcome to runtime chat; what is your nick? (1-32 of A-Z a-z 0-9 _ -)")
            with client.cancel:
                buf = b""
                while True:
                    data = await stream.receive_some(65536)
                    if not data:
                        break
                    buf += data
                    *lines, buf = buf.split(b"\n")
                    if not all(self.line(client, raw.decode(errors="replace").rstrip("\r"))
                               for raw in lines):
                        reason = "quit"
                        break
            if client.cancel.cancelled_caught:
                reason = "too slow: outbound queue full"
            self.leave(client, reason)
            if client.nick is not None:
                del self.nicks[client.nick.lower()]
            client.put(f"! bye: {reason}")
            client.send.close()

    async def write(self, client: Client) -> None:
        async with client.receive:
            async for data in client.receive:
                await client.stream.send_all(data)


async def main(port: int) -> None:
    server = Server()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, server.handle, port, host="127.0.0.1"))
        bound = listeners[0].socket.getsockname()[1]
        print(f"chat server listening on 127.0.0.1:{bound}", flush=True)
        print(f"connect with: nc 127.0.0.1 {bound}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=7878)
    trio.run(main, parser.parse_args().port)
    print("chat server stopped", flush=True)
