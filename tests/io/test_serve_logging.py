"""What serve_tcp logs when a handler ends badly."""

from __future__ import annotations

import logging

import pytest

import runtime
from runtime.io import TcpStream, serve_tcp


@pytest.mark.parametrize(("error", "level", "traceback"), [
    (ConnectionResetError(104, "Connection reset by peer"), logging.INFO, False),
    (ValueError("a bug in the handler"), logging.ERROR, True),
])
def test_a_peer_that_goes_away_is_routine_but_a_handler_bug_is_logged_with_its_traceback(
        caplog: pytest.LogCaptureFixture, error: Exception, level: int, traceback: bool) -> None:
    async def handler(stream: TcpStream) -> None:
        raise error

    async def main() -> None:
        async with runtime.TaskGroup() as tg:
            port = await tg.start(serve_tcp, handler, "127.0.0.1", 0)
            async with await TcpStream.connect("127.0.0.1", port) as client:
                assert await client.read() == b""  # the server closed it after the handler
            tg.cancel_scope.cancel()

    with caplog.at_level(logging.INFO, logger="runtime.io"):
        runtime.run(main())
    records = [r for r in caplog.records if r.name == "runtime.io"]
    assert [r.levelno for r in records] == [level]
    assert (records[0].exc_info is not None) is traceback
    assert str(error) in records[0].getMessage() or traceback
