"""``--workers N``: N server processes sharing one port, joined through the cluster.

One Python process runs on one core. To use more, the parent starts N
copies of ``chat_server.py`` that each listen on the same port with
``SO_REUSEPORT`` (the kernel spreads new connections over them) and join
through Redis as nodes of one cluster (``cluster.py``), so members of one
room can be connected to different workers.

The parent is a small supervisor written with runtime's own processes and
signals: it picks the port (``--port 0``) by holding a ``SO_REUSEPORT``
socket on it while the workers start, waits for each worker's
``listening`` line, forwards the workers' output, and on SIGINT/SIGTERM
asks each worker to stop (SIGTERM: every client gets its goodbye) and
waits for them. A worker that dies takes the others down with it: a
supervisor that hides a crash is worse than none.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence

import runtime

#: Seconds a worker may take to start listening.
START_TIMEOUT = 30.0
#: Seconds workers get to say goodbye before they are killed.
STOP_TIMEOUT = 10.0


@contextlib.contextmanager
def held_port(host: str, port: int) -> Iterator[int]:
    """``port`` (0: a free one the kernel picks) reserved with a bound, not
    listening, ``SO_REUSEPORT`` socket until the workers have bound it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        yield sock.getsockname()[1]


def worker_command(script: str, argv: Sequence[str], port: int, http_port: int) -> list[str]:
    # argparse keeps an option's last value, so these override the user's.
    return [sys.executable, script, *argv, "--workers", "1", "--reuse-port", "--supervised",
            "--port", str(port), "--http-port", str(http_port)]


async def supervise(script: str, argv: Sequence[str], workers: int, host: str, port: int,
                    http_port: int) -> int:
    """Run ``workers`` copies of the server; the exit status to leave with."""
    with contextlib.ExitStack() as ports:
        port = ports.enter_context(held_port(host, port))
        if http_port >= 0:
            http_port = ports.enter_context(held_port(host, http_port))
        command = worker_command(script, argv, port, http_port)
        # The worker's stdin is a pipe only we hold: at its EOF (we are gone,
        # killed even) the worker stops (--supervised), leaving no orphan.
        procs = [await runtime.open_process(command, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE)
                 for _ in range(workers)]
        try:
            with runtime.fail_after(START_TIMEOUT):
                for proc in procs:
                    assert proc.stdout is not None
                    first = await proc.stdout.read_line()
                    if not first.startswith(b"chat server listening"):
                        raise RuntimeError(f"worker {proc.pid} did not start: {first!r}")
        except BaseException:
            for proc in procs:
                proc.kill()
                await proc.aclose()
            raise
    print(f"chat server listening on {host}:{port}", flush=True)
    print(f"{workers} workers share the port; connect with: nc {host} {port}", flush=True)
    if http_port >= 0:
        print(f"in a browser: http://{host}:{http_port}/", flush=True)
    return await _run_until_stopped(procs)


async def _run_until_stopped(procs: list[runtime.Process]) -> int:
    statuses: list[int] = []
    stopping = False

    async with runtime.TaskGroup() as tg:
        def stop_all() -> None:
            nonlocal stopping
            if not stopping:
                stopping = True
                for proc in procs:
                    if proc.returncode is None:
                        proc.terminate()
                tg.spawn(kill_late(), name="supervisor stop timeout")

        async def kill_late() -> None:
            await runtime.sleep(STOP_TIMEOUT)
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()

        async def watch(proc: runtime.Process) -> None:
            assert proc.stdout is not None
            async for line in proc.stdout.lines():  # forward, so a worker never blocks
                sys.stdout.write(line.decode(errors="replace"))
                sys.stdout.flush()
            status = await proc.wait()
            if not stopping:
                print(f"worker {proc.pid} exited with status {status}: stopping the others",
                      file=sys.stderr, flush=True)
                statuses.append(status or 1)
            else:
                statuses.append(status)
            stop_all()

        async def on_signal() -> None:
            with runtime.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    stop_all()

        tg.spawn(on_signal(), name="supervisor signals")
        async with runtime.TaskGroup() as watchers:
            for proc in procs:
                watchers.spawn(watch(proc), name=f"worker {proc.pid}")
        tg.cancel_scope.cancel()  # every worker is gone: stop listening for signals
    for proc in procs:
        await proc.aclose()
    return 0 if all(status == 0 for status in statuses) else 1
