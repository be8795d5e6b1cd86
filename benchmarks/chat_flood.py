"""The flood scenario of ``benchmarks/chat.py --flood``: bystanders' latency under a burst.

40 flooders each write 40 lines at once into the lobby, where 50
bystanders are reading as fast as they can (issue 24's scenario). Each
line carries the time it was sent; a bystander's latency for a line is
the time from that send to its arrival. Per server (``--before REV`` adds
the server as it was at REV, e.g. before the fairness change) it prints
how many bystanders were disconnected, how many of the 80,000 deliveries
to bystanders arrived, latency p50 / p99 / max, the wall time until the
last one arrived, and the server's peak RSS (``VmHWM``).

The load generator is this process (one epoll loop over the 90 sockets),
so its own reading speed is part of every latency, the same for each
server.
"""

from __future__ import annotations

import re
import select
import socket
import statistics
import time

from chat import start_server

FLOODERS, LINES, BYSTANDERS = 40, 40, 50
PAD = b"x" * 40
SENT_AT = re.compile(rb"<f\d+> (\d+) ")


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def flood_once(argv: list[str], env: dict[str, str] | None) -> dict[str, float]:
    proc, port, _ = start_server(argv, env)
    socks: list[socket.socket] = []
    poll = select.epoll()
    try:
        nicks = [b"f%d" % i for i in range(FLOODERS)] + [b"b%d" % i for i in range(BYSTANDERS)]
        for nick in nicks:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(nick + b"\n")
            socks.append(sock)
        by_fd = {s.fileno(): i for i, s in enumerate(socks)}
        bufs = [b""] * len(socks)
        last_join = b"[lobby] * " + nicks[-1] + b" joined\n"
        for sock in socks:
            sock.setblocking(False)
            poll.register(sock, select.EPOLLIN)
        ready = 0
        deadline = time.monotonic() + 60
        while ready < len(socks):
            if time.monotonic() > deadline:
                raise TimeoutError("clients did not all join")
            for fd, _ in poll.poll(1.0):
                i = by_fd[fd]
                if bufs[i] is None:
                    continue
                bufs[i] += socks[i].recv(1 << 16)
                if last_join in bufs[i]:
                    bufs[i] = None  # type: ignore[call-overload]
                    ready += 1
        # The flood: every flooder writes its 40 lines in one send, all at once.
        start = time.perf_counter()
        for i in range(FLOODERS):
            now = time.perf_counter_ns()
            socks[i].sendall(b"".join(b"%d %d %s\n" % (now, k, PAD) for k in range(LINES)))
        latencies: list[float] = []
        got = [0] * len(socks)
        rest = [b""] * len(socks)
        gone = set()
        want = FLOODERS * LINES
        unfinished = len(socks)
        deadline = time.monotonic() + 120
        while unfinished:
            if time.monotonic() > deadline:
                break
            for fd, _ in poll.poll(1.0):
                i = by_fd[fd]
                try:
                    data = socks[i].recv(1 << 18)
                except ConnectionError:
                    data = b""
                arrived = time.perf_counter_ns()
                if not data:
                    poll.unregister(fd)
                    gone.add(i)
                    unfinished -= got[i] < want
                    continue
                *lines, rest[i] = (rest[i] + data).split(b"\n")
                for line in lines:
                    m = SENT_AT.search(line)
                    if m is None:
                        continue
                    got[i] += 1
                    if got[i] == want:
                        unfinished -= 1
                    if i >= FLOODERS:
                        latencies.append((arrived - int(m[1])) / 1e6)
        wall = time.perf_counter() - start
        latencies.sort()
        return {
            "disconnected": len([i for i in gone if i >= FLOODERS]),
            "delivered": sum(got[FLOODERS:]),
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan"),
            "max": latencies[-1] if latencies else float("nan"),
            "wall": wall,
            "rss": peak_rss_kib(proc.pid) / 1024,
        }
    finally:
        for sock in socks:
            sock.close()
        poll.close()
        proc.terminate()
        proc.communicate(timeout=10)


def main(servers: dict[str, tuple[list[str], dict[str, str] | None]], reps: int) -> None:
    """Flood each server (name -> argv, environment) ``reps`` times, rotating the order."""
    names = list(servers)
    results: dict[str, list[dict[str, float]]] = {}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            r = flood_once(*servers[name])
            results.setdefault(name, []).append(r)
            print(f"rep {rep + 1} {name:<16} bystanders cut {r['disconnected']:>2}/{BYSTANDERS}  "
                  f"delivered {r['delivered']:>6,}/{BYSTANDERS * FLOODERS * LINES:,}  "
                  f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  max {r['max']:7.1f} ms  "
                  f"wall {r['wall']:5.2f} s  peak RSS {r['rss']:5.1f} MiB", flush=True)
    print(f"\nflood: {FLOODERS} flooders x {LINES} lines at once, {BYSTANDERS} reading bystanders "
          f"(medians of {reps} reps)")
    print(f"{'server':<16} {'cut':>4} {'delivered':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'RSS MiB':>8}")
    for name in names:
        rows = results[name]

        def med(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        print(f"{name:<16} {med('disconnected'):>4.0f} {med('delivered'):>10,.0f} "
              f"{med('p50'):>8.1f} {med('p99'):>8.1f} {med('max'):>8.1f} {med('rss'):>8.1f}")
