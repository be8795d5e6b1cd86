"""A minimal chat server on asyncio streams: the fan-out peer of examples/chat_server.py.

The same structure as the runtime server: a reader (the connection's
handler, ``readline``) and a writer task per client draining a bounded
``asyncio.Queue`` (1024 lines, ``put_nowait``; a full queue disconnects the
client), rooms fanning out each line to every member. Only what
``benchmarks/chat.py`` uses: a nick as the first line, ``/join ROOM``,
``/me ACTION``, and plain lines said as ``[room] <nick> text``.

    python benchmarks/peers/chat_asyncio.py --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

QUEUE = 1024
MAX_BATCH = 512


class Client:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.nick = ""
        self.room: str | None = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE)
        self.gone = False

    def put(self, line: bytes) -> None:
        if self.gone:
            return
        try:
            self.queue.put_nowait(line)
        except asyncio.QueueFull:
            self.gone = True  # too slow
            self.writer.transport.abort()


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
        queue, writer = client.queue, client.writer
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < MAX_BATCH:
                batch.append(queue.get_nowait())
            writer.write(b"".join(batch))
            await writer.drain()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Client(writer)
        write_task = asyncio.create_task(self.write(client))
        try:
            while not client.gone:
                raw = await reader.readline()
                if not raw.endswith(b"\n"):
                    break
                line = raw.decode(errors="replace").rstrip("\r\n")
                if not client.nick:
                    client.nick = line
                    self.join(client, "lobby")
                elif line.startswith("/join "):
                    self.join(client, line[6:])
                elif line.startswith("/me ") and client.room:
                    self.tell(client.room, f"* {client.nick} {line[4:]}")
                elif line and client.room:
                    self.tell(client.room, f"<{client.nick}> {line}")
        except (OSError, ValueError):
            pass
        finally:
            self.leave(client)
            write_task.cancel()
            with contextlib.suppress(BaseException):
                await write_task
            writer.close()


async def main(port: int) -> None:
    server = Server()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    bound = listener.sockets[0].getsockname()[1]
    print(f"chat server listening on 127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with listener:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=7878)
    asyncio.run(main(parser.parse_args().port))
