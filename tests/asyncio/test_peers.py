"""asyncio libraries on `runtime.asyncio`, against real peers.

Each runs twice: on a standalone loop (`runtime.asyncio.run`) and inside
``runtime.run`` with a runtime task ticking beside it on the same thread
and reactor (`mixed`), which must keep ticking while the library works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import runtime
import runtime.asyncio as ra
from runtime.asyncio import aio_as_runtime
from tests.helpers.postgres import postgres_server

Scenario = Callable[[], Awaitable[Any]]


def mixed(scenario: Scenario) -> Any:
    """Run ``scenario`` (asyncio code) inside runtime.run beside a runtime task."""
    trace: list[str] = []

    async def ticker() -> None:
        while True:
            await runtime.sleep(0.001)
            trace.append("tick")

    async def aio_side() -> Any:
        try:
            return await scenario()
        finally:
            trace.append("scenario done")

    async def main() -> Any:
        async with runtime.TaskGroup() as tg:
            tg.spawn(ticker())
            try:
                return await aio_as_runtime(aio_side())
            finally:
                tg.cancel_scope.cancel()

    result = runtime.run(main())
    assert "tick" in trace[:trace.index("scenario done")], \
        "the runtime task did not run while the asyncio code did"
    return result


def both(scenario: Scenario) -> None:
    ra.run(scenario())
    mixed(scenario)


@pytest.mark.timeout(60)
def test_aiohttp_server_and_client() -> None:
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(text=f"hello {request.match_info['name']} {len(body)}")

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/hello/{name}", hello)
        app_runner = web.AppRunner(app)
        await app_runner.setup()
        site = web.TCPSite(app_runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as session:
                for i in range(20):
                    async with session.post(f"http://127.0.0.1:{port}/hello/n{i}",
                                            data=b"x" * (i * 1000)) as resp:
                        assert resp.status == 200
                        assert await resp.text() == f"hello n{i} {i * 1000}"
        finally:
            await app_runner.cleanup()

    both(scenario)


@pytest.mark.timeout(60)
def test_uvicorn_serves_an_asgi_app_to_httpx() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    httpx = pytest.importorskip("httpx")

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async def scenario() -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="off", loop="runtime.asyncio:new_event_loop")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient() as client:
                for i in range(10):
                    resp = await client.get(f"http://127.0.0.1:{port}/p{i}")
                    assert resp.text == f"/p{i}"
        finally:
            server.should_exit = True
            await serving

    both(scenario)


@pytest.mark.timeout(60)
def test_uvicorn_picks_the_loop_from_its_loop_option() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(lambda: None, loop="runtime.asyncio:new_event_loop")
    assert config.get_loop_factory() is ra.new_event_loop


@pytest.mark.timeout(60)
def test_websockets_echo() -> None:
    pytest.importorskip("websockets")
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def scenario() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                for i in range(20):
                    await ws.send(f"m{i}" * (i + 1))
                    assert await ws.recv() == f"m{i}" * (i + 1)
                await ws.send(b"\x00" * 100_000)
                assert await ws.recv() == b"\x00" * 100_000

    both(scenario)


@pytest.fixture(scope="module")
def postgres_port() -> Iterator[int]:
    with postgres_server() as port:
        yield port


@pytest.mark.timeout(120)
def test_asyncpg_queries_a_real_postgres(postgres_port: int) -> None:
    asyncpg = pytest.importorskip("asyncpg")

    async def scenario() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=postgres_port, user="postgres",
                                     database="postgres")
        try:
            assert await conn.fetchval("SELECT 1 + 1") == 2
            await conn.execute("CREATE TEMP TABLE t (id int, name text)")
            await conn.executemany("INSERT INTO t VALUES ($1, $2)",
                                   [(i, f"n{i}") for i in range(100)])
            rows = await conn.fetch("SELECT id, name FROM t WHERE id % 10 = 0 ORDER BY id")
            assert [(r["id"], r["name"]) for r in rows] == [(i, f"n{i}") for i in range(0, 100, 10)]
            with pytest.raises(asyncpg.PostgresSyntaxError):
                await conn.execute("SELEC nothing")
            pool = await asyncpg.create_pool(host="127.0.0.1", port=postgres_port,
                                             user="postgres", database="postgres",
                                             min_size=2, max_size=4)
            try:
                got = await asyncio.gather(*(pool.fetchval("SELECT $1::int * 2", i)
                                             for i in range(20)))
                assert got == [i * 2 for i in range(20)]
            finally:
                await pool.close()
        finally:
            await conn.close()

    both(scenario)
