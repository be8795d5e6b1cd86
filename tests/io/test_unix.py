"""`UnixListener` and `UnixStream` on paths under ``tmp_path``."""

from __future__ import annotations

import os
import socket
import stat

import pytest

import runtime
from runtime import ClosedResourceError
from runtime.io import UnixListener, UnixStream
from tests.helpers.platform_gaps import needs_af_unix


@needs_af_unix
def test_unix_echo_round_trip_and_addresses(tmp_path) -> None:
    path = str(tmp_path / "echo.sock")

    async def main() -> list[object]:
        async with await UnixListener.bind(path) as listener:
            assert listener.local_address == path
            async with await UnixStream.connect(path) as client, \
                    await listener.accept() as server:
                await client.write_all(b"over a path\n")
                line = await server.read_line()
                await server.write_all(line[::-1])
                return [line, await client.read_exact(len(line)), client.peer_address]

    line, back, peer = runtime.run(main())
    assert line == b"over a path\n"
    assert back == b"\nhtap a revo"
    assert peer == path


@needs_af_unix
def test_bind_creates_a_socket_file_and_close_removes_it(tmp_path) -> None:
    path = str(tmp_path / "made.sock")

    async def main() -> bool:
        listener = await UnixListener.bind(path)
        is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
        await listener.aclose()
        return is_socket

    assert runtime.run(main())
    assert not os.path.exists(path)


@needs_af_unix
def test_close_leaves_a_file_that_replaced_the_socket_alone(tmp_path) -> None:
    # Another server may have taken the path over; closing ours must not
    # delete theirs.
    path = str(tmp_path / "taken.sock")

    async def main() -> None:
        listener = await UnixListener.bind(path)
        os.unlink(path)
        with socket.socket(socket.AF_UNIX) as newcomer:
            newcomer.bind(path)
            await listener.aclose()
            assert os.path.exists(path)
        os.unlink(path)

    runtime.run(main())


@needs_af_unix
def test_bind_to_an_existing_path_raises_naming_it(tmp_path) -> None:
    path = tmp_path / "exists.sock"
    path.write_text("not a socket")

    async def main() -> OSError:
        with pytest.raises(OSError) as info:
            await UnixListener.bind(str(path))
        return info.value

    exc = runtime.run(main())
    assert str(path) in str(exc)
    assert path.read_text() == "not a socket"


@needs_af_unix
def test_closing_a_unix_listener_wakes_the_task_blocked_in_accept(tmp_path) -> None:
    async def main() -> str:
        listener = await UnixListener.bind(str(tmp_path / "a.sock"))

        async def acceptor() -> str:
            try:
                await listener.accept()
            except ClosedResourceError:
                return "closed"
            return "accepted?"

        handle = runtime.spawn(acceptor())
        await runtime.sleep(0.02)
        listener.close()
        with runtime.fail_after(2):
            return await handle

    assert runtime.run(main()) == "closed"


@needs_af_unix
def test_several_unix_clients_are_served_in_parallel(tmp_path) -> None:
    path = str(tmp_path / "many.sock")

    async def main() -> list[bytes]:
        async with await UnixListener.bind(path) as listener:
            async def server() -> None:
                async with runtime.TaskGroup() as tg:
                    for _ in range(10):
                        stream = await listener.accept()

                        async def serve(s: UnixStream) -> None:
                            async with s:
                                await s.write_all((await s.read_line()).upper())

                        tg.spawn(serve(stream))

            async def client(i: int) -> bytes:
                async with await UnixStream.connect(path) as c:
                    await c.write_all(b"c%d\n" % i)
                    return await c.read_line()

            runtime.spawn(server())
            handles = [runtime.spawn(client(i)) for i in range(10)]
            return [await h for h in handles]

    assert runtime.run(main()) == [b"C%d\n" % i for i in range(10)]


@pytest.mark.skipif(hasattr(socket, "AF_UNIX"), reason="this Python has AF_UNIX")
def test_without_af_unix_both_ends_raise_a_runtime_error_saying_so(tmp_path) -> None:
    async def main() -> list[str]:
        said = []
        for attempt in (UnixListener.bind, UnixStream.connect):
            with pytest.raises(RuntimeError) as info:
                await attempt(str(tmp_path / "s.sock"))
            said.append(str(info.value))
        return said

    for message in runtime.run(main()):
        assert "Unix sockets are not supported" in message
