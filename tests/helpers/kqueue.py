"""What the two kqueue fact files share: the backend, its marks, raw ``kevent``.

``test_kqueue_facts.py`` has the tests any kqueue must pass (the essay's
facts 1-9, and those of 19 and 22), ``test_libkqueue_facts.py`` the ones
that hold on libkqueue alone (how it differs from a kernel); their fixtures
are in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest

from runtime.reactor import available_backends

HAVE_KQUEUE = "kqueue" in available_backends()
if HAVE_KQUEUE:
    from runtime.reactor import _kqueue as K

    LIBKQUEUE = K.LIBKQUEUE
else:
    LIBKQUEUE = False

needs_kqueue = pytest.mark.skipif(
    not HAVE_KQUEUE,
    reason="the kqueue backend is not built here (on Linux: run "
    "scripts/install-libkqueue.sh, then pip install -e . again)",
)
on_libkqueue = pytest.mark.skipif(
    HAVE_KQUEUE and not LIBKQUEUE, reason="a fact about libkqueue, not about a kernel's kqueue"
)


def kevent(kq: int, changes: list[tuple[int, int, int, int, int]], nevents: int = 0,
           timeout: float | None = 0.0) -> tuple[int, int, list[Any]]:
    """``kevent(2)`` raw: (return value, errno, the entries it wrote)."""
    return K.raw_kevent(kq, changes, nevents, timeout)


def drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while sock.recv(65536):
            pass
