"""A line-based chat server on runtime: rooms, nicks, private messages.

    python examples/chat_server.py [--host 127.0.0.1] [--port 7878]
                                   [--max-clients N] [--idle-timeout S] [--queue N]

Then connect with ``nc 127.0.0.1 7878`` or ``python examples/chat_client.py``.
The first line it prints is ``chat server listening on HOST:PORT`` (``--port
0`` picks a free port). The protocol, the name rules and the limits are in
``examples/chat/protocol.py``; how a client is served in
``examples/chat/session.py``.

Ctrl-C (SIGINT) and SIGTERM stop it gracefully: every client gets
``! bye: server shutting down``, every socket is closed, and the process exits
with status 0.
"""

from __future__ import annotations

import argparse
import signal

from chat.server import ChatServer

import runtime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A chat server on runtime.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7878, help="0 picks a free port")
    parser.add_argument("--max-clients", type=int, default=10000, metavar="N",
                        help="refuse connections past N with '! bye: server full'")
    parser.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                        help="disconnect clients that send nothing for S seconds")
    parser.add_argument("--queue", type=int, default=1024, metavar="N",
                        help="outbound lines buffered per client before it counts as too slow "
                        "(at least 1; below 32 a client pasting lines can be cut off by "
                        "its own echoes)")
    args = parser.parse_args(argv)
    if args.queue < 1:
        parser.error(f"--queue must be at least 1, got {args.queue}")
    return args


async def main(args: argparse.Namespace) -> None:
    server = ChatServer(args.max_clients, args.idle_timeout, args.queue)
    async with runtime.TaskGroup() as tg:
        port = await tg.start(server.serve, args.host, args.port)
        print(f"chat server listening on {args.host}:{port}", flush=True)
        print(f"connect with: nc {args.host} {port}   or   "
              f"python examples/chat_client.py --host {args.host} --port {port}", flush=True)


if __name__ == "__main__":
    # SIGTERM takes the Ctrl-C path: runtime.run cancels main, every session
    # says goodbye in its finally block, and run() raises KeyboardInterrupt.
    # A shell starts background jobs with SIGINT ignored; take it back, or
    # runtime.run would leave it alone and neither signal would stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    arguments = parse_args()
    try:
        runtime.run(main(arguments))
    except KeyboardInterrupt:
        print("chat server stopped", flush=True)
