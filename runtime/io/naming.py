"""Error messages that name the peer: every OS error says what and to whom."""

from __future__ import annotations

import errno
import socket
import sys
from typing import Any

#: Windows answers with WSA codes whose text Wine leaves as "Windows Error
#: 0x2740"; the conditions a caller must recognise are spelled out.
_PLAIN_WORDS = {errno.EADDRINUSE: "address already in use"}


def describe(address: Any) -> str:
    """``127.0.0.1:80``, ``[::1]:80``, a Unix path, or ``unnamed peer``."""
    if isinstance(address, tuple):
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"{host}:{address[1]}"
    return repr(address) if address else "unnamed peer"


def bind_error(exc: OSError, address: Any) -> OSError:
    """The same error type, saying it was ``bind`` and to which address."""
    reason = _PLAIN_WORDS.get(exc.errno or 0, exc.strerror)
    return type(exc)(exc.errno, f"{reason}: bind to {address!r}")


def bind_naming_errors(sock: socket.socket, address: Any) -> None:
    """``sock.bind(address)``, IPv6-only for an IPv6 socket; a failure names ``address``.

    IPv6-only: 0.0.0.0 gets a socket of its own (`TcpListener.bind_all`),
    and a v4 peer's address is never shown as ``::ffff:a.b.c.d``.
    """
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        raise bind_error(exc, address) from None


def windows_udp_error(exc: OSError, max_bytes: int) -> OSError:
    """Windows' UDP errors as Linux reports the same conditions.

    * An ICMP port-unreachable fails the next receive with ``WSAECONNRESET``;
      on a connected socket Linux says ``ECONNREFUSED``, and so do we (an
      unconnected ``recv_from`` skips it: see `UdpSocket.recv_from`).
    * A datagram longer than ``max_bytes`` is cut *and* fails with
      ``WSAEMSGSIZE`` (Linux truncates silently); CPython drops the part it
      got, so all we can do is say what happened.
    """
    if sys.platform != "win32":
        return exc
    if isinstance(exc, ConnectionResetError):
        return ConnectionRefusedError(errno.ECONNREFUSED, "connection refused")
    if exc.errno == errno.EMSGSIZE:
        return OSError(exc.errno, f"a datagram longer than max_bytes={max_bytes} arrived "
                                  "and Windows discarded it")
    return exc


def name_peer(exc: OSError, op: str, address: Any) -> OSError:
    """The same error type (a reset stays `ConnectionResetError`), its message
    extended with the operation and the peer: ``... (reading from 1.2.3.4:80)``."""
    return type(exc)(exc.errno, f"{exc.strerror} ({op} {describe(address)})")
