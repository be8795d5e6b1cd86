"""`ChatServer`: accept connections and give each one a `Session`."""

from __future__ import annotations

from typing import Any

import runtime
from runtime.io import Stream, serve_tcp

from . import protocol
from .rooms import Hub
from .session import Config, Session

#: How long a refused ("server full") client gets to take its one line.
REFUSE_TIMEOUT = 1.0


class ChatServer:
    """``await tg.start(server.serve, host, port)`` returns the bound port."""

    __slots__ = ("config", "hub")

    def __init__(self, max_clients: int = 1000, idle_timeout: float | None = None,
                 queue: int = 1024) -> None:
        self.hub = Hub(max_clients)
        self.config = Config(idle_timeout=idle_timeout, queue=queue)

    async def serve(self, host: str, port: int, *,
                    task_status: runtime.TaskStatus[int] | None = None) -> None:
        """Serve until cancelled. Cancelling it is the graceful shutdown: every
        client gets ``! bye: server shutting down`` and its socket is closed."""
        await serve_tcp(self.handle, host, port, task_status=task_status)

    async def handle(self, stream: Stream) -> Any:
        if self.hub.full():
            with runtime.move_on_after(REFUSE_TIMEOUT):
                await stream.write_all(protocol.bye(protocol.SERVER_FULL))
            return
        await Session(self.hub, stream, self.config).run()
