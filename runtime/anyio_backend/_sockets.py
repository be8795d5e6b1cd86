"""anyio's socket streams, listeners and datagram sockets over `runtime.io`.

Every method is one call into a `runtime.io` object; what is added here is
anyio's vocabulary: `EndOfStream` for an empty read, `BrokenResourceError`
for an OS error (the ``OSError`` as its cause), anyio's `ClosedResourceError`
and `BusyResourceError` for runtime's.
"""

from __future__ import annotations

import socket
from collections.abc import Collection
from io import IOBase
from typing import Any, NoReturn

from anyio import BrokenResourceError, BusyResourceError, ClosedResourceError, EndOfStream, abc
from anyio._core._sockets import convert_ipv6_sockaddr
from anyio._core._synchronization import ResourceGuard
from anyio.abc import IPSockAddrType, UDPPacketType, UNIXDatagramPacketType

import runtime
from runtime.io import (
    Stream,
    TcpListener,
    TcpStream,
    UdpSocket,
    UnixDatagramSocket,
    UnixListener,
    UnixStream,
)

#: What one receive asks for (anyio's default on every backend).
RECEIVE_SIZE = 65536


class _Wrapper:
    """The raw socket, closing, and the error translation shared by every class."""

    _inner: Any

    @property
    def _raw_socket(self) -> socket.socket:
        return self._inner.socket  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _convert(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, runtime.ClosedResourceError):
            raise ClosedResourceError from exc
        if isinstance(exc, runtime.BusyResourceError):
            raise BusyResourceError(str(exc)) from exc
        if isinstance(exc, OSError):
            if self._inner.socket.fileno() < 0:
                raise ClosedResourceError from exc
            raise BrokenResourceError from exc
        raise exc


class SocketStream(_Wrapper, abc.SocketStream):
    def __init__(self, stream: Stream) -> None:
        self._inner = stream
        self._receive_guard = ResourceGuard("reading from")
        self._send_guard = ResourceGuard("writing to")

    async def receive(self, max_bytes: int = RECEIVE_SIZE) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        with self._receive_guard:
            try:
                data = await self._inner.read(max_bytes)
            except BaseException as exc:
                self._convert(exc)
        if not data:
            raise EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        with self._send_guard:
            try:
                await self._inner.write_all(item)
            except BaseException as exc:
                self._convert(exc)

    async def send_eof(self) -> None:
        try:
            await self._inner.shutdown_write()
        except BaseException as exc:
            self._convert(exc)


class UNIXSocketStream(SocketStream, abc.UNIXSocketStream):
    _inner: UnixStream

    async def receive_fds(self, msglen: int, maxfds: int) -> tuple[bytes, list[int]]:
        if not isinstance(msglen, int) or msglen < 0:
            raise ValueError("msglen must be a non-negative integer")
        if not isinstance(maxfds, int) or maxfds < 1:
            raise ValueError("maxfds must be a positive integer")
        with self._receive_guard:
            try:
                message, fds = await self._inner.receive_fds(msglen, maxfds)
            except BaseException as exc:
                self._convert(exc)
        if not message and not fds:
            raise EndOfStream
        return message, fds

    async def send_fds(self, message: bytes, fds: Collection[int | IOBase]) -> None:
        if not message:
            raise ValueError("message must not be empty")
        if not fds:
            raise ValueError("fds must not be empty")
        await runtime.checkpoint()
        with self._send_guard:
            try:
                await self._inner.send_fds(message, fds)
            except BaseException as exc:
                self._convert(exc)


class SocketListener(_Wrapper, abc.SocketListener):
    def __init__(self, listener: TcpListener | UnixListener) -> None:
        self._inner = listener
        self._accept_guard = ResourceGuard("accepting connections from")

    async def accept(self) -> SocketStream:
        with self._accept_guard:
            try:
                stream = await self._inner.accept()
            except BaseException as exc:
                self._convert(exc)
        if isinstance(stream, UnixStream):
            return UNIXSocketStream(stream)
        return SocketStream(stream)


class _Datagrams(_Wrapper):
    def __init__(self, inner: UdpSocket | UnixDatagramSocket) -> None:
        self._inner = inner
        self._receive_guard = ResourceGuard("reading from")
        self._send_guard = ResourceGuard("writing to")


class UDPSocket(_Datagrams, abc.UDPSocket):
    async def receive(self) -> tuple[bytes, IPSockAddrType]:
        with self._receive_guard:
            try:
                data, address = await self._inner.recv_from(RECEIVE_SIZE)
            except BaseException as exc:
                self._convert(exc)
        return data, convert_ipv6_sockaddr(address)

    async def send(self, item: UDPPacketType) -> None:
        with self._send_guard:
            try:
                await self._inner.send_to(*item)
            except BaseException as exc:
                self._convert(exc)


class _ConnectedDatagrams(_Datagrams):
    async def receive(self) -> bytes:
        with self._receive_guard:
            try:
                return await self._inner.recv(RECEIVE_SIZE)
            except BaseException as exc:
                self._convert(exc)

    async def send(self, item: bytes) -> None:
        with self._send_guard:
            try:
                await self._inner.send(item)
            except BaseException as exc:
                self._convert(exc)


class ConnectedUDPSocket(_ConnectedDatagrams, abc.ConnectedUDPSocket):
    pass


class UNIXDatagramSocket(_Datagrams, abc.UNIXDatagramSocket):
    async def receive(self) -> UNIXDatagramPacketType:
        with self._receive_guard:
            try:
                return await self._inner.recv_from(RECEIVE_SIZE)
            except BaseException as exc:
                self._convert(exc)

    async def send(self, item: UNIXDatagramPacketType) -> None:
        with self._send_guard:
            try:
                await self._inner.send_to(*item)
            except BaseException as exc:
                self._convert(exc)


class ConnectedUNIXDatagramSocket(_ConnectedDatagrams, abc.ConnectedUNIXDatagramSocket):
    pass


def stream_for(sock: socket.socket) -> SocketStream:
    """The anyio stream for a connected socket (Unix or TCP)."""
    if sock.family == getattr(socket, "AF_UNIX", None):
        return UNIXSocketStream(UnixStream(sock))
    return SocketStream(TcpStream(sock))


def listener_for(sock: socket.socket) -> SocketListener:
    """The anyio listener for a bound, listening socket (Unix or TCP)."""
    if sock.family == getattr(socket, "AF_UNIX", None):
        return SocketListener(UnixListener(sock))
    return SocketListener(TcpListener(sock))
