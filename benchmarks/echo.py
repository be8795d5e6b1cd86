"""Echo benchmark: runtime's echo server against its peers, in one invocation.

    .venv/bin/python benchmarks/echo.py [--reps 3] [--duration 3] [--warmup 1]
        [--configs 1x100,100x100,100x1000,1000x100] [--servers runtime,asyncio_streams,...]

Servers (all single-threaded, binding 127.0.0.1:PORT):

    runtime           examples/echo_server.py (runtime's streams API, a task per connection)
    runtime_uring     the same server with RUNTIME_BACKEND=uring (io_uring completions)
    asyncio_streams   peers/asyncio_streams.py  (StreamReader.read + write/drain)
    asyncio_protocol  peers/asyncio_protocol.py (Protocol.data_received -> transport.write)
    uvloop_streams    the asyncio streams server on uvloop
    uvloop_protocol   the asyncio Protocol server on uvloop
    trio              peers/trio_echo.py (serve_tcp, receive_some + send_all)
    c                 echo_c.c (epoll, edge-triggered): what the box can do without Python

The load generator is `echoload.c` (closed loop: every connection keeps one
message in flight; epoll, non-blocking). Both C programs are compiled here
with the system ``cc -O2`` into ``benchmarks/build/``. Every server is pinned
to CPU 0 and the load generator to CPU 1 (``taskset``), so each has a core
of its own; a configuration ``CxB`` is C connections sending B-byte
messages. Each (configuration, server) pair runs ``--reps`` times, the
servers interleaved (rotated each rep) so slow drift in the machine hits all
of them alike; the table shows medians, and the ratio of runtime to each
peer. ``srv CPU`` is the server's CPU time over the measurement window
(from /proc/PID/stat), ``load CPU`` the load generator's own (getrusage): the
server is the bottleneck when the first is ~100 % and the second is lower.

Raw results go to ``benchmarks/results/echo-<time>.jsonl``.

Measured (2026-12-04, commit 254036c, AMD EPYC 2 vCPU KVM, Linux 6.18,
Python 3.11.7, uvloop 0.23.0, trio 0.35.0; 3 reps of 1+3 s, medians; a
shared machine, every Python server at ~100 % CPU):

    100x100  runtime 66,413 rt/s   asyncio streams 50,219 (x1.32)   asyncio protocol 78,386
             uvloop streams 65,086 (x1.02)  uvloop protocol 96,411  trio 27,555 (x2.41)
             C 109,800 (x0.60)

Two other runs that day gave runtime x0.91 and x0.81 the C server at
100x100: the C server's own rate moved between 84k and 126k rt/s from rep
to rep. `instructions.py` counts what noise cannot move. All of these
figures predate the change that made echoload.c and echo_c.c stop at a
short read instead of reading on to EAGAIN: the load generator was then
the bottleneck against the C server, which also made a system call more
per round trip. Against the corrected ceiling runtime was x0.61 the C
server at 100x100 (rep by rep, the same evening; README, "Performance").

runtime on io_uring against runtime on epoll (2026-11-23, this machine,
``--servers runtime,runtime_uring --configs 100x100,1000x100 --reps 5``, a
quiet run, both servers at ~100 % CPU):

    100x100   epoll 91,701 rt/s   uring 91,861 (x1.00)   per CPU-s x1.01
    1000x100  epoll 71,957 rt/s   uring 54,301 (x0.75)   per CPU-s x0.77

Two noisier runs gave x0.79 / x1.17 at 100x100 and x0.89 / x0.96 at
1000x100. Where the time goes: docs/architecture.md, "The same
``await stream.read()`` on io_uring".

Runs taken while other work shared the CPUs swung from 0.94x to 1.45x
against asyncio streams at 100x100; compare the rt/CPU-s column then. The
asyncio streams server is a third as fast for its whole run if its first
accept wakes up to a burst of connections; the probe connection made before
each run (as the shared reference harness does) keeps it out of that state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = HERE / "build"
RESULTS = HERE / "results"
PY = sys.executable

SERVERS: dict[str, list[str]] = {
    "runtime": [PY, str(ROOT / "examples" / "echo_server.py"), "{port}"],
    "runtime_uring": [PY, str(ROOT / "examples" / "echo_server.py"), "{port}"],
    "asyncio_streams": [PY, str(HERE / "peers" / "asyncio_streams.py"), "{port}"],
    "asyncio_protocol": [PY, str(HERE / "peers" / "asyncio_protocol.py"), "{port}"],
    "uvloop_streams": [PY, str(HERE / "peers" / "uvloop_streams.py"), "{port}"],
    "uvloop_protocol": [PY, str(HERE / "peers" / "uvloop_protocol.py"), "{port}"],
    # runtime.asyncio's event loop under the same two asyncio servers (asyncio_echo.py)
    "runtime_asyncio_streams": [PY, str(HERE / "peers" / "runtime_asyncio_streams.py"), "{port}"],
    "runtime_asyncio_protocol": [PY, str(HERE / "peers" / "runtime_asyncio_protocol.py"),
                                 "{port}"],
    # the same loop on io_uring (RingSocketTransport: multishot receives)
    "runtime_asyncio_uring_streams": [PY, str(HERE / "peers" / "runtime_asyncio_streams.py"),
                                      "{port}"],
    "runtime_asyncio_uring_protocol": [PY, str(HERE / "peers" / "runtime_asyncio_protocol.py"),
                                       "{port}"],
    # the least a Python readiness loop can run per round trip (a ceiling for asyncio_echo.py)
    "python_floor_protocol": [PY, str(HERE / "peers" / "python_floor_protocol.py"), "{port}"],
    "trio": [PY, str(HERE / "peers" / "trio_echo.py"), "{port}"],
    "c": [str(BUILD / "echo_c"), "{port}"],
}
#: Environment a server runs with, on top of ours.
SERVER_ENV = {"runtime_uring": {"RUNTIME_BACKEND": "uring"},
              "runtime_asyncio_uring_streams": {"RUNTIME_BACKEND": "uring"},
              "runtime_asyncio_uring_protocol": {"RUNTIME_BACKEND": "uring"}}
NEEDS = {"uvloop_streams": "uvloop", "uvloop_protocol": "uvloop", "trio": "trio"}
DEFAULT_CONFIGS = "1x100,100x100,100x1000,1000x100"
SERVER_CPU, LOAD_CPU = "0", "1"


# -- building and machine facts ------------------------------------------------------------


def build() -> None:
    """Compile echoload and echo_c with the system compiler (when out of date)."""
    BUILD.mkdir(exist_ok=True)
    for name in ("echoload", "echo_c"):
        src, exe = HERE / f"{name}.c", BUILD / name
        if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
            continue
        cmd = ["cc", "-O2", "-Wall", "-o", str(exe), str(src)]
        print("building:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def machine() -> dict[str, str]:
    def version(module: str) -> str:
        try:
            return str(__import__(module).__version__)
        except ImportError:
            return "not installed"

    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout
    return {
        "cpu": f"{cpu} ({os.cpu_count()} CPUs)",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": version("uvloop"),
        "trio": version("trio"),
        "cc": cc.splitlines()[0] if cc else "?",
    }


# -- one run -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_times(pid: int) -> tuple[float, float]:
    """The process's (user, system) CPU seconds so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server not listening on {port} after {timeout} s")


@contextlib.contextmanager
def server(name: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    cmd = ["taskset", "-c", SERVER_CPU] + [a.format(port=port) for a in SERVERS[name]]
    # SIGINT back to its default in the server: a driver started as a
    # background job ('&' in a script) has SIGINT ignored, the servers would
    # inherit that, and runtime's echo server (SIGTERM -> SIGINT) would not stop.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **SERVER_ENV.get(name, {})},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_listening(port, proc)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def run_one(name: str, conns: int, size: int, duration: float, warmup: float) -> dict:
    with server(name) as (proc, port):
        time.sleep(0.2)  # let the probe connection's teardown settle
        load = subprocess.Popen(
            ["taskset", "-c", LOAD_CPU, str(BUILD / "echoload"), "127.0.0.1", str(port),
             str(conns), str(size), str(duration), str(warmup)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert load.stdout is not None
        cpu0 = (0.0, 0.0)
        t0 = None
        result: dict | None = None
        for line in load.stdout:
            if line.strip() == "measuring":
                cpu0, t0 = cpu_times(proc.pid), time.monotonic()
            elif line.startswith("{"):
                (usr1, sys1), (usr0, sys0) = cpu_times(proc.pid), cpu0
                usr, sys_ = usr1 - usr0, sys1 - sys0
                srv_cpu = usr + sys_
                wall = time.monotonic() - (t0 or time.monotonic())
                result = json.loads(line)
                result["srv_cpu_pct"] = 100.0 * srv_cpu / wall if wall > 0 else 0.0
                # Where the server's CPU went, per round trip: the interpreter
                # (user) and the kernel's TCP work and syscall entries (system).
                trips = max(1, result["round_trips"])
                result["srv_usr_us"] = 1e6 * usr / trips
                result["srv_sys_us"] = 1e6 * sys_ / trips
                # Round trips per second of CPU the server actually got: less
                # disturbed than rt/s when other work shares the machine.
                result["rt_per_cpu_s"] = result["round_trips"] / srv_cpu if srv_cpu else 0.0
        _, err = load.communicate(timeout=30)
        if result is None or load.returncode != 0:
            raise RuntimeError(f"echoload against {name} failed ({load.returncode}): {err.strip()}")
        result["load_cpu_pct"] = 100.0 * result["load_cpu_s"] / result["duration_s"]
        result["server"] = name
        return result


# -- the report ----------------------------------------------------------------------------------


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(results: list[dict], servers: list[str], configs: list[tuple[int, int]],
           facts: dict[str, str]) -> str:
    out = ["", "machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()), ""]
    out.append(f"{'config':>9} {'server':<17} {'rt/s':>9} {'(min..max)':>19} "
               f"{'p50 ms':>7} {'p99 ms':>7} {'srv CPU':>8} {'load CPU':>9} {'rt/CPU-s':>9} "
               f"{'usr+sys us/rt':>14}")
    for conns, size in configs:
        label = f"{conns}x{size}"
        for name in servers:
            rows = [r for r in results if r["server"] == name and r["conns"] == conns
                    and r["bytes"] == size]
            if not rows:
                continue
            rts = [r["rt_per_s"] for r in rows]
            out.append(
                f"{label:>9} {name:<17} {median(rows, 'rt_per_s'):>9,.0f} "
                f"{f'({min(rts):,.0f}..{max(rts):,.0f})':>19} "
                f"{median(rows, 'p50_us') / 1000:>7.2f} {median(rows, 'p99_us') / 1000:>7.2f} "
                f"{median(rows, 'srv_cpu_pct'):>7.0f}% {median(rows, 'load_cpu_pct'):>8.0f}% "
                f"{median(rows, 'rt_per_cpu_s'):>9,.0f} "
                f"{median(rows, 'srv_usr_us'):>6.1f}+{median(rows, 'srv_sys_us'):<6.1f}")
        out.append("")
    if "runtime" in servers and "runtime_uring" in servers:
        out.append("runtime on io_uring as a ratio of runtime on epoll (>1: uring is ahead)")
        out.append(f"{'config':>9} {'rt/s':>9} {'rt/CPU-s':>9}")
        for conns, size in configs:
            cells = []
            for key in ("rt_per_s", "rt_per_cpu_s"):
                meds = [median(rows, key) for rows in (
                    [r for r in results if r["server"] == name and r["conns"] == conns
                     and r["bytes"] == size] for name in ("runtime_uring", "runtime")) if rows]
                cells.append(f"{meds[0] / meds[1]:>9.2f}" if len(meds) == 2 else f"{'-':>9}")
            out.append(f"{f'{conns}x{size}':>9} " + " ".join(cells))
        out.append("")
    peers = [s for s in servers if s not in ("runtime", "runtime_uring")]
    if "runtime" in servers and peers:
        for key, what in (("rt_per_s", "median rt/s"),
                          ("rt_per_cpu_s", "median round trips per server CPU-second")):
            out.append(f"runtime's {what} as a ratio of each peer's (>1: runtime is ahead)")
            out.append(f"{'config':>9} " + " ".join(f"{p:>17}" for p in peers))
            for conns, size in configs:
                def med(name: str, conns: int = conns, size: int = size,
                        key: str = key) -> float | None:
                    rows = [r for r in results if r["server"] == name and r["conns"] == conns
                            and r["bytes"] == size]
                    return median(rows, key) if rows else None

                ours = med("runtime")
                cells = []
                for p in peers:
                    theirs = med(p)
                    cells.append(f"{ours / theirs:>17.2f}" if ours and theirs else f"{'-':>17}")
                out.append(f"{f'{conns}x{size}':>9} " + " ".join(cells))
            out.append("")
        # Rep by rep: both servers of a pair ran back to back, so a ratio taken
        # within one rep cancels the machine's drift between reps, which a
        # ratio of medians does not.
        for key, what in (("rt_per_s", "rt/s as a ratio of each peer's (>1: runtime is ahead)"),
                          ("p50_us", "p50 latency as a multiple of each peer's "
                                     "(<1: runtime is ahead)")):
            out.append(f"runtime's {what}, per rep: median (min..max)")
            out.append(f"{'config':>9} " + " ".join(f"{p:>19}" for p in peers))
            for conns, size in configs:
                cells = []
                for p in peers:
                    ratios = paired_ratios(results, "runtime", p, conns, size, key)
                    cell = (f"{statistics.median(ratios):.2f} "
                            f"({min(ratios):.2f}..{max(ratios):.2f})") if ratios else "-"
                    cells.append(f"{cell:>19}")
                out.append(f"{f'{conns}x{size}':>9} " + " ".join(cells))
            out.append("")
    return "\n".join(out)


def paired_ratios(results: list[dict], ours: str, theirs: str, conns: int, size: int,
                  key: str) -> list[float]:
    """``ours[key] / theirs[key]`` within each rep that measured both."""
    by_rep: dict[int, dict[str, float]] = {}
    for r in results:
        if r["conns"] == conns and r["bytes"] == size and r["server"] in (ours, theirs):
            by_rep.setdefault(r["rep"], {})[r["server"]] = r[key]
    return [pair[ours] / pair[theirs] for pair in by_rep.values()
            if ours in pair and theirs in pair and pair[theirs]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="CONNSxBYTES,...")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    args = parser.parse_args()

    if os.cpu_count() is None or os.cpu_count() < 2:  # type: ignore[operator]
        sys.exit("needs two CPUs: the server on CPU 0, the load generator on CPU 1")
    build()
    servers = []
    for name in args.servers.split(","):
        if name not in SERVERS:
            sys.exit(f"unknown server {name!r}; choose from {', '.join(SERVERS)}")
        if name in NEEDS:
            try:
                __import__(NEEDS[name])
            except ImportError:
                print(f"skipping {name}: {NEEDS[name]} is not installed "
                      "(pip install -e '.[bench]')", flush=True)
                continue
        servers.append(name)
    configs = [(int(c.split("x")[0]), int(c.split("x")[1])) for c in args.configs.split(",")]
    facts = machine()
    RESULTS.mkdir(exist_ok=True)
    raw = RESULTS / f"echo-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    total = args.reps * len(configs) * len(servers)
    print(f"{total} runs of {args.warmup:g}+{args.duration:g} s: servers on CPU {SERVER_CPU}, "
          f"echoload on CPU {LOAD_CPU}; raw results in {raw.relative_to(ROOT)}", flush=True)

    results: list[dict] = []
    done = 0
    with raw.open("w") as f:
        for rep in range(args.reps):
            order = servers[rep % len(servers):] + servers[: rep % len(servers)]
            for conns, size in configs:
                for name in order:
                    done += 1
                    r = run_one(name, conns, size, args.duration, args.warmup)
                    r["rep"] = rep
                    results.append(r)
                    f.write(json.dumps(r) + "\n")
                    f.flush()
                    print(f"[{done:>3}/{total}] rep {rep + 1} {conns}x{size:<5} {name:<17} "
                          f"{r['rt_per_s']:>9,.0f} rt/s  p50 {r['p50_us'] / 1000:6.2f} ms  "
                          f"p99 {r['p99_us'] / 1000:6.2f} ms  srv CPU {r['srv_cpu_pct']:3.0f}%  "
                          f"load CPU {r['load_cpu_pct']:3.0f}%", flush=True)
    print(report(results, servers, configs, facts), flush=True)


if __name__ == "__main__":
    main()
