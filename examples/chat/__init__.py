"""The chat server's parts: `protocol` (the wire format, names, limits,
sanitising), `rooms` (rooms and the nick registry), `session` (one client's
reader and writer tasks), `outbox` (what waits to be written to a client:
backpressure and the "too slow" rules), `bucket` (the per-client rate
limit), `server` (accepting, the client limit, shutdown), and the browser
face: `web` (the page and the ``/ws`` upgrade, h11 + wsproto) and
`websocket` (`WsLink`: lines over a WebSocket). The entry point is
``examples/chat_server.py``.
"""
