"""A minimal chat server on trio: the fan-out peer of examples/chat_server.py.

The same structure as the runtime server: a reader (the connection's
handler) and a writer task per client draining a bounded memory channel
(1024 lines, ``send_nowait``; a full channel disconnects the client), rooms
fanning out each line to every member. Only what ``benchmarks/chat.py``
uses: a nick as the first line, ``/join ROOM``, ``/me ACTION``, and plain
lines said as ``[room] <nick> text``.

    python benchmarks/peers/chat_trio.py --port 0
"""

from __future__ import annotations

import argparse
import functools
import signal

import trio

QUEUE = 1024
MAX_BATCH = 512


class Client:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.nick = ""
        self.room: str | None = None
        self.send, self.receive = trio.open_memory_channel[bytes](QUEUE)
        self.scope = trio.CancelScope()

    def put(self, line: bytes) -> None:
        try:
            self.send.send_nowait(line)
        except trio.WouldBlock:
            self.scope.cancel()  # too slow
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


class Server:
    def __init__(self) -> None:
        self.rooms: dict[str, dict[Client, None]] = {}

    def tell(self, room: str, text: str) -> None:
        line = f"[{room}] {text}\n".encode()
        for member in self.rooms.get(room, ()):
            member.put(line)

    def leave(self, client: Client) -> None:
        if client.room is not None:
            del self.rooms[client.room][client]
            self.tell(client.room, f"* {client.nick} left")
            client.room = None

    def join(self, client: Client, room: str) -> None:
        self.leave(client)
        self.rooms.setdefault(room, {})[client] = None
        client.room = room
        self.tell(room, f"* {client.nick} joined")

    async def write(self, client: Client) -> None:
        receive, stream = client.receive, client.stream
        async for line in receive:
            batch = [line]
            try:
                while len(batch) < MAX_BATCH:
                    batch.append(receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                pass
            await stream.send_all(b"".join(batch))

    async def handle(self, stream: trio.SocketStream) -> None:
        client = Client(stream)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.write, client)
            with client.scope:
                try:
                    await self.read(client)
                except (trio.BrokenResourceError, OSError):
                    pass
            self.leave(client)
            nursery.cancel_scope.cancel()

    async def read(self, client: Client) -> None:
        buf = b""
        while True:
            data = await client.stream.receive_some(65536)
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").rstrip("\r")
                if not client.nick:
                    client.nick = line
                    self.join(client, "lobby")
                elif line.startswith("/join "):
                    self.join(client, line[6:])
                elif line.startswith("/me ") and client.room:
                    self.tell(client.room, f"* {client.nick} {line[4:]}")
                elif line and client.room:
                    self.tell(client.room, f"<{client.nick}> {line}")


async def main(port: int) -> None:
    server = Server()
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, server.handle, port, host="127.0.0.1", backlog=1024))
        bound = listeners[0].socket.getsockname()[1]
        print(f"chat server listening on 127.0.0.1:{bound}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=7878)
    trio.run(main, parser.parse_args().port)
