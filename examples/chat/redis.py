"""A small Redis client on runtime's own streams, for the chat cluster.

RESP, Redis's wire format, is parsed by ``hiredis`` (the C parser made for it);
what is ours is the connection: commands written in order and their replies
read back in the same order (so a batch of commands is one write and one
round trip: pipelining), a timeout on every reply, typed errors that name the
server, and reconnecting with a capped exponential backoff with jitter.

One rule keeps a connection honest: a reply that was not read to its end
(a timeout, a cancel, a reset in the middle) leaves the next reply on the
wire belonging to somebody else's command. So any such interruption closes
the connection, and the next call opens a new one.
"""

from __future__ import annotations

import random
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import hiredis

import runtime
from runtime.io import TcpStream

#: Seconds to connect (and SELECT the database) before giving up.
CONNECT_TIMEOUT = 2.0
#: Seconds to wait for the replies of one command or batch.
REPLY_TIMEOUT = 2.0
#: Bytes asked of the socket per read.
READ_CHUNK = 65536


class RedisError(Exception):
    """Base class of this client's errors."""


class RedisReplyError(RedisError):
    """The server answered a command with an error (``-ERR ...``, ``-OOM ...``).

    ``code`` is its first word (``ERR``, ``OOM``, ``WRONGTYPE``...). The
    connection stays usable.
    """

    def __init__(self, message: str, command: str) -> None:
        super().__init__(f"{command}: {message}")
        self.code = message.split(" ", 1)[0]
        self.command = command


class RedisConnectionError(RedisError):
    """The server could not be reached, or the connection broke or timed out."""


@dataclass(frozen=True)
class RedisAddress:
    """Where a Redis server listens: ``redis://HOST:PORT/DB``."""

    host: str
    port: int = 6379
    db: int = 0

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        """``redis://HOST[:PORT][/DB]``; `ValueError` naming the URL otherwise."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "redis" or not parts.hostname:
            raise ValueError(f"not a redis://HOST:PORT/DB address: {url!r}")
        try:
            port = parts.port or 6379
            path = parts.path.strip("/")
            db = int(path) if path else 0
        except ValueError:
            raise ValueError(f"bad port or database number in {url!r}") from None
        if db < 0:
            raise ValueError(f"bad database number in {url!r}")
        return cls(parts.hostname, port, db)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}"


def encode(args: Sequence[Any]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int | float) and not isinstance(arg, bool):
            data = repr(arg).encode()
        else:
            raise TypeError(f"a Redis argument must be bytes, str, int or float, "
                            f"not {type(arg).__name__}")
        out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(out)


def _command_name(args: Sequence[Any]) -> str:
    first = args[0] if args else ""
    return first.decode(errors="replace") if isinstance(first, bytes) else str(first)


class RedisConnection:
    """One connection; `execute` and `pipeline` may be called from many tasks
    (a lock keeps each command's replies together)."""

    __slots__ = ("_broken", "_lock", "_reader", "_stream", "address")

    def __init__(self, stream: TcpStream, address: RedisAddress) -> None:
        self._stream = stream
        self._reader = hiredis.Reader()
        self._lock = runtime.Lock()
        self._broken: str | None = None
        self.address = address

    @classmethod
    async def connect(cls, address: RedisAddress, *,
                      timeout: float = CONNECT_TIMEOUT) -> RedisConnection:
        """Connect and select ``address.db``; `RedisConnectionError` naming it if not."""
        try:
            with runtime.fail_after(timeout):
                stream = await TcpStream.connect(address.host, address.port)
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to {address}: {exc}") from exc
        conn = cls(stream, address)
        if address.db:
            try:
                await conn.execute("SELECT", address.db, timeout=timeout)
            except BaseException:
                conn.close()
                raise
        return conn

    @property
    def broken(self) -> bool:
        return self._broken is not None

    async def execute(self, *args: Any, timeout: float = REPLY_TIMEOUT) -> Any:
        """Send one command, return its reply; `RedisReplyError` for an error reply."""
        (reply,) = await self.pipeline([args], timeout=timeout)
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    async def pipeline(self, commands: Sequence[Sequence[Any]], *,
                       timeout: float = REPLY_TIMEOUT) -> list[Any]:
        """Send the commands in one write; return their replies in order, an error
        reply as a `RedisReplyError` in its place (not raised)."""
        payload = b"".join(encode(args) for args in commands)
        async with self._lock:
            if self._broken is not None:
                raise RedisConnectionError(self._broken)
            done = False
            try:
                with runtime.fail_after(timeout):
                    await self._stream.write_all(payload)
                    replies = [await self._reply(args) for args in commands]
                done = True
                return replies
            except TimeoutError as exc:
                raise self._break(f"no reply within {timeout} s") from exc
            except (OSError, runtime.BrokenResourceError, runtime.ClosedResourceError,
                    EOFError) as exc:
                raise self._break(f"connection lost: {exc or type(exc).__name__}") from exc
            except hiredis.ProtocolError as exc:
                raise self._break(f"not a RESP reply: {exc}") from exc
            finally:
                if not done and self._broken is None:
                    # Cancelled part-way: the rest of these replies would be
                    # read as the answers to the next command.
                    self._break("a command was interrupted before its reply was read")

    async def _reply(self, args: Sequence[Any]) -> Any:
        while True:
            reply = self._reader.gets()
            if reply is not False:
                if isinstance(reply, hiredis.ReplyError):
                    return RedisReplyError(str(reply), _command_name(args))
                return reply
            data = await self._stream.read(READ_CHUNK)
            if not data:
                raise EOFError("the server closed the connection")
            self._reader.feed(data)

    def _break(self, why: str) -> RedisConnectionError:
        self._broken = f"{self.address}: {why}"
        self._stream.close()
        return RedisConnectionError(self._broken)

    def close(self) -> None:
        if self._broken is None:
            self._broken = f"{self.address}: connection closed"
        self._stream.close()

    async def __aenter__(self) -> RedisConnection:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Backoff:
    """Capped exponential backoff with "equal jitter": the n-th delay is drawn
    from [d/2, d] where d = min(cap, first * 2**n), so nodes that lost Redis
    together do not all come back in the same millisecond."""

    __slots__ = ("_attempt", "_random", "cap", "first")

    def __init__(self, first: float = 0.05, cap: float = 2.0,
                 rng: Callable[[], float] = random.random) -> None:
        self.first = first
        self.cap = cap
        self._random = rng
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.first * 2 ** self._attempt)
        self._attempt += 1
        return ceiling / 2 + self._random() * ceiling / 2

    def reset(self) -> None:
        self._attempt = 0


class RedisClient:
    """A connection that is opened again when it breaks.

    `call` and `pipeline` fail fast (`RedisConnectionError`) when the server
    cannot be reached: callers decide whether to wait. `wait_connected` is
    the patient path, retrying with `Backoff` until a connection opens.
    """

    __slots__ = ("_conn", "_connecting", "address", "backoff", "connect_timeout")

    def __init__(self, address: RedisAddress | str, *,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 backoff: Backoff | None = None) -> None:
        self.address = address if isinstance(address, RedisAddress) else RedisAddress.parse(address)
        self.connect_timeout = connect_timeout
        self.backoff = backoff or Backoff()
        self._conn: RedisConnection | None = None
        self._connecting = runtime.Lock()

    async def _connection(self) -> RedisConnection:
        async with self._connecting:
            if self._conn is None or self._conn.broken:
                self._conn = await RedisConnection.connect(self.address,
                                                           timeout=self.connect_timeout)
            return self._conn

    async def wait_connected(self) -> None:
        """Return once a connection is open, retrying with backoff meanwhile."""
        while True:
            try:
                await self._connection()
            except RedisConnectionError:
                await runtime.sleep(self.backoff.next_delay())
            else:
                self.backoff.reset()
                return

    async def call(self, *args: Any, timeout: float = REPLY_TIMEOUT) -> Any:
        conn = await self._connection()
        return await conn.execute(*args, timeout=timeout)

    async def pipeline(self, commands: Sequence[Sequence[Any]], *,
                       timeout: float = REPLY_TIMEOUT) -> list[Any]:
        conn = await self._connection()
        return await conn.pipeline(commands, timeout=timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def __aenter__(self) -> RedisClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
