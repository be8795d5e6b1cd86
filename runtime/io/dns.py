"""Name resolution off the loop: `getaddrinfo` and `getnameinfo`."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from ..executor import to_thread
from ..lowlevel import checkpoint_if_cancelled

AddrInfo = tuple[int, int, int, str, Any]  # family, type, proto, canonname, sockaddr


def _is_numeric(host: str | bytes | None) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(host.partition("%")[0])  # allow a ::1%lo scope id
    except ValueError:
        return False
    return True


async def getaddrinfo(host: str | bytes | None, port: int | str | None, family: int = 0,
                      type: int = 0, proto: int = 0, flags: int = 0) -> list[AddrInfo]:
    """`socket.getaddrinfo`, run in a worker thread so the loop never blocks.

    Numeric addresses are answered in the loop (no lookup happens). A name
    that does not resolve raises `socket.gaierror` naming it. Cancellable:
    a cancelled lookup is abandoned in its thread.
    """
    if _is_numeric(host):
        await checkpoint_if_cancelled()
        infos: list[AddrInfo] = socket.getaddrinfo(  # type: ignore[assignment]
            host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        return infos
    try:
        # Abandoned if cancelled (trio's getaddrinfo): a lookup can hang for a long time.
        return await to_thread(socket.getaddrinfo, host, port,  # type: ignore[arg-type]
                               family, type, proto, flags, abandon_on_cancel=True)
    except socket.gaierror as exc:
        failure = exc
    # Raised outside the except block: the new error carries no __context__
    # (a chain, and a reference keeping the first error's frames alive).
    raise socket.gaierror(failure.errno, f"{failure.strerror}: cannot resolve {host!r}")


async def getnameinfo(sockaddr: tuple[Any, ...], flags: int = 0) -> tuple[str, str]:
    """`socket.getnameinfo` (host and service for ``sockaddr``), off the loop.

    A reverse lookup can block on DNS for seconds, so it runs in a worker
    thread unless ``flags`` asks for numbers only (``NI_NUMERICHOST |
    NI_NUMERICSERV``), which the C library answers without a lookup.
    Cancellable like `getaddrinfo`.
    """
    numeric = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    if flags & numeric == numeric:
        await checkpoint_if_cancelled()
        return socket.getnameinfo(sockaddr, flags)
    return await to_thread(socket.getnameinfo, sockaddr, flags, abandon_on_cancel=True)
