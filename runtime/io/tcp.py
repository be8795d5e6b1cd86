"""TCP: `TcpListener` and `TcpStream`."""

from __future__ import annotations

import errno
import socket
import ssl as _ssl
import sys
from typing import Any, Literal, overload

from ..errors import ClosedResourceError
from ..lowlevel import socket_source
from ..resource import Resource
from .dns import getaddrinfo
from .happy_eyeballs import connect_first
from .naming import bind_naming_errors
from .stream import Stream
from .tls import TlsStream


class TcpStream(Stream):
    """A TCP connection: a buffered `Stream` with ``TCP_NODELAY`` on."""

    __slots__ = ()

    @overload
    @classmethod
    async def connect(cls, host: str, port: int, *, happy_eyeballs_delay: float = ...,
                      local_address: tuple[str, int] | None = None, ssl: None = None,
                      server_hostname: None = None) -> TcpStream: ...

    @overload
    @classmethod
    async def connect(cls, host: str, port: int, *, happy_eyeballs_delay: float = ...,
                      local_address: tuple[str, int] | None = None,
                      ssl: _ssl.SSLContext | Literal[True],
                      server_hostname: str | None = None) -> TlsStream: ...

    @classmethod
    async def connect(cls, host: str, port: int, *, happy_eyeballs_delay: float = 0.25,
                      local_address: tuple[str, int] | None = None,
                      ssl: _ssl.SSLContext | bool | None = None,
                      server_hostname: str | None = None) -> TcpStream | TlsStream:
        """Resolve ``host`` (off the loop) and connect, racing addresses per RFC 8305.

        ``local_address`` binds the connecting socket first (``(host, port)``,
        port 0 for any): the source address the peer sees. Its bind failing
        (``EADDRNOTAVAIL``, ``EADDRINUSE``) names the address. Raises
        `ConnectionRefusedError` / `OSError` naming the address when every
        attempt fails, `socket.gaierror` when the name does not resolve.

        ``ssl=True`` (the system's trusted CAs) or an `ssl.SSLContext` returns
        a `TlsStream` whose handshake has completed, as asyncio's
        ``open_connection(ssl=...)`` does; ``server_hostname`` (default
        ``host``) is the name the certificate must carry and the SNI sent. A
        failed handshake closes the connection and raises
        `BrokenResourceError` saying why.
        """
        context = _client_context(ssl, server_hostname)
        infos = await getaddrinfo(host, port, type=socket.SOCK_STREAM)
        targets = [(int(family), int(type_), proto, addr)
                   for family, type_, proto, _, addr in infos]
        sock = await connect_first(targets, happy_eyeballs_delay, local_address)
        stream = cls(sock)
        if context is None:
            return stream
        try:
            tls = TlsStream(stream, context, server_hostname=server_hostname or host)
            await tls.do_handshake()
        except BaseException:
            stream.close()
            raise
        return tls


def _client_context(ssl: _ssl.SSLContext | bool | None,
                    server_hostname: str | None) -> _ssl.SSLContext | None:
    if ssl is None or ssl is False:
        if server_hostname is not None:
            raise ValueError("server_hostname is only meaningful with ssl")
        return None
    if ssl is True:
        return _ssl.create_default_context()
    if isinstance(ssl, _ssl.SSLContext):
        return ssl
    raise TypeError(f"ssl must be an ssl.SSLContext, True or None, got {ssl!r}")


class TcpListener(Resource):
    """A listening TCP socket. ``await listener.accept()`` gives a `TcpStream`."""

    __slots__ = ("_closed", "_src")

    def __init__(self, sock: socket.socket) -> None:
        self._src = socket_source(sock)
        self._closed = False

    @classmethod
    async def bind(cls, host: str | None, port: int, *, backlog: int = 1024,
                   reuse_port: bool = False) -> TcpListener:
        """Listen on ``host:port`` (port 0: any free port; see `local_address`).

        Binds the first address ``host`` resolves to; `bind_all` binds every
        one (``host=None`` means both 0.0.0.0 and ::). ``SO_REUSEADDR`` is on
        (restart without waiting out TIME_WAIT), as in asyncio and trio (on
        Windows ``SO_EXCLUSIVEADDRUSE``, as in trio: its ``SO_REUSEADDR`` means
        something else); an IPv6 socket is IPv6-only.
        """
        family, type_, proto, address = (await _passive_targets(host, port))[0]
        return cls._adopt([_listening_socket(family, type_, proto, address, backlog,
                                             reuse_port)])[0]

    @classmethod
    async def bind_all(cls, host: str | None, port: int, *, backlog: int = 1024,
                       reuse_port: bool = False) -> list[TcpListener]:
        """A listener on every address ``host`` resolves to, all on one port.

        ``host=None`` (or ``""``) is every interface, IPv4 and IPv6, as
        trio's ``open_tcp_listeners`` and asyncio's ``start_server`` do. With
        port 0 the first listener's free port is used for the others (tried
        afresh if another program holds it on their address). An address
        the machine cannot bind (``EAFNOSUPPORT``: no IPv6; ``EADDRNOTAVAIL``:
        ``localhost``'s ::1 with IPv6 switched off) is skipped while another
        binds; any other failure closes what was bound and raises.
        """
        targets = await _passive_targets(host, port)
        for attempt in range(_PORT_ZERO_ATTEMPTS):
            socks: list[socket.socket] = []
            skipped: OSError | None = None
            try:
                chosen = port
                for family, type_, proto, address in targets:
                    try:
                        sock = _listening_socket(family, type_, proto,
                                                 (address[0], chosen, *address[2:]), backlog,
                                                 reuse_port)
                    except OSError as exc:
                        if exc.errno in _NOT_HERE and len(targets) > 1:
                            skipped = skipped or exc
                            continue
                        raise
                    socks.append(sock)
                    chosen = sock.getsockname()[1]
            except BaseException as exc:
                for sock in socks:
                    sock.close()
                if (port == 0 and socks and isinstance(exc, OSError)
                        and exc.errno == errno.EADDRINUSE and attempt + 1 < _PORT_ZERO_ATTEMPTS):
                    continue  # the port the kernel gave us is taken on another address
                raise
            if not socks:
                assert skipped is not None  # targets is never empty: getaddrinfo raises
                raise skipped  # none of them could be bound here
            return cls._adopt(socks)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @classmethod
    def _adopt(cls, socks: list[socket.socket]) -> list[TcpListener]:
        listeners: list[TcpListener] = []
        try:
            for sock in socks:
                listeners.append(cls(sock))
        except BaseException:
            for listener in listeners:
                listener.close()
            for sock in socks[len(listeners):]:
                sock.close()
            raise
        return listeners

    @property
    def local_address(self) -> Any:
        return self._src.sock.getsockname()

    @property
    def socket(self) -> socket.socket:
        return self._src.sock

    async def accept(self) -> TcpStream:
        """Wait for the next connection. ``EMFILE`` and friends propagate as `OSError`."""
        if self._closed:
            raise ClosedResourceError("accept() on a closed TcpListener")
        sock, _ = await self._src.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return TcpStream(sock)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._src.close()

    def __repr__(self) -> str:
        where = "closed" if self._closed else self.local_address
        return f"<TcpListener {where}>"


async def _passive_targets(host: str | None, port: int) -> list[tuple[int, int, int, Any]]:
    """Where to listen: (family, type, proto, address) for each address of
    ``host`` (``None`` or ``""``: every interface), in getaddrinfo's order, once."""
    infos = await getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                              flags=socket.AI_PASSIVE)
    return list(dict.fromkeys(
        (int(family), int(type_), proto, addr) for family, type_, proto, _, addr in infos))


#: `TcpListener.bind_all` skips an address failing so while another binds.
_NOT_HERE = frozenset((errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL))
#: How often `TcpListener.bind_all` on port 0 picks a new port when the one
#: the kernel gave its first address is taken on another.
_PORT_ZERO_ATTEMPTS = 5


def _listening_socket(family: int, type_: int, proto: int, address: Any, backlog: int,
                      reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, type_, proto)
    try:
        if sys.platform == "win32":
            # Windows' SO_REUSEADDR would let this bind steal a port in
            # use; SO_EXCLUSIVEADDRUSE refuses it, as trio does there.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            if not hasattr(socket, "SO_REUSEPORT"):
                raise ValueError("reuse_port=True: this platform has no SO_REUSEPORT")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        bind_naming_errors(sock, address)
        sock.listen(backlog)
        return sock
    except BaseException:
        sock.close()
        raise
