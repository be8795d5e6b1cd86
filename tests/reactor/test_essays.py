"""Each backend's opening essay names, per kernel fact, the test that shows
it: every name must be a test that exists, or the essay has gone stale."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ESSAYS = ["_epoll.py", "_kqueue.py", "_iocp.py", "_uring.py"]


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        names.update(re.findall(r"^\s*(?:async )?def (test_\w+)", source, re.M))
    return names


@pytest.mark.parametrize("module", ESSAYS)
def test_every_test_a_backend_essay_names_exists(module: str) -> None:
    source = (ROOT / "runtime" / "reactor" / module).read_text(encoding="utf-8")
    essay = ast.get_docstring(ast.parse(source)) or ""
    named = set(re.findall(r"\b(test_\w+)\b(?!\.py|\*)", essay))  # not file names, globs
    assert len(named) >= 5, f"{module}'s essay names almost no tests: {sorted(named)}"
    missing = named - _defined_tests()
    assert not missing, f"{module}'s essay names tests that do not exist: {sorted(missing)}"
