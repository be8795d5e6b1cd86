"""The Windows bindings, checked on every platform: layouts, the generated module, errors.

ABI mode copies what the Windows headers say; these tests hold the copies to
the headers' numbers (x64), on Linux CI too, so a typo in a struct is caught
without Windows.
"""

from __future__ import annotations

import errno
import importlib.util
import pathlib
import sys

import pytest

from runtime.reactor import _windows_cffi as win
from runtime.reactor import available_backends

ROOT = pathlib.Path(__file__).resolve().parents[2]

# sizeof and field offsets for x64, from the SDK headers (<minwinbase.h>,
# <winternl.h>, <ntdef.h>) and, for AFD's, ReactOS shared.h / wepoll afd.h.
LAYOUTS = {
    "OVERLAPPED": (32, {"Internal": 0, "InternalHigh": 8, "DUMMYUNIONNAME": 16, "hEvent": 24}),
    "OVERLAPPED_ENTRY": (
        32,
        {"lpCompletionKey": 0, "lpOverlapped": 8, "Internal": 16, "dwNumberOfBytesTransferred": 24},
    ),
    "IO_STATUS_BLOCK": (16, {"Information": 8}),
    "UNICODE_STRING": (16, {"Length": 0, "MaximumLength": 2, "Buffer": 8}),
    "OBJECT_ATTRIBUTES": (
        48,
        {
            "Length": 0,
            "RootDirectory": 8,
            "ObjectName": 16,
            "Attributes": 24,
            "SecurityDescriptor": 32,
            "SecurityQualityOfService": 40,
        },
    ),
    "AFD_POLL_HANDLE_INFO": (16, {"Handle": 0, "Events": 8, "Status": 12}),
    "AFD_POLL_INFO": (32, {"Timeout": 0, "NumberOfHandles": 8, "Exclusive": 12, "Handles": 16}),
}


@pytest.mark.skipif(sys.maxsize < 2**32, reason="the layouts checked are x64's")
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_struct_layouts_match_the_x64_headers(name: str) -> None:
    size, offsets = LAYOUTS[name]
    got_size, got_offsets = win.struct_layout(name)
    assert got_size == size
    assert {f: got_offsets[f] for f in offsets} == offsets


def test_the_committed_module_is_what_the_builder_generates(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("pycparser", reason="the builder needs pycparser to parse the cdef")
    spec = importlib.util.spec_from_file_location(
        "windows_build", ROOT / "runtime/reactor/_build/windows_build.py"
    )
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    fresh = builder.generate(tmp_path / "_windows_ffi.py").read_text()
    committed = (ROOT / "runtime/reactor/_windows_ffi.py").read_text()
    assert fresh == committed, (
        "runtime/reactor/_windows_ffi.py is stale: run "
        "python runtime/reactor/_build/windows_build.py and commit the result"
    )


@pytest.mark.parametrize(
    ("code", "cls", "errno_name"),
    [
        (10035, BlockingIOError, "EWOULDBLOCK"),  # WSAEWOULDBLOCK
        (10054, ConnectionResetError, "ECONNRESET"),  # WSAECONNRESET
        (10053, ConnectionAbortedError, "ECONNABORTED"),  # WSAECONNABORTED
        (10061, ConnectionRefusedError, "ECONNREFUSED"),  # WSAECONNREFUSED
        (1225, ConnectionRefusedError, "ECONNREFUSED"),  # ERROR_CONNECTION_REFUSED
        (10060, TimeoutError, "ETIMEDOUT"),  # WSAETIMEDOUT
        (10058, BrokenPipeError, "EPIPE"),  # WSAESHUTDOWN
        (10038, OSError, "EBADF"),  # WSAENOTSOCK: a closed socket, as epoll says EBADF
        (6, OSError, "EBADF"),  # ERROR_INVALID_HANDLE
    ],
)
def test_windows_errors_become_the_exceptions_linux_raises(
    code: int, cls: type[OSError], errno_name: str
) -> None:
    exc = win.winerror_to_oserror(code, "recv on fd 5")
    assert type(exc) is cls
    assert exc.errno == getattr(errno, errno_name)
    assert "recv on fd 5" in str(exc)


def test_an_unknown_windows_error_keeps_its_number() -> None:
    exc = win.winerror_to_oserror(31337, "CloseHandle(0x10)")
    assert type(exc) is OSError
    assert "31337" in str(exc)


def test_iocp_is_the_only_backend_on_windows_and_absent_elsewhere() -> None:
    if sys.platform == "win32":
        assert available_backends() == ["iocp"]
    else:
        assert "iocp" not in available_backends()


@pytest.mark.skipif(sys.platform != "win32", reason="the DLLs exist only on Windows")
def test_the_reactor_runs_on_windows_with_nothing_compiled() -> None:
    from runtime.reactor import Events, Poll

    with Poll() as poll:
        assert poll.backend == "iocp"
        assert poll.poll(Events(), 0) == 0
    files = {n: str(getattr(m, "__file__", ".py")) for n, m in sys.modules.items()}
    compiled = [n for n, f in files.items() if n.startswith("runtime") and not f.endswith(".py")]
    assert compiled == []


@pytest.mark.skipif(sys.platform == "win32", reason="checks the stand-in used off Windows")
def test_calling_a_dll_off_windows_is_enosys() -> None:
    with pytest.raises(OSError) as info:
        win.create_port()
    assert info.value.errno == errno.ENOSYS
