"""Happy eyeballs (RFC 8305): connect to the first address that answers.

A name often resolves to several addresses (IPv6 and IPv4). Trying them one
after another waits a full timeout on each dead one; trying all at once is
rude to the server. RFC 8305's middle way, as trio and asyncio do it: order
the addresses alternating families, start the first attempt, and start the
next one when the previous fails *or* ``delay`` seconds pass without an
answer, whichever is first. The first connection to succeed wins; the other
attempts are cancelled and their sockets closed.
"""

from __future__ import annotations

import socket
from typing import Any

from ..executor import TaskGroup, move_on_after
from ..lowlevel import socket_source
from ..sync import Event
from .naming import bind_naming_errors

Target = tuple[int, int, int, Any]  # family, type, proto, sockaddr


def interleave_families(targets: list[Target]) -> list[Target]:
    """First address of the first family, then alternate families (RFC 8305 §4)."""
    if not targets:
        return []
    first_family = targets[0][0]
    first = [t for t in targets if t[0] == first_family]
    other = [t for t in targets if t[0] != first_family]
    out: list[Target] = []
    for i in range(max(len(first), len(other))):
        out.extend(group[i] for group in (first, other) if i < len(group))
    return out


async def _attempt(target: Target, local_address: Any) -> socket.socket:
    family, type_, proto, address = target
    sock = socket.socket(family, type_, proto)
    try:
        if family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if local_address is not None:
            bind_naming_errors(sock, local_address)
        src = socket_source(sock)
        try:
            await src.connect(address)
        except BaseException:
            src.close()
            raise
        # Hand the socket over: the stream registers it again on its own.
        src.detach()
        return sock
    except BaseException:
        sock.close()
        raise


async def connect_first(targets: list[Target], delay: float,
                        local_address: Any = None) -> socket.socket:
    """The socket of the first target that connects; `OSError` if none did.

    ``local_address``: bind each attempt's socket there first (a
    ``(host, port)`` of the target's family; port 0 lets the kernel pick).
    """
    targets = interleave_families(targets)
    winner: list[socket.socket] = []
    errors: list[OSError] = []

    async def run(target: Target, failed: Event) -> None:
        try:
            sock = await _attempt(target, local_address)
        except OSError as exc:
            errors.append(exc)
            failed.set()
            return
        if winner:
            sock.close()  # lost a photo finish
            return
        winner.append(sock)
        group.cancel_scope.cancel()

    try:
        async with TaskGroup() as group:
            for target in targets:
                failed = Event()
                group.spawn(run(target, failed))
                with move_on_after(delay):
                    await failed.wait()
    except BaseException:
        # Cancelled from outside (or failing) after an attempt had won: that
        # socket is ours to close, as trio's open_tcp_stream does.
        for sock in winner:
            sock.close()
        raise
    if winner:
        return winner[0]
    if len(errors) == 1:
        try:
            raise errors[0]
        finally:
            errors.clear()  # the list would keep the raised error (and its frames) referenced
    where = ", ".join(str(t[3][0]) for t in targets)
    raise OSError(
        errors[-1].errno if errors else None,
        f"all {len(targets)} connection attempts failed ({where}): "
        + "; ".join(str(e) for e in errors),
    )
