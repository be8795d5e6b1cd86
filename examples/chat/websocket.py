"""`WsLink`: the chat's line protocol over a WebSocket (wsproto on a runtime `Stream`).

One text message is one line, in both directions, so a `Session` serves a
browser exactly as it serves ``nc``: `read_line` and `write_all` are the
`Link` methods it uses. wsproto is sans-IO: it turns bytes into events and
events into bytes; this module moves the bytes.

What a client can do wrong, and the close code it gets (RFC 6455, 7.4.1):

* a message over `protocol.MAX_LINE` bytes, or one split into more than
  `MAX_FRAGMENTS` frames (a fragmented flood): **1009** (message too big);
* a binary message: **1003** (unsupported data);
* invalid UTF-8 in a text message, or a malformed frame: wsproto's code,
  **1007** or **1002**;
* no answer to a ping for ``ping_timeout`` seconds: **1011**, as the
  ``websockets`` library does (`keepalive`).

The server ends with **1000** (normal) or **1001** (going away: shutdown).
Writes from the session's writer, from ping replies and from `keepalive`
share the stream, so they take turns under a lock.
"""

from __future__ import annotations

from wsproto import ConnectionState, WSConnection
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    TextMessage,
)

import runtime
from runtime.io import Stream, TlsStream

from . import protocol

#: The most frames one message may arrive in.
MAX_FRAGMENTS = 64
#: How long a closing handshake may take before the socket is just closed.
CLOSE_TIMEOUT = 0.5

#: What a broken connection raises (`TlsStream` raises BrokenResourceError).
LINK_ERRORS = (OSError, runtime.BrokenResourceError, runtime.ClosedResourceError)

NORMAL = 1000
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
MESSAGE_TOO_BIG = 1009
KEEPALIVE_TIMEOUT = 1011


def text_frame(payload: bytes) -> bytes:
    """One unfragmented server-to-client text frame (RFC 6455 5.2: FIN, opcode 1, no mask).

    The one frame written by hand, because it is the fan-out's hot path:
    wsproto's ``send(Message(...))`` took 12 us a line here (it decodes,
    re-encodes and runs the extension hooks), this takes well under 1 us.
    It is exactly what wsproto would write: we accept no extensions, so
    there is no compression, and we never fragment. ``payload`` is UTF-8
    already (`protocol.encode` made it). The clients in the tests parse
    these frames with wsproto.
    """
    n = len(payload)
    if n < 126:
        return b"\x81" + bytes((n,)) + payload
    if n < 1 << 16:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class WsLink:
    """A WebSocket that has completed its handshake, read and written as lines."""

    __slots__ = ("_lock", "_ws", "last_heard", "stream")

    def __init__(self, stream: Stream | TlsStream, ws: WSConnection) -> None:
        self.stream = stream
        self._ws = ws
        self._lock = runtime.Lock()
        self.last_heard = runtime.current_time()  # when the client last sent anything

    @property
    def peer_address(self) -> object:
        return self.stream.peer_address

    async def read_line(self, limit: int) -> bytes:
        """The next text message plus ``\\n``; ``b""`` once the WebSocket is closed."""
        parts: list[str] = []
        size = frames = 0
        while True:
            for event in self._ws.events():
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    size += len(event.data.encode())
                    frames += event.frame_finished
                    if size > limit - 1:  # the limit counts a newline, which WebSocket has none of
                        await self.close(MESSAGE_TOO_BIG,
                                         f"message too big: at most {protocol.MAX_LINE} bytes")
                        return b""
                    if frames > MAX_FRAGMENTS:
                        await self.close(MESSAGE_TOO_BIG,
                                         f"message in too many frames: at most {MAX_FRAGMENTS}")
                        return b""
                    if event.message_finished:
                        return "".join(parts).encode() + b"\n"
                elif isinstance(event, BytesMessage):
                    await self.close(UNSUPPORTED_DATA, "this chat speaks text messages only")
                    return b""
                elif isinstance(event, Ping):
                    await self._send(event.response())
                elif isinstance(event, CloseConnection):
                    if self._ws.state is ConnectionState.REMOTE_CLOSING:
                        await self._send(event.response())  # they closed: we answer
                    else:
                        await self.close(event.code, event.reason or "")  # wsproto: bad frame
                    return b""
            if self._ws.state is ConnectionState.CLOSED:
                return b""
            data = await self.stream.read()
            self.last_heard = runtime.current_time()
            self._ws.receive_data(data or None)  # None: the TCP connection ended

    async def write_all(self, data: bytes) -> None:
        """Send each line of ``data`` as one text message (in one write)."""
        if self._ws.state is not ConnectionState.OPEN:
            return  # closing: the session's last lines have nowhere to go
        lines = data.split(b"\n")
        await self._write(b"".join(map(text_frame, lines[:-1])))

    async def keepalive(self, interval: float, timeout: float) -> None:
        """Ping a client that has been silent for ``interval`` s; close it after
        ``timeout`` more without an answer (any frame counts). Runs until cancelled."""
        while self._ws.state is ConnectionState.OPEN:
            await runtime.sleep_until(self.last_heard + interval)
            if runtime.current_time() - self.last_heard < interval:
                continue
            pinged = runtime.current_time()
            with runtime.move_on_after(timeout):
                try:
                    await self._send(Ping(b"keepalive"))
                except LINK_ERRORS:
                    return  # the connection is gone: the reader sees it too
            await runtime.sleep_until(pinged + timeout)
            if self.last_heard < pinged:
                await self.close(KEEPALIVE_TIMEOUT, "keepalive ping timeout")
                self.stream.close()  # wakes the reader: the session ends as "connection lost"
                return

    async def close(self, code: int, reason: str) -> None:
        """Start the closing handshake (once); give the peer `CLOSE_TIMEOUT` to take it."""
        if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            with runtime.move_on_after(CLOSE_TIMEOUT):
                try:
                    await self._send(CloseConnection(code=code, reason=reason))
                except LINK_ERRORS:
                    pass  # the connection is gone: there is nobody to tell

    async def _send(self, event: Event) -> None:
        await self._write(self._ws.send(event))

    async def _write(self, data: bytes) -> None:
        async with self._lock:
            await self.stream.write_all(data)
