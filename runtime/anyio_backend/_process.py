"""anyio's `Process` and byte streams over `runtime.open_process`'s."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from signal import Signals
from typing import IO, Any

from anyio import BrokenResourceError, ClosedResourceError, EndOfStream, abc
from anyio.abc._eventloop import StrOrBytesPath

import runtime


class ReceiveStream(abc.ByteReceiveStream):
    """A child's stdout or stderr."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        try:
            data: bytes = await self._pipe.read(max_bytes)
        except runtime.ClosedResourceError as exc:
            raise ClosedResourceError from exc
        except OSError as exc:
            raise BrokenResourceError from exc
        if not data:
            raise EndOfStream
        return data

    async def aclose(self) -> None:
        await self._pipe.aclose()


class SendStream(abc.ByteSendStream):
    """A child's stdin."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    async def send(self, item: bytes) -> None:
        try:
            await self._pipe.write_all(item)
        except runtime.ClosedResourceError as exc:
            raise ClosedResourceError from exc
        except (runtime.BrokenResourceError, OSError) as exc:
            raise BrokenResourceError from exc

    async def aclose(self) -> None:
        await self._pipe.aclose()


class Process(abc.Process):
    def __init__(self, process: Any) -> None:
        self._process = process
        self._stdin = None if process.stdin is None else SendStream(process.stdin)
        self._stdout = None if process.stdout is None else ReceiveStream(process.stdout)
        self._stderr = None if process.stderr is None else ReceiveStream(process.stderr)

    async def aclose(self) -> None:
        await self._process.aclose()  # closes the pipes, waits; kills if cancelled

    async def wait(self) -> int:
        return await self._process.wait()  # type: ignore[no-any-return]

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()

    def send_signal(self, signal: Signals) -> None:
        self._process.send_signal(signal)

    @property
    def pid(self) -> int:
        return self._process.pid  # type: ignore[no-any-return]

    @property
    def returncode(self) -> int | None:
        return self._process.returncode  # type: ignore[no-any-return]

    @property
    def stdin(self) -> abc.ByteSendStream | None:
        return self._stdin

    @property
    def stdout(self) -> abc.ByteReceiveStream | None:
        return self._stdout

    @property
    def stderr(self) -> abc.ByteReceiveStream | None:
        return self._stderr


async def open_process(command: StrOrBytesPath | Sequence[StrOrBytesPath], *,
                       stdin: int | IO[Any] | None, stdout: int | IO[Any] | None,
                       stderr: int | IO[Any] | None, **kwargs: Any) -> Process:
    """anyio's rule: a single string (or path) runs through the shell."""
    argv: str | list[str]
    if isinstance(command, (str, bytes, os.PathLike)):
        shell, argv = True, os.fsdecode(command)
    else:
        shell, argv = False, [os.fsdecode(arg) for arg in command]
    return Process(await runtime.open_process(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                              shell=shell, **kwargs))


def close_at_exit(workers: set[abc.Process]) -> None:
    """anyio's process pool: close its workers when the runtime stops its tasks."""
    runtime.spawn(_close_when_cancelled(workers), name="anyio process pool shutdown")


async def _close_when_cancelled(workers: set[abc.Process]) -> None:
    try:
        await runtime.sleep(math.inf)
    finally:
        with runtime.CancelScope(shield=True):
            for process in workers:
                await process.aclose()
