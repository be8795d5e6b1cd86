"""The three layering rules, checked on the import graph.

1. `runtime.reactor` imports nothing above it (nothing from `runtime` outside
   the reactor).
2. `runtime.executor` imports only the reactor's public names: ``from
   ..reactor import X`` with X exported by the package, never a private
   module like ``reactor._readiness``; and nothing from the io layer.
3. `runtime.io` imports only the executor's public names and
   `runtime.lowlevel`'s, never the reactor. So does `runtime.asyncio` (the
   asyncio event loop beside the io layer).

Every import statement counts, also those inside functions and under
``TYPE_CHECKING``. The last test imports the reactor in a fresh interpreter,
so that what other tests imported cannot hide a violation at run time.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import runtime.executor
import runtime.lowlevel
import runtime.reactor

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "runtime"

#: package -> {importable module -> the names it may be imported for}
PUBLIC = {
    "runtime.reactor": set(runtime.reactor.__all__) | set(runtime.reactor.COMPLETION_API),
    "runtime.executor": set(runtime.executor.__all__),
    "runtime.lowlevel": set(runtime.lowlevel.__all__),
}
#: layer -> the layers below it that it reaches only through PUBLIC names,
#: and the layers it must not import at all.
RULES = {
    "runtime.reactor": ((), ()),
    "runtime.executor": (("runtime.reactor",), ("runtime.io", "runtime.lowlevel")),
    "runtime.io": (("runtime.executor", "runtime.lowlevel"), ("runtime.reactor",)),
    "runtime.asyncio": (("runtime.executor", "runtime.lowlevel"), ("runtime.reactor",)),
}


def _imports(tree: ast.Module, module: str,
             is_package: bool) -> Iterator[tuple[int, str, list[str]]]:
    """(line, absolute module, names imported from it) for every import in ``tree``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            if target == "runtime":  # from .. import executor: the submodules themselves
                for name in names:
                    yield node.lineno, f"runtime.{name}", []
            else:
                yield node.lineno, target, names


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(layer: str, module: str, source: str, is_package: bool = False) -> list[str]:
    """What in ``source`` (the text of ``module``, in ``layer``) breaks its layer's rule."""
    through_public, forbidden = RULES[layer]
    found = []
    for line, target, names in _imports(ast.parse(source), module, is_package):
        if not _inside(target, "runtime") or _inside(target, layer):
            continue
        where = f"{module}:{line} imports {target}"
        if layer == "runtime.reactor":
            found.append(f"{where}: the reactor imports nothing above it")
            continue
        if any(_inside(target, below) for below in forbidden):
            found.append(f"{where}: not a layer {layer} may use")
            continue
        below = next((b for b in through_public if _inside(target, b)), None)
        if below is None:
            continue  # the modules around the layers: errors, resource, sync, time...
        if target != below:
            found.append(f"{where}: use the public names of {below}, not its module {target}")
            continue
        private = sorted(set(names) - PUBLIC[below])
        if private or not names:
            found.append(f"{where}: {private or 'the module'} not public in {below}")
    return found


def _layer_modules(layer: str) -> list[tuple[str, Path]]:
    top = PACKAGE / layer.split(".")[1]
    if top.with_suffix(".py").exists():
        return [(layer, top.with_suffix(".py"))]
    out = []
    for path in sorted(top.rglob("*.py")):
        if "_build" in path.parts:
            continue  # the cffi builders run before the package exists
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


@pytest.mark.parametrize("layer", list(RULES))
def test_each_layer_imports_only_the_public_names_of_the_one_below(layer: str) -> None:
    found = []
    modules = _layer_modules(layer)
    assert len(modules) > 3
    for module, path in modules:
        found += violations(layer, module, path.read_text(), path.name == "__init__.py")
    assert found == []


@pytest.mark.parametrize(("layer", "module", "line"), [
    ("runtime.reactor", "runtime.reactor.poll", "from ..executor import Task"),
    ("runtime.reactor", "runtime.reactor.poll", "from .. import errors"),
    ("runtime.executor", "runtime.executor.io_driver", "from ..reactor._readiness import ERROR"),
    ("runtime.executor", "runtime.executor.io_driver", "from ..reactor.poll import Registry"),
    ("runtime.executor", "runtime.executor.io_driver", "from ..reactor import _readiness"),
    ("runtime.executor", "runtime.executor.io_driver", "import runtime.reactor._uring"),
    ("runtime.executor", "runtime.executor.runner", "from ..io import TcpStream"),
    ("runtime.executor", "runtime.executor.runner",
     "if TYPE_CHECKING:\n    from ..lowlevel import Source"),
    ("runtime.io", "runtime.io.stream", "from ..executor.ready_source import ReadySource"),
    ("runtime.io", "runtime.io.stream", "from ..executor import ring_driver"),
    ("runtime.io", "runtime.io.stream", "from ..lowlevel import context"),
    ("runtime.io", "runtime.io.stream", "from ..reactor import Interest"),
    ("runtime.io", "runtime.io.stream", "from .. import executor"),
    ("runtime.io", "runtime.io.stream", "def f():\n    from runtime.executor.traps import PARK"),
])
def test_the_check_finds_a_layer_reaching_past_its_neighbour(layer: str, module: str,
                                                             line: str) -> None:
    assert violations(layer, module, line) != []


@pytest.mark.parametrize(("layer", "module", "line"), [
    ("runtime.reactor", "runtime.reactor.poll", "from .events import Events"),
    ("runtime.executor", "runtime.executor.io_driver", "from ..reactor import Readiness, Token"),
    ("runtime.executor", "runtime.executor.ring_driver", "from ..reactor import Ring"),
    ("runtime.executor", "runtime.executor.runner", "from ..errors import Cancelled"),
    ("runtime.io", "runtime.io.stream", "from ..executor import TaskGroup"),
    ("runtime.io", "runtime.io.stream", "from ..lowlevel import socket_source"),
    ("runtime.io", "runtime.io.serve", "from ..time import sleep"),
    ("runtime.io", "runtime.io.serve", "from .. import errors"),
])
def test_the_check_lets_public_names_through(layer: str, module: str, line: str) -> None:
    assert violations(layer, module, line) == []


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
