"""The chat tests' shared fixture (the echo tests define their own ``server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.chat_harness import ChatProcess


@pytest.fixture
def server() -> Iterator[ChatProcess]:
    """A chat server with default options; it must stop cleanly (exit 0)."""
    with ChatProcess() as proc:
        yield proc
        proc.stop()
