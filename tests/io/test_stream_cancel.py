"""Reads served from the stream's buffer are cancellation points and lose nothing."""

from __future__ import annotations

import socket

import runtime
from runtime.io import Stream


def test_buffered_reads_are_cancellation_points_that_lose_no_bytes() -> None:
    # Lines already in the buffer: each read is a checkpoint (a cancelled
    # scope stops the loop) and the line a cancelled read would have taken
    # is still there afterwards.
    async def main() -> list[bytes]:
        a, b = socket.socketpair()
        b.sendall(b"one\ntwo\nthree\n")
        got: list[bytes] = []
        async with Stream(a) as stream:
            got.append(await stream.read_line())  # fills the buffer with all three
            with runtime.CancelScope() as scope:
                scope.cancel()
                got.append(await stream.read_line())  # cancelled before taking "two"
            assert scope.cancelled_caught
            with runtime.CancelScope() as scope:
                scope.cancel()
                await stream.read(3)
            with runtime.CancelScope() as scope:
                scope.cancel()
                await stream.read_exact(3)
            got.append(await stream.read_line())
            got.append(await stream.read_line())
        b.close()
        return got

    assert runtime.run(main()) == [b"one\n", b"two\n", b"three\n"]
