"""A TLS echo server on one of four stacks, for benchmarks/tls_echo.py.

    python benchmarks/peers/tls_echo_server.py IMPL PORT CERT_PEM

IMPL: ``runtime`` (`serve_tcp(ssl_context=...)`, `TlsStream.read` +
``write_all``), ``asyncio`` / ``uvloop`` (``asyncio.start_server(ssl=...)``,
``StreamReader.read`` + ``write``/``drain``), ``trio``
(``trio.serve_ssl_over_tcp``, ``receive_some`` + ``send_all``). Each echoes
what it reads until the client's EOF, on 127.0.0.1:PORT, with the key and
chain in CERT_PEM; TLS 1.3 (every stack's default here). SIGTERM stops it.
"""

from __future__ import annotations

import signal
import ssl
import sys


def context(cert: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert)
    return ctx


def serve_runtime(port: int, ctx: ssl.SSLContext) -> None:
    import functools

    import runtime
    from runtime.io import TlsStream, serve_tcp

    async def echo(tls: TlsStream) -> None:
        while data := await tls.read():
            await tls.write_all(data)

    runtime.run(functools.partial(serve_tcp, ssl_context=ctx)(echo, "127.0.0.1", port))


def serve_asyncio(port: int, ctx: ssl.SSLContext, use_uvloop: bool) -> None:
    import asyncio

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", port, ssl=ctx, backlog=1024)
        async with server:
            await server.serve_forever()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def serve_trio(port: int, ctx: ssl.SSLContext) -> None:
    import trio

    async def echo(stream: trio.SSLStream[trio.SocketStream]) -> None:
        try:
            while data := await stream.receive_some(65536):
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    async def main() -> None:
        await trio.serve_ssl_over_tcp(echo, port, ctx, host="127.0.0.1", backlog=1024)

    trio.run(main)


def main() -> None:
    impl, port, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # SIGTERM takes Ctrl-C's path: every stack stops cleanly on KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    ctx = context(cert)
    try:
        if impl == "runtime":
            serve_runtime(port, ctx)
        elif impl in ("asyncio", "uvloop"):
            serve_asyncio(port, ctx, impl == "uvloop")
        elif impl == "trio":
            serve_trio(port, ctx)
        else:
            sys.exit(f"unknown IMPL {impl!r}: runtime, asyncio, uvloop or trio")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
