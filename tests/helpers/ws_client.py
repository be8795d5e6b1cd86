"""A blocking WebSocket client for tests (wsproto over a plain socket), like `Client` for TCP.

``WsClient(port, nick)`` connects to ``/ws``, completes the handshake and
(with a nick) joins like `chat_harness.Client`; ``send``/``line``/``expect``
speak the chat's lines, one text message each. ``send_raw`` writes bytes
as they are (hand-made frames), and ``close_code()`` reads until the server
closes and returns its close code and reason.
"""

from __future__ import annotations

import socket
import ssl

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from tests.helpers.chat_harness import TIMEOUT, WELCOME, LineReader


class WsClient(LineReader):
    def __init__(self, port: int, nick: str | None = None, *, origin: str | None = None,
                 answer_pings: bool = True, timeout: float = TIMEOUT,
                 tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:  # wss://
            try:
                sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.nick = nick
        self.answer_pings = answer_pings
        self.pings = 0
        self.lines: list[str] = []
        self.closed: CloseConnection | None = None
        self.rejected: RejectConnection | None = None
        self._parts: list[str] = []
        headers = [(b"origin", origin.encode())] if origin else []
        try:
            self.sock.sendall(self.ws.send(Request(host=f"127.0.0.1:{port}", target="/ws",
                                                   extra_headers=headers)))
            while not self._handshake_done():
                self._pump()
            if nick is not None:
                assert self.line() == WELCOME
                self.send(nick)
                self.expect(f"* you are {nick}; /help lists the commands")
        except BaseException:
            self.sock.close()
            raise

    def _handshake_done(self) -> bool:
        return bool(self.accepted or self.rejected)

    accepted = False

    def _pump(self) -> None:
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            self._on(event)

    def _on(self, event: Event) -> None:
        if isinstance(event, AcceptConnection):
            self.accepted = True
        elif isinstance(event, RejectConnection):
            self.rejected = event
        elif isinstance(event, RejectData):
            pass
        elif isinstance(event, TextMessage):
            self._parts.append(event.data)
            if event.message_finished:
                self.lines.append("".join(self._parts))
                self._parts = []
        elif isinstance(event, Ping):
            self.pings += 1
            if self.answer_pings:
                self.sock.sendall(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection) and self.closed is None:
            self.closed = event
            try:
                self.sock.sendall(self.ws.send(event.response()))
            except (OSError, LocalProtocolError):  # the socket is gone, or we closed first
                pass

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(Message(data=text)))

    def line(self, timeout: float | None = None) -> str:
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while not self.lines:
                if self.closed is not None:
                    raise EOFError(f"closed: {self.closed.code} {self.closed.reason}")
                self._pump()
        finally:
            if timeout is not None:
                self.sock.settimeout(TIMEOUT)
        return self.lines.pop(0)

    def close_code(self) -> tuple[int, str]:
        """Read (dropping lines) until the server's close frame; its code and reason."""
        while self.closed is None:
            self._pump()
        return int(self.closed.code), self.closed.reason or ""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
