"""asyncio streams echo: StreamReader.read(65536), then write + drain.

    python asyncio_streams.py PORT        (binds 127.0.0.1; SIGTERM exits)
"""

import asyncio
import sys


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def run(port: int) -> None:
    asyncio.run(main(port))


if __name__ == "__main__":
    run(int(sys.argv[1]))
