"""What bad peers and a bad network do to `runtime.io`, and what it raises.

Resets are made the way a crashing peer makes them: ``SO_LINGER`` with a zero
timeout, then ``close()``, sends an RST instead of a FIN. Unreachable is
made inside a fresh network namespace (``unshare -n``, in a subprocess),
where no interface is up and no route exists, so nothing can leave the
machine. The out-of-fds (EMFILE) case is in ``test_serve.py``, next to the
accept loop that must survive it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

import runtime
from runtime.io import TcpStream, UnixListener, UnixStream
from tests.helpers import refused_address
from tests.helpers.backend_limits import skip_unless_run_backend_supports
from tests.helpers.pairs import HOSTS, TCP_KINDS, reset_on_close, stream_pair
from tests.helpers.platform_gaps import needs_af_unix


@pytest.fixture(params=TCP_KINDS)
def tcp_kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def _peer_text(address: tuple[str, int]) -> str:
    host = f"[{address[0]}]" if ":" in address[0] else address[0]
    return f"{host}:{address[1]}"


async def _ping_pong(kind: str, rounds: int, trace: list[str]) -> None:
    """A bystander connection, busy while another one is reset."""
    async with stream_pair(kind) as (client, server):
        for i in range(rounds):
            await client.write_all(b"%d\n" % i)
            await server.write_all(await server.read_line())
            assert await client.read_line() == b"%d\n" % i
            await runtime.sleep(0.002)
    trace.append(f"bystander finished {rounds} rounds")


# -- peer resets -------------------------------------------------------------------------


def test_peer_reset_while_reading_raises_connection_reset_naming_the_peer(
        tcp_kind: str) -> None:
    skip_unless_run_backend_supports("reset_error", "a reset reads as EOF, not ECONNRESET")

    async def main() -> tuple[BaseException, str, list[str]]:
        trace: list[str] = []
        bystander = runtime.spawn(_ping_pong(tcp_kind, 40, trace))
        async with stream_pair(tcp_kind) as (client, server):
            peer = _peer_text(server.peer_address)

            async def reader() -> BaseException:
                try:
                    await server.read()
                except OSError as exc:
                    trace.append("reader got " + type(exc).__name__)
                    return exc
                raise AssertionError("read() returned instead of raising")

            handle = runtime.spawn(reader())
            await runtime.sleep(0.02)  # the reader is parked in read()
            reset_on_close(client.socket)
            client.close()
            exc = await handle
        await bystander
        return exc, peer, trace

    exc, peer, trace = runtime.run(main())
    assert isinstance(exc, ConnectionResetError)
    assert exc.errno == errno.ECONNRESET
    assert peer in str(exc)
    assert "reading" in str(exc)
    assert trace == ["reader got ConnectionResetError", "bystander finished 40 rounds"]


def test_peer_reset_while_writing_raises_reset_or_broken_pipe_naming_the_peer(
        tcp_kind: str) -> None:
    async def main() -> tuple[BaseException, str, list[str]]:
        trace: list[str] = []
        bystander = runtime.spawn(_ping_pong(tcp_kind, 40, trace))
        async with stream_pair(tcp_kind) as (client, server):
            peer = _peer_text(server.peer_address)

            async def writer() -> BaseException:
                try:
                    await server.write_all(b"x" * (64 * 1024 * 1024))  # client never reads
                except OSError as exc:
                    trace.append("writer got an OSError")
                    return exc
                raise AssertionError("write_all() finished instead of raising")

            handle = runtime.spawn(writer())
            await runtime.sleep(0.05)  # the writer is parked: the buffers are full
            reset_on_close(client.socket)
            client.close()
            exc = await handle
        await bystander
        return exc, peer, trace

    exc, peer, trace = runtime.run(main())
    assert isinstance(exc, ConnectionResetError | BrokenPipeError), repr(exc)
    assert peer in str(exc)
    assert "writing" in str(exc)
    assert trace == ["writer got an OSError", "bystander finished 40 rounds"]


def test_writing_after_the_peer_reset_raises_and_so_does_the_next_write(tcp_kind: str) -> None:
    async def main() -> list[type[BaseException]]:
        async with stream_pair(tcp_kind) as (client, server):
            reset_on_close(client.socket)
            client.close()
            await runtime.sleep(0.02)  # the RST has arrived
            errors = []
            for _ in range(2):
                try:
                    await server.write_all(b"into the void")
                except OSError as exc:
                    errors.append(type(exc))
            return errors

    errors = runtime.run(main())
    assert len(errors) == 2
    assert all(issubclass(e, ConnectionResetError | BrokenPipeError) for e in errors)


def test_fin_from_the_peer_is_a_clean_eof_not_an_error(tcp_kind: str) -> None:
    async def main() -> list[bytes]:
        async with stream_pair(tcp_kind) as (client, server):
            await client.write_all(b"last words")
            await client.aclose()
            return [await server.read(), await server.read()]

    assert runtime.run(main()) == [b"last words", b""]


# -- connect refused ---------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_connect_to_a_port_with_no_listener_is_refused_naming_the_address(host: str) -> None:
    async def main(port: int) -> OSError:
        with pytest.raises(ConnectionRefusedError) as info:
            await TcpStream.connect(host, port)
        return info.value

    with refused_address(host) as (_, port):
        exc = runtime.run(main(port))
    assert exc.errno == errno.ECONNREFUSED
    assert host in str(exc) and str(port) in str(exc)


@needs_af_unix
def test_connect_to_a_unix_path_that_does_not_exist_raises_file_not_found(tmp_path) -> None:
    path = str(tmp_path / "nobody.sock")

    async def main() -> OSError:
        with pytest.raises(FileNotFoundError) as info:
            await UnixStream.connect(path)
        return info.value

    assert path in str(runtime.run(main()))


@needs_af_unix
def test_connect_to_a_unix_socket_nobody_listens_on_is_refused(tmp_path) -> None:
    path = str(tmp_path / "stale.sock")

    async def main() -> OSError:
        with pytest.raises(ConnectionRefusedError) as info:
            await UnixStream.connect(path)
        return info.value

    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(path)  # bound, never listening: like a server that died
        exc = runtime.run(main())
    assert path in str(exc)


@needs_af_unix
def test_a_unix_listener_and_a_refused_client_do_not_disturb_each_other(tmp_path) -> None:
    async def main() -> bytes:
        good = str(tmp_path / "good.sock")
        async with await UnixListener.bind(good) as listener:
            with pytest.raises(FileNotFoundError):
                await UnixStream.connect(str(tmp_path / "missing.sock"))
            async with await UnixStream.connect(good) as c, await listener.accept() as s:
                await c.write_all(b"ok")
                return await s.read_exact(2)

    assert runtime.run(main()) == b"ok"


# -- unreachable -----------------------------------------------------------------------------

_UNREACHABLE_SCRIPT = """
import json, runtime
from runtime.io import TcpStream

async def main():
    out = []
    # 192.0.2.1 is TEST-NET-1; in an empty network namespace nothing routes
    # anywhere (even loopback is down), so connect() fails at once, locally.
    for host in ("192.0.2.1", "127.0.0.1"):
        start = runtime.current_time()
        try:
            await TcpStream.connect(host, 9)
            out.append([host, "connected", None, ""])
        except OSError as exc:
            out.append([host, type(exc).__name__, exc.errno, str(exc),
                        runtime.current_time() - start])
    return out

print(json.dumps(runtime.run(main())))
"""


def _can_unshare_net() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces are Linux")
def test_connect_with_no_route_raises_network_unreachable_at_once() -> None:
    if not _can_unshare_net():
        pytest.skip("unshare -n not permitted here (needs root or user namespaces)")
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", _UNREACHABLE_SCRIPT],
        capture_output=True, text=True, timeout=30, env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    for host, kind, err, message, took in rows:
        assert kind == "OSError", (host, kind, message)
        assert err == errno.ENETUNREACH, (host, err, message)
        assert host in message
        assert took < 1.0
