"""`Source`: what the io layer holds for each socket, on either backend.

`runtime.io` never calls a socket's ``recv``/``send`` itself: it calls a
`Source`'s methods (tokio's ``PollEvented``). Two classes implement it, side
by side, and the `Runner` picks one when it starts (``runner.source_class``):

* `ReadySource` (``ready_source.py``), on readiness (epoll, kqueue, IOCP):
  try the syscall, and on ``EAGAIN`` park on the IO driver (``io_driver.py``)
  until the reactor reports a new edge.
* `RingSource` (``ring_source.py``), on completions (io_uring): submit the
  operation and park on the ring driver (``ring_driver.py``) until the
  kernel reports it done.

`socket_source` is how the io layer makes one, never naming either class.
"""

from __future__ import annotations

import socket
from typing import Any, Protocol

from . import context

Address = Any  # whatever the socket family uses: (host, port), (host, port, flow, scope), path


class Source(Protocol):
    """A non-blocking socket whose operations wait on the running runtime.

    Each operation is a cancellation point that checkpoints (cancellation and
    the cooperative budget) before it touches the socket; a task cancelled
    while it waits gets `Cancelled` with no data lost. A second task waiting
    in the same direction gets `BusyResourceError`; a wait ended by `close`
    raises `ClosedResourceError`.
    """

    sock: socket.socket

    @property
    def closed(self) -> bool: ...

    async def recv_into(self, buf: Any, nbytes: int = 0) -> int:
        """Read into ``buf``; 0 means EOF."""

    async def recv(self, max_bytes: int) -> bytes:
        """Read up to ``max_bytes``; ``b""`` means EOF."""

    def try_send(self, data: Any) -> int | None:
        """Send now if that needs no wait: the byte count, else ``None``."""

    async def send(self, data: Any) -> int:
        """Send some of ``data``; how many bytes the kernel took."""

    async def recvfrom(self, max_bytes: int) -> tuple[bytes, Address]:
        """One datagram and its sender."""

    async def sendto(self, data: Any, address: Address) -> int:
        """Send one datagram to ``address``."""

    async def recvmsg(self, bufsize: int, ancbufsize: int = 0,
                      flags: int = 0) -> tuple[bytes, list[tuple[int, int, bytes]], int, Address]:
        """``socket.recvmsg``: data, ancillary data (file descriptors), flags, sender."""

    async def sendmsg(self, buffers: list[Any], ancdata: list[tuple[int, int, Any]],
                      flags: int = 0) -> int:
        """``socket.sendmsg``: some of ``buffers``' bytes with ``ancdata``; bytes sent."""

    async def accept(self) -> tuple[socket.socket, Address]:
        """One connection (a non-blocking socket) and its peer's address."""

    async def connect(self, address: Address) -> None:
        """Connect; the `OSError` the kernel reports, naming ``address``."""

    def detach(self) -> socket.socket:
        """Stop waiting on the socket without closing it."""

    def close(self) -> None:
        """Wake waiters with `ClosedResourceError`, then close the socket."""


def socket_source(sock: socket.socket) -> Source:
    """Make ``sock`` non-blocking and wrap it for the running runtime's backend."""
    return context.runner().source_class(sock)
