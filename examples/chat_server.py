"""A line-based chat server on runtime: rooms, nicks, private messages.

    .venv/bin/python examples/chat_server.py [--host 127.0.0.1] [--port 7878] [--max-clients N]
        [--idle-timeout S] [--write-timeout S] [--max-queued BYTES] [--rate LINES]
        [--burst LINES] [--http-port 8080] [--allow-origin ORIGIN] [--ping-interval S]
        [--ping-timeout S] [--tls-cert FILE [--tls-key FILE]]
        [--cluster redis://HOST:PORT/DB [--workers N] [--nick-ttl S]]

``--help`` lists every option with its default.

Then connect with ``nc 127.0.0.1 7878`` or ``.venv/bin/python examples/chat_client.py``, or
open http://127.0.0.1:8080/ in a browser (the same rooms, over a WebSocket).
With ``--tls-cert`` (a PEM certificate chain; the key in it or in
``--tls-key``) the line port speaks TLS instead: ``.venv/bin/python
examples/chat_client.py --tls --cafile CA.pem`` or ``openssl s_client -connect
127.0.0.1:7878``; the page is served over HTTPS and its WebSocket is ``wss://``.
The first line it prints is ``chat server listening on HOST:PORT`` (``--port
0`` picks a free port). The protocol, the name rules and the limits are in
``examples/chat/protocol.py``; how a client is served in
``examples/chat/session.py``.

With ``--cluster redis://HOST:PORT/DB`` the server is one node of a cluster
joined through that Redis: rooms, nicks, ``/who`` and ``/rooms`` span every
node (``examples/chat/cluster.py``); ``--workers N`` runs N such nodes on
this host sharing the port (``examples/chat/workers.py``), one core each.

Ctrl-C (SIGINT) and SIGTERM stop it gracefully: every client gets
``! bye: server shutting down``, every socket is closed, and the process exits
with status 0.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import ssl
import sys

from chat.cluster import ClusterUnavailableError
from chat.redis import RedisAddress
from chat.server import ChatServer
from chat.session import Config
from chat.web import WebOptions
from chat.workers import supervise

import runtime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults, web = Config(), WebOptions()
    parser = argparse.ArgumentParser(description="A chat server on runtime.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7878, help="0 picks a free port")
    parser.add_argument("--http-port", type=int, default=8080,
                        help="serve the browser page and its WebSocket (/ws) here; 0 picks a "
                        "free port, -1 serves no browsers")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="also accept WebSockets from pages at ORIGIN (e.g. "
                        "https://example.org; repeatable); the page's own origin always is")
    parser.add_argument("--ping-interval", type=float, default=web.ping_interval, metavar="S",
                        help="ping a WebSocket client that has been silent for S seconds")
    parser.add_argument("--ping-timeout", type=float, default=web.ping_timeout, metavar="S",
                        help="close a WebSocket that does not answer a ping within S seconds")
    parser.add_argument("--max-clients", type=int, default=10000, metavar="N",
                        help="refuse connections past N with '! bye: server full'")
    parser.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout,
                        metavar="S", help="disconnect clients that send nothing for S seconds "
                        "(0: never)")
    parser.add_argument("--write-timeout", type=float, default=defaults.write_timeout,
                        metavar="S", help="disconnect a client when nothing could be sent "
                        "to it for S seconds")
    parser.add_argument("--max-queued", type=int, default=defaults.max_queued, metavar="BYTES",
                        help="disconnect a client that stopped reading once this much "
                        "waits for it")
    parser.add_argument("--rate", type=float, default=defaults.rate, metavar="LINES",
                        help="lines a second each client may send on average; faster "
                        "senders are slowed down, not cut off (0: no limit)")
    parser.add_argument("--burst", type=int, default=defaults.burst, metavar="LINES",
                        help="lines a client may send at once before --rate applies")
    parser.add_argument("--tls-cert", metavar="FILE",
                        help="serve TLS with this PEM certificate chain")
    parser.add_argument("--tls-key", metavar="FILE",
                        help="its private key (default: in the --tls-cert file)")
    parser.add_argument("--cluster", metavar="redis://HOST:PORT/DB",
                        help="join the other nodes using this Redis (none: a lone server)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="run N server processes sharing the port (needs --cluster)")
    parser.add_argument("--nick-ttl", type=float, default=15.0, metavar="S",
                        help="with --cluster: a dead node's nicks and members are "
                        "freed after S seconds")
    parser.add_argument("--reuse-port", action="store_true",
                        help="listen with SO_REUSEPORT, sharing the port with other "
                        "processes (what --workers does)")
    parser.add_argument("--supervised", action="store_true",
                        help="stop gracefully at the end of stdin (how --workers runs each "
                        "worker, so none outlives the supervisor)")
    args = parser.parse_args(argv)
    args.ssl_context = tls_context(parser, args.tls_cert, args.tls_key)
    args.cluster_address = None
    if args.cluster is not None:
        try:
            args.cluster_address = RedisAddress.parse(args.cluster)
        except ValueError as exc:
            parser.error(f"--cluster: {exc}")
    if args.workers < 1:
        parser.error(f"--workers must be 1 or more, got {args.workers}")
    if args.workers > 1 and args.cluster is None:
        parser.error("--workers needs --cluster: the workers share rooms through Redis")
    if not args.nick_ttl >= 1:
        parser.error(f"--nick-ttl must be 1 or more, got {args.nick_ttl}")
    for name in ("idle_timeout", "write_timeout", "max_queued", "rate", "burst",
                 "ping_interval", "ping_timeout"):
        value = getattr(args, name)
        if not value >= 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more, got {value}")
    for name in ("write_timeout", "ping_interval", "ping_timeout"):
        if getattr(args, name) == 0:
            parser.error(f"--{name.replace('_', '-')} must be more than 0")
    return args


def tls_context(parser: argparse.ArgumentParser, cert: str | None,
                key: str | None) -> ssl.SSLContext | None:
    """The server's TLS context, or None; a bad file is a usage error naming it."""
    if cert is None:
        if key is not None:
            parser.error("--tls-key needs --tls-cert")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"cannot load --tls-cert {cert}" + (f" --tls-key {key}" if key else "")
                     + f": {exc}")
    return context


def config(args: argparse.Namespace) -> Config:
    return Config(idle_timeout=args.idle_timeout or None, write_timeout=args.write_timeout,
                  max_queued=args.max_queued, rate=args.rate, burst=args.burst)


def interpreter() -> str:
    """This server's Python as a user can type it: Debian has no ``python``, a venv does."""
    relative = os.path.relpath(sys.executable)
    return sys.executable if relative.startswith("..") else relative


async def main(args: argparse.Namespace) -> None:
    web = WebOptions(allowed_origins=frozenset(args.allow_origin),
                     ping_interval=args.ping_interval, ping_timeout=args.ping_timeout)
    server = ChatServer(args.max_clients, config(args), web, ssl_context=args.ssl_context,
                        cluster=args.cluster_address, nick_ttl=args.nick_ttl)
    http_port = None if args.http_port < 0 else args.http_port
    await server.join_cluster()
    async with runtime.TaskGroup() as tg:
        port, http_port = await tg.start(functools.partial(
            server.serve, reuse_port=args.reuse_port), args.host, args.port, http_port)
        print(f"chat server listening on {args.host}:{port}", flush=True)
        if args.ssl_context is None:
            print(f"connect with: nc {args.host} {port}   or   {interpreter()} "
                  f"examples/chat_client.py --host {args.host} --port {port}", flush=True)
        else:
            print(f"TLS: connect with: {interpreter()} examples/chat_client.py --host {args.host} "
                  f"--port {port} --tls [--cafile CA.pem]   or   "
                  f"openssl s_client -connect {args.host}:{port}", flush=True)
        if http_port is not None:
            scheme = "http" if args.ssl_context is None else "https"
            print(f"in a browser: {scheme}://{args.host}:{http_port}/", flush=True)
        if args.supervised:
            tg.spawn(stop_at_end_of_stdin(tg.cancel_scope), name="supervisor watch")


async def stop_at_end_of_stdin(scope: runtime.CancelScope) -> None:
    """The graceful shutdown once stdin ends: our supervisor has gone."""
    async with runtime.PipeStream(os.dup(0), "stdin (the supervisor's pipe)") as stdin:
        while await stdin.read():
            pass
    scope.cancel()


if __name__ == "__main__":
    # SIGTERM takes the Ctrl-C path: runtime.run cancels main, every session
    # says goodbye in its finally block, and run() raises KeyboardInterrupt.
    # A shell starts background jobs with SIGINT ignored; take it back, or
    # runtime.run would leave it alone and neither signal would stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    arguments = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if arguments.workers > 1:
        sys.exit(runtime.run(supervise(__file__, sys.argv[1:], arguments.workers,
                                       arguments.host, arguments.port, arguments.http_port)))
    try:
        runtime.run(main(arguments))
    except KeyboardInterrupt:
        print("chat server stopped", flush=True)
    except ClusterUnavailableError as exc:
        sys.exit(f"chat server: {exc}")
