"""The one place that chooses a backend for the platform."""

from __future__ import annotations

import importlib
import sys

from ._selector import Selector

# backend name -> (module, Selector class). Order is preference on this platform.
_BACKENDS: dict[str, tuple[str, str]] = {}
if sys.platform.startswith("linux"):
    _BACKENDS["epoll"] = ("._epoll", "EpollSelector")
    _BACKENDS["kqueue"] = ("._kqueue", "KqueueSelector")  # only if libkqueue was built in
elif sys.platform == "darwin" or "bsd" in sys.platform:
    _BACKENDS["kqueue"] = ("._kqueue", "KqueueSelector")
elif sys.platform == "win32":
    _BACKENDS["iocp"] = ("._iocp", "IocpSelector")


def _load(name: str) -> type[Selector] | None:
    module, cls = _BACKENDS[name]
    try:
        mod = importlib.import_module(module, __package__)
    except ImportError:
        return None  # its extension was not built on this machine
    return getattr(mod, cls)  # type: ignore[no-any-return]


def available_backends() -> list[str]:
    """Backends usable here, the platform's default first."""
    return [name for name in _BACKENDS if _load(name) is not None]


def default_backend() -> str:
    for name in _BACKENDS:
        if _load(name) is not None:
            return name
    raise RuntimeError(f"no reactor backend was built for {sys.platform}")


def open_selector(backend: str | None = None) -> Selector:
    """A new `Selector` of the named backend (``None``: the platform's default)."""
    name = default_backend() if backend is None else backend
    if name not in _BACKENDS:
        raise ValueError(
            f"unknown reactor backend {backend!r} on {sys.platform}; "
            f"known here: {', '.join(_BACKENDS) or 'none'}"
        )
    cls = _load(name)
    if cls is None:
        raise RuntimeError(
            f"reactor backend {name!r} was not built into this install "
            f"(available: {', '.join(available_backends()) or 'none'})"
        )
    return cls()
