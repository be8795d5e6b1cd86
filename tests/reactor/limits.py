"""What a backend cannot do on this machine, and why: each a visible skip.

Contract tests call `skip_unless_supported(backend, feature)`; a feature not
listed for a backend is expected to work there.
"""

from __future__ import annotations

import sys

import pytest


def _limits() -> dict[tuple[str, str], str]:
    limits: dict[tuple[str, str], str] = {}
    if sys.platform != "darwin":
        limits["kqueue", "priority"] = (
            "kqueue has no priority filter (only macOS flags out-of-band data, EV_OOBAND)")
    try:
        from runtime.reactor._kqueue import LIBKQUEUE
    except ImportError:
        return limits
    if LIBKQUEUE:
        limits["kqueue", "eventfd"] = "libkqueue cannot watch an eventfd (EINVAL)"
        limits["kqueue", "nesting"] = "libkqueue's kqueue fd never polls readable"
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
