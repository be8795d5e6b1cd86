"""`PipeStream` over real OS pipes: reading, writing, closing, faults."""

from __future__ import annotations

import os

import pytest

import runtime
import runtime.testing
from runtime.io import PipeStream
from tests.helpers.platform_gaps import ON_WINDOWS

pytestmark = pytest.mark.skipif(
    ON_WINDOWS, reason="PipeStream needs non-blocking pipe fds, which Windows lacks")


def _pipe() -> tuple[PipeStream, PipeStream]:
    r, w = os.pipe()
    return PipeStream(r, "the read end"), PipeStream(w, "the write end")


def test_lines_and_exact_reads_across_a_full_pipe() -> None:
    async def main() -> list[bytes]:
        reader, writer = _pipe()
        with reader, writer:
            payload = b"".join(b"line %d\n" % i for i in range(20000))  # > a pipe buffer

            async def write() -> None:
                await writer.write_all(payload)
                writer.close()  # the reader's EOF

            async with runtime.TaskGroup() as tg:
                tg.spawn(write())
                first = await reader.read_line()
                exact = await reader.read_exact(7)
                rest = [line async for line in reader.lines()]
        return [first, exact, rest[-1], str(len(rest)).encode()]

    assert runtime.run(main()) == [b"line 0\n", b"line 1\n", b"line 19999\n", b"19998"]


def test_closing_a_pipe_a_task_reads_wakes_it_with_closed_resource_error() -> None:
    async def main() -> None:
        reader, writer = _pipe()
        with writer:
            waiting = runtime.spawn(reader.read())
            await runtime.testing.wait_all_tasks_blocked()
            reader.close()
            with pytest.raises(runtime.ClosedResourceError,
                               match="the read end was closed while reading"):
                await waiting

    runtime.run(main())


def test_a_second_reader_at_once_is_busy_resource_error() -> None:
    async def main() -> None:
        reader, writer = _pipe()
        with reader, writer:
            async with runtime.TaskGroup() as tg:
                tg.spawn(reader.read())
                await runtime.testing.wait_all_tasks_blocked()
                with pytest.raises(runtime.BusyResourceError, match="the read end"):
                    await reader.read()
                await writer.write_all(b"x")

    runtime.run(main())


def test_writing_after_the_reader_closed_is_broken_resource_error() -> None:
    async def main() -> None:
        reader, writer = _pipe()
        reader.close()
        with writer, pytest.raises(runtime.BrokenResourceError, match="the write end"):
            await writer.write_all(b"x")

    runtime.run(main())


def test_a_cancelled_read_loses_no_bytes() -> None:
    async def main() -> bytes:
        reader, writer = _pipe()
        with reader, writer:
            with runtime.move_on_after(0.02):
                await reader.read()
            await writer.write_all(b"kept")
            return await reader.read()

    assert runtime.run(main()) == b"kept"


def test_a_dropped_stream_closes_its_fd() -> None:
    r, w = os.pipe()
    os.close(w)
    stream = PipeStream(r, "dropped")
    del stream
    with pytest.raises(OSError):
        os.fstat(r)  # closed by the finalizer (nothing else holds it)
