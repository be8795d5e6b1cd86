"""TLS benchmark: runtime's TlsStream against asyncio, uvloop and trio, in one invocation.

    .venv/bin/python benchmarks/tls_echo.py [--reps 3] [--duration 3] [--warmup 1]
        [--impls runtime,asyncio,uvloop,trio] [--conns 100] [--size 1024]
        [--handshake-conns 16] [--idle 1000]

Servers: ``peers/tls_echo_server.py IMPL`` (runtime: ``serve_tcp(ssl_context=)``
and `TlsStream`; asyncio and uvloop: ``start_server(ssl=)`` streams; trio:
``serve_ssl_over_tcp``), TLS 1.3 with a trustme certificate made for the
run. The load generator is ``tlsload.c`` (OpenSSL in C, epoll), built here
with ``cc -O2 ... -lssl -lcrypto`` (Debian: ``libssl-dev``), so the client
costs little next to a Python server. Server pinned to CPU 0, load to CPU 1.

Three measurements per server:

* echo: ``--conns`` connections, each keeping one ``--size``-byte message
  in flight (closed loop): round trips per second.
* handshakes: ``--handshake-conns`` clients in a loop of connect, full
  TLS 1.3 handshake (no resumption), one 1-byte round trip, close_notify,
  close: new connections per second.
* memory: the server's RSS growth per idle TLS connection, ``--idle`` of
  them open (handshake and one round trip done), from /proc/PID/status.

Each rep runs every server, the order rotated each rep (interleaved), so
drift in a shared machine hits them alike; the table gives medians and the
ratio of runtime to each peer rep by rep (above 1: runtime is faster).
``srv CPU`` is the server's CPU over the window: near 100 % means the server,
not the load generator, is the bottleneck.
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
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
SERVER = HERE / "peers" / "tls_echo_server.py"
SERVER_CPU, LOAD_CPU = "0", "1"
NEEDS = {"uvloop": "uvloop", "trio": "trio"}


def build() -> Path:
    BUILD.mkdir(exist_ok=True)
    src, exe = HERE / "tlsload.c", BUILD / "tlsload"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        cmd = ["cc", "-O2", "-Wall", "-o", str(exe), str(src), "-lssl", "-lcrypto"]
        print("building:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return exe


def versions() -> str:
    import ssl

    found = []
    for module in ("uvloop", "trio"):
        try:
            found.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            found.append(f"{module} not installed")
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "?")
    return (f"{cpu} ({os.cpu_count()} CPUs), Linux {platform.release()}, "
            f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, " + ", ".join(found))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@contextlib.contextmanager
def server(impl: str, cert: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, sys.executable, str(SERVER), impl, str(port), str(cert)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                assert proc.stderr is not None
                raise RuntimeError(f"{impl} server exited: {proc.stderr.read().decode()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{impl} server not listening after 15 s")
            time.sleep(0.05)
        time.sleep(0.2)
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


def load(exe: Path, proc: subprocess.Popen[bytes], args: list[str]) -> dict[str, float]:
    """Run tlsload against the server; its JSON plus the server's CPU share."""
    gen = subprocess.Popen(["taskset", "-c", LOAD_CPU, str(exe), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert gen.stdout is not None
    cpu0 = t0 = 0.0
    result: dict[str, float] | None = None
    for line in gen.stdout:
        if line.strip() == "measuring":
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        elif line.startswith("{"):
            wall = time.monotonic() - t0
            used = cpu_seconds(proc.pid) - cpu0
            result = json.loads(line)
            result["srv_cpu_pct"] = 100 * used / wall
            result["srv_cpu_s"] = used
    _, err = gen.communicate(timeout=30)
    if result is None or gen.returncode != 0:
        raise RuntimeError(f"tlsload {args[0]} failed ({gen.returncode}): {err.strip()}")
    return result


def idle_memory(exe: Path, proc: subprocess.Popen[bytes], port: int, n: int) -> float:
    """KiB of server RSS per idle TLS connection, ``n`` of them open."""
    warm = subprocess.run([str(exe), "idle", "127.0.0.1", str(port), "10"],
                          input="", capture_output=True, text=True, timeout=30)
    assert warm.returncode == 0, warm.stderr
    time.sleep(0.3)
    before = rss_kib(proc.pid)
    gen = subprocess.Popen([str(exe), "idle", "127.0.0.1", str(port), str(n)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert gen.stdout is not None
        if gen.stdout.readline().strip() != "ready":
            raise RuntimeError("tlsload idle did not get its connections ready")
        time.sleep(0.5)
        return (rss_kib(proc.pid) - before) / n
    finally:
        assert gen.stdin is not None
        gen.stdin.close()
        gen.wait(30)
        gen.stdout.close()  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--impls", default="runtime,asyncio,uvloop,trio")
    parser.add_argument("--conns", type=int, default=100)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--handshake-conns", type=int, default=16)
    parser.add_argument("--idle", type=int, default=1000)
    args = parser.parse_args()
    impls = [i for i in args.impls.split(",") if i]
    for impl in list(impls):
        if impl in NEEDS and not _importable(NEEDS[impl]):
            print(f"skipping {impl}: {NEEDS[impl]} is not installed")
            impls.remove(impl)
    if "runtime" not in impls:
        parser.error("--impls must include runtime: the ratios are runtime's")
    exe = build()
    import trustme

    rows: list[dict[str, float | str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cert = Path(tmp) / "server.pem"
        trustme.CA().issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem \
            .write_to_path(str(cert))
        print(versions())
        print(f"{args.reps} reps of {args.warmup}+{args.duration} s; echo {args.conns} conns x "
              f"{args.size} B; handshakes {args.handshake_conns} at a time; "
              f"memory with {args.idle} idle conns", flush=True)
        for rep in range(args.reps):
            order = impls[rep % len(impls):] + impls[:rep % len(impls)]
            for impl in order:
                with server(impl, cert) as (proc, port):
                    echo = load(exe, proc, ["echo", "127.0.0.1", str(port), str(args.conns),
                                            str(args.size), str(args.duration), str(args.warmup)])
                    hands = load(exe, proc, ["handshake", "127.0.0.1", str(port),
                                             str(args.handshake_conns), str(args.duration),
                                             str(args.warmup)])
                    memory = idle_memory(exe, proc, port, args.idle) if rep == 0 else None
                row: dict[str, float | str] = {
                    "rep": rep, "impl": impl,
                    "echo_rt_s": echo["round_trips"] / echo["duration_s"],
                    "echo_rt_cpu_s": echo["round_trips"] / max(echo["srv_cpu_s"], 1e-3),
                    "echo_cpu": echo["srv_cpu_pct"],
                    "hs_s": hands["handshakes"] / hands["duration_s"],
                    "hs_cpu_s": hands["handshakes"] / max(hands["srv_cpu_s"], 1e-3),
                    "hs_cpu": hands["srv_cpu_pct"]}
                if memory is not None:
                    row["kib_per_conn"] = memory
                rows.append(row)
                print(f"  rep {rep} {impl:8s} echo {row['echo_rt_s']:7,.0f} rt/s "
                      f"{row['echo_rt_cpu_s']:7,.0f} rt/CPU-s (srv CPU "
                      f"{echo['srv_cpu_pct']:3.0f} %)   handshakes {row['hs_s']:5,.0f}/s "
                      f"{row['hs_cpu_s']:5,.0f}/CPU-s (srv CPU {hands['srv_cpu_pct']:3.0f} %)"
                      + (f"   {memory:5.1f} KiB/idle conn" if memory is not None else ""),
                      flush=True)
    report(rows, impls, args.reps)


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def report(rows: list[dict[str, float | str]], impls: list[str], reps: int) -> None:
    def of(impl: str, key: str) -> list[float]:
        return [float(r[key]) for r in rows if r["impl"] == impl and key in r]

    def ratio(impl: str, key: str) -> str:
        if impl == "runtime":
            return ""
        ours = {r["rep"]: float(r[key]) for r in rows if r["impl"] == "runtime"}
        pairs = [ours[r["rep"]] / float(r[key]) for r in rows
                 if r["impl"] == impl and float(r[key]) > 0]
        return f"x{statistics.median(pairs):.2f}" if pairs else ""

    columns = [("echo rt/s", "echo_rt_s"), ("echo rt/CPU-s", "echo_rt_cpu_s"),
               ("handshakes/s", "hs_s"), ("handshakes/CPU-s", "hs_cpu_s")]
    print()
    print("| server | " + " | ".join(f"{title} | runtime vs it" for title, _ in columns)
          + " | KiB per idle TLS conn | srv CPU % (echo) |")
    print("|---" * (2 * len(columns) + 3) + "|")
    for impl in impls:
        memory = of(impl, "kib_per_conn")
        cells = [f"{statistics.median(of(impl, key)):,.0f} | {ratio(impl, key)}"
                 for _, key in columns]
        print(f"| {impl} | " + " | ".join(cells)
              + f" | {memory[0]:.1f} | {statistics.median(of(impl, 'echo_cpu')):.0f} |"
              if memory else "| |")
    print(f"\nmedians of {reps} reps; ratios are runtime / peer, paired rep by rep. Per "
          "CPU-second: what each server did with the CPU it got, the figure to read when "
          "srv CPU % is well under 100 (a shared machine).")


if __name__ == "__main__":
    main()
