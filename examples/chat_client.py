"""An interactive client for examples/chat_server.py, on runtime.

    .venv/bin/python examples/chat_client.py [--host 127.0.0.1] [--port 7878] [--nick NAME]
                                             [--tls [--cafile CA.pem]]

Type lines to send them (the first is your nick, unless ``--nick`` gave
it); what the server says is printed as it arrives. ``--tls`` speaks TLS to
a server started with ``--tls-cert``, checking its certificate against the
system's CAs or ``--cafile``'s. End with ``/quit``,
end-of-file (Ctrl-D) or Ctrl-C; each exits with status 0.

Two tasks run at once: one copies the socket to stdout, the other copies
stdin to the socket. Stdin is read through the reactor: it is made
non-blocking and registered like a socket, so the loop never blocks on the
keyboard and Ctrl-C is handled at once. (A worker thread blocked in
``read()`` could not be interrupted: exiting would wait for one more Enter.)
When stdin is a regular file, which epoll cannot watch, it is read with
``to_thread``, and a file never blocks.
"""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import sys

import runtime
from runtime.io import TcpStream, TlsStream
from runtime.lowlevel import wait_readable

#: After stdin ends and /quit is sent, how long to wait for the server's goodbye.
QUIT_TIMEOUT = 2.0


class StdinReader:
    """Chunks of stdin without blocking the loop; ``b""`` at EOF."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno()
        self.was_blocking = os.get_blocking(self.fd)
        self.use_reactor = True
        os.set_blocking(self.fd, False)

    async def read(self) -> bytes:
        if not self.use_reactor:
            return await runtime.to_thread(os.read, self.fd, 65536)
        while True:
            try:
                return os.read(self.fd, 65536)
            except BlockingIOError:
                pass
            try:
                await wait_readable(self.fd)
            except PermissionError:  # a regular file: epoll refuses it (EPERM)
                self.use_reactor = False
                os.set_blocking(self.fd, self.was_blocking)
                return await runtime.to_thread(os.read, self.fd, 65536)

    def restore(self) -> None:
        # The terminal's file description is shared with the shell: put it back.
        os.set_blocking(self.fd, self.was_blocking)


async def print_incoming(stream: TcpStream | TlsStream, scope: runtime.CancelScope) -> None:
    """Copy the server's lines to stdout until it hangs up; then stop everything."""
    try:
        async for line in stream.lines(1 << 20):
            sys.stdout.write(line.decode("utf-8", errors="replace"))
            sys.stdout.flush()
        sys.stdout.write("(disconnected)\n")
    except (OSError, runtime.BrokenResourceError) as exc:
        sys.stdout.write(f"(connection lost: {exc})\n")
    sys.stdout.flush()
    scope.cancel()  # stop reading stdin: there is nobody to send to


async def send_typed(stream: TcpStream | TlsStream, stdin: StdinReader) -> None:
    """Copy stdin to the server; at EOF, say /quit (a partial last line is sent first)."""
    tail = b""
    while data := await stdin.read():
        data = tail + data
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        if cut:
            await stream.write_all(data[:cut])
    if tail:
        await stream.write_all(tail + b"\n")
    await stream.write_all(b"/quit\n")


async def main(host: str, port: int, nick: str | None,
               tls: ssl.SSLContext | None = None) -> None:
    stream: TcpStream | TlsStream = await TcpStream.connect(host, port, ssl=tls)
    stdin = StdinReader()
    try:
        async with stream, runtime.TaskGroup() as tg:
            if nick is not None:
                await stream.write_all(nick.encode() + b"\n")
            reader = tg.spawn(print_incoming(stream, tg.cancel_scope))
            try:
                await send_typed(stream, stdin)
            except (OSError, runtime.ClosedResourceError, runtime.BrokenResourceError):
                pass  # the server hung up while we were typing; the reader says so
            with runtime.move_on_after(QUIT_TIMEOUT):
                await reader
            tg.cancel_scope.cancel()
    finally:
        stdin.restore()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Talk to examples/chat_server.py.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7878)
    parser.add_argument("--nick", help="send this nick first")
    parser.add_argument("--tls", action="store_true", help="speak TLS")
    parser.add_argument("--cafile", help="trust the CA certificates in this PEM file (--tls)")
    args = parser.parse_args()
    if args.cafile and not args.tls:
        parser.error("--cafile needs --tls")
    try:
        context = ssl.create_default_context(cafile=args.cafile) if args.tls else None
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"cannot load --cafile {args.cafile}: {exc}")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in background
    try:
        runtime.run(main(args.host, args.port, args.nick, context))
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    except (OSError, runtime.BrokenResourceError) as exc:
        sys.exit(f"chat_client: {exc}")
