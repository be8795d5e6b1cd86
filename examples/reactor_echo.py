"""An echo server driven by the reactor alone: one `Poll`, one loop, no executor.

    python examples/reactor_echo.py [PORT]        # then: nc 127.0.0.1 7878

Registrations are edge-triggered: on an event, do the I/O until it would block,
then `rearm` (nothing on epoll and kqueue; on Windows the emulated edge needs it).
Bytes a peer cannot take yet wait in a buffer, with WRITABLE asked only meanwhile.
"""

import contextlib
import itertools
import signal
import socket
import sys

from runtime.reactor import Events, Interest, Poll, Token

SERVER, SIGNALS = Token(0), Token(1)


def pump(poll: Poll, conn: socket.socket, buf: bytearray) -> bool:
    """Read until it would block, echo until it would block; True if the peer is done."""
    eof = would_block = False
    try:
        while chunk := conn.recv(65536):
            buf += chunk
        eof = True  # recv gave b"": the peer sends no more
    except BlockingIOError:
        would_block = True
    try:
        while buf:
            del buf[: conn.send(buf)]
    except BlockingIOError:
        would_block = True
    if would_block:
        poll.registry.rearm(conn)
    return eof


def serve(poll: Poll, listener: socket.socket) -> None:
    conns: dict[Token, socket.socket] = {}
    unsent: dict[Token, bytearray] = {}  # what each peer could not take yet
    new_tokens = itertools.count(2)
    events = Events()
    while True:
        poll.poll(events)  # block until something is ready
        for event in events:
            if event.token == SIGNALS:
                for conn in conns.values():
                    conn.close()
                return
            if event.token == SERVER:
                with contextlib.suppress(BlockingIOError):
                    while True:  # accept until it would block
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        token = Token(next(new_tokens))
                        poll.registry.register(conn, token, Interest.READABLE)
                        conns[token], unsent[token] = conn, bytearray()
                poll.registry.rearm(listener)
                continue
            token, conn, buf = event.token, conns[event.token], unsent[event.token]
            was_waiting = bool(buf)
            try:
                eof = pump(poll, conn, buf)
            except ConnectionError:
                eof = True
                buf.clear()
            if eof and not buf:  # the peer is done and has every byte back
                poll.registry.deregister(conn)
                conn.close()
                del conns[token], unsent[token]
            elif bool(buf) != was_waiting:  # ask for WRITABLE only while bytes wait
                interest = (Interest.READABLE | Interest.WRITABLE) if buf else Interest.READABLE
                poll.registry.reregister(conn, token, interest)


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7878
    sig_r, sig_w = socket.socketpair()
    with Poll() as poll, socket.create_server(("127.0.0.1", port)) as listener, sig_r, sig_w:
        for sock in (listener, sig_r, sig_w):
            sock.setblocking(False)
        signal.set_wakeup_fd(sig_w.fileno())  # a signal wakes the poll: a byte on sig_r
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)  # no KeyboardInterrupt, no default kill
        poll.registry.register(listener, SERVER, Interest.READABLE)
        poll.registry.register(sig_r, SIGNALS, Interest.READABLE)
        print(f"echo server listening on 127.0.0.1:{port}", flush=True)
        serve(poll, listener)
    print("echo server stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
