"""`TlsStream`: TLS over any `runtime.io` byte stream, client or server side.

Built the way trio builds ``SSLStream``: an `ssl.SSLObject` between two
`ssl.MemoryBIO`\\ s. OpenSSL never touches the socket; it reads ciphertext
from the incoming BIO and writes ciphertext to the outgoing one, and this
module moves bytes between those BIOs and the stream underneath with its
ordinary ``read`` and ``write_all``. So one implementation runs on every
backend (epoll, kqueue, IOCP, io_uring), and nothing ever blocks in
``ssl.SSLSocket``.

Semantics (trio's ``SSLStream``'s, see docs/tls.md):

* The handshake runs on first use (`read`, `write_all`, ...), or explicitly
  with `do_handshake`; a task that arrives while another runs it waits for it.
* One reader and one writer at a time; a second concurrent reader (or
  writer) gets `BusyResourceError`. Inside, the reader may have to send (a
  TLS 1.3 key update, a renegotiation) and the writer may have to receive:
  taking turns per direction keeps the ciphertext in order on the wire.
* A failed handshake, a bad record, a reset, or a peer that closes the
  connection without ``close_notify`` (a *ragged EOF*, which an attacker
  could forge to truncate the data) raise `BrokenResourceError` naming the
  peer, the `ssl.SSLError` or `OSError` as its ``__cause__``; the stream is
  then broken and every later call says so. ``https_compatible=True``
  reads a ragged EOF as a plain EOF, and `aclose` sends no ``close_notify``.
* Cancellation: a read cancelled while it waits for ciphertext loses
  nothing and the stream stays usable; a cancelled handshake, or a write
  cancelled after part of a record went out, leaves it broken (the wire is
  mid-record), so later calls raise `BrokenResourceError`, never garbage.
* `aclose` sends ``close_notify`` (waiting at most `CLOSE_NOTIFY_TIMEOUT`
  for room in the socket buffer, even when cancelled) and closes the stream
  underneath without waiting for the peer's ``close_notify``, as trio does.
* `shutdown_write` sends ``close_notify`` and keeps reading: TLS 1.3's
  half-close (the peer reads EOF and may go on writing).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from ..errors import BrokenResourceError, ClosedResourceError
from ..executor import move_on_after
from ..lowlevel import checkpoint_if_cancelled
from ..resource import Resource
from ..sync import Event
from .buffered import READ_CHUNK, BufferedReading
from .naming import describe

#: How long `TlsStream.aclose` waits to hand its ``close_notify`` to a socket
#: whose send buffer is full (a peer that stopped reading) before it closes
#: the connection without it.
CLOSE_NOTIFY_TIMEOUT = 1.0
#: How much ciphertext one read of the stream underneath asks for.
CIPHERTEXT_CHUNK = 65536
#: The most plaintext one TLS record carries (RFC 8446 5.1), so the most one
#: ``SSLObject.read`` returns: asking for more only allocates a bigger buffer.
MAX_RECORD = 16384
#: `write_all` encrypts at most this much before handing it to the stream
#: underneath, so a 1 GiB write never holds 1 GiB of ciphertext.
PLAINTEXT_SLICE = 262144


class NeedHandshakeError(Exception):
    """A `TlsStream` property that only the handshake can fill was asked for before it."""


class ByteStream(Protocol):
    """What `TlsStream` needs of the stream it runs over (`Stream` has it all)."""

    async def read(self, max_bytes: int = ...) -> bytes: ...
    async def write_all(self, data: bytes | bytearray | memoryview) -> None: ...
    def close(self) -> None: ...


class _Turn:
    """Whose turn it is to move ciphertext one way: the reader's or the writer's.

    At most two tasks ever compete for a direction (the one reader and the
    one writer), so a waiter is woken by an `Event` and order needs no
    queue; the uncontended case is one attribute test and store.
    """

    __slots__ = ("_free", "busy")

    def __init__(self) -> None:
        self.busy = False
        self._free: Event | None = None

    async def take(self) -> None:
        while self.busy:
            if self._free is None:
                self._free = Event()
            await self._free.wait()  # cancelled here, nothing is held
        self.busy = True

    def give(self) -> None:
        self.busy = False
        free, self._free = self._free, None
        if free is not None:
            free.set()


_SSL_C_LOCATION = re.compile(r"\s*\(_ssl\.c:\d+\)$")


def _ssl_reason(exc: BaseException) -> str:
    """What OpenSSL said, without the C source location CPython appends."""
    verify = getattr(exc, "verify_message", None)
    if verify:
        return f"certificate verify failed: {verify}"
    return _SSL_C_LOCATION.sub("", str(exc)) or type(exc).__name__


def _is_ragged_eof(exc: BaseException | None) -> bool:
    # EOF without close_notify: SSLEOFError on 3.11+, sometimes a bare
    # SSLError naming it (anyio and trio test the text too).
    return isinstance(exc, ssl.SSLEOFError) or (
        isinstance(exc, ssl.SSLError) and "UNEXPECTED_EOF_WHILE_READING" in str(exc))


class TlsStream(BufferedReading, Resource):
    """TLS over ``stream``: the `Stream` reading and writing API, encrypted.

    ``ssl_context`` is an `ssl.SSLContext` (``ssl.create_default_context()``
    for a client; one with ``load_cert_chain`` for a server).
    ``server_hostname`` is the name a client checks the certificate against
    and sends as SNI; required when the context checks host names.
    """

    __slots__ = ("_broken", "_delayed", "_handshake_done", "_handshake_started",
                 "_https_compatible", "_incoming", "_outgoing", "_peer_closed", "_recv_count",
                 "_recv_turn", "_send_turn", "_ssl", "_unwrapped", "_writing", "transport")

    def __init__(self, stream: ByteStream, ssl_context: ssl.SSLContext, *,
                 server_side: bool = False, server_hostname: str | None = None,
                 https_compatible: bool = False) -> None:
        if not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext, got {ssl_context!r}")
        if not server_side and ssl_context.check_hostname and not server_hostname:
            raise ValueError("server_hostname is required: the ssl_context checks that the "
                             "certificate names the host (check_hostname=True)")
        #: The stream the ciphertext travels on.
        self.transport = stream
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = ssl_context.wrap_bio(self._incoming, self._outgoing,
                                         server_side=server_side,
                                         server_hostname=server_hostname)
        self._https_compatible = https_compatible
        self._buf = bytearray()
        self._closed = False  # closed or broken: no more reads or writes
        self._broken: BrokenResourceError | None = None
        self._unwrapped = False
        self._peer_closed = False  # its close_notify came: reads return b"" at once
        self._reading = False
        self._writing = False
        self._skip_line: bytes | None = None
        self._handshake_started = False
        self._handshake_done = Event()
        self._send_turn = _Turn()
        self._recv_turn = _Turn()
        self._recv_count = 0
        # TLS 1.3 session tickets a server's handshake produced, held back
        # until it next sends (see _drive).
        self._delayed = b""

    # -- what the handshake settled --------------------------------------------

    def _after_handshake(self, what: str) -> ssl.SSLObject:
        if not self._handshake_done.is_set() or self._broken is not None:
            raise NeedHandshakeError(f"{what}() needs a completed handshake: "
                                     "call await do_handshake() first")
        return self._ssl

    def selected_alpn_protocol(self) -> str | None:
        """The protocol ALPN agreed on, or None if none was."""
        return self._after_handshake("selected_alpn_protocol").selected_alpn_protocol()

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate (`ssl.SSLObject.getpeercert`); None if it sent none."""
        return self._after_handshake("getpeercert").getpeercert(binary_form)

    def version(self) -> str | None:
        """The protocol version: ``"TLSv1.3"``, ``"TLSv1.2"``, ..."""
        return self._after_handshake("version").version()

    def cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol, secret bits)`` of the cipher in use."""
        return self._after_handshake("cipher").cipher()

    @property
    def server_side(self) -> bool:
        return self._ssl.server_side

    @property
    def server_hostname(self) -> str | None:
        return self._ssl.server_hostname

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The `ssl.SSLObject` itself, for what this class does not forward."""
        return self._ssl

    @property
    def peer_address(self) -> Any:
        return getattr(self.transport, "peer_address", None)

    @property
    def local_address(self) -> Any:
        return getattr(self.transport, "local_address", None)

    # -- state -------------------------------------------------------------------

    def _describe(self) -> str:
        return describe(self.peer_address)

    def _check_open(self) -> None:
        if self._broken is not None:
            raise BrokenResourceError(
                f"TLS stream to {self._describe()} is broken: {self._broken}") from self._broken
        if self._closed:
            raise ClosedResourceError(f"TLS stream to {self._describe()} is closed")

    def _break(self, why: str, cause: BaseException | None) -> BrokenResourceError:
        """Mark the stream broken; the error to raise, ``cause`` chained."""
        exc = BrokenResourceError(f"TLS stream to {self._describe()}: {why}")
        exc.__cause__ = cause
        if self._broken is None:
            self._broken = exc
        self._closed = True
        return exc

    @property
    def closed(self) -> bool:
        return self._closed and self._broken is None

    # -- moving ciphertext ---------------------------------------------------------

    async def _drive(self, op: Callable[..., Any], *args: Any, send_only: bool = False,
                     handshake: bool = False) -> Any:
        """Call ``op(*args)`` on the SSLObject until it completes, moving ciphertext.

        After each call: whatever OpenSSL put in the outgoing BIO is sent
        first (bytes must reach the wire in the order they left OpenSSL, and
        sending may be what the peer waits for); only if there was nothing
        to send and OpenSSL wants input is the stream underneath read. One
        blocking step per turn, then OpenSSL is asked again: while this
        task waited, the other one may already have read what it needed.
        ``send_only``: do not wait for input (aclose's close_notify).
        """
        while True:
            want_read = False
            result = None
            try:
                result = op(*args)
            except ssl.SSLWantReadError:
                want_read = not send_only
            except (ssl.SSLError, ssl.CertificateError) as exc:
                out = self._outgoing.read()
                if out and isinstance(exc, ssl.SSLError) and self._broken is None:
                    # A failed handshake has a fatal alert to tell the peer
                    # why (e.g. unknown CA); best effort, never waiting long.
                    await self._send_alert(out)
                what = "TLS handshake failed" if handshake else "TLS error"
                raise self._break(f"{what}: {_ssl_reason(exc)}", exc) from exc
            out = self._outgoing.read() if self._outgoing.pending else b""
            if (handshake and not want_read and self._ssl.server_side
                    and self._ssl.version() == "TLSv1.3"):
                # OpenSSL's server writes its session tickets as soon as the
                # handshake is done, before the client might expect any bytes
                # (openssl/openssl#7948); send them with the next record
                # instead, as trio does.
                self._delayed, out = out, b""
            if out:
                await self._send(out)
            elif want_read:
                await self._receive()
            if not want_read:
                return result

    async def _send(self, ciphertext: bytes) -> None:
        turn = self._send_turn
        if turn.busy:
            await turn.take()  # cancelled here, nothing was sent: no harm done
        else:
            turn.busy = True
        try:
            if self._delayed:
                ciphertext, self._delayed = self._delayed + ciphertext, b""
            try:
                await self.transport.write_all(ciphertext)
            except ClosedResourceError:
                self._closed = True
                raise
            except OSError as exc:
                raise self._break(f"sending failed: {exc}", exc) from exc
            except BaseException as exc:
                # Cancelled (or anything else) with part of a record maybe
                # on the wire: the peer can no longer decrypt what follows.
                self._break(f"a send was interrupted by {type(exc).__name__}", exc)
                raise
        finally:
            turn.give()

    async def _send_alert(self, alert: bytes) -> None:
        try:
            with move_on_after(CLOSE_NOTIFY_TIMEOUT):
                await self.transport.write_all(alert)
        except (OSError, ClosedResourceError):
            pass  # the peer is gone already; the handshake error says why

    async def _receive(self) -> None:
        seen = self._recv_count
        turn = self._recv_turn
        if turn.busy:
            await turn.take()
        else:
            turn.busy = True
        try:
            if seen != self._recv_count:
                return  # another task read while we waited our turn: ask OpenSSL again
            try:
                data = await self.transport.read(CIPHERTEXT_CHUNK)
            except ClosedResourceError:
                self._closed = True
                raise
            except OSError as exc:
                raise self._break(f"receiving failed: {exc}", exc) from exc
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
            self._recv_count += 1
        finally:
            turn.give()

    # -- handshake ---------------------------------------------------------------

    async def do_handshake(self) -> None:
        """Complete the TLS handshake now (otherwise the first read or write does).

        Raises `BrokenResourceError` naming the reason if it fails (e.g.
        ``certificate verify failed: Hostname mismatch ...``). If another
        task is running it, waits for that. Cancelling it breaks the stream.
        """
        self._check_open()
        if self._handshake_done.is_set():
            await checkpoint_if_cancelled()
            return
        await self._handshake()

    async def _handshake(self) -> None:
        if self._handshake_started:
            await self._handshake_done.wait()
            self._check_open()
            return
        self._handshake_started = True
        try:
            if self._ssl.server_side and not self._incoming.pending:
                # A server can do nothing before the ClientHello: wait for it
                # rather than have OpenSSL say so with an SSLWantReadError.
                await self._receive()
            await self._drive(self._ssl.do_handshake, handshake=True)
        except BaseException as exc:
            if self._broken is None and not self._closed:
                self._break(f"the handshake was interrupted by {type(exc).__name__}", exc)
            raise
        finally:
            self._handshake_done.set()

    async def _handshake_for_io(self) -> bool:
        """The implicit handshake before a read; False if https_compatible reads
        its ragged EOF as EOF."""
        try:
            await self._handshake()
        except BrokenResourceError as exc:
            if self._https_compatible and _is_ragged_eof(exc.__cause__):
                return False
            raise
        return True

    # -- reading -----------------------------------------------------------------

    async def _read_plain(self, max_bytes: int) -> bytes:
        incoming = self._incoming
        if not (incoming.pending or incoming.eof or self._ssl.pending()
                or self._outgoing.pending or self._peer_closed):
            # Nothing OpenSSL could decrypt yet: read before asking it, which
            # would only raise SSLWantReadError (the common case, and an
            # exception per read saved).
            await self._receive()
        try:
            data: bytes = await self._drive(self._ssl.read, min(max_bytes, MAX_RECORD))
        except BrokenResourceError as exc:
            if self._https_compatible and _is_ragged_eof(exc.__cause__):
                return b""
            raise
        if not data:
            if incoming.eof and not self._https_compatible:
                # OpenSSL said "clean close" only because it was told to ignore
                # an unexpected EOF (OP_IGNORE_UNEXPECTED_EOF, the default of
                # some Python builds, Debian's 3.11.2 among them): the stream
                # underneath ended before any close_notify came. A close_notify
                # arrives as data and is read before we ever feed the EOF.
                cause = ssl.SSLEOFError(ssl.SSL_ERROR_EOF,
                                        "EOF occurred in violation of protocol")
                raise self._break(f"TLS error: {_ssl_reason(cause)}", cause)
            self._peer_closed = True
        return data

    async def _fill(self, max_bytes: int = READ_CHUNK) -> bool:
        if not self._handshake_done.is_set() and not await self._handshake_for_io():
            return False
        data = await self._read_plain(min(max_bytes, READ_CHUNK))
        if not data:
            return False
        self._buf += data
        return True

    async def read(self, max_bytes: int = READ_CHUNK) -> bytes:
        """Up to ``max_bytes`` decrypted bytes, as soon as any arrive.

        ``b""`` once the peer sent ``close_notify`` (a clean EOF). A peer
        that just closed the connection is `BrokenResourceError` (unless
        ``https_compatible``).
        """
        if max_bytes < 1:
            raise ValueError(f"read() max_bytes must be >= 1, got {max_bytes}")
        if self._closed or self._reading:
            self._refuse("reading from")
        self._reading = True
        try:
            # Before any plaintext is taken: a Cancelled raised after would lose it.
            await checkpoint_if_cancelled()
            if not self._handshake_done.is_set() and not await self._handshake_for_io():
                return b""
            if self._skip_line is not None and not await self._skip_to(self._skip_line):
                return b""
            buf = self._buf
            if buf:
                data = bytes(buf[:max_bytes])
                del buf[:max_bytes]
                return data
            return await self._read_plain(max_bytes)
        finally:
            self._reading = False

    # -- writing -----------------------------------------------------------------

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send every byte of ``data``."""
        if self._closed or self._writing:
            self._refuse("writing to")
        self._writing = True
        try:
            await checkpoint_if_cancelled()
            if not self._handshake_done.is_set():
                await self._handshake()
            view = memoryview(data).cast("B")
            if len(view) <= PLAINTEXT_SLICE:
                if view:
                    await self._drive(self._ssl.write, view)
                return
            for start in range(0, len(view), PLAINTEXT_SLICE):
                await self._drive(self._ssl.write, view[start:start + PLAINTEXT_SLICE])
        finally:
            self._writing = False

    async def shutdown_write(self) -> None:
        """Send ``close_notify`` and keep reading: the peer reads EOF (TLS 1.3 half-close)."""
        if self._closed or self._writing:
            self._refuse("writing to")
        self._writing = True
        try:
            if not self._handshake_done.is_set():
                await self._handshake()
            await self._drive(self._ssl.unwrap, send_only=True)
        finally:
            self._writing = False

    # -- closing -----------------------------------------------------------------

    async def unwrap(self) -> tuple[ByteStream, bytes]:
        """End TLS cleanly and hand back the plain stream.

        Sends ``close_notify``, waits for the peer's, and returns ``(stream,
        trailing)``: ``trailing`` is what arrived after the peer's
        ``close_notify`` (plain bytes the peer sent next), to be used before
        reading ``stream`` again. Decrypted bytes this stream had buffered
        but not returned are read first, so call it after reading to EOF.
        This `TlsStream` is closed afterwards; ``stream`` is not.
        """
        if self._closed or self._reading or self._writing:
            self._refuse("using")
        self._reading = self._writing = True
        try:
            await checkpoint_if_cancelled()
            if not self._handshake_done.is_set():
                await self._handshake()
            if self._buf:
                raise BrokenResourceError(
                    f"unwrap() of TLS stream to {self._describe()} with {len(self._buf)} "
                    "decrypted bytes not yet read: read them first")
            await self._drive(self._ssl.unwrap)
            self._closed = self._unwrapped = True
            return self.transport, self._incoming.read()
        finally:
            self._reading = self._writing = False

    def close(self) -> None:
        """Close the stream underneath now, without ``close_notify`` (idempotent)."""
        self._closed = True
        if not self._unwrapped:
            self.transport.close()  # idempotent itself

    async def aclose(self) -> None:
        """Send ``close_notify`` (unless broken, ``https_compatible`` or never
        handshaken), then close the stream underneath; never waits for the
        peer's ``close_notify``."""
        if self._closed:
            self.close()
            await checkpoint_if_cancelled()
            return
        try:
            if (self._handshake_done.is_set() and not self._https_compatible
                    and not self._writing):
                self._writing = True
                try:
                    # Shielded: a server shutting down (its handlers cancelled)
                    # still says goodbye properly; bounded all the same.
                    with move_on_after(CLOSE_NOTIFY_TIMEOUT, shield=True):
                        await self._drive(self._ssl.unwrap, send_only=True)
                except (BrokenResourceError, ClosedResourceError):
                    pass  # nobody left to notify: closing is all that is left
                finally:
                    self._writing = False
        finally:
            self._closed = True
            if not self._unwrapped:
                self.transport.close()
        await checkpoint_if_cancelled()

    async def __aexit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = ("broken" if self._broken is not None else "closed" if self._closed
                 else "open" if self._handshake_done.is_set() else "handshake pending")
        side = "server" if self._ssl.server_side else "client"
        return f"<TlsStream {side} {self._describe()} {state}>"
