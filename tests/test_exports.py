"""The public surface stays honest (trio's ``_tests/test_exports.py``).

`runtime` re-exports its API lazily (PEP 562 ``__getattr__`` over
``_EXPORTS``), so nothing checks the names at import time: these tests do.
Every name in ``__all__`` must resolve, be documented, and come from inside
the package; nothing public may hide outside ``__all__``; and the two lists a
static tool and the lazy loader read (``__all__`` and ``_EXPORTS``) agree.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import pytest

import runtime
import runtime.lowlevel

PUBLIC_MODULES = [runtime, runtime.lowlevel]


def _exported(module: types.ModuleType) -> list[tuple[str, object]]:
    return [(name, getattr(module, name)) for name in module.__all__]


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_sorted_and_has_no_duplicates(module: types.ModuleType) -> None:
    assert len(set(module.__all__)) == len(module.__all__)
    assert list(module.__all__) == sorted(module.__all__)


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_every_name_in_all_exists(module: types.ModuleType) -> None:
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_every_exported_name_is_documented(module: types.ModuleType) -> None:
    undocumented = [name for name, obj in _exported(module)
                    if not (inspect.getdoc(obj) or "").strip()]
    assert undocumented == []


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_exported_objects_come_from_the_package(module: types.ModuleType) -> None:
    foreign = []
    for name, obj in _exported(module):
        home = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
        if not (home or "").startswith("runtime"):
            foreign.append((name, home))
    assert foreign == []


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_no_public_name_outside_all(module: types.ModuleType) -> None:
    # Submodules and typing helpers may sit in the namespace; anything else
    # without a leading underscore is API and belongs in __all__.
    allowed = {"annotations", "importlib", "Any", "TYPE_CHECKING", "context"}
    stray = [name for name in dir(module)
             if not name.startswith("_") and name not in module.__all__
             and name not in allowed
             and not isinstance(getattr(module, name), types.ModuleType)]
    assert stray == []


def test_lazy_export_table_matches_all() -> None:
    exports = getattr(runtime, "_EXPORTS", None)
    if exports is None:
        pytest.skip("runtime imports its names eagerly")
    submodules = getattr(runtime, "_SUBMODULES", set())
    lazy = set(exports) | {m for m in submodules if m in runtime.__all__}
    assert lazy == set(runtime.__all__)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from runtime import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(runtime.__all__)


def test_unknown_attribute_raises_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        runtime.no_such_thing  # noqa: B018


def test_the_api_the_executor_issue_fixes_is_exported() -> None:
    # Users and docs rely on these names (issue 4, "Public API").
    for name in ["run", "spawn", "JoinHandle", "Cancelled", "sleep", "sleep_until",
                 "current_time", "yield_now", "to_thread", "lowlevel",
                 "ClosedResourceError", "BusyResourceError"]:
        assert name in runtime.__all__, name
    for name in ["current_task", "Waker", "wait_readable", "wait_writable", "notify_closing"]:
        assert name in runtime.lowlevel.__all__, name


def test_errors_are_exceptions_and_cancelled_is_not_an_exception() -> None:
    assert issubclass(runtime.Cancelled, BaseException)
    assert not issubclass(runtime.Cancelled, Exception)  # `except Exception` must not eat it
    for name in ["ClosedResourceError", "BusyResourceError", "BrokenResourceError",
                 "EndOfChannel", "WouldBlock"]:
        assert issubclass(getattr(runtime, name), Exception), name


def test_importing_the_reactor_alone_loads_nothing_above_it() -> None:
    code = ("import sys, runtime.reactor; "
            "print(sorted(m for m in sys.modules if m.startswith('runtime.executor') "
            "or m.startswith('runtime.io')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_every_export_resolves_in_a_fresh_interpreter() -> None:
    # The lazy loader imports each defining module on first use: one typo in
    # _EXPORTS would surface only there.
    code = "import runtime; [getattr(runtime, n) for n in runtime.__all__]; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
