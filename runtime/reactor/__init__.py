"""The reactor: the OS event queue behind a small, mio-shaped API.

Usable on its own, with no executor::

    from runtime.reactor import Poll, Events, Interest, Token

It imports nothing from `runtime.executor` or `runtime.io`, and the layers
above use only the names this package exports (``tests/test_layering.py``
checks both).
"""

from typing import TYPE_CHECKING

from ._backends import available_backends, default_backend
from ._readiness import Readiness
from .errors import (
    AlreadyRegisteredError,
    NotRegisteredError,
    PollClosedError,
    UringUnavailableError,
    WakerExistsError,
)
from .events import Event, Events
from .interest import Interest
from .poll import HasFileno, Poll, Registry, Source, fd_of
from .token import Token
from .waker import Waker

if TYPE_CHECKING:  # for type checkers; at run time, __getattr__ below
    from ._uring import CQE_BUFFER as CQE_BUFFER
    from ._uring import CQE_MORE as CQE_MORE
    from ._uring import BufferRing as BufferRing
    from ._uring import Completion as Completion
    from ._uring import Completions as Completions
    from ._uring import Ring as Ring
    from ._uring import RingWaker as RingWaker
    from ._uring_memory import Message as Message
    from ._uring_memory import SockAddr as SockAddr
    from ._uring_memory import allocate as allocate_buffer  # noqa: F401
    from ._uring_memory import take as buffer_bytes  # noqa: F401

__all__ = [
    "AlreadyRegisteredError",
    "Event",
    "Events",
    "HasFileno",
    "Interest",
    "NotRegisteredError",
    "Poll",
    "PollClosedError",
    "Readiness",
    "Registry",
    "Source",
    "Token",
    "UringUnavailableError",
    "Waker",
    "WakerExistsError",
    "available_backends",
    "default_backend",
    "fd_of",
]

#: The completion queue (io_uring, Linux): its own API, loaded on first use so
#: that a build without it (not Linux, or no <linux/io_uring.h>) still imports.
#: public name -> (module, name there). The memory an operation points the
#: kernel at (`allocate_buffer`, `SockAddr`, `Message`) is part of it.
COMPLETION_API: dict[str, tuple[str, str]] = {
    "BufferRing": ("_uring", "BufferRing"),
    "CQE_BUFFER": ("_uring", "CQE_BUFFER"),
    "CQE_MORE": ("_uring", "CQE_MORE"),
    "Completion": ("_uring", "Completion"),
    "Completions": ("_uring", "Completions"),
    "Ring": ("_uring", "Ring"),
    "RingWaker": ("_uring", "RingWaker"),
    "Message": ("_uring_memory", "Message"),
    "SockAddr": ("_uring_memory", "SockAddr"),
    "allocate_buffer": ("_uring_memory", "allocate"),
    "buffer_bytes": ("_uring_memory", "take"),
}


def __getattr__(name: str) -> object:
    where = COMPLETION_API.get(name)
    if where is not None:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{where[0]}"), where[1])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
