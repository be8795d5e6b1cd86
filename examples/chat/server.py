"""`ChatServer`: accept connections (TCP lines, and browsers on a second port) and give
each one a `Session` in the same `Hub`."""

from __future__ import annotations

import functools
import math
import ssl

import runtime
from runtime.io import Stream, serve_tcp

from . import protocol
from .cluster import Cluster
from .outbox import Link
from .redis import RedisAddress
from .rooms import Hub
from .session import SHUTDOWN_LINGER, Config, Session
from .web import WebFace, WebOptions
from .websocket import GOING_AWAY, NORMAL, WsLink

#: How long a refused ("server full") client gets to take its one line.
REFUSE_TIMEOUT = 1.0


class ChatServer:
    """``await tg.start(server.serve, host, port, http_port)`` returns the bound ports.

    With ``ssl_context`` every client speaks TLS (`runtime.io.TlsStream`): line
    clients on ``port``, and the page (HTTPS) and its WebSocket (wss) on ``http_port``.
    """

    __slots__ = ("cluster", "config", "hub", "ssl_context", "web_options")

    def __init__(self, max_clients: int = 1000, config: Config | None = None,
                 web_options: WebOptions | None = None, *,
                 ssl_context: ssl.SSLContext | None = None,
                 cluster: RedisAddress | None = None, nick_ttl: float = 15.0) -> None:
        self.hub = Hub(max_clients)
        self.config = config or Config()
        self.web_options = web_options or WebOptions()
        self.ssl_context = ssl_context
        self.cluster = None if cluster is None else Cluster(self.hub, cluster, nick_ttl=nick_ttl)

    async def join_cluster(self) -> None:
        """Reach the cluster's Redis, if there is one (`ClusterUnavailableError` if not)."""
        if self.cluster is not None:
            await self.cluster.start()

    async def serve(self, host: str, port: int, http_port: int | None = None, *,
                    reuse_port: bool = False,
                    task_status: runtime.TaskStatus[tuple[int, int | None]] | None = None,
                    ) -> None:
        """Serve until cancelled; ``http_port`` None serves no browsers. Cancelling it is
        the graceful shutdown: every client gets ``! bye: server shutting down``.
        With a cluster, call `join_cluster` first."""
        async with runtime.TaskGroup() as tg:
            if self.cluster is not None:
                self.hub.cluster = self.cluster
                tg.spawn(self.cluster.run(), name="cluster")
            serve = functools.partial(serve_tcp, ssl_context=self.ssl_context,
                                      reuse_port=reuse_port)
            bound = await tg.start(serve, self.handle, host, port)
            bound_http = None
            if http_port is not None:
                face = WebFace(self.handle_websocket, self.web_options)
                bound_http = await tg.start(serve, face.handle, host, http_port)
            if task_status is not None:
                task_status.started((bound, bound_http))
            tg.spawn(self._watch_timeouts(), name="chat timeouts")
            try:
                await runtime.sleep(math.inf)
            finally:
                self._shut_down()

    async def _watch_timeouts(self) -> None:
        """Check every session's idle and write timeouts, about once a second (more
        often for timeouts under 4 s, so they are kept to within a quarter)."""
        config = self.config
        period = min(1.0, config.write_timeout / 4, (config.idle_timeout or math.inf) / 4)
        while True:
            await runtime.sleep(period)
            now = runtime.current_time()
            for session in list(self.hub.sessions):  # ending one may change the set
                session.check_timeouts(now)

    def _shut_down(self) -> None:
        # Sessions still reading are cancelled and choose the short linger
        # themselves; those already saying goodbye (shielded) are told here.
        self.hub.stopping = True
        deadline = runtime.current_time() + SHUTDOWN_LINGER
        for session in self.hub.sessions:
            session.hurry(deadline)

    async def handle(self, stream: Stream) -> None:
        if not await self._refused_when_full(stream):
            await Session(self.hub, stream, self.config).run()

    async def handle_websocket(self, link: WsLink) -> None:
        session = Session(self.hub, link, self.config)
        try:
            if not await self._refused_when_full(link):
                await session.run()
        finally:
            reason = session.reason or protocol.SERVER_FULL
            with runtime.CancelScope(shield=True):  # a shutdown still sends the close frame
                await link.close(GOING_AWAY if reason == protocol.SHUTTING_DOWN else NORMAL,
                                 reason)

    async def _refused_when_full(self, link: Link) -> bool:
        if not self.hub.full():
            return False
        with runtime.move_on_after(REFUSE_TIMEOUT):
            await link.write_all(protocol.bye(protocol.SERVER_FULL))
        return True
