"""Chat fan-out benchmark: runtime's chat server against asyncio and trio peers.

    .venv/bin/python benchmarks/chat.py [--clients 10,100,1000] [--reps 5]
        [--deliveries 1000000] [--window 32] [--servers runtime,runtime_ws,asyncio,trio]
        [--before REV] [--flood]

Servers (single-threaded; each prints ``... listening on 127.0.0.1:PORT``):

    runtime   examples/chat_server.py            (runtime: reader + writer task per
                                                   client, an Outbox with backpressure;
                                                   run with --rate 0: one client sends
                                                   every line)
    runtime_uring  the same, with RUNTIME_BACKEND=uring (io_uring completions)
    runtime_ws     the same server, every client on its WebSocket port (/ws,
                   one text frame per line; wsproto on the server)
    runtime@REV    ``--before REV``: examples/ as they were at git revision
                   REV, on today's runtime (e.g. 56c2808, before issue 24's
                   fairness change: a bounded 1024-line queue per client)
    asyncio   benchmarks/peers/chat_asyncio.py   (asyncio streams, asyncio.Queue)
    trio      benchmarks/peers/chat_trio.py      (trio streams, memory channel)

The peers fan a line out with a non-blocking put into each member's bounded
(1024-line) queue, as runtime's server did before issue 24; runtime's now
puts it into each member's outbox and makes the sender wait for members
more than 64 KiB behind (``examples/chat/outbox.py``). A writer task per
client joins what is queued into one write, in all of them.

``--flood`` runs the flood scenario instead (``chat_flood.py``: 40
flooders x 40 lines at once, 50 reading bystanders; bystanders cut off,
latency p50/p99, peak RSS), for every server but the WebSocket one.

One run: N clients join room ``bench``; client 0 then says ``--deliveries /
N`` lines of 64 bytes, keeping at most ``--window`` of them in flight (sent
but not yet echoed back to itself). The run ends when every client has
received every line; the figure is deliveries (lines x clients) per second
of wall time. The load generator is this process (an epoll loop over the N
sockets, counting newlines), pinned to CPU 1; the server is pinned to CPU 0
(``taskset``). ``srv CPU`` near 100 % with ``load CPU`` lower means the
server is the bottleneck, which is what is being measured. ``per srv CPU
s`` is deliveries per second of the server's own CPU time: on a shared or
noisy machine (or when the pipeline is latency-bound and the server idles
between windows) it is the steadier measure of the server's cost.

Measured on a quiet 2 vCPU machine (CPython 3.11.7, trio 0.35.0, Linux
6.18; 3 reps, medians; the runtime server's writers batch with
``Receiver.recv_many``):

    N     deliveries/s (median)            per server CPU second
          runtime  asyncio  trio           runtime   asyncio   trio
    10    1,085k   971k     845k           1,087k    980k      926k
    100   1,506k   1,001k   1,032k         1,563k    1,010k    1,053k
    1000  1,139k   1,083k   586k           1,149k    1,087k    585k

runtime on io_uring (``--servers runtime,runtime_uring --clients 100,1000
--reps 3``, same machine, other jobs running): 100 clients 1,173k
deliveries/s against 1,299k on epoll (x0.90, per server CPU second x0.92),
1000 clients 1,044k against 975k (x1.07, x1.08).

On the same machine shared with other jobs, wall-clock rates swung 2-4x
run to run; then the per-server-CPU-second columns are the ones to trust.

Every (N, server) pair runs ``--reps`` times, the servers rotated each rep
so that drift in the machine hits all alike; the table shows medians and
runtime's ratio to each peer (> 1: runtime delivers more per second).
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
#: runtime's server without its per-client rate limit (one client sends every
#: line here), with its browser port on a free port and no WebSocket pings.
RUNTIME = [PY, str(ROOT / "examples" / "chat_server.py"), "--port", "0", "--rate", "0",
           "--http-port", "0", "--ping-interval", "3600"]  # our load client answers no pings
SERVERS = {
    "runtime": RUNTIME,
    "runtime_uring": RUNTIME,
    "runtime_ws": RUNTIME,  # the same server, every client on its WebSocket port
    "asyncio": [PY, str(HERE / "peers" / "chat_asyncio.py"), "--port", "0"],
    "trio": [PY, str(HERE / "peers" / "chat_trio.py"), "--port", "0"],
}
#: Environment a server runs with, on top of ours.
SERVER_ENV = {"runtime_uring": {"RUNTIME_BACKEND": "uring"}}
#: Servers whose clients speak WebSocket (ws_frame) instead of raw lines.
WEBSOCKET = {"runtime_ws"}
SERVER_CPU, LOAD_CPU = 0, 1
PAYLOAD = 64


def versions() -> str:
    import trio

    import runtime

    runtime_version = getattr(runtime, "__version__", None)
    if runtime_version is None:
        from importlib.metadata import version
        runtime_version = version("runtime")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    return (f"CPython {platform.python_version()}, runtime {runtime_version} ({rev}), "
            f"trio {trio.__version__}, Linux {platform.release()}, {os.cpu_count()} CPUs")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ws_frame(line: bytes) -> bytes:
    """One client text frame (masked with a zero key, which leaves the payload as it is)."""
    assert len(line) < 126
    return bytes([0x81, 0x80 | len(line)]) + b"\0\0\0\0" + line


def ws_connect(port: int) -> socket.socket:
    """A TCP connection to ``/ws`` that has completed the WebSocket handshake."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        # What follows the head (the welcome line) may come along and is dropped.
        head += sock.recv(4096)
    if not head.startswith(b"HTTP/1.1 101 "):
        raise ConnectionError(f"WebSocket handshake refused: {head!r}")
    return sock


class Wire:
    """How lines look on the wire: raw lines ending in ``\\n``, or WebSocket text frames.

    A server frame carrying a short line is ``0x81``, its length, the line;
    the lines here are ASCII, so counting ``0x81`` bytes counts the frames.
    """

    def __init__(self, websocket: bool) -> None:
        self.websocket = websocket
        self.end = b"\x81" if websocket else b"\n"

    def encode(self, *lines: bytes) -> bytes:
        if self.websocket:
            return b"".join(ws_frame(line) for line in lines)
        return b"".join(line + b"\n" for line in lines)

    def marker(self, line: bytes) -> bytes:
        """The bytes a received ``line`` ends with (its frame header is in front of it)."""
        return b"\x81" + bytes([len(line)]) + line if self.websocket else line + b"\n"


def start_server(argv: list[str], env: dict[str, str] | None = None,
                 ) -> tuple[subprocess.Popen[str], int, int | None]:
    """Start a chat server on CPU `SERVER_CPU`; the process, its TCP and HTTP ports."""
    proc = subprocess.Popen(["taskset", "-c", str(SERVER_CPU), *argv],
                            env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if " listening on " not in first:
        proc.kill()
        raise RuntimeError(f"{argv} did not start: {first!r} {proc.communicate()[1]}")
    http_port = None
    if "--http-port" in argv:
        proc.stdout.readline()  # how to connect
        http_port = int(proc.stdout.readline().rstrip().rstrip("/").rsplit(":", 1)[1])
    return proc, int(first.rsplit(":", 1)[1]), http_port


class Run:
    """One server process and N clients in room ``bench``."""

    def __init__(self, name: str, clients: int) -> None:
        self.proc, port, http_port = start_server(SERVERS[name], SERVER_ENV.get(name))
        self.wire = Wire(name in WEBSOCKET)
        self.socks: list[socket.socket] = []
        self.poll = select.epoll()
        try:
            self._join(clients, port, http_port)
        except BaseException:
            self.close()  # a failed setup must not leave the server running
            raise

    def _join(self, clients: int, port: int, http_port: int | None) -> None:
        for i in range(clients):
            if self.wire.websocket:
                assert http_port is not None
                sock = ws_connect(http_port)
            else:
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks.append(sock)
            sock.sendall(self.wire.encode(b"b%d" % i, b"/join bench"))
        self.by_fd = {s.fileno(): i for i, s in enumerate(self.socks)}
        for sock in self.socks:
            sock.setblocking(False)
            self.poll.register(sock, select.EPOLLIN)
        self._wait_for(lambda i: self.wire.marker(b"[bench] * b%d joined" % i))
        self.socks[0].sendall(self.wire.encode(b"/me ready"))
        self.after = self._wait_for(lambda i: self.wire.marker(b"[bench] * b0 ready"))

    def _wait_for(self, marker_of: object) -> list[int]:
        """Read each client until its marker; returns how many lines came after it."""
        markers = [marker_of(i) for i in range(len(self.socks))]  # type: ignore[operator]
        bufs = [b""] * len(self.socks)
        after = [0] * len(self.socks)
        waiting = len(self.socks)
        deadline = time.monotonic() + 120
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{waiting} clients never saw their marker")
            for fd, _ in self.poll.poll(1.0):
                i = self.by_fd[fd]
                data = self.socks[i].recv(1 << 18)
                if not data:
                    raise ConnectionError(f"client {i} was disconnected during setup")
                if bufs[i] is None:
                    after[i] += data.count(self.wire.end)
                    continue
                bufs[i] += data
                cut = bufs[i].find(markers[i])
                if cut >= 0:
                    after[i] = bufs[i][cut + len(markers[i]):].count(self.wire.end)
                    bufs[i] = None  # type: ignore[call-overload]
                    waiting -= 1
                else:
                    bufs[i] = bufs[i][-200:]
        return after

    def fan_out(self, messages: int, window: int) -> dict[str, float]:
        socks, by_fd, poll, wire = self.socks, self.by_fd, self.poll, self.wire
        end = wire.end
        got = list(self.after)
        sender = socks[0]
        line_body = b"x" * (PAYLOAD - 12)
        sent = 0
        unfinished = sum(1 for n in got if n < messages)
        srv0, own0, t0 = cpu_seconds(self.proc.pid), own_cpu_seconds(), time.perf_counter()

        def top_up() -> int:
            upto = min(messages, got[0] + window)
            if upto > sent:
                sender.sendall(wire.encode(*(b"%09d %s" % (k, line_body)
                                             for k in range(sent, upto))))
                return upto
            return sent

        sent = top_up()
        deadline = time.monotonic() + 300
        while unfinished:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{unfinished} clients still short of {messages} lines")
            for fd, _ in poll.poll(1.0):
                i = by_fd[fd]
                data = socks[i].recv(1 << 18)
                if not data:
                    raise ConnectionError(f"client {i} was disconnected (too slow?)")
                before = got[i]
                got[i] = now = before + data.count(end)
                if before < messages <= now:
                    unfinished -= 1
                if i == 0 and sent < messages:
                    sent = top_up()
        wall = time.perf_counter() - t0
        srv = cpu_seconds(self.proc.pid) - srv0
        own = own_cpu_seconds() - own0
        if max(got) != messages:
            raise AssertionError(f"a client got {max(got)} lines, expected {messages}")
        deliveries = messages * len(socks)
        return {"per_s": deliveries / wall, "wall": wall, "srv_cpu": 100 * srv / wall,
                "load_cpu": 100 * own / wall, "per_cpu_s": deliveries / max(srv, 0.01)}

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.poll.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


def add_server_at(rev: str) -> str:
    """Add the chat server as it was at git revision ``rev`` (on today's runtime) to
    `SERVERS`, as ``runtime@REV``; its examples/ are unpacked into a temporary directory."""
    where = Path(tempfile.mkdtemp(prefix="chat-at-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    archive = subprocess.run(["git", "archive", rev, "examples"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    name = f"runtime@{rev}"
    SERVERS[name] = [PY, str(where / "examples" / "chat_server.py"), "--port", "0"]
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="10,100,1000")
    parser.add_argument("--servers", default="runtime,runtime_uring,runtime_ws,asyncio,trio")
    parser.add_argument("--before", metavar="REV",
                        help="also run the chat server as it was at git revision REV")
    parser.add_argument("--flood", action="store_true",
                        help="run the flood scenario (chat_flood.py) instead of fan-out")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--deliveries", type=int, default=1_000_000, help="per run")
    parser.add_argument("--window", type=int, default=32, help="lines in flight")
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs two CPUs: the server on CPU 0, the load generator on CPU 1")
    os.sched_setaffinity(0, {LOAD_CPU})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    servers = args.servers.split(",")
    if args.before:
        servers.append(add_server_at(args.before))
    if args.flood:
        import chat_flood

        chat_flood.main({name: (SERVERS[name], SERVER_ENV.get(name))
                         for name in servers if name not in WEBSOCKET}, args.reps)
        return
    sizes = [int(n) for n in args.clients.split(",")]
    print(versions(), flush=True)
    total = args.reps * len(sizes) * len(servers)
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    done = 0
    for rep in range(args.reps):
        order = servers[rep % len(servers):] + servers[:rep % len(servers)]
        for n in sizes:
            messages = max(1, args.deliveries // n)
            for name in order:
                done += 1
                run = Run(name, n)
                try:
                    r = run.fan_out(messages, args.window)
                finally:
                    run.close()
                results.setdefault((name, n), []).append(r)
                print(f"[{done:>2}/{total}] rep {rep + 1} N={n:<5} {name:<13} "
                      f"{r['per_s']:>10,.0f} deliveries/s  "
                      f"({messages:,} lines in {r['wall']:.2f} s)  "
                      f"srv CPU {r['srv_cpu']:3.0f}%  load CPU {r['load_cpu']:3.0f}%", flush=True)

    print()
    print(f"{'N':>5} {'server':<13} {'deliveries/s':>13} {'(min..max)':>25} {'srv CPU':>8} "
          f"{'load CPU':>9} {'per srv CPU s':>14}")
    for n in sizes:
        for name in servers:
            rows = results[(name, n)]
            rates = [r["per_s"] for r in rows]
            print(f"{n:>5} {name:<13} {statistics.median(rates):>13,.0f} "
                  f"{f'({min(rates):,.0f}..{max(rates):,.0f})':>25} "
                  f"{statistics.median(r['srv_cpu'] for r in rows):>7.0f}% "
                  f"{statistics.median(r['load_cpu'] for r in rows):>8.0f}% "
                  f"{statistics.median(r['per_cpu_s'] for r in rows):>14,.0f}")
    if "runtime" in servers and "runtime_uring" in servers:
        print("\nruntime on io_uring as a ratio of runtime on epoll (> 1: uring is ahead)")
        print(f"{'N':>5} {'/s':>8} {'/CPU s':>8}")
        for n in sizes:
            def ratio(key: str, n: int = n) -> float:
                return (statistics.median(r[key] for r in results[("runtime_uring", n)])
                        / statistics.median(r[key] for r in results[("runtime", n)]))

            print(f"{n:>5} {ratio('per_s'):>8.2f} {ratio('per_cpu_s'):>8.2f}")
    peers = [s for s in servers if s not in ("runtime", "runtime_uring")]
    if "runtime" in servers and peers:
        print("\nruntime's median as a ratio of each peer's (> 1: runtime is ahead)")
        print(f"{'N':>5} " + " ".join(f"{p + ' /s':>14} {p + ' /CPU s':>14}" for p in peers))
        for n in sizes:
            def med(name: str, key: str, n: int = n) -> float:
                return statistics.median(r[key] for r in results[(name, n)])

            print(f"{n:>5} " + " ".join(
                f"{med('runtime', 'per_s') / med(p, 'per_s'):>14.2f} "
                f"{med('runtime', 'per_cpu_s') / med(p, 'per_cpu_s'):>14.2f}" for p in peers))


if __name__ == "__main__":
    main()
