"""The chat tests' shared fixtures (the echo tests define their own ``server``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import chromium
from tests.helpers.chat_harness import ChatProcess


@pytest.fixture
def server() -> Iterator[ChatProcess]:
    """A chat server with default options; it must stop cleanly (exit 0)."""
    with ChatProcess() as proc:
        yield proc
        proc.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium driven by Playwright, with a fresh profile directory."""
    pytest.importorskip("playwright.sync_api")
    with chromium(tmp_path / "profile") as context:
        yield context
