"""Ctrl-C for the runner: SIGINT becomes a cancellation, not a stray exception.

Python's default SIGINT handler raises `KeyboardInterrupt` wherever the main
thread happens to be, which could be in the middle of the run loop's own
bookkeeping. While `runtime.run` runs in the main thread, `SigintCatcher`
replaces it with a handler that only records the signal and wakes the loop;
the loop then cancels the main task (every ``finally`` runs) and `run`
raises `KeyboardInterrupt` at the end.

Waking the loop takes two writes to a socketpair registered with the
reactor: ``signal.set_wakeup_fd`` (written by CPython's C-level handler, so a
signal delivered to *another* thread still wakes an ``epoll_wait`` blocked in
the main thread) and one from the Python-level handler itself (so the loop,
when it sees the event, is sure to see the flag set too).

After the first SIGINT the previous handler is restored: a second Ctrl-C is
not swallowed; it interrupts the cleanup at once, as Python's default does.
"""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType

from ..reactor import Interest, Registry, Token

SIGNAL_TOKEN = Token(1)


class SigintCatcher:
    __slots__ = ("_old_handler", "_old_wakeup_fd", "_registry", "_rsock", "_wsock", "pending")

    def __init__(self, registry: Registry) -> None:
        self.pending = False
        self._registry = registry
        self._rsock: socket.socket | None = None
        self._wsock: socket.socket | None = None
        self._old_handler: object = None
        self._old_wakeup_fd = -1

    def install(self) -> bool:
        """In the main thread: own the wakeup fd, and take over SIGINT if nobody else has."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._rsock, self._wsock = socket.socketpair()
        for s in (self._rsock, self._wsock):
            s.setblocking(False)
        self._registry.register(self._rsock, SIGNAL_TOKEN, Interest.READABLE)
        # Every signal the loop handles (SIGINT, open_signal_receiver's) wakes
        # a poll() through it, even one that arrives just before poll() blocks.
        self._old_wakeup_fd = signal.set_wakeup_fd(self._wsock.fileno(), warn_on_full_buffer=False)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            # (A program that installed its own handler keeps it.)
            self._old_handler = signal.signal(signal.SIGINT, self._handle)
        return True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True
        self._restore_handler()
        try:
            assert self._wsock is not None
            self._wsock.send(b"\0")
        except OSError:
            pass  # the buffer is full: the loop is certain to wake anyway

    def drain(self) -> None:
        if self._rsock is None:
            return
        try:
            while self._rsock.recv(4096):
                pass
        except BlockingIOError:
            self._registry.rearm(self._rsock)  # drained: the next byte is a new edge

    def _restore_handler(self) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)  # type: ignore[arg-type]
            self._old_handler = None

    def uninstall(self) -> None:
        if self._rsock is None:
            return
        self._restore_handler()
        signal.set_wakeup_fd(self._old_wakeup_fd)
        self._registry.deregister(self._rsock)
        self._rsock.close()
        assert self._wsock is not None
        self._wsock.close()
        self._rsock = self._wsock = None
