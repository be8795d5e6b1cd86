"""`RuntimeEventLoop`: an asyncio event loop that is the runtime's run loop.

Nothing here runs a loop of its own. asyncio's pieces are placed inside
`runtime`'s (through `runtime.lowlevel.Host`):

* **Callbacks** (``call_soon``) go to asyncio's ``_ready`` deque, drained by
  one `CallbackWaker` that sits in the runtime's run queue beside its tasks;
  each drain runs the callbacks that were ready when it started, as
  asyncio's ``_run_once`` does, and queues itself again for the rest.
* **Timers** (``call_at``) are entries in the runner's `TimerHeap`; due, a
  timer's handle joins ``_ready``. ``loop.time()`` is the runner's clock
  (`runtime.current_time`).
* **fds** (``add_reader``, transports) sit on the IO driver's `ScheduledIo`,
  registered once and edge-triggered (`watch.FdWatch`).
* ``call_soon_threadsafe`` wakes the drain from another thread, which goes
  through the runner's remote queue and the reactor's `Waker`.
* sniffio says ``"asyncio"`` while asyncio callbacks run (the runtime's
  tasks see ``"runtime"``), so libraries that ask (httpx, anyio) pick asyncio.
* ``run_forever`` runs the runner (`Host.run`) with a main task that parks
  until ``stop()``; inside ``runtime.run`` the loop is attached to that
  runtime instead (`bridge.py`) and never runs on its own.

The rest (futures, tasks, ``create_connection``, servers, SSL through
``sslproto``, pipes, subprocesses, signals, executors, ``getaddrinfo``,
``sendfile``) is the stdlib's, inherited from its Unix selector loop, with
socket transports that read edge-triggered (`transports.py`).
"""

from __future__ import annotations

import collections
import contextvars
import errno
import select
import selectors
import signal
import socket
import sys
import threading
import weakref
from asyncio import base_events, coroutines, events, format_helpers, unix_events
from collections.abc import Callable
from typing import Any

import sniffio

from ..errors import RunFinishedError
from ..lowlevel import Host, Waker, current_task, park
from .transports import RECV_BUFFER_SIZE, DatagramTransport, RingSocketTransport, SocketTransport
from .watch import FdWatch

# The stdlib's private machinery is subclassed here; typeshed does not
# describe it, so the bases are typed Any (the public API stays typed).
_TimerHandleBase: Any = events.TimerHandle
_HandleBase: Any = events.Handle
_UnixSelectorLoopBase: Any = unix_events.SelectorEventLoop  # type: ignore[attr-defined]


class TimerHandle(_TimerHandleBase):
    """asyncio's `TimerHandle`, plus its entry in the runner's `TimerHeap`."""

    __slots__ = ("_entry",)

    def _due(self) -> None:
        self._scheduled = False
        loop = self._loop
        loop._ready.append(self)
        if not loop._ready_waker.scheduled:
            loop._ready_waker.wake()


class Handle(_HandleBase):
    """asyncio's `Handle` as ``call_soon`` makes it here: the same object,
    made without the stdlib ``__init__``'s call to ``loop.get_debug()``
    (``call_soon`` makes one per ready future callback: every await)."""

    __slots__ = ()

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...],
                 loop: RuntimeEventLoop, context: Any) -> None:
        self._context = contextvars.copy_context() if context is None else context
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None


def _callback_failed(handle: events.Handle, exc: BaseException) -> None:
    """What ``Handle._run`` reports when its callback raises (written out
    here because `RuntimeEventLoop._run_ready` calls callbacks inline)."""
    callback = format_helpers._format_callback_source(handle._callback, handle._args)
    context = {"message": f"Exception in callback {callback}", "exception": exc,
               "handle": handle}
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    handle._loop.call_exception_handler(context)


class _SelectorView:
    """``loop._selector`` for the stdlib code that inspects it (a transport's
    repr): what each fd is watched for. It selects nothing."""

    def __init__(self, loop: RuntimeEventLoop) -> None:
        self._loop = loop

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        fd = _fd_of(fileobj)
        watch = self._loop._watches.get(fd)
        if watch is None or watch.idle:
            raise KeyError(f"{fileobj!r} is not registered")
        mask = (selectors.EVENT_READ if watch.reader else 0) | (
            selectors.EVENT_WRITE if watch.writer else 0)
        return selectors.SelectorKey(fileobj, fd, mask, (watch.reader, watch.writer))

    def get_map(self) -> dict[int, selectors.SelectorKey]:
        return {fd: self.get_key(fd) for fd, w in self._loop._watches.items() if not w.idle}

    def close(self) -> None:
        pass


def _fd_of(fileobj: Any) -> int:
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class RuntimeEventLoop(_UnixSelectorLoopBase):
    """An asyncio event loop on `runtime`'s run loop, reactor and timers.

    Made with no ``host`` (`runtime.asyncio.new_event_loop`), it owns a
    runtime of its own, on ``backend`` (``$RUNTIME_BACKEND`` or the
    platform's default; ``"uring"``: sockets read by `RingSocketTransport`),
    run by ``run_forever``/``run_until_complete``.
    Inside ``runtime.run`` one is attached to the running runtime and
    returned by ``asyncio.get_running_loop()``.
    """

    def __init__(self, host: Host | None = None, *, backend: str | None = None) -> None:
        base_events.BaseEventLoop.__init__(self)
        self._owns_host = host is None
        self._host: Host = Host.new(backend) if host is None else host
        if self._owns_host:
            self._host.attached["asyncio"] = self  # the runtime's loop (bridge._loop_of)
        self._selector = _SelectorView(self)
        self._transports = weakref.WeakValueDictionary()
        self._signal_handlers: dict[int, Any] = {}
        self._ssock = self._csock = None
        self._watches: dict[int, FdWatch] = {}
        #: The RingSocketTransports that have read, by fd (their reader is not an FdWatch).
        self._ring_readers: dict[int, RingSocketTransport] = {}
        #: Sockets get a RingSocketTransport: the runtime receives on io_uring.
        self._reads_on_ring = self._host.receives_on_ring
        #: What every socket transport of this loop receives into (transports.py).
        self._recv_buffer = memoryview(bytearray(RECV_BUFFER_SIZE))
        self._poller = select.poll()
        self._ready: collections.deque[events.Handle] = collections.deque()
        self._ready_waker = self._host.callback_waker(
            self._run_ready, "asyncio callbacks", self._callback_error)
        self._stop_waker: Waker | None = None
        #: run_forever's main task has returned: what is still queued in this
        #: turn waits for the next run_forever (asyncio's stop() ends the turn).
        self._halted = False

    # -- callbacks ---------------------------------------------------------------

    def _run_ready(self) -> None:
        """The one place asyncio callbacks queued with call_soon are called."""
        if self._halted:
            self._ready_waker.wake()
            return
        ready = self._ready
        debug = self._debug
        sniffio_local = sniffio.thread_local
        library, sniffio_local.name = sniffio_local.name, "asyncio"
        try:
            for _ in range(len(ready)):
                handle = ready.popleft()
                if handle._cancelled:
                    continue
                if debug:
                    self._run_timed(handle)
                    continue
                # Handle._run, inline: one frame less per callback.
                try:
                    handle._context.run(handle._callback, *handle._args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    _callback_failed(handle, exc)
        finally:
            sniffio_local.name = library
        if ready:
            self._ready_waker.wake()
        handle = None  # type: ignore[assignment]  # no reference cycle with an exception

    def _run_timed(self, handle: events.Handle) -> None:
        try:
            self._current_handle = handle
            t0 = self.time()
            handle._run()
            dt = self.time() - t0
            if dt >= self.slow_callback_duration:
                base_events.logger.warning("Executing %s took %.3f seconds",
                                           base_events._format_handle(handle), dt)
        finally:
            self._current_handle = None

    def _callback_error(self, exc: BaseException, handle: events.Handle | None = None) -> None:
        context: dict[str, Any] = {"message": "Exception in runtime.asyncio callback",
                                   "exception": exc}
        if handle is not None:
            context["handle"] = handle
        self.call_exception_handler(context)

    def call_soon(self, callback: Callable[..., object], *args: Any,
                  context: Any = None) -> events.Handle:
        # The stdlib's call_soon, written out: _check_closed, _call_soon and
        # Handle's __init__ are three Python calls, on every await's wake-up.
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:  # the stdlib's checks, and its handle with a traceback
            self._check_thread()
            self._check_callback(callback, "call_soon")
            handle = self._call_soon(callback, args, context)
            if handle._source_traceback:
                del handle._source_traceback[-1]
            return handle
        handle = Handle(callback, args, self, context)
        self._ready.append(handle)
        if not self._ready_waker.scheduled:
            self._ready_waker.wake()
        return handle

    def _call_soon(self, callback: Callable[..., object], args: tuple[Any, ...],
                   context: Any) -> events.Handle:
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        self._ready.append(handle)
        if not self._ready_waker.scheduled:
            self._ready_waker.wake()
        return handle

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any,
                             context: Any = None) -> events.Handle:
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle = events.Handle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        self._ready.append(handle)  # deque.append is atomic
        self._ready_waker.wake()  # from another thread: through the reactor's Waker
        return handle

    def _write_to_self(self) -> None:
        self._ready_waker.wake()

    # -- timers ------------------------------------------------------------------

    def time(self) -> float:
        return self._host.clock()

    def call_at(self, when: float, callback: Callable[..., object], *args: Any,
                context: Any = None) -> events.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        timer = TimerHandle(when, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        timer._entry = self._host.call_at(when, timer._due)
        timer._scheduled = True
        return timer

    def _timer_handle_cancelled(self, handle: events.TimerHandle) -> None:
        if handle._scheduled:
            handle._scheduled = False
            self._host.cancel_timer(handle._entry)  # type: ignore[attr-defined]

    # -- running -----------------------------------------------------------------

    def run_forever(self) -> None:
        self._check_closed()
        self._check_running()
        if not self._owns_host:
            raise RuntimeError("this loop belongs to a runtime.run(): it runs with it")
        if events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                                   finalizer=self._asyncgen_finalizer_hook)
            events._set_running_loop(self)
            self._halted = False
            self._host.poll_io()
            self._host.run(self._until_stopped())
        finally:
            self._stopping = False
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    async def _until_stopped(self) -> None:
        # run_forever's main task: parks until stop(). A stop() before
        # run_forever still lets what is ready now run once (asyncio's rule):
        # this task was queued after the callbacks' drain.
        self._stop_waker = current_task()
        try:
            while not self._stopping:
                await park()
        finally:
            self._stop_waker = None
            self._halted = True

    def stop(self) -> None:
        self._stopping = True
        waker = self._stop_waker
        if waker is not None:
            waker.wake()

    def _run_once(self) -> None:
        """One turn (the stdlib's private hook, which some tests call)."""
        self._stopping = True
        self.run_forever()

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)
        if self._ssock is not None:
            self._close_self_pipe()
        base_events.BaseEventLoop.close(self)
        for fd in list(self._watches):
            self._unwatch(fd)
        for reader in list(self._ring_readers.values()):
            reader._ring_release()
        self._selector = None  # as the stdlib's: transports' reprs then say "open"
        if self._owns_host:
            self._host.close()

    # -- fds -----------------------------------------------------------------------

    def _poll_now(self, fd: int, mask: int) -> bool:
        """Is ``fd`` ready now? One ``poll()`` with a zero timeout."""
        poller = self._poller
        poller.register(fd, mask)
        try:
            return bool(poller.poll(0))
        finally:
            poller.unregister(fd)

    def _transport_open(self, fd: int) -> bool:
        """Does an open transport own ``fd``? (Its fd stays registered while paused.)"""
        transport = self._transports.get(fd)
        return transport is not None and not transport.is_closing()

    def _adopt(self, fd: int) -> None:
        """A transport was just made for ``fd``: whatever was registered under
        that number belonged to an fd closed behind our back, so start afresh."""
        self._unwatch(fd)
        stale = self._ring_readers.get(fd)
        if stale is not None:
            stale._ring_release()  # its receive would hold the old file open
        self._host.forget_stale_io(fd)

    def _watch(self, fd: int) -> FdWatch:
        watch = self._watches.get(fd)
        if watch is None:
            watch = self._watches[fd] = FdWatch(self, self._host, fd)
        return watch

    def _unwatch(self, fd: int) -> None:
        watch = self._watches.pop(fd, None)
        if watch is not None:
            for handle in (watch.remove_reader(), watch.remove_writer()):
                if handle is not None:
                    handle.cancel()
            self._host.notify_closing(fd)

    def _add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> events.Handle:
        self._check_closed()
        fd = _fd_of(fd)
        handle = events.Handle(callback, args, self, None)
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, RingSocketTransport) and owner._sock_fd == fd:
            owner._ring_read(handle)  # a RingSocketTransport reads on the ring
            return handle
        edge = owner if getattr(owner, "_reads_edge_triggered", False) else None
        self._watch(fd).set_reader(handle, edge)
        return handle

    def _remove_reader(self, fd: Any) -> bool:
        if self._ring_readers and not self.is_closed():
            reader = self._ring_readers.get(_fd_of(fd))
            if reader is not None:
                return reader._ring_pause()
        return self._remove(fd, reading=True)

    def _remove(self, fd: Any, reading: bool) -> bool:
        if self.is_closed():
            return False
        fd = _fd_of(fd)
        watch = self._watches.get(fd)
        if watch is None:
            return False
        handle = watch.remove_reader() if reading else watch.remove_writer()
        if watch.idle and not self._transport_open(fd):
            self._unwatch(fd)  # asyncio code closes an fd right after removing it
        if handle is None:
            return False
        handle.cancel()
        return True

    def _add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> events.Handle:
        self._check_closed()
        fd = _fd_of(fd)
        handle = events.Handle(callback, args, self, None)
        self._watch(fd).set_writer(handle)
        return handle

    def _remove_writer(self, fd: Any) -> bool:
        return self._remove(fd, reading=False)

    def _process_events(self, event_list: Any) -> None:
        raise RuntimeError("RuntimeEventLoop has no selector: events go through the IO driver")

    # -- signals: the self-pipe only exists while a handler does --------------------

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        if self._owns_host:
            # A loop of its own: the stdlib's way (its self-pipe as the wakeup fd).
            if self._ssock is None:
                self._check_closed()
                self._make_self_pipe()
            super().add_signal_handler(sig, callback, *args)
            return
        # Inside runtime.run the wakeup fd stays the runtime's (its SIGINT
        # catcher's, which the reactor watches): a Python-level handler hands
        # the signal to the loop through the runner's from-thread queue, as
        # runtime.open_signal_receiver does.
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("add_signal_handler() works only in the main thread")
        self._signal_handlers[sig] = events.Handle(callback, args, self, None)
        token = self._host.runner.token

        def handler(signum: int, frame: object) -> None:
            try:
                token.run_sync_soon(self._handle_signal, signum)
            except RunFinishedError:
                pass  # the runtime has finished: nobody is left to tell

        try:
            signal.signal(sig, handler)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        if self._owns_host:
            return bool(super().remove_signal_handler(sig))
        self._check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        # The wakeup fd is the runtime's: left as it is (the stdlib clears it).
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        return True

    # -- transports ----------------------------------------------------------------

    def _make_socket_transport(self, sock: Any, protocol: Any, waiter: Any = None, *,
                               extra: Any = None, server: Any = None) -> SocketTransport:
        if self._reads_on_ring and sock.type == socket.SOCK_STREAM:
            return RingSocketTransport(self, sock, protocol, waiter, extra, server)
        return SocketTransport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(self, rawsock: Any, protocol: Any, sslcontext: Any,
                            waiter: Any = None, *, server_side: bool = False,
                            server_hostname: str | None = None, extra: Any = None,
                            server: Any = None, ssl_handshake_timeout: Any = None,
                            ssl_shutdown_timeout: Any = None) -> Any:
        from asyncio import constants, sslproto

        ssl_protocol = sslproto.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout or constants.SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout=ssl_shutdown_timeout or constants.SSL_SHUTDOWN_TIMEOUT)
        self._make_socket_transport(rawsock, ssl_protocol, extra=extra, server=server)
        return ssl_protocol._app_transport

    def _make_datagram_transport(self, sock: Any, protocol: Any, address: Any = None,
                                 waiter: Any = None, extra: Any = None) -> DatagramTransport:
        return DatagramTransport(self, sock, protocol, address, waiter, extra)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")
