"""Unix-domain stream sockets: `UnixListener` and `UnixStream` (which can
pass file descriptors, ``SCM_RIGHTS``)."""

from __future__ import annotations

import array
import errno
import os
import socket
import stat
from collections.abc import Collection
from typing import Any

from ..errors import ClosedResourceError
from ..lowlevel import checkpoint, checkpoint_if_cancelled, socket_source
from ..resource import Resource
from .naming import bind_naming_errors
from .stream import Stream


def _unix_socket(kind: int = socket.SOCK_STREAM) -> socket.socket:
    # CPython for Windows has no AF_UNIX (though Windows 10 has the sockets);
    # say so rather than fail with an AttributeError. trio says the same.
    if not hasattr(socket, "AF_UNIX"):
        raise RuntimeError("Unix sockets are not supported on this platform "
                           "(this Python's socket module has no AF_UNIX)")
    return socket.socket(socket.AF_UNIX, kind)


class UnixStream(Stream):
    """A connected Unix-domain stream socket (a buffered `Stream`)."""

    __slots__ = ()

    @classmethod
    async def connect(cls, path: str | bytes, *, kind: int = socket.SOCK_STREAM) -> UnixStream:
        """Connect to the listener at ``path``; `FileNotFoundError` /
        `ConnectionRefusedError` name the path when nobody listens there.
        ``kind=SOCK_SEQPACKET`` (Linux) keeps message boundaries: use `read`."""
        sock = _unix_socket(kind)
        src = socket_source(sock)
        try:
            await src.connect(path)  # its errors name the path
        except BaseException:
            src.close()
            raise
        return cls(src.detach())

    async def send_fds(self, message: bytes, fds: Collection[int | Any]) -> None:
        """Send ``message`` with the open file descriptors ``fds`` attached
        (ints or objects with ``fileno()``); the peer gets its own copies.

        The descriptors travel with the first byte; the rest of a long message
        follows like `write_all`. ``message`` and ``fds`` must not be empty
        (a descriptor needs a byte to ride on).
        """
        if not message:
            raise ValueError("send_fds() message must not be empty")
        if not fds:
            raise ValueError("send_fds() fds must not be empty")
        numbers = array.array("i", [fd if isinstance(fd, int) else fd.fileno() for fd in fds])
        ancdata = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, numbers)]
        if self._closed or self._writing:
            self._refuse("writing to")
        self._writing = True
        try:
            view = memoryview(message).cast("B")
            while view:
                try:
                    sent = await self._src.sendmsg([view], ancdata)
                except OSError as exc:
                    raise self._fail(exc, "sending file descriptors to") from None
                view = view[sent:]
                ancdata = []  # they went with the first bytes
        finally:
            self._writing = False

    async def receive_fds(self, msglen: int, maxfds: int) -> tuple[bytes, list[int]]:
        """Up to ``msglen`` bytes and up to ``maxfds`` file descriptors sent with them.

        The descriptors are new fds of this process: the caller closes them.
        ``(b"", [])`` at EOF. More descriptors than ``maxfds`` is an error,
        not a silent cut: the kernel has closed the extra ones, so this
        closes the ones that did arrive and raises `OSError` (``EMSGSIZE``)
        saying how many were allowed. Bytes a line read left buffered come
        first, with no descriptors (they were read without ``recvmsg``).
        """
        if not isinstance(msglen, int) or msglen < 0:
            raise ValueError(f"receive_fds() msglen must be an int >= 0, got {msglen!r}")
        if not isinstance(maxfds, int) or maxfds < 1:
            raise ValueError(f"receive_fds() maxfds must be an int >= 1, got {maxfds!r}")
        self._begin_read()
        try:
            if self._buf:
                await checkpoint_if_cancelled()
                data = bytes(self._buf[:msglen])
                del self._buf[:msglen]
                return data, []
            itemsize = array.array("i").itemsize
            try:
                data, ancdata, flags, _ = await self._src.recvmsg(
                    msglen, socket.CMSG_SPACE(maxfds * itemsize))
            except OSError as exc:
                raise self._fail(exc, "receiving file descriptors from") from None
        finally:
            self._reading = False
        received = array.array("i")
        unexpected = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                received.frombytes(payload[: len(payload) - len(payload) % itemsize])
            else:
                unexpected = (level, kind)
        fds = list(received)
        if flags & socket.MSG_CTRUNC or unexpected is not None or len(fds) > maxfds:
            for fd in fds:
                os.close(fd)
            if unexpected is not None:
                raise OSError(errno.EPROTO, f"receive_fds(): unexpected ancillary data "
                                            f"(level {unexpected[0]}, type {unexpected[1]}) "
                                            f"from {self._describe()}")
            raise OSError(errno.EMSGSIZE,
                          f"receive_fds(): more than maxfds={maxfds} file descriptors arrived "
                          f"from {self._describe()} (the ancillary data was truncated); "
                          f"the {len(fds)} that arrived were closed")
        return data, fds


class UnixListener(Resource):
    """A listening Unix-domain socket. `aclose` removes the socket file it made."""

    __slots__ = ("_closed", "_identity", "_src", "path")

    def __init__(self, sock: socket.socket, path: str | bytes | None = None) -> None:
        """Adopt a bound, listening ``sock``. With ``path`` (what `bind` made)
        `close` removes the socket file; without, the file is the caller's."""
        self._src = socket_source(sock)
        self._closed = False
        self.path = sock.getsockname() if path is None else path
        # A Linux abstract name (leading NUL) has no file to stat or remove.
        abstract = path is None or path[:1] in ("\0", b"\0")
        st = None if abstract else os.stat(path)  # type: ignore[arg-type]
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

    @property
    def socket(self) -> socket.socket:
        return self._src.sock

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
