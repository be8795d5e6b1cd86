"""What a backend cannot do on this machine, and why: each a visible skip.

Contract tests call `skip_unless_supported(backend, feature)`; a feature not
listed for a backend is expected to work there.
"""

from __future__ import annotations

import sys

import pytest

from tests.helpers.platform_gaps import UNDER_WINE


def _limits() -> dict[tuple[str, str], str]:
    limits: dict[tuple[str, str], str] = {}
    if sys.platform != "darwin":
        limits["kqueue", "priority"] = (
            "kqueue has no priority filter (only macOS flags out-of-band data, EV_OOBAND)")
    limits["iocp", "nesting"] = (
        "a completion port is not a socket, so AFD cannot poll it inside another Poll")
    if UNDER_WINE:
        # Probed with plain blocking sockets under Wine, no runtime involved.
        limits["iocp", "reset_error"] = (
            "Wine 8 reads a peer's RST as end-of-file (recv returns b''; Windows "
            "raises WSAECONNRESET)")
        limits["iocp", "udp_icmp"] = (
            "Wine 8 reports no ICMP port-unreachable to a connected UDP socket (Windows "
            "fails the next recv with WSAECONNRESET)")
    # uring is not a Poll: the executor submits operations to an io_uring Ring
    # (executor/ring_driver.py), so the readiness recipe is not what runs.
    limits["uring", "readiness_recipe"] = (
        "the kernel does each recv itself, as an io_uring operation: Python never "
        "calls socket.recv")
    try:
        from runtime.reactor._kqueue import LIBKQUEUE
    except ImportError:
        return limits
    if LIBKQUEUE:
        limits["kqueue", "eventfd"] = "libkqueue cannot watch an eventfd (EINVAL)"
        limits["kqueue", "nesting"] = "libkqueue's kqueue fd never polls readable"
        # Below the executor only: the event carries the errno instead
        # (Event.error), so a reset or refusal still reads as one above.
        limits["kqueue", "so_error"] = (
            "libkqueue reads SO_ERROR to report the error event, which clears it")
    return limits


LIMITS = _limits()


def supports(backend: str, feature: str) -> bool:
    return (backend, feature) not in LIMITS


def skip_unless_supported(backend: str, feature: str) -> None:
    reason = LIMITS.get((backend, feature))
    if reason is not None:
        pytest.skip(f"{backend}: {reason}")
