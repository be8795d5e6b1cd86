"""What the cluster's Redis hop costs: one chat node alone, one node with Redis, two workers.

    .venv/bin/python benchmarks/chat_cluster.py [--clients 100] [--senders 10]
        [--lines 2000] [--window 8] [--reps 3] [--configs single,redis,workers2]

Configurations (each a fresh ``examples/chat_server.py`` and, where named, a
fresh ``redis-server`` from PATH on a free port, without persistence):

    single     one process, no Redis: today's lone server
    redis      one process with ``--cluster``: every line also goes through
               Redis (XADD, then XREAD by the same node, which skips its own)
    workers2   ``--workers 2 --cluster``: two processes sharing the port with
               SO_REUSEPORT, one core each, every line crossing through Redis
               to the other worker's members

One run: ``--clients`` clients join one room; ``--senders`` of them each say
``--lines`` lines, keeping ``--window`` in flight (sent but not yet seen by
the sender itself). Each line carries its send time (``perf_counter_ns``,
CLOCK_MONOTONIC, the same clock in every process), so every receiver
measures its delivery latency; p50/p99 are over every delivery. The run ends
when every client has every line. ``server CPU`` is the chat processes'
user+system time over the run's wall time (1.0 = one core busy), ``redis
CPU`` the same for Redis. Configurations are interleaved rep by rep and the
medians printed, with ratios to ``single``.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAT_SERVER = ROOT / "examples" / "chat_server.py"
LINE = re.compile(rb"\] <c(\d+)> (\d+) (\d+)\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` and its reaped children (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return found


class Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server is not installed (Debian: redis-server)")
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_chat(config: str, redis: Redis | None) -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, str(CHAT_SERVER), "--port", "0", "--http-port", "-1",
            "--rate", "0", "--max-clients", "100000"]
    if redis is not None:
        argv += ["--cluster", f"redis://127.0.0.1:{redis.port}/0"]
    if config == "workers2":
        argv += ["--workers", "2"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if "listening on" not in first:
        sys.exit(f"{config}: the chat server did not start: {first!r}")
    return proc, int(first.split(":")[-1])


@dataclass
class Result:
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu: float
    redis_cpu: float


def run_load(port: int, clients: int, senders: int, lines: int, window: int) -> tuple[
        float, list[int]]:
    """Drive one run; returns its wall time and every delivery's latency (ns)."""
    socks = []
    for i in range(clients):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"c%d\n/join bench\n" % i)
        socks.append(sock)
    joined = b"[bench] * c%d joined\n"
    for i, sock in enumerate(socks):  # each sees its own join (and maybe others')
        buf = b""
        while joined % i not in buf:
            buf += sock.recv(65536)
    time.sleep(0.5)  # joins from other nodes settle
    for sock in socks:  # drop what came before the run
        sock.setblocking(False)
        try:
            while sock.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
    expected = senders * lines
    received = [0] * clients
    sent = [0] * senders
    acked = [0] * senders
    rest = [b""] * clients
    latencies: list[int] = []
    sel = selectors.DefaultSelector()
    for i, sock in enumerate(socks):
        sel.register(sock, selectors.EVENT_READ, i)

    def send_some(s: int) -> None:
        burst = []
        while sent[s] < lines and sent[s] - acked[s] < window:
            burst.append(b"%d %d\n" % (sent[s], time.perf_counter_ns()))
            sent[s] += 1
        if burst:
            socks[s].setblocking(True)
            socks[s].sendall(b"".join(burst))
            socks[s].setblocking(False)

    start = time.perf_counter()
    for s in range(senders):
        send_some(s)
    done = 0
    while done < clients:
        for key, _ in sel.select(10):
            i = key.data
            try:
                data = socks[i].recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                sys.exit(f"client c{i} was disconnected")
            now = time.perf_counter_ns()
            data = rest[i] + data
            cut = data.rfind(b"\n") + 1
            rest[i] = data[cut:]
            for m in LINE.finditer(data, 0, cut):
                latencies.append(now - int(m.group(3)))
                received[i] += 1
                if i < senders and int(m.group(1)) == i:
                    acked[i] += 1
            if received[i] == expected:
                done += 1
            if i < senders:
                send_some(i)
    took = time.perf_counter() - start
    sel.close()
    for sock in socks:
        sock.close()
    return took, latencies


def one_run(config: str, args: argparse.Namespace) -> Result:
    redis = None if config == "single" else Redis()
    proc, port = start_chat(config, redis)
    try:
        pids = [proc.pid, *children(proc.pid)]
        cpu0 = sum(cpu_seconds(p) for p in pids)
        redis_cpu0 = cpu_seconds(redis.proc.pid) if redis else 0.0
        took, latencies = run_load(port, args.clients, args.senders, args.lines, args.window)
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        redis_cpu = (cpu_seconds(redis.proc.pid) - redis_cpu0) if redis else 0.0
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
        if redis is not None:
            redis.stop()
    latencies.sort()
    return Result(rate=len(latencies) / took,
                  p50_ms=latencies[len(latencies) // 2] / 1e6,
                  p99_ms=latencies[int(len(latencies) * 0.99)] / 1e6,
                  server_cpu=cpu / took, redis_cpu=redis_cpu / took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--lines", type=int, default=2000, help="lines per sender")
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--configs", default="single,redis,workers2")
    args = parser.parse_args()
    configs = args.configs.split(",")
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                   text=True).stdout.split()[2]
    print(f"Python {sys.version.split()[0]}, {redis_version}, {os.cpu_count()} CPUs; "
          f"{args.clients} clients in one room, {args.senders} senders x {args.lines} lines, "
          f"window {args.window}, {args.reps} reps interleaved")
    results: dict[str, list[Result]] = {c: [] for c in configs}
    for rep in range(args.reps):
        for config in configs:
            r = one_run(config, args)
            results[config].append(r)
            print(f"  rep {rep + 1} {config:9} {r.rate:>11,.0f} deliveries/s  "
                  f"p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:7.2f} ms  "
                  f"server CPU {r.server_cpu:4.2f}  redis CPU {r.redis_cpu:4.2f}", flush=True)
    base = statistics.median(r.rate for r in results[configs[0]])
    print(f"\n{'config':10} {'deliveries/s':>13} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'server CPU':>10} {'redis CPU':>9}")
    for config in configs:
        rs = results[config]
        rate = statistics.median(r.rate for r in rs)
        print(f"{config:10} {rate:>13,.0f} {rate / base:>5.2f}x "
              f"{statistics.median(r.p50_ms for r in rs):>7.2f} "
              f"{statistics.median(r.p99_ms for r in rs):>7.2f} "
              f"{statistics.median(r.server_cpu for r in rs):>10.2f} "
              f"{statistics.median(r.redis_cpu for r in rs):>9.2f}")


if __name__ == "__main__":
    main()
