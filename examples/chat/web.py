"""`WebFace`: the chat in a browser — a static page and a WebSocket at ``/ws`` (h11 + wsproto).

Each connection carries one HTTP/1.1 request (read with h11, answered with
``Connection: close``):

* ``GET /``, ``/chat.js``, ``/chat.css``: the page in ``web/``, read once at
  start-up. No other path is served, so nothing outside ``web/`` can be.
* ``GET /ws`` with a WebSocket upgrade: wsproto completes the handshake and
  the connection becomes a `WsLink` served by a `Session`, like a TCP one.
  A request to ``/ws`` that is not a valid upgrade gets **426** (or 400),
  and one whose ``Origin`` is another site gets **403**, both before any
  WebSocket exists: cross-site WebSocket hijacking is a page on another
  site opening a socket with the visitor's browser. Same-origin pages (the
  ``Origin`` names the ``Host`` the request was sent to), origins given
  with ``--allow-origin``, and clients that send no ``Origin`` (not a
  browser: ``nc``-like tools) are let in.
* anything else: 404, 405 (not GET/HEAD), 400 (malformed), 431 (a request
  head over `MAX_HEAD`), or the connection is closed after `REQUEST_TIMEOUT`
  seconds without a whole request head (slowloris).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, Request
from wsproto.utilities import RemoteProtocolError

import runtime
from runtime.io import Stream, TlsStream

from .websocket import LINK_ERRORS, WsLink

#: What a connection to the HTTP port is: plain TCP, or TLS with --tls-cert.
HttpStream = Stream | TlsStream

WEB_ROOT = Path(__file__).resolve().parent / "web"
#: path -> (file in WEB_ROOT, Content-Type)
PAGES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
}
#: Seconds a client gets to send its whole request head.
REQUEST_TIMEOUT = 10.0
#: The largest request head accepted (h11 refuses a bigger one).
MAX_HEAD = 16 * 1024

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; connect-src 'self' ws: wss:"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-cache"),
]


@dataclass(frozen=True)
class WebOptions:
    allowed_origins: frozenset[str] = frozenset()  # besides the page's own origin
    ping_interval: float = 20.0  # seconds of silence before the server pings
    ping_timeout: float = 20.0  # seconds to answer the ping


class WebFace:
    """``handle(stream)`` serves one HTTP connection; WebSockets go to ``on_websocket``."""

    __slots__ = ("files", "on_websocket", "options")

    def __init__(self, on_websocket: Callable[[WsLink], Awaitable[None]],
                 options: WebOptions) -> None:
        self.on_websocket = on_websocket
        self.options = options
        self.files = {path: ((WEB_ROOT / name).read_bytes(), kind)
                      for path, (name, kind) in PAGES.items()}

    async def handle(self, stream: HttpStream) -> None:
        try:
            await self._serve(stream)
        except LINK_ERRORS:
            pass  # the client went away (or broke its TLS): there is nobody to answer

    async def _serve(self, stream: HttpStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        received = bytearray()  # the raw request, for wsproto to read again
        request: h11.Request | None = None
        with runtime.move_on_after(REQUEST_TIMEOUT):
            try:
                request = await _read_request(stream, conn, received)
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint
                await _respond(stream, conn, status, f"bad request: {exc}")
                return
        if request is None:
            return  # timed out, or the client went away
        target = request.target.decode("ascii", "replace")
        path = urlsplit(target).path
        if path == "/ws":
            await self._upgrade(stream, conn, bytes(received))
        elif request.method not in (b"GET", b"HEAD"):
            await _respond(stream, conn, 405, "only GET and HEAD are served here",
                           [(b"allow", b"GET, HEAD")])
        elif path in self.files:
            body, kind = self.files[path]
            await _respond(stream, conn, 200, body, [(b"content-type", kind.encode())],
                           head_only=request.method == b"HEAD")
        else:
            await _respond(stream, conn, 404, f"not found: {path}")

    async def _upgrade(self, stream: HttpStream, conn: h11.Connection, received: bytes) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        try:
            ws.receive_data(received)
        except RemoteProtocolError as exc:
            hint = exc.event_hint
            status = hint.status_code if isinstance(hint, RejectConnection) else 400
            await _respond(stream, conn, 426 if status == 400 else status,
                           f"/ws speaks WebSocket only ({exc})", [(b"upgrade", b"websocket")])
            return
        handshake = next(iter(ws.events()), None)
        assert isinstance(handshake, Request)  # a whole request was read
        origin = _header(handshake.extra_headers, b"origin")
        if not self._origin_allowed(origin, handshake.host):
            await _respond(stream, conn, 403, f"origin not allowed: {origin}")
            return
        await stream.write_all(ws.send(AcceptConnection()))
        link = WsLink(stream, ws)
        async with runtime.TaskGroup() as tg:
            tg.spawn(link.keepalive(self.options.ping_interval, self.options.ping_timeout),
                     name="websocket keepalive")
            await self.on_websocket(link)
            tg.cancel_scope.cancel()

    def _origin_allowed(self, origin: str | None, host: str) -> bool:
        if origin is None:
            return True  # not a browser: nothing to hijack
        return urlsplit(origin).netloc == host or origin in self.options.allowed_origins


async def _read_request(stream: HttpStream, conn: h11.Connection,
                        received: bytearray) -> h11.Request | None:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.read()
            received += data
            conn.receive_data(data)  # b"": EOF
            continue
        return event if isinstance(event, h11.Request) else None


def _header(headers: object, name: bytes) -> str | None:
    assert isinstance(headers, list)
    for key, value in headers:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _respond(stream: HttpStream, conn: h11.Connection, status: int, body: str | bytes,
                   headers: list[tuple[bytes, bytes]] | None = None, *,
                   head_only: bool = False) -> None:
    if isinstance(body, str):
        body = (body + "\n").encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])]
    response = h11.Response(status_code=status, headers=[
        *(headers or []), *SECURITY_HEADERS,
        (b"content-length", str(len(body)).encode()), (b"connection", b"close")])
    data = conn.send(response) or b""
    if not head_only:
        data += conn.send(h11.Data(data=body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    with runtime.move_on_after(REQUEST_TIMEOUT):
        await stream.write_all(data)
