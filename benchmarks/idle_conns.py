#!/usr/bin/env python3
"""Memory per idle TCP connection: one server process holding N of them.

    .venv/bin/python benchmarks/idle_conns.py                   # 100k asked, 3 reps
    .venv/bin/python benchmarks/idle_conns.py --conns 10000 --peers runtime,asyncio
    .venv/bin/python benchmarks/idle_conns.py --peers runtime --reps 1 --tracemalloc

Each figure is a fresh server process that accepts N connections on
127.0.0.1 and parks one reader task per connection in its framework's
streams API, as an idle chat client's task would sit in a read:

    runtime   runtime.io.serve_tcp; each handler awaits TcpStream.read()
    asyncio   asyncio.start_server; each handler awaits StreamReader.read()
    uvloop    the same on uvloop
    trio      trio.serve_tcp; each handler awaits SocketStream.receive_some()
    sockets   the floor: a blocking accept() loop keeping the socket objects
              in a list; no event loop, no task, no buffer

The server's RSS (VmRSS, as ``memory.py``) is taken once the first
connection's reader is parked (a warm-up: lazy imports and first-use
allocations land before the baseline) and again once all N + 1 are parked,
after ``gc.collect()`` both times; the figure is ``(after - before) / N``.
Sockets' kernel memory is not in RSS; the system-wide growth of the kernel's
Slab (both ends of every connection) is printed below the table.

The clients are separate processes of this script, plain blocking sockets,
each bound to its own loopback source address (127.0.0.2, 127.0.0.3, ...)
before connecting, so no source address runs out of ephemeral ports, and
each holding at most ``--per-client`` connections (within its fd limit).
They set ``SO_LINGER`` 0, so their sockets leave no TIME_WAIT behind.

Every process raises its soft ``RLIMIT_NOFILE`` to the hard limit. When the
hard limit cannot hold N (raising it needs ``CAP_SYS_RESOURCE``), N is
clamped to what fits and the run says so loudly. Children run in their own
session with ``PR_SET_PDEATHSIG``, and are stopped in a ``finally``: Ctrl-C,
SIGTERM or a failure leaves no server or client behind.

Reps are interleaved (rep 1 of every peer, then rep 2, ...); the table gives
the median and the ratio to asyncio's. ``--json PATH`` keeps every run.
``--tracemalloc`` runs the servers under tracemalloc (which inflates the
figures) and prints, per peer, the source lines that allocated the most
between the two snapshots. The child modes are ``--server PEER N`` and
``--client PORT SOURCE COUNT`` (JSON lines on stdout).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import json
import linecache
import os
import platform
import queue
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import IO, Any

PEERS = ["runtime", "asyncio", "uvloop", "trio", "sockets"]
HOST = "127.0.0.1"
BACKLOG = 4096
#: fds a server needs beside its connections: stdio, the listener, epoll,
#: wakeup pipes, the warm-up connection, and some slack.
FD_HEADROOM = 64
TICK = 0.1  # seconds between the server's looks at its parked count
PARENT_ENV = "IDLE_CONNS_PARENT"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/"


def rss_kb() -> dict[str, int]:
    """VmRSS and RssAnon of this process, in KiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                out[key] = int(rest.split()[0])
    return out


def slab_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def raise_nofile(want: int = 0) -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (and both to ``want`` if allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want, want
        except (ValueError, OSError):
            pass  # no CAP_SYS_RESOURCE: the hard limit is as far as we go
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard, hard


def die_with_parent() -> None:
    """SIGKILL this child when the driver dies, however it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):
        sys.exit("the driver is gone")  # it died before prctl took effect


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


# -- the server ----------------------------------------------------------------------


class Monitor:
    """Counts parked readers; takes the two RSS snapshots when the count settles."""

    def __init__(self, n: int, trace: bool) -> None:
        self.n = n
        self.parked = 0
        self.trace = trace
        self._seen = -1
        self._base: dict[str, int] | None = None
        self._done = False
        self._snapshot: tracemalloc.Snapshot | None = None

    def listening(self, port: int) -> None:
        emit(port=port, nofile=resource.getrlimit(resource.RLIMIT_NOFILE))

    def tick(self) -> None:
        """Called every TICK seconds from the server's own loop."""
        k = self.parked
        if k != self._seen:
            self._seen = k
            emit(parked=k)
            return  # not settled yet: look again next tick
        if self._base is None and k >= 1:
            self._base = self._measure()
            emit(base=self._base, parked=k)
        elif self._base is not None and not self._done and k >= self.n + 1:
            self._done = True
            after = self._measure(top=True)
            emit(after=after, parked=k)

    def _measure(self, top: bool = False) -> dict[str, int]:
        gc.collect()
        rss = rss_kb()
        if self.trace:
            snap = tracemalloc.take_snapshot()
            if top and self._snapshot is not None:
                stats = snap.compare_to(self._snapshot, "lineno")
                emit(traced=sum(s.size_diff for s in stats),
                     top=[[where(s.traceback[0]), s.size_diff, s.count_diff] for s in stats[:25]])
            self._snapshot = snap
        return rss


def where(frame: tracemalloc.Frame) -> str:
    """``file:line  source`` with the path shortened to what tells it apart."""
    path = frame.filename.rpartition("/site-packages/")[2]
    for prefix in (REPO, sysconfig.get_paths()["stdlib"] + "/"):
        path = path.removeprefix(prefix)
    return f"{path}:{frame.lineno}  {linecache.getline(frame.filename, frame.lineno).strip()}"


def serve_runtime(mon: Monitor) -> None:
    import runtime
    from runtime.io import TcpStream, serve_tcp

    async def reader(stream: TcpStream) -> None:
        mon.parked += 1
        try:
            await stream.read()
        finally:
            mon.parked -= 1

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(functools.partial(serve_tcp, backlog=BACKLOG), reader, HOST, 0)
            mon.listening(port)
            while True:
                await runtime.sleep(TICK)
                mon.tick()

    runtime.run(main())


def serve_asyncio(mon: Monitor, use_uvloop: bool) -> None:
    import asyncio

    async def reader(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        mon.parked += 1
        try:
            await r.read(65536)
        finally:
            mon.parked -= 1
            w.close()

    async def main() -> None:
        server = await asyncio.start_server(reader, HOST, 0, backlog=BACKLOG)
        mon.listening(server.sockets[0].getsockname()[1])
        while True:
            await asyncio.sleep(TICK)
            mon.tick()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def serve_trio(mon: Monitor) -> None:
    import trio

    async def reader(stream: trio.SocketStream) -> None:
        mon.parked += 1
        try:
            await stream.receive_some()
        finally:
            mon.parked -= 1

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, reader, 0, host=HOST, backlog=BACKLOG))
            mon.listening(listeners[0].socket.getsockname()[1])
            while True:
                await trio.sleep(TICK)
                mon.tick()

    trio.run(main)


def serve_sockets(mon: Monitor) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(BACKLOG)
    listener.settimeout(TICK)
    held = []
    mon.listening(listener.getsockname()[1])
    next_tick = time.monotonic() + TICK
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            pass
        else:
            held.append(conn)
            mon.parked += 1
        if time.monotonic() >= next_tick:
            next_tick = time.monotonic() + TICK
            mon.tick()


def server_main(peer: str, n: int, trace: bool) -> None:
    die_with_parent()
    raise_nofile()
    if trace:
        tracemalloc.start()
    mon = Monitor(n, trace)
    if peer == "runtime":
        serve_runtime(mon)
    elif peer in ("asyncio", "uvloop"):
        serve_asyncio(mon, peer == "uvloop")
    elif peer == "trio":
        serve_trio(mon)
    elif peer == "sockets":
        serve_sockets(mon)
    else:
        sys.exit(f"unknown peer {peer!r}")


# -- a client ------------------------------------------------------------------------


def client_main(port: int, source: str, count: int) -> None:
    """Open ``count`` connections from ``source``, then hold them until stdin closes."""
    die_with_parent()
    raise_nofile()
    no_linger = struct.pack("ii", 1, 0)  # close() sends RST: no TIME_WAIT left behind
    held = []
    for _ in range(count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, no_linger)
        s.bind((source, 0))
        s.connect((HOST, port))
        held.append(s)
    emit(connected=len(held), source=source)
    sys.stdin.read()  # EOF: the driver is done with us


# -- the driver ----------------------------------------------------------------------


def spawn_child(args: list[str], log: IO[bytes]) -> subprocess.Popen[str]:
    # A session of its own: Ctrl-C reaches only the driver, which stops
    # the children in order; PDEATHSIG (set by the child) covers a driver
    # that is killed outright.
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                            text=True, start_new_session=True,
                            env={**os.environ, PARENT_ENV: str(os.getpid())})


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


def line_queue(stream: IO[str]) -> queue.Queue[dict[str, Any] | None]:
    """The child's JSON lines, read by a thread; None at EOF."""
    q: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def pump() -> None:
        with contextlib.suppress(ValueError, OSError):  # closed under us at teardown
            for line in stream:
                if line.startswith("{"):
                    q.put(json.loads(line))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


class RunFailed(Exception):
    pass


@contextlib.contextmanager
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Every child started inside is stopped on the way out, the server first.

    The server goes first so that its sockets close while the clients still
    hold theirs, and the server never sees N connections reset at once.
    """
    procs: list[subprocess.Popen[str]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            stop(proc)


def run_one(peer: str, n: int, per_client: int, trace: bool, label: str,
            stall_s: float) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        procs = stack.enter_context(children())
        logs = [stack.enter_context(tempfile.TemporaryFile())]
        server = spawn_child(["--server", peer, str(n), *(["--tracemalloc"] if trace else [])],
                             logs[0])
        procs.append(server)
        assert server.stdout is not None
        lines = line_queue(server.stdout)
        clients: list[subprocess.Popen[str]] = []
        warmup = stack.enter_context(socket.socket())
        result: dict[str, Any] = {"peer": peer, "n": n}
        started = last_print = time.monotonic()
        last_change, last_parked = started, -1
        while "after_kb" not in result:
            try:
                msg = lines.get(timeout=1.0)
            except queue.Empty:
                msg = {}
            if msg is None:
                raise RunFailed(f"{peer} server exited ({server.wait()}):\n{tail(logs[0])}")
            for c, log in zip(clients, logs[1:], strict=True):
                if c.poll() is not None:
                    raise RunFailed(f"a client of {peer} exited ({c.returncode}):\n{tail(log)}")
            now = time.monotonic()
            if "port" in msg:
                result["port"] = msg["port"]
                result["server_nofile"] = msg["nofile"]
                warmup.connect((HOST, msg["port"]))
            elif "base" in msg:
                result["base_kb"] = msg["base"]
                result["slab_base_kb"] = slab_kb()
                left, i = n, 0
                while left:
                    count = min(per_client, left)
                    logs.append(stack.enter_context(tempfile.TemporaryFile()))
                    clients.append(spawn_child(
                        ["--client", str(result["port"]), f"127.0.0.{2 + i}", str(count)],
                        logs[-1]))
                    procs.append(clients[-1])
                    left -= count
                    i += 1
            elif "after" in msg:
                result["after_kb"] = msg["after"]
                result["slab_after_kb"] = slab_kb()
            elif "top" in msg:
                result["top"], result["traced"] = msg["top"], msg["traced"]
            if "parked" in msg and msg["parked"] != last_parked:
                last_parked, last_change = msg["parked"], now
            if now - last_change > stall_s:
                raise RunFailed(f"{peer}: stuck at {last_parked:,} parked for {stall_s:.0f} s"
                                f"\n{tail(logs[0])}")
            if now - last_print >= 1.0 or "after" in msg:
                last_print = now
                opened = max(0, last_parked - 1)  # the warm-up connection is not counted
                print(f"{label} {opened:>7,}/{n:,} connections parked "
                      f"({now - started:.0f} s)", file=sys.stderr, flush=True)
    used = result["after_kb"]["VmRSS"] - result["base_kb"]["VmRSS"]
    anon = result["after_kb"]["RssAnon"] - result["base_kb"]["RssAnon"]
    result["bytes_per_conn"] = round(used * 1024 / n)
    result["anon_bytes_per_conn"] = round(anon * 1024 / n)
    result["slab_bytes_per_conn"] = round(
        (result["slab_after_kb"] - result["slab_base_kb"]) * 1024 / n)
    return result


def versions(peers: list[str]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = [f"Python {platform.python_version()}", f"Linux {platform.release()}"]
    for peer in peers:
        if peer in ("runtime", "uvloop", "trio"):
            try:
                out.append(f"{peer} {version(peer)}")
            except PackageNotFoundError:
                out.append(f"{peer} ?")
    return ", ".join(out)


def available(peer: str) -> bool:
    module = {"uvloop": "uvloop", "trio": "trio", "runtime": "runtime"}.get(peer)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", nargs=2, metavar=("PEER", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--client", nargs=3, metavar=("PORT", "SOURCE", "COUNT"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--conns", type=int, default=100_000, help="connections per server")
    ap.add_argument("--per-client", type=int, default=10_000,
                    help="connections per client process (one source address each)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--stall", type=float, default=60.0,
                    help="fail a run when the parked count stands still this many seconds")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="trace the server's allocations (inflates the figures)")
    ap.add_argument("--json", metavar="PATH", help="also write every run to PATH")
    args = ap.parse_args()
    if args.server:
        server_main(args.server[0], int(args.server[1]), args.tracemalloc)
        return
    if args.client:
        client_main(int(args.client[0]), args.client[1], int(args.client[2]))
        return

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the children.
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    signal.signal(signal.SIGINT, signal.default_int_handler)

    peers = [p for p in args.peers.split(",") if p]
    if unknown := [p for p in peers if p not in PEERS]:
        sys.exit(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    n = clamped_from = args.conns
    _, hard = raise_nofile(n + FD_HEADROOM)
    if hard < n + FD_HEADROOM:
        fit = hard - FD_HEADROOM
        bar = "!" * 78
        print(f"{bar}\n!!! --conns {n:,} clamped to {fit:,}: the hard RLIMIT_NOFILE is "
              f"{hard:,} and raising it\n!!! needs CAP_SYS_RESOURCE (setrlimit refused). "
              f"One server process can hold\n!!! {fit:,} connections here ({FD_HEADROOM} fds "
              f"kept for the listener, epoll, stdio,\n!!! the warm-up connection). "
              f"Raise 'ulimit -Hn' as root for the full {n:,}.\n{bar}",
              file=sys.stderr, flush=True)
        n = fit
    per_client = max(1, min(args.per_client, hard - FD_HEADROOM))
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
    per_client = min(per_client, (hi - lo + 1) * 9 // 10)  # one source address per client
    n_clients = -(-n // per_client)
    if n_clients > 250:
        sys.exit(f"{n:,} connections need {n_clients} source addresses; raise --per-client")

    for peer in list(peers):
        if not available(peer):
            print(f"skipping {peer}: not installed (pip install -e '.[bench]')", file=sys.stderr)
            peers.remove(peer)
    print(f"{n:,} connections per server from {n_clients} client process(es) "
          f"(127.0.0.2..127.0.0.{1 + n_clients}, <= {per_client:,} each); "
          f"RLIMIT_NOFILE {hard:,}", file=sys.stderr, flush=True)

    results: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
    total = len(peers) * args.reps
    done = 0
    for rep in range(args.reps):
        for peer in peers:
            done += 1
            label = f"[{done}/{total}] {peer:<8} rep {rep + 1}/{args.reps}:"
            try:
                res = run_one(peer, n, per_client, args.tracemalloc, label, args.stall)
            except RunFailed as exc:
                print(f"    {exc}", file=sys.stderr, flush=True)
                continue
            print(f"{label} {res['bytes_per_conn']:,} bytes/conn", file=sys.stderr, flush=True)
            results[peer].append(res)

    print()
    clamped = (f" (clamped from {clamped_from:,}: hard RLIMIT_NOFILE {hard:,})"
               if n < clamped_from else "")
    print(f"{versions(peers)}; {n:,} idle connections{clamped}; server RSS growth per "
          f"connection, median of {args.reps} (min..max)")
    if args.tracemalloc:
        print("(under tracemalloc: every figure includes its bookkeeping)")
    print()
    base = None
    if results.get("asyncio"):
        base = statistics.median(r["bytes_per_conn"] for r in results["asyncio"])
    print(f"| {'peer':<8} | {'N':>7} | {'bytes/conn':>10} | {'min..max':>15} | "
          f"{'x asyncio':>9} |")
    print(f"|{'-' * 10}|{'-' * 9}|{'-' * 12}|{'-' * 17}|{'-' * 11}|")
    for peer, runs in results.items():
        if not runs:
            continue
        per = [r["bytes_per_conn"] for r in runs]
        med = statistics.median(per)
        ratio = f"{med / base:.2f}" if base else "-"
        print(f"| {peer:<8} | {runs[0]['n']:>7,} | {med:>10,.0f} | "
              f"{f'{min(per):,}..{max(per):,}':>15} | {ratio:>9} |")
    slab = [r["slab_bytes_per_conn"] for runs in results.values() for r in runs]
    if slab:
        print(f"\nkernel Slab growth per connection (both ends, system-wide, all runs): "
              f"median {statistics.median(slab):,.0f} B; not in any RSS above")
    for peer, runs in results.items():
        if runs and "top" in runs[-1]:
            print(f"\n{peer}: {runs[-1]['traced'] / n:,.0f} B per connection traced; the lines "
                  f"that allocated most between the snapshots (last rep)")
            for line, size, count in runs[-1]["top"][:20]:
                print(f"  {size / n:>6.0f} B {count / n:>5.2f} blocks  {line}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"idle_conns/{p}": runs for p, runs in results.items()}, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        # The context managers have stopped every child by now.
        sys.exit("interrupted; no server or client left running")
