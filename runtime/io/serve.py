"""`serve_tcp`: accept connections forever, one handler task each."""

from __future__ import annotations

import errno
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..errors import BrokenResourceError
from ..executor import TaskGroup, TaskStatus, move_on_after
from ..time import sleep
from .tcp import TcpListener, TcpStream
from .tls import TlsStream

logger = logging.getLogger("runtime.io")

#: accept(2): "Linux accept() passes already-pending network errors on the
#: new socket as an error code from accept()"; a server should retry, as
#: trio's serve_listeners does. They concern one client, not the listener.
#: Looked up by name: Windows' errno has no ENONET. On Windows a connection
#: reset before accept() comes as WSAECONNRESET (Wine 8: WSAENOTCONN).
_PEER_GONE_BEFORE_ACCEPT = frozenset(
    getattr(errno, name) for name in ("ECONNABORTED", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN",
                                      "ENONET", "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH",
                                      "WSAECONNRESET", "WSAENOTCONN")
    if hasattr(errno, name))

#: How long the accept loop sleeps when the process is out of fds. Sleeping
#: (not retrying) is what keeps it from spinning: the pending connection
#: stays in the backlog and no new readiness edge would come anyway.
ACCEPT_BACKOFF = 0.1
#: What accept(2) says when the process or the system is out of resources.
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS)

#: A handler takes a `TcpStream`, or a `TlsStream` when serving TLS.
Handler = Callable[[Any], Awaitable[Any]]


async def serve_tcp(handler: Handler, host: str | None, port: int,
                    *, backlog: int = 1024, reuse_port: bool = False,
                    ssl_context: ssl.SSLContext | None = None,
                    ssl_handshake_timeout: float = 60.0,
                    task_status: TaskStatus[int] | None = None) -> None:
    """Serve ``handler(stream)`` for every connection, until cancelled.

    Listens on every address ``host`` resolves to (`TcpListener.bind_all`:
    ``None`` is every interface, IPv4 and IPv6), all on one port. Use with
    ``port = await tg.start(serve_tcp, handler, host, 0)`` to learn it. Each
    handler runs in a task group owned by the server and its stream is
    closed when it returns; an exception in one handler is logged and does
    not stop the server. When cancelled, the listeners close and every
    handler is cancelled and awaited.

    With ``ssl_context`` (a server context, ``load_cert_chain`` done) each
    handler gets a `TlsStream` whose handshake completed. The handshake runs
    in the connection's own task, so a slow or bad client never holds up
    the accept loop; one that fails (logged at INFO, with OpenSSL's reason)
    or takes over ``ssl_handshake_timeout`` seconds is closed and never
    reaches ``handler``. The stream is closed with ``close_notify``.
    """
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, got {ssl_context!r}")
    if not ssl_handshake_timeout > 0:
        raise ValueError(f"ssl_handshake_timeout must be > 0, got {ssl_handshake_timeout}")
    serve = (_serve_one if ssl_context is None
             else _serve_tls(ssl_context, ssl_handshake_timeout))
    listeners = await TcpListener.bind_all(host, port, backlog=backlog, reuse_port=reuse_port)
    try:
        if task_status is not None:
            task_status.started(listeners[0].local_address[1])
        async with TaskGroup() as handlers:
            for listener in listeners[1:]:
                handlers.spawn(_accept_forever(listener, handler, handlers, serve))
            await _accept_forever(listeners[0], handler, handlers, serve)
    finally:
        for listener in listeners:
            listener.close()


async def _accept_forever(listener: TcpListener, handler: Handler, handlers: TaskGroup,
                          serve: Callable[[Handler, TcpStream], Coroutine[Any, Any, None]]) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if exc.errno in _PEER_GONE_BEFORE_ACCEPT:
                continue  # that client is gone; the next one is not
            if exc.errno not in _OUT_OF_FDS:
                raise
            logger.warning("accept() failed (%s); retrying in %.1f s", exc, ACCEPT_BACKOFF)
            await sleep(ACCEPT_BACKOFF)
            continue
        handlers.spawn(serve(handler, stream))


async def _serve_one(handler: Handler, stream: TcpStream | TlsStream) -> None:
    async with stream:
        try:
            await handler(stream)
        except (ConnectionError, BrokenResourceError) as exc:
            # A peer that resets or vanishes is routine for a server.
            logger.info("connection from %s ended: %s", stream.peer_address, exc)
        except Exception:
            logger.exception("connection handler for %s failed", stream.peer_address)


def _serve_tls(context: ssl.SSLContext,
               timeout: float) -> Callable[[Handler, TcpStream], Coroutine[Any, Any, None]]:
    async def serve_tls(handler: Handler, stream: TcpStream) -> None:
        try:
            tls = TlsStream(stream, context, server_side=True)
            with move_on_after(timeout) as scope:
                await tls.do_handshake()
        except BrokenResourceError as exc:
            logger.info("connection from %s closed: %s", stream.peer_address, exc)
            stream.close()
            return
        except BaseException:
            stream.close()
            raise
        if scope.cancelled_caught:
            logger.info("connection from %s closed: no TLS handshake within %g s",
                        stream.peer_address, timeout)
            stream.close()
            return
        await _serve_one(handler, tls)
    return serve_tls
