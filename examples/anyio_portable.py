"""One anyio program, three event loops: asyncio, trio and runtime.

    python examples/anyio_portable.py            # all three, one after another
    python examples/anyio_portable.py runtime    # just one

A tiny line-echo service written only against anyio: a TCP listener, a task
per client, a memory channel feeding a logger task, a timeout, and a worker
thread. Nothing in it names a backend; ``anyio.run(..., backend=...)`` picks
one. ``import runtime.anyio_backend`` (once, anywhere) is what makes
"runtime" a name anyio knows.
"""

from __future__ import annotations

import sys

import anyio
import sniffio
from anyio.abc import SocketStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

import runtime.anyio_backend  # noqa: F401  # registers the "runtime" backend with anyio


async def serve_client(client: SocketStream, log: MemoryObjectSendStream[str]) -> None:
    async with client:
        async for data in client:
            await log.send(f"echo {data!r}")
            await client.send(data.upper())


async def logger(lines: MemoryObjectReceiveStream[str], seen: list[str]) -> None:
    async with lines:
        async for line in lines:
            seen.append(line)


async def main() -> list[str]:
    seen: list[str] = [f"running on {sniffio.current_async_library()}"]
    log_in, log_out = anyio.create_memory_object_stream[str](10)
    async with anyio.create_task_group() as tg, log_in:
        tg.start_soon(logger, log_out, seen)
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def accept_forever() -> None:
            async with listener:
                await listener.serve(lambda client: serve_client(client, log_in.clone()))

        tg.start_soon(accept_forever)
        with anyio.fail_after(5):
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                for word in (b"hello", b"anyio"):
                    await stream.send(word)
                    seen.append(f"got {await stream.receive()!r}")
        with anyio.move_on_after(0.05) as scope:
            await anyio.sleep_forever()
        seen.append(f"timed out: {scope.cancelled_caught}")
        seen.append(f"thread says {await anyio.to_thread.run_sync(sum, [1, 2, 3])}")
        tg.cancel_scope.cancel()
    return seen


if __name__ == "__main__":
    for backend in sys.argv[1:] or ["asyncio", "trio", "runtime"]:
        print("\n".join(anyio.run(main, backend=backend)))
