"""`runtime.anyio_backend`: anyio programs on runtime, traced side by side with trio.

anyio's own suite (scripts/anyio_suite) is the judge of the whole contract;
these tests pin the entry points: ``anyio.run(backend="runtime")``, anyio
code under `runtime.run`, anyio's pytest plugin, and the pinned version.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import version
from pathlib import Path

import anyio
import pytest
import sniffio
import trio._core._thread_cache as trio_thread_cache

import runtime
import runtime.anyio_backend  # registers the backend

# trio keeps an idle worker thread for 10 s; the suite's leak check allows 1 s.
trio_thread_cache.IDLE_TIMEOUT = 0.05  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[2]


async def scenario() -> list[str]:
    """Task group, start(), cancel scope, event, memory channel, lock, timeout."""
    trace = [f"library {sniffio.current_async_library()}"]
    send, receive = anyio.create_memory_object_stream[int](1)
    lock = anyio.Lock()
    ready = anyio.Event()

    async def producer() -> None:
        async with send:
            for i in range(3):
                await send.send(i)

    async def starter(*, task_status: anyio.abc.TaskStatus[str]) -> None:
        task_status.started("up")
        await ready.wait()
        async with lock:
            trace.append("starter had the lock")

    async with anyio.create_task_group() as tg:
        trace.append(f"started {await tg.start(starter)}")
        tg.start_soon(producer)
        async with receive:
            trace.append(f"got {[item async for item in receive]}")
        ready.set()
    with anyio.move_on_after(0.01) as scope:
        await anyio.sleep_forever()
    trace.append(f"moved on {scope.cancelled_caught}")
    try:
        with anyio.fail_after(0.01):
            await anyio.sleep(1)
    except TimeoutError:
        trace.append("timed out")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep, 1)
            raise ValueError("boom")
    except* ValueError as group:
        trace.append(f"group {[str(e) for e in group.exceptions]}")
    trace.append(f"thread {await anyio.to_thread.run_sync(lambda: 6 * 7)}")
    return trace


def _without_library(trace: list[str]) -> list[str]:
    return trace[1:]


def test_anyio_run_on_runtime_traces_like_trio() -> None:
    on_runtime = anyio.run(scenario, backend="runtime")
    on_trio = anyio.run(scenario, backend="trio")
    assert on_runtime[0] == "library runtime"
    assert _without_library(on_runtime) == _without_library(on_trio)


def test_anyio_code_runs_inside_runtime_run() -> None:
    trace = runtime.run(scenario())
    assert trace[0] == "library runtime"
    assert _without_library(trace) == _without_library(anyio.run(scenario, backend="trio"))


def test_cancellation_is_runtime_cancelled() -> None:
    async def main() -> bool:
        return anyio.get_cancelled_exc_class() is runtime.Cancelled

    assert anyio.run(main, backend="runtime")


def test_anyio_sockets_carry_bytes_and_errors_map_to_anyios() -> None:
    async def main() -> list[object]:
        seen: list[object] = []
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, await anyio.connect_tcp("127.0.0.1", port) as client:
            server = await listener.listeners[0].accept()
            async with server:
                await client.send(b"ping")
                seen.append(await server.receive())
                await client.send_eof()
                try:
                    await server.receive()
                except anyio.EndOfStream:
                    seen.append("end of stream")
            try:
                await server.send(b"x")
            except anyio.ClosedResourceError:
                seen.append("closed")
        async with await anyio.create_udp_socket(local_host="127.0.0.1") as a, \
                await anyio.create_udp_socket(local_host="127.0.0.1") as b:
            await a.sendto(b"datagram", "127.0.0.1", b.extra(anyio.abc.SocketAttribute.local_port))
            data, (host, _) = await b.receive()
            seen.append((data, host))
        return seen

    expected = [b"ping", "end of stream", "closed", (b"datagram", "127.0.0.1")]
    assert anyio.run(main, backend="runtime") == anyio.run(main, backend="trio") == expected


def test_anyio_pytest_plugin_runs_tests_with_anyio_backend_runtime(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import pytest
        import runtime.anyio_backend  # noqa: F401

        @pytest.fixture
        def anyio_backend():
            return "runtime"

        @pytest.fixture
        async def value():
            import sniffio
            yield sniffio.current_async_library()
    """))
    (tmp_path / "test_it.py").write_text(textwrap.dedent("""
        import anyio
        import pytest

        @pytest.mark.anyio
        async def test_fixture_and_test_share_the_loop(value):
            assert value == "runtime"
            await anyio.sleep(0)
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "anyio", "-p",
                          "no:cacheprovider", str(tmp_path)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert "1 passed" in out.stdout, out.stdout + out.stderr


def _extra(name: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["optional-dependencies"][name]  # type: ignore[no-any-return]


def test_installed_anyio_is_the_supported_range_and_the_suite_pin_lies_in_it() -> None:
    # The backend touches anyio's private API: only a tested range is supported.
    (spec,) = [r for r in _extra("anyio") if r.startswith("anyio")]
    low, high = re.fullmatch(r"anyio>=([\d.]+),<([\d.]+)", spec).groups()  # type: ignore[union-attr]

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    (pin,) = [r.split("==")[1] for r in _extra("anyio-suite") if r.startswith("anyio==")]
    for candidate in (version("anyio"), pin):
        assert key(low) <= key(candidate) < key(high), f"anyio {candidate} outside {spec}"


def test_a_limiter_of_another_backend_is_refused_by_name() -> None:
    async def main() -> None:
        from anyio._backends._trio import CapacityLimiter as TrioLimiter

        with pytest.raises(TypeError, match="another backend"):
            await anyio.to_thread.run_sync(int, limiter=TrioLimiter(1))

    anyio.run(main, backend="runtime")
