"""`RuntimeBackend`: anyio's `AsyncBackend`, one `runtime` call per method."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import copy_context
from signal import Signals
from typing import IO, Any, Literal, cast

from anyio import BusyResourceError, ClosedResourceError, RunFinishedError, TaskInfo, abc
from anyio._core._eventloop import claim_worker_thread
from anyio._core._synchronization import CapacityLimiter as BaseCapacityLimiter
from anyio._core._synchronization import Event as BaseEvent
from anyio._core._synchronization import Lock as BaseLock
from anyio._core._synchronization import Semaphore as BaseSemaphore
from anyio._core._tasks import CancelScope as BaseCancelScope
from anyio.abc import IPSockAddrType
from anyio.abc._eventloop import AsyncBackend, StrOrBytesPath
from anyio.abc._tasks import get_callable_name

import runtime
from runtime.io import (
    TcpStream,
    UdpSocket,
    UnixDatagramSocket,
    UnixStream,
    getaddrinfo,
    getnameinfo,
)

from . import _sockets
from ._sync import Event, Lock, Semaphore
from ._tasks import CancelScope, RuntimeTaskInfo, TaskGroup
from ._testing import TestRunner


@contextmanager
def _signal_receiver(signals: tuple[Signals, ...]) -> Iterator[AsyncIterator[Signals]]:
    with runtime.open_signal_receiver(*signals) as received:
        yield (Signals(signum) async for signum in received)  # anyio hands out the enum


async def _call(func: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    runtime.current_task().name = get_callable_name(func)  # anyio names the main task so
    return await func(*args)  # anyio accepts any awaitable-returning callable


class RuntimeBackend(AsyncBackend):
    @classmethod
    def run(cls, func: Callable[..., Awaitable[Any]], args: tuple[Any, ...],
            kwargs: dict[str, Any], options: dict[str, Any]) -> Any:
        return runtime.run(_call(func, *args), **options)

    @classmethod
    def current_token(cls) -> object:
        return runtime.current_token()

    @classmethod
    def current_time(cls) -> float:
        return runtime.current_time()

    @classmethod
    def cancelled_exception_class(cls) -> type[BaseException]:
        return runtime.Cancelled

    @classmethod
    async def checkpoint(cls) -> None:
        await runtime.checkpoint()

    @classmethod
    async def checkpoint_if_cancelled(cls) -> None:
        runtime.check_cancelled()  # no schedule point unless cancelled (anyio's contract)

    @classmethod
    async def cancel_shielded_checkpoint(cls) -> None:
        await runtime.yield_now()

    @classmethod
    async def sleep(cls, delay: float) -> None:
        await runtime.sleep(delay)

    @classmethod
    def create_cancel_scope(cls, *, deadline: float = math.inf,
                            shield: bool = False) -> BaseCancelScope:
        return CancelScope(deadline=deadline, shield=shield)

    @classmethod
    def current_effective_deadline(cls) -> float:
        return runtime.current_effective_deadline()

    @classmethod
    def create_task_group(cls) -> abc.TaskGroup:
        return TaskGroup()

    @classmethod
    def create_event(cls) -> BaseEvent:
        return Event()

    @classmethod
    def create_lock(cls, *, fast_acquire: bool) -> BaseLock:
        return Lock(fast_acquire=fast_acquire)

    @classmethod
    def create_semaphore(cls, initial_value: int, *, max_value: int | None = None,
                         fast_acquire: bool = False) -> BaseSemaphore:
        return Semaphore(initial_value, max_value=max_value, fast_acquire=fast_acquire)

    @classmethod
    def create_capacity_limiter(cls, total_tokens: float) -> BaseCapacityLimiter:
        from ._limiter import CapacityLimiter

        return CapacityLimiter(total_tokens)

    @classmethod
    async def run_sync_in_worker_thread(cls, func: Callable[..., Any], args: tuple[Any, ...],
                                        abandon_on_cancel: bool = False,
                                        limiter: BaseCapacityLimiter | None = None) -> Any:
        from ._limiter import runtime_limiter

        token = runtime.current_token()

        def in_worker() -> Any:
            with claim_worker_thread(RuntimeBackend, token):
                return func(*args)

        return await runtime.to_thread(in_worker, abandon_on_cancel=abandon_on_cancel,
                                       limiter=runtime_limiter(limiter))

    @classmethod
    def check_cancelled(cls) -> None:
        runtime.from_thread.check_cancelled()

    @classmethod
    def run_async_from_thread(cls, func: Callable[..., Coroutine[Any, Any, Any]],
                              args: tuple[Any, ...], token: object) -> Any:
        try:
            return runtime.from_thread.run(func, *args, token=cast(runtime.RuntimeToken, token))
        except runtime.RunFinishedError:
            raise RunFinishedError from None

    @classmethod
    def run_sync_from_thread(cls, func: Callable[..., Any], args: tuple[Any, ...],
                             token: object) -> Any:
        try:
            return runtime.from_thread.run_sync(func, *args,
                                               token=cast(runtime.RuntimeToken, token))
        except runtime.RunFinishedError:
            raise RunFinishedError from None

    @classmethod
    def run_sync_soon(cls, func: Callable[..., object], args: tuple[Any, ...],
                      token: object) -> None:
        try:
            token.run_sync_soon(copy_context().run, func, *args)  # type: ignore[attr-defined]
        except runtime.RunFinishedError:
            raise RunFinishedError from None

    @classmethod
    async def open_process(cls, command: StrOrBytesPath | Sequence[StrOrBytesPath], *,
                           stdin: int | IO[Any] | None, stdout: int | IO[Any] | None,
                           stderr: int | IO[Any] | None, **kwargs: Any) -> abc.Process:
        from ._process import open_process

        return await open_process(command, stdin=stdin, stdout=stdout, stderr=stderr, **kwargs)

    @classmethod
    def setup_process_pool_exit_at_shutdown(cls, workers: set[abc.Process]) -> None:
        from ._process import close_at_exit

        close_at_exit(workers)

    @classmethod
    async def connect_tcp(cls, host: str, port: int,
                          local_address: IPSockAddrType | None = None) -> abc.SocketStream:
        stream = await TcpStream.connect(host, port, local_address=local_address)
        return _sockets.SocketStream(stream)

    @classmethod
    async def connect_unix(cls, path: str | bytes,
                           kind: Literal[socket.SocketKind.SOCK_STREAM,
                                         socket.SocketKind.SOCK_SEQPACKET]
                           ) -> abc.UNIXSocketStream:
        return _sockets.UNIXSocketStream(await UnixStream.connect(path, kind=kind))

    @classmethod
    def create_tcp_listener(cls, sock: socket.socket) -> abc.SocketListener:
        return _sockets.listener_for(sock)

    @classmethod
    def create_unix_listener(cls, sock: socket.socket) -> abc.SocketListener:
        return _sockets.listener_for(sock)

    @classmethod
    async def create_udp_socket(cls, family: socket.AddressFamily,
                                local_address: IPSockAddrType | None,
                                remote_address: IPSockAddrType | None,
                                reuse_port: bool) -> abc.UDPSocket | abc.ConnectedUDPSocket:
        host, port = local_address[:2] if local_address else (None, 0)
        udp = await UdpSocket.bind(host, port, family=family, reuse_port=reuse_port)
        if remote_address is None:
            return _sockets.UDPSocket(udp)
        try:
            await udp.connect(*remote_address[:2])
        except BaseException:
            udp.close()
            raise
        return _sockets.ConnectedUDPSocket(udp)

    @classmethod
    async def create_unix_datagram_socket(  # type: ignore[override]
            cls, raw_socket: socket.socket, remote_path: str | bytes | None
    ) -> abc.UNIXDatagramSocket | abc.ConnectedUNIXDatagramSocket:
        dgram = UnixDatagramSocket(raw_socket)
        if remote_path is None:
            return _sockets.UNIXDatagramSocket(dgram)
        try:
            await dgram.connect(remote_path)
        except BaseException:
            dgram.close()
            raise
        return _sockets.ConnectedUNIXDatagramSocket(dgram)

    @classmethod
    async def getaddrinfo(cls, host: bytes | str | None, port: str | int | None, *,
                          family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> Any:
        return await getaddrinfo(host, port, family, type, proto, flags)

    @classmethod
    async def getnameinfo(cls, sockaddr: IPSockAddrType, flags: int = 0) -> tuple[str, str]:
        return await getnameinfo(sockaddr, flags)

    @classmethod
    async def wait_readable(cls, obj: Any) -> None:
        try:
            await runtime.lowlevel.wait_readable(obj)
        except runtime.ClosedResourceError:
            raise ClosedResourceError from None
        except runtime.BusyResourceError:
            raise BusyResourceError("reading from") from None

    @classmethod
    async def wait_writable(cls, obj: Any) -> None:
        try:
            await runtime.lowlevel.wait_writable(obj)
        except runtime.ClosedResourceError:
            raise ClosedResourceError from None
        except runtime.BusyResourceError:
            raise BusyResourceError("writing to") from None

    @classmethod
    def notify_closing(cls, obj: Any) -> None:
        runtime.lowlevel.notify_closing(obj)

    @classmethod
    async def wrap_listener_socket(cls, sock: socket.socket) -> abc.SocketListener:
        return _sockets.listener_for(sock)

    @classmethod
    async def wrap_stream_socket(cls, sock: socket.socket) -> abc.SocketStream:
        return _sockets.SocketStream(TcpStream(sock))

    @classmethod
    async def wrap_unix_stream_socket(cls, sock: socket.socket) -> abc.UNIXSocketStream:
        return _sockets.UNIXSocketStream(UnixStream(sock))

    @classmethod
    async def wrap_udp_socket(cls, sock: socket.socket) -> abc.UDPSocket:
        return _sockets.UDPSocket(UdpSocket(sock))

    @classmethod
    async def wrap_connected_udp_socket(cls, sock: socket.socket) -> abc.ConnectedUDPSocket:
        return _sockets.ConnectedUDPSocket(UdpSocket(sock))

    @classmethod
    async def wrap_unix_datagram_socket(cls, sock: socket.socket) -> abc.UNIXDatagramSocket:
        return _sockets.UNIXDatagramSocket(UnixDatagramSocket(sock))

    @classmethod
    async def wrap_connected_unix_datagram_socket(
            cls, sock: socket.socket) -> abc.ConnectedUNIXDatagramSocket:
        return _sockets.ConnectedUNIXDatagramSocket(UnixDatagramSocket(sock))

    @classmethod
    def current_default_thread_limiter(cls) -> BaseCapacityLimiter:
        from ._limiter import default_limiter

        return default_limiter()

    @classmethod
    def open_signal_receiver(cls, *signals: Signals
                             ) -> AbstractContextManager[AsyncIterator[Signals]]:
        return _signal_receiver(signals)

    @classmethod
    def get_current_task(cls) -> TaskInfo:
        return RuntimeTaskInfo(runtime.current_task())

    @classmethod
    def get_running_tasks(cls) -> Sequence[TaskInfo]:
        return [RuntimeTaskInfo(task) for task in runtime.running_tasks()]

    @classmethod
    async def wait_all_tasks_blocked(cls) -> None:
        await runtime.testing.wait_all_tasks_blocked()

    @classmethod
    def create_test_runner(cls, options: dict[str, Any]) -> TestRunner:
        return TestRunner(**options)
