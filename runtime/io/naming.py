"""Error messages that name the peer: every OS error says what and to whom."""

from __future__ import annotations

from typing import Any


def describe(address: Any) -> str:
    """``127.0.0.1:80``, ``[::1]:80``, a Unix path, or ``unnamed peer``."""
    if isinstance(address, tuple):
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"{host}:{address[1]}"
    return repr(address) if address else "unnamed peer"


def name_peer(exc: OSError, op: str, address: Any) -> OSError:
    """The same error type (a reset stays `ConnectionResetError`), its message
    extended with the operation and the peer: ``... (reading from 1.2.3.4:80)``."""
    return type(exc)(exc.errno, f"{exc.strerror} ({op} {describe(address)})")
