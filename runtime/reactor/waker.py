"""`Waker`: wake a thread blocked in `Poll.poll` from any other thread."""

from __future__ import annotations

from .poll import Registry
from .token import Token


class Waker:
    """Makes a blocked (or the next) `Poll.poll` return an event with ``token``.

    One per `Poll` (a second raises `WakerExistsError`), as in mio. On Linux it
    is an eventfd; on kqueue an ``EVFILT_USER`` event. Several `wake` calls
    before the poller runs may be reported as one event. `wake` is safe from
    any thread; after `close` (or `Poll.close`) it raises `PollClosedError`.
    """

    __slots__ = ("__weakref__", "_registry", "_sys", "token")

    def __init__(self, registry: Registry, token: Token) -> None:
        self._sys = registry._attach_waker(self, token)
        self._registry = registry
        self.token = token

    def wake(self) -> None:
        self._sys.wake()

    def close(self) -> None:
        self._sys.close()
        self._registry._detach_waker(self)

    def __enter__(self) -> Waker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
