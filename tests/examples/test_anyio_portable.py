"""``examples/anyio_portable.py`` runs unchanged on asyncio, trio and runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "anyio_portable.py"


def _run(backend: str) -> list[str]:
    out = subprocess.run([sys.executable, str(EXAMPLE), backend], capture_output=True,
                         text=True, timeout=60, check=True)
    return out.stdout.splitlines()


@pytest.mark.parametrize("backend", ["asyncio", "trio", "runtime"])
def test_the_example_does_the_same_on_every_backend(backend: str) -> None:
    lines = _run(backend)
    assert lines[0] == f"running on {backend}"
    # The logger task's lines may come before or after the client's (each
    # loop schedules them its own way); what happened is the same.
    assert sorted(lines[1:]) == sorted([
        "echo b'hello'", "got b'HELLO'", "echo b'anyio'", "got b'ANYIO'",
        "timed out: True", "thread says 6"])
