"""The README's program runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(30)
def test_the_readme_program_runs_and_echoes() -> None:
    readme = (ROOT / "README.md").read_text()
    program = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S)
                   if "runtime.run(main())" in b)
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                            text=True, timeout=25)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'hello\\n'\n"
