"""Linux abstract Unix socket names: no file is made, none is removed."""

from __future__ import annotations

import os
import sys

import pytest

import runtime
from runtime.io import UnixListener, UnixStream


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract names are Linux's")
def test_an_abstract_name_listens_and_connects_without_a_file() -> None:
    name = f"\0runtime-test-{os.getpid()}"

    async def main() -> bytes:
        async with await UnixListener.bind(name) as listener, \
                await UnixStream.connect(name) as client, await listener.accept() as server:
            await client.write_all(b"ping\n")
            return await server.read_line()

    assert runtime.run(main()) == b"ping\n"
