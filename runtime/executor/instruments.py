"""Instruments: objects the run loop tells what it does (trio's ``trio.abc.Instrument``).

An instrument has any of these methods; the loop calls each one it has:

===================================  ===============================================
``before_run()`` / ``after_run()``   the loop starts / stops being driven (each
                                     `Runner.run` call, and `close` with tasks left)
``task_spawned(task)``               a task was created
``task_scheduled(task)``             a task was put on the run queue
``before_task_step(task)``           a task is about to take a step
``after_task_step(task)``            ...and has taken it
``task_exited(task)``                a task finished (returned or raised)
``before_io_wait(timeout)``          the loop is about to wait in the reactor
``after_io_wait(timeout)``           ...and is back (``timeout`` None: no limit)
===================================  ===============================================

An instrument that raises is removed, with a warning naming it and the hook,
and the run goes on. With none installed the loop pays one flag test per
wake and per batch of steps (``Runner.instrumented``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import context

logger = logging.getLogger("runtime")

HOOKS = ("before_run", "after_run", "task_spawned", "task_scheduled", "before_task_step",
         "after_task_step", "task_exited", "before_io_wait", "after_io_wait")


class Instruments:
    """The installed instruments, and for each hook the methods to call."""

    __slots__ = ("_on_change", "by_hook", "installed")

    def __init__(self, on_change: Callable[[bool], None]) -> None:
        self.installed: list[Any] = []
        self.by_hook: dict[str, list[Callable[..., Any]]] = {}
        self._on_change = on_change  # told whether any instrument is installed

    def add(self, instrument: Any) -> None:
        """Install ``instrument`` (again: nothing happens)."""
        if any(existing is instrument for existing in self.installed):
            return
        hooks = {name: getattr(instrument, name) for name in HOOKS
                 if callable(getattr(instrument, name, None))}
        if not hooks:
            raise TypeError(f"{instrument!r} has none of the instrument hooks {', '.join(HOOKS)}")
        self.installed.append(instrument)
        for name, method in hooks.items():
            self.by_hook.setdefault(name, []).append(method)
        self._on_change(True)

    def remove(self, instrument: Any) -> None:
        """Uninstall ``instrument``; `KeyError` if it is not installed."""
        index = next((i for i, existing in enumerate(self.installed) if existing is instrument),
                     None)
        if index is None:
            raise KeyError(f"instrument {instrument!r} is not installed")
        del self.installed[index]
        for name in HOOKS:
            methods = self.by_hook.get(name)
            if methods:
                methods[:] = [m for m in methods if getattr(m, "__self__", None) is not instrument]
                if not methods:
                    del self.by_hook[name]
        self._on_change(bool(self.installed))

    def call(self, hook: str, *args: Any) -> None:
        methods = self.by_hook.get(hook)
        if not methods:
            return
        for method in list(methods):
            try:
                method(*args)
            except BaseException as exc:  # as trio: an instrument never kills the run
                instrument = method.__self__  # type: ignore[attr-defined]
                logger.warning("instrument %r raised %r in %s; it was removed",
                               instrument, exc, hook, exc_info=exc)
                if any(existing is instrument for existing in self.installed):
                    self.remove(instrument)


def add_instrument(instrument: Any) -> None:
    """Install ``instrument`` on the running runtime (trio's ``add_instrument``)."""
    context.runner().instruments.add(instrument)


def remove_instrument(instrument: Any) -> None:
    """Uninstall ``instrument``; `KeyError` if it is not installed."""
    context.runner().instruments.remove(instrument)
