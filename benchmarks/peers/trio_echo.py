"""trio echo: serve_tcp, receive_some(65536), then send_all.

    python trio_echo.py PORT              (binds 127.0.0.1; SIGTERM exits)
"""

import sys

import trio


async def echo(stream: trio.SocketStream) -> None:
    try:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)
    except trio.BrokenResourceError:
        pass


async def main(port: int) -> None:
    await trio.serve_tcp(echo, port, host="127.0.0.1", backlog=1024)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
