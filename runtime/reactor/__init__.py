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
