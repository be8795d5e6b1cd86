"""The chat server's parts: `protocol` (the wire format, names, limits),
`rooms` (rooms and the nick registry), `session` (one client's reader and
writer tasks), `server` (accepting, the client limit). The entry point is
``examples/chat_server.py``.
"""
