"""`Resource`: what every closable object of `runtime` shares.

Streams, listeners, sockets and channel ends all have a synchronous
``close()`` (idempotent, never blocks). This base adds the rest once:
``with x:`` and ``async with x:`` close it on the way out, and ``await
x.aclose()`` is ``close()`` plus a cancellation point (trio's
``AsyncResource``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from .executor.traps import checkpoint_if_cancelled


class Resource:
    """Mixin: context managers and `aclose` around the subclass's ``close()``."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close, then a checkpoint (so ``aclose`` is a cancellation point)."""
        self.close()
        await checkpoint_if_cancelled()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()
