"""asyncio Protocol echo: data_received writes straight back (no coroutine per read).

    python asyncio_protocol.py PORT       (binds 127.0.0.1; SIGTERM exits)
"""

import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def run(port: int) -> None:
    asyncio.run(main(port))


if __name__ == "__main__":
    run(int(sys.argv[1]))
