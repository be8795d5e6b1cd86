"""Unix-domain stream sockets: `UnixListener` and `UnixStream`."""

from __future__ import annotations

import os
import socket
import stat

from ..errors import ClosedResourceError
from ..executor.io_source import IoSource
from ..executor.traps import checkpoint
from ..resource import Resource
from .naming import bind_naming_errors
from .stream import Stream


def _unix_socket() -> socket.socket:
    # CPython for Windows has no AF_UNIX (though Windows 10 has the sockets);
    # say so rather than fail with an AttributeError. trio says the same.
    if not hasattr(socket, "AF_UNIX"):
        raise RuntimeError("Unix sockets are not supported on this platform "
                           "(this Python's socket module has no AF_UNIX)")
    return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)


class UnixStream(Stream):
    """A connected Unix-domain stream socket (a buffered `Stream`)."""

    __slots__ = ()

    @classmethod
    async def connect(cls, path: str | bytes) -> UnixStream:
        """Connect to the listener at ``path``; `FileNotFoundError` /
        `ConnectionRefusedError` name the path when nobody listens there."""
        sock = _unix_socket()
        src = IoSource(sock)
        try:
            await src.connect(path)  # its errors name the path
        except BaseException:
            src.close()
            raise
        return cls(src.detach())


class UnixListener(Resource):
    """A listening Unix-domain socket. `aclose` removes the socket file it made."""

    __slots__ = ("_closed", "_identity", "_src", "path")

    def __init__(self, sock: socket.socket, path: str | bytes) -> None:
        self._src = IoSource(sock)
        self._closed = False
        self.path = path
        # A Linux abstract name (leading NUL) has no file to stat or remove.
        abstract = path[:1] in ("\0", b"\0")
        st = None if abstract else os.stat(path)
        self._identity = None if st is None else (st.st_dev, st.st_ino)

    @classmethod
    async def bind(cls, path: str | bytes, *, backlog: int = 1024) -> UnixListener:
        """Listen at ``path`` (which must not exist yet)."""
        sock = _unix_socket()
        try:
            bind_naming_errors(sock, path)
            sock.listen(backlog)
            listener = cls(sock, path)
        except BaseException:
            sock.close()
            raise
        await checkpoint()
        return listener

    @property
    def local_address(self) -> str | bytes:
        return self.path

    async def accept(self) -> UnixStream:
        if self._closed:
            raise ClosedResourceError("accept() on a closed UnixListener")
        sock, _ = await self._src.accept()
        return UnixStream(sock)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._src.close()
        # Remove the file only if it is still the socket we created.
        if self._identity is None:
            return
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == self._identity:
            os.unlink(self.path)
