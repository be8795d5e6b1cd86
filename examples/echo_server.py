"""An echo server on runtime's streams API: one task per connection.

    python examples/echo_server.py [PORT]      (default 7879; 0 picks a free port)

Prints the port it listens on, echoes every byte back, and exits with status
0 on SIGINT or SIGTERM after closing every connection.
"""

from __future__ import annotations

import signal
import sys

import runtime
from runtime.io import TcpStream, serve_tcp


async def echo(stream: TcpStream) -> None:
    while data := await stream.read(65536):
        await stream.write_all(data)


async def main(port: int) -> None:
    async with runtime.TaskGroup() as tg:
        bound = await tg.start(serve_tcp, echo, "127.0.0.1", port)
        print(f"echo server listening on 127.0.0.1:{bound}", flush=True)


if __name__ == "__main__":
    # SIGTERM is treated like Ctrl-C: runtime.run cancels main and every
    # connection's task, their finally blocks run, and run() raises
    # KeyboardInterrupt. A shell starts background jobs with SIGINT ignored,
    # and runtime.run leaves a handler it did not expect alone: restore the
    # default first, or neither signal would stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    try:
        runtime.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7879))
    except KeyboardInterrupt:
        print("echo server stopped", flush=True)
