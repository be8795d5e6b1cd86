"""User-space instructions per echo round trip, counted by callgrind: a figure noise cannot move.

    .venv/bin/python benchmarks/instructions.py [--servers runtime,uvloop_streams,...]
        [--conns 100] [--rounds 50,250]

Wall-clock rates on a shared VM swing by 20 % from run to run; the number of
instructions a server executes per round trip does not (the same total
twice, to within 0.1 %, on this machine). Each server of ``echo.py`` runs
under ``valgrind --tool=callgrind`` twice, serving CONNS connections that
each make R1, then R2, 100-byte round trips (a closed-loop client in this
process, one message in flight per connection); the difference of the two
totals divided by ``CONNS x (R2 - R1)`` cancels start-up and shutdown. Only
user-space instructions are counted (the interpreter, libc, the C
extension): the kernel's share, the same system calls for every server,
is not. Used to judge each change to the hot path (see the commit log);
``--annotate`` prints the top functions' share per round trip.

Needs valgrind (Debian: ``apt-get install valgrind``). Runs on demand, never
in CI. Each server is run once per count, so the peers are interleaved.

Measured 2026-12-04 at commit 536c62a (AMD EPYC, CPython 3.11.7, uvloop
0.23.0, trio 0.35.0), 100 conns, 50 and 250 round trips each:

    runtime              19,100
    runtime_uring        40,164    2.10x runtime's  (18,525 = 0.96x on 2026-12-07,
                                                  multishot receives, issue 26)
    asyncio_streams      41,270    2.16x runtime's
    uvloop_streams       23,079    1.21x runtime's
    uvloop_protocol       3,461    0.18x runtime's
    trio                 98,380    5.15x runtime's
    c                        84    0.00x runtime's

The asyncio servers on three loops (2026-12-07, q28's runtime.asyncio, same
machine and settings; the stdlib and uvloop rows from the same session):

    asyncio_protocol           15,816    runtime_asyncio_protocol   16,926 (22,214 at first;
                                                                17,379 at 02b7008)
    uvloop_protocol             3,419
    asyncio_streams            41,321    runtime_asyncio_streams    26,329 (50,496 at first)
    uvloop_streams             23,104

After 6209c4e (the run loop calls callback wakers; the IO driver queues
what it wakes): runtime_asyncio_protocol 15,124 (asyncio_protocol 14,414
in the same session), runtime_asyncio_uring_protocol 16,449.

(The streams count on runtime.asyncio is not reproducible with this client:
24,665 to 28,832 for one tree, 47,845 to 48,310 at 02b7008, at the same
6.4 us of user time per round trip under echoload.c; benchmarks/README.md,
"asyncio servers on three loops".)

At commit e8c6517, before the hot-path changes that follow it, runtime took
25,016. With ``--conns 1 --rounds 200,1000`` (a loop turn per round trip)
runtime takes about 30,000, from 34,108 before 536c62a.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from echo import NEEDS, SERVER_ENV, SERVERS, build, free_port

MESSAGE = b"x" * 100


def client(port: int, conns: int, rounds: int) -> None:
    """Closed loop: every connection sends MESSAGE, reads it back, ``rounds`` times."""
    sel = selectors.DefaultSelector()
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    left = {s: rounds for s in socks}
    got = dict.fromkeys(socks, 0)
    try:
        for s in socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            s.send(MESSAGE)
            sel.register(s, selectors.EVENT_READ)
        live = conns
        while live:
            for key, _ in sel.select(timeout=60):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                data = s.recv(4096)
                if not data:
                    raise RuntimeError("the server closed a connection")
                got[s] += len(data)
                if got[s] == len(MESSAGE):
                    got[s] = 0
                    left[s] -= 1
                    if left[s]:
                        s.send(MESSAGE)
                    else:
                        sel.unregister(s)
                        live -= 1
    finally:
        sel.close()
        for s in socks:
            s.close()


def count(name: str, conns: int, rounds: int, annotate: bool) -> tuple[int, dict[str, int]]:
    """Total user-space instructions of server ``name`` serving ``conns x rounds`` round trips."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        cmd += [a.format(port=port) for a in SERVERS[name]]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, **SERVER_ENV.get(name, {})},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 120
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start listening under valgrind")
                time.sleep(0.2)
            client(port, conns, rounds)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        files = sorted(Path(tmp).glob("callgrind.out*"))
        if not files:
            raise RuntimeError(f"callgrind wrote no profile for {name}")
        report = subprocess.run(["callgrind_annotate", "--threshold=100", *map(str, files)],
                                capture_output=True, text=True, check=True).stdout
    total = 0
    functions: dict[str, int] = {}
    for line in report.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+)", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        if m.group(2) == "PROGRAM":
            total += n
        elif annotate:
            key = m.group(2).rsplit("/", 1)[-1]
            functions[key] = functions.get(key, 0) + n
    return total, functions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="runtime,runtime_uring,asyncio_streams,"
                        "uvloop_streams,uvloop_protocol,trio,c")
    parser.add_argument("--conns", type=int, default=100)
    parser.add_argument("--rounds", default="50,250", help="R1,R2 round trips per connection")
    parser.add_argument("--annotate", action="store_true", help="top functions per round trip")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind (Debian: apt-get install valgrind)")
    build()
    r1, r2 = (int(x) for x in args.rounds.split(","))
    servers = []
    for name in args.servers.split(","):
        if name not in SERVERS:
            sys.exit(f"unknown server {name!r}; choose from {', '.join(SERVERS)}")
        if name in NEEDS and not _importable(NEEDS[name]):
            print(f"skipping {name}: {NEEDS[name]} is not installed", flush=True)
            continue
        servers.append(name)
    totals: dict[tuple[str, int], tuple[int, dict[str, int]]] = {}
    steps = [(rounds, name) for rounds in (r1, r2) for name in servers]
    for i, (rounds, name) in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {name:<17} {args.conns} conns x {rounds} round trips "
              "under callgrind", flush=True)
        totals[name, rounds] = count(name, args.conns, rounds, args.annotate)
    trips = args.conns * (r2 - r1)
    per = {name: (totals[name, r2][0] - totals[name, r1][0]) / trips for name in servers}
    print(f"\nuser-space instructions per round trip ({args.conns} conns x 100 B; "
          f"Python {sys.version.split()[0]})")
    base = per.get("runtime")
    for name in servers:
        ratio = f"  {per[name] / base:6.2f}x runtime's" if base and name != "runtime" else ""
        print(f"  {name:<17} {per[name]:>9,.0f}{ratio}")
        if args.annotate:
            after, before = totals[name, r2][1], totals[name, r1][1]
            diff = {k: (after.get(k, 0) - before.get(k, 0)) / trips for k in after}
            for key, n in sorted(diff.items(), key=lambda kv: -kv[1])[:12]:
                print(f"      {n:>8,.0f}  {key}")


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
