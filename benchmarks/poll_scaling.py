"""How long does `poll(events, 0)` take with 10,000 registrations?

    python benchmarks/poll_scaling.py [--runs N]

The point of epoll (and kqueue) is that waiting costs O(ready), not
O(registered): the kernel keeps a ready list, filled by callbacks as each fd
becomes ready, so ``epoll_wait`` only walks what is ready. This script
measures it: the median time of one ``poll(events, 0)`` with 1 and with 10,000
registered sockets, with none of them ready and with exactly one ready, for
every built `runtime.reactor` backend and, for context, the standard library's
``select.epoll`` with the same flags (``EPOLLIN | EPOLLRDHUP | EPOLLET``).

The 10,000 registrations are both ends of 5,000 socketpairs (10,000 fds):
10,000 pairs would need 20,000 fds, more than many machines' hard
RLIMIT_NOFILE allows. Each socket is registered for READABLE, so writing one
byte into a pair makes exactly one registration ready. "One ready" times only
the poll, not the write that made it ready.

Not a test: numbers depend on the machine. Run it and read the table.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import select
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator

from runtime.reactor import Events, Interest, Poll, Token, available_backends

SIZES = (1, 10_000)
BOTH = (False, True)  # none ready, one ready


@contextlib.contextmanager
def nofile_soft_limit(needed: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"needs {needed} fds; RLIMIT_NOFILE hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_sockets(stack: contextlib.ExitStack, n: int) -> list[socket.socket]:
    """``n`` (even) sockets: both ends of ``n / 2`` socketpairs; i's peer is i ^ 1."""
    socks: list[socket.socket] = []
    while len(socks) < n:
        a, b = socket.socketpair()
        for s in (a, b):
            stack.enter_context(s)
            s.setblocking(False)
        socks += (a, b)
    return socks


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def measure(
    poll_once: Callable[[], int], socks: list[socket.socket], active: bool, runs: int
) -> float:
    """Median time of one non-blocking poll, in µs."""
    writer, reader = socks[1], socks[0]  # write into 1, so 0 becomes readable
    samples = []
    for _ in range(runs):
        if active:
            writer.send(b"x")
        start = time.perf_counter()
        n = poll_once()
        samples.append(time.perf_counter() - start)
        if active:
            assert n == 1, f"expected one ready registration, got {n}"
            reader.recv(16)
        else:
            assert n == 0, f"expected nothing ready, got {n}"
    return median_us(samples)


def bench_runtime(backend: str, socks: list[socket.socket], n: int, runs: int) -> list[float]:
    events = Events()
    with Poll(backend=backend) as poll:
        for i, sock in enumerate(socks[:n]):
            poll.registry.register(sock, Token(i), Interest.READABLE)
        poll.poll(events, 0)  # with n == 1, socks[1] is only the writer, unregistered
        row = [measure(lambda: poll.poll(events, 0), socks, active, runs) for active in BOTH]
        for sock in socks[:n]:
            poll.registry.deregister(sock)
    return row


def bench_stdlib(socks: list[socket.socket], n: int, runs: int) -> list[float]:
    flags = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
    with select.epoll() as ep:
        for sock in socks[:n]:
            ep.register(sock, flags)
        ep.poll(0)
        row = [measure(lambda: len(ep.poll(0, 1024)), socks, active, runs) for active in BOTH]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="polls per cell (default 20000)")
    args = parser.parse_args()

    rows: list[tuple[str, int, list[float]]] = []
    with nofile_soft_limit(max(SIZES) + 256), contextlib.ExitStack() as stack:
        socks = open_sockets(stack, max(SIZES))
        for n in SIZES:
            for backend in available_backends():
                row = bench_runtime(backend, socks, n, args.runs)
                rows.append((f"runtime Poll({backend!r})", n, row))
            if hasattr(select, "epoll"):
                rows.append(("stdlib select.epoll", n, bench_stdlib(socks, n, args.runs)))

    print(f"poll(events, 0): median of {args.runs} calls, µs  (Python {sys.version.split()[0]})")
    print(f"{'':28}{'registered':>12}{'none ready':>14}{'one ready':>12}")
    for name, n, (idle, one) in rows:
        print(f"{name:28}{n:>12,}{idle:>14.2f}{one:>12.2f}")


if __name__ == "__main__":
    main()
