"""What a platform lacks, as pytest marks that say why a test cannot run there.

The suites run on Linux and, through ``scripts/test-windows-wine.sh``, on
Windows CPython under Wine (see docs/windows.md). A test that needs something
one of them lacks carries one of these marks, so each skip prints its reason
and nothing is excused by a list kept elsewhere.
"""

from __future__ import annotations

import socket
import sys

import pytest

ON_WINDOWS = sys.platform == "win32"


def _under_wine() -> bool:
    if not ON_WINDOWS:
        return False
    import ctypes

    # Wine's ntdll exports wine_get_version; Windows' does not.
    return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


UNDER_WINE = _under_wine()


def _why_trio_cannot_start() -> str | None:
    if not ON_WINDOWS:
        return None
    try:
        import trio
    except ImportError:
        return "trio is not installed here"

    try:
        trio.run(trio.sleep, 0)
    except OSError as exc:
        # trio's Windows loop asks Winsock for SIO_BSP_HANDLE_SELECT at start-up,
        # which Wine 8 refuses with WSAEOPNOTSUPP.
        return f"trio cannot start here ({exc}); the side-by-side runs need it"
    return None


_TRIO_BROKEN = _why_trio_cannot_start()

#: On the trio half of a side-by-side parametrization.
needs_trio = pytest.mark.skipif(_TRIO_BROKEN is not None, reason=_TRIO_BROKEN or "")
#: Unix-domain sockets: CPython for Windows has no ``socket.AF_UNIX``.
needs_af_unix = pytest.mark.skipif(
    not hasattr(socket, "AF_UNIX"), reason="CPython for Windows has no socket.AF_UNIX")


def posix_only(what: str) -> pytest.MarkDecorator:
    """Skip on Windows, where ``what`` (a POSIX facility) does not exist."""
    return pytest.mark.skipif(ON_WINDOWS, reason=f"{what} exists only on POSIX systems")


def wine_gap(what: str) -> pytest.MarkDecorator:
    """Skip under Wine, whose emulation of Windows differs here: ``what`` it does."""
    return pytest.mark.skipif(UNDER_WINE, reason=f"Wine 8 {what} (Windows does not)")
