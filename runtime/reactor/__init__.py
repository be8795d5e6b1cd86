"""The reactor: the OS event queue behind a small, mio-shaped API.

Usable on its own, with no executor::

    from runtime.reactor import Poll, Events, Interest, Token

It imports nothing from `runtime.executor` or `runtime.io` (a test checks).
"""

from ._backends import available_backends, default_backend
from .errors import AlreadyRegisteredError, NotRegisteredError, PollClosedError, WakerExistsError
from .events import Event, Events
from .interest import Interest
from .poll import Poll, Registry
from .token import Token
from .waker import Waker

__all__ = [
    "AlreadyRegisteredError",
    "Event",
    "Events",
    "Interest",
    "NotRegisteredError",
    "Poll",
    "PollClosedError",
    "Registry",
    "Token",
    "Waker",
    "WakerExistsError",
    "available_backends",
    "default_backend",
]

#: The completion queue (io_uring, Linux): its own API, loaded on first use so
#: that a build without it (not Linux, or no <linux/io_uring.h>) still imports.
_URING = {"Completion", "Completions", "Ring", "RingWaker"}


def __getattr__(name: str) -> object:
    if name in _URING:
        from . import _uring

        return getattr(_uring, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
