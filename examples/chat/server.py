"""`ChatServer`: accept connections and give each one a `Session`."""

from __future__ import annotations

import math
from typing import Any

import runtime
from runtime.io import Stream, serve_tcp

from . import protocol
from .rooms import Hub
from .session import SHUTDOWN_LINGER, Config, Session

#: How long a refused ("server full") client gets to take its one line.
REFUSE_TIMEOUT = 1.0


class ChatServer:
    """``await tg.start(server.serve, host, port)`` returns the bound port."""

    __slots__ = ("config", "hub")

    def __init__(self, max_clients: int = 1000, config: Config | None = None) -> None:
        self.hub = Hub(max_clients)
        self.config = config or Config()

    async def serve(self, host: str, port: int, *,
                    task_status: runtime.TaskStatus[int] | None = None) -> None:
        """Serve until cancelled. Cancelling it is the graceful shutdown: every
        client gets ``! bye: server shutting down`` and its socket is closed."""
        async with runtime.TaskGroup() as tg:
            bound = await tg.start(serve_tcp, self.handle, host, port)
            if task_status is not None:
                task_status.started(bound)
            try:
                await runtime.sleep(math.inf)
            finally:
                self._shut_down()

    def _shut_down(self) -> None:
        # Sessions still reading are cancelled and choose the short linger
        # themselves; those already saying goodbye (shielded) are told here.
        self.hub.stopping = True
        deadline = runtime.current_time() + SHUTDOWN_LINGER
        for session in self.hub.sessions:
            session.hurry(deadline)

    async def handle(self, stream: Stream) -> Any:
        if self.hub.full():
            with runtime.move_on_after(REFUSE_TIMEOUT):
                await stream.write_all(protocol.bye(protocol.SERVER_FULL))
            return
        await Session(self.hub, stream, self.config).run()
