"""The first layering rule: the reactor stands alone.

`runtime.reactor` may use only the OS. Importing it must not pull in the
executor or the io layer; checked in a fresh interpreter, so what other tests
imported does not hide a violation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import runtime.reactor
from runtime.reactor import Poll
with Poll():
    pass
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.timeout(30)
def test_importing_the_reactor_imports_no_executor_or_io_module() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    modules = json.loads(out.stdout)
    assert "runtime.reactor" in modules
    above = [
        m
        for m in modules
        if m.split(".")[:2] in (["runtime", "executor"], ["runtime", "io"])
    ]
    assert above == [], f"runtime.reactor pulled in the layers above it: {above}"
