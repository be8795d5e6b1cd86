"""Typed calls into kernel32, ntdll and ws2_32: the only user of ``_windows_ffi``.

cffi ABI mode (``ffi.dlopen``), as trio does, because Windows users have no C
compiler: the declarations live in ``_build/windows_build.py`` and the
pre-parsed module it generates (``_windows_ffi.py``) is committed. Nothing
outside this file touches ``ffi`` or a DLL. Each function here makes one
Windows call, checks it, and raises a typed `OSError` (through
`winerror_to_oserror`) naming the call, so ``_iocp.py`` reads as the
algorithm and not as pointer plumbing.

Handles cross this boundary as plain ``int`` (a ``HANDLE`` is a pointer-sized
value; a ``SOCKET`` is the same thing to the kernel). ABI mode cannot read
headers, so every number below is written once, with the header it comes
from. On other platforms the module imports (so the Linux test suite can check
the struct layouts) but calling into a DLL raises `OSError`.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from typing import Any

from ._windows_ffi import ffi

# -- numbers, each from the header named -------------------------------------------

# <winbase.h>
INFINITE = 0xFFFFFFFF
FILE_SKIP_SET_EVENT_ON_HANDLE = 0x2
# <winnt.h>
SYNCHRONIZE = 0x00100000
FILE_SHARE_READ = 0x1
FILE_SHARE_WRITE = 0x2
# <wdm.h> / <ntifs.h>: NtCreateFile's CreateDisposition
FILE_OPEN = 0x1
# <mswsock.h>: WSAIoctl codes that return the provider's own socket handle.
SIO_BASE_HANDLE = 0x48000022
SIO_BSP_HANDLE_POLL = 0x4800001D
# AFD's ioctl: _AFD_CONTROL_CODE(AFD_POLL = 9, METHOD_BUFFERED) =
# FILE_DEVICE_NETWORK (0x12) << 12 | 9 << 2. ReactOS
# sdk/include/reactos/drivers/afd/shared.h; wepoll src/afd.h; mio afd.rs.
IOCTL_AFD_POLL = 0x00012024

# AFD_POLL_* event bits (ReactOS shared.h; wepoll src/afd.h; mio afd.rs).
AFD_POLL_RECEIVE = 0x0001  # bytes to read (or a datagram)
AFD_POLL_RECEIVE_EXPEDITED = 0x0002  # out-of-band (urgent) data
AFD_POLL_SEND = 0x0004  # room to write
AFD_POLL_DISCONNECT = 0x0008  # the peer sent FIN
AFD_POLL_ABORT = 0x0010  # the connection was reset (RST)
AFD_POLL_LOCAL_CLOSE = 0x0020  # our socket handle was closed
AFD_POLL_CONNECT = 0x0040  # connected (reported on every poll after: unused)
AFD_POLL_ACCEPT = 0x0080  # a connection waits in the listen queue
AFD_POLL_CONNECT_FAIL = 0x0100  # connect() failed

# <ntstatus.h>
STATUS_SUCCESS = 0x00000000
STATUS_PENDING = 0x00000103
STATUS_CANCELLED = 0xC0000120
STATUS_INVALID_HANDLE = 0xC0000008
# <winerror.h>
ERROR_INVALID_HANDLE = 6
WAIT_TIMEOUT = 258
ERROR_ABANDONED_WAIT_0 = 735  # the port was closed under a waiting thread
ERROR_OPERATION_ABORTED = 995
ERROR_NOT_FOUND = 1168
WSAENOTSOCK = 10038

# <winerror.h> / <winsock2.h> code -> (name, errno name). The errno is looked up
# in Python's `errno` module at run time, so the OSError subclass is the one
# Linux raises for the same condition (ConnectionResetError, BlockingIOError,
# ...) whatever numbers the platform uses. A SOCKET that is not one (closed,
# or never was) is what Unix calls a bad descriptor: EBADF, as epoll says.
_WINERRORS: dict[int, tuple[str, str]] = {
    5: ("ERROR_ACCESS_DENIED", "EACCES"),
    6: ("ERROR_INVALID_HANDLE", "EBADF"),
    8: ("ERROR_NOT_ENOUGH_MEMORY", "ENOMEM"),
    64: ("ERROR_NETNAME_DELETED", "ECONNRESET"),
    87: ("ERROR_INVALID_PARAMETER", "EINVAL"),
    995: ("ERROR_OPERATION_ABORTED", "ECANCELED"),
    1225: ("ERROR_CONNECTION_REFUSED", "ECONNREFUSED"),
    1234: ("ERROR_PORT_UNREACHABLE", "ECONNREFUSED"),
    1236: ("ERROR_CONNECTION_ABORTED", "ECONNABORTED"),
    10004: ("WSAEINTR", "EINTR"),
    10009: ("WSAEBADF", "EBADF"),
    10013: ("WSAEACCES", "EACCES"),
    10014: ("WSAEFAULT", "EFAULT"),
    10022: ("WSAEINVAL", "EINVAL"),
    10024: ("WSAEMFILE", "EMFILE"),
    10035: ("WSAEWOULDBLOCK", "EWOULDBLOCK"),
    10036: ("WSAEINPROGRESS", "EINPROGRESS"),
    10037: ("WSAEALREADY", "EALREADY"),
    10038: ("WSAENOTSOCK", "EBADF"),
    10040: ("WSAEMSGSIZE", "EMSGSIZE"),
    10047: ("WSAEAFNOSUPPORT", "EAFNOSUPPORT"),
    10048: ("WSAEADDRINUSE", "EADDRINUSE"),
    10049: ("WSAEADDRNOTAVAIL", "EADDRNOTAVAIL"),
    10050: ("WSAENETDOWN", "ENETDOWN"),
    10051: ("WSAENETUNREACH", "ENETUNREACH"),
    10052: ("WSAENETRESET", "ENETRESET"),
    10053: ("WSAECONNABORTED", "ECONNABORTED"),
    10054: ("WSAECONNRESET", "ECONNRESET"),
    10055: ("WSAENOBUFS", "ENOBUFS"),
    10056: ("WSAEISCONN", "EISCONN"),
    10057: ("WSAENOTCONN", "ENOTCONN"),
    10058: ("WSAESHUTDOWN", "EPIPE"),
    10060: ("WSAETIMEDOUT", "ETIMEDOUT"),
    10061: ("WSAECONNREFUSED", "ECONNREFUSED"),
    10065: ("WSAEHOSTUNREACH", "EHOSTUNREACH"),
}


def winerror_to_oserror(code: int, what: str) -> OSError:
    """An `OSError` for Windows error ``code``, of the class Linux would raise.

    ``what`` names the call and its object (``"WSAIoctl(SIO_BASE_HANDLE) of
    socket 412"``). Codes with no Unix twin keep ``errno`` 0 and carry the
    Windows number in ``winerror`` where Python supports it.
    """
    name, errno_name = _WINERRORS.get(code, (f"Windows error {code}", ""))
    number = getattr(errno, errno_name, 0) if errno_name else 0
    if number:
        return OSError(number, f"{os.strerror(number)}: {what} ({name}, {code})")
    return OSError(0, f"{what} failed ({name})", None, code)


def _unavailable(*_: object) -> Any:
    raise OSError(errno.ENOSYS, f"Windows DLLs are not available on {sys.platform}")


class _NoDll:
    def __getattr__(self, name: str) -> Any:
        return _unavailable


if sys.platform == "win32":
    _kernel32: Any = ffi.dlopen("kernel32.dll")
    _ntdll: Any = ffi.dlopen("ntdll.dll")
    _ws2_32: Any = ffi.dlopen("ws2_32.dll")
else:
    _kernel32 = _ntdll = _ws2_32 = _NoDll()


def _h(handle: int) -> Any:
    return ffi.cast("HANDLE", handle)


def _last_error(what: str) -> OSError:
    return winerror_to_oserror(_kernel32.GetLastError(), what)


def _nt_error(status: int, what: str) -> OSError:
    return winerror_to_oserror(
        _ntdll.RtlNtStatusToDosError(status), f"{what} (NTSTATUS {status:#x})"
    )


def struct_layout(name: str) -> tuple[int, dict[str, int]]:
    """``(sizeof, {field: offset})`` of a declared struct, for the layout tests."""
    ctype = ffi.typeof(name)
    return ffi.sizeof(ctype), {f: ffi.offsetof(ctype, f) for f, _ in ctype.fields}


# -- kernel32: the completion port -----------------------------------------------


def create_port() -> int:
    """A new I/O completion port (``CreateIoCompletionPort`` with no file)."""
    port = _kernel32.CreateIoCompletionPort(_h(-1), ffi.NULL, 0, 0)
    if port == ffi.NULL:
        raise _last_error("CreateIoCompletionPort")
    return int(ffi.cast("uintptr_t", port))


def associate(handle: int, port: int, key: int) -> None:
    """Deliver ``handle``'s completions to ``port`` with completion key ``key``."""
    if _kernel32.CreateIoCompletionPort(_h(handle), _h(port), key, 0) == ffi.NULL:
        raise _last_error(f"CreateIoCompletionPort(associate handle {handle:#x})")
    # The handle's own event object is never waited on: skip signalling it.
    if not _kernel32.SetFileCompletionNotificationModes(_h(handle), FILE_SKIP_SET_EVENT_ON_HANDLE):
        raise _last_error(f"SetFileCompletionNotificationModes of handle {handle:#x}")


def post(port: int, key: int) -> None:
    """Queue a packet with ``key`` and no OVERLAPPED (the `Waker`'s wake)."""
    if not _kernel32.PostQueuedCompletionStatus(_h(port), 0, key, ffi.NULL):
        raise _last_error(f"PostQueuedCompletionStatus on port {port:#x}")


def cancel_io(handle: int, overlapped: int) -> bool:
    """Ask the kernel to cancel one pending operation on ``handle``.

    ``overlapped`` is the address that identifies it (for an NT call, its
    IO_STATUS_BLOCK). False if nothing was pending under that address
    (ERROR_NOT_FOUND: it completed already). The cancellation itself arrives
    later, as a completion packet with STATUS_CANCELLED.
    """
    if _kernel32.CancelIoEx(_h(handle), ffi.cast("OVERLAPPED *", overlapped)):
        return True
    code = _kernel32.GetLastError()
    if code == ERROR_NOT_FOUND:
        return False
    raise winerror_to_oserror(code, f"CancelIoEx on handle {handle:#x}")


def close_handle(handle: int) -> None:
    if not _kernel32.CloseHandle(_h(handle)):
        raise _last_error(f"CloseHandle({handle:#x})")


# OVERLAPPED_ENTRY as bytes: key, lpOverlapped, Internal, bytes transferred, padding.
_ENTRY = struct.Struct("<QQQI4x")


class CompletionBuffer:
    """The array ``GetQueuedCompletionStatusEx`` fills, reused across waits."""

    __slots__ = ("_capacity", "_count", "_entries", "_view")

    def __init__(self, capacity: int) -> None:
        assert ffi.sizeof("OVERLAPPED_ENTRY") == _ENTRY.size
        self._capacity = capacity
        self._entries = ffi.new("OVERLAPPED_ENTRY[]", capacity)
        self._view = ffi.buffer(self._entries)
        self._count = ffi.new("ULONG *")

    @property
    def capacity(self) -> int:
        return self._capacity

    def wait(self, port: int, timeout_ms: int) -> list[tuple[int, int]]:
        """Dequeue up to `capacity` packets as ``(key, overlapped address)``.

        Blocks up to ``timeout_ms`` (`INFINITE` for ever); ``[]`` on timeout.
        The wait is not alertable, so no APC can cut it short: Windows has no
        EINTR here.
        """
        ok = _kernel32.GetQueuedCompletionStatusEx(
            _h(port), self._entries, self._capacity, self._count, timeout_ms, 0
        )
        if not ok:
            code = _kernel32.GetLastError()
            if code == WAIT_TIMEOUT:
                return []
            raise winerror_to_oserror(code, f"GetQueuedCompletionStatusEx on port {port:#x}")
        n = self._count[0]
        return [(key, ov) for key, ov, _, _ in _ENTRY.iter_unpack(self._view[: n * _ENTRY.size])]


# -- ws2_32: the socket under the layers -------------------------------------------


def _wsa_ioctl_handle(sock: int, code: int) -> int:
    out = ffi.new("SOCKET *")
    size = ffi.new("DWORD *")
    if _ws2_32.WSAIoctl(
        sock, code, ffi.NULL, 0, out, ffi.sizeof("SOCKET"), size, ffi.NULL, ffi.NULL
    ):
        err = _ws2_32.WSAGetLastError()
        raise winerror_to_oserror(err, f"WSAIoctl({code:#x}) of fd {sock}")
    return int(out[0])


def base_socket(sock: int) -> int:
    """The socket AFD knows (``SIO_BASE_HANDLE``), below any layered provider.

    A Layered Service Provider (an antivirus, a VPN) may wrap the socket the
    application holds; AFD only answers for the base one. Some LSPs (Komodia)
    refuse ``SIO_BASE_HANDLE``; then ``SIO_BSP_HANDLE_POLL`` is asked instead,
    one layer at a time (wepoll, mio issue 1314, trio ``_get_base_socket``).
    """
    while True:
        try:
            return _wsa_ioctl_handle(sock, SIO_BASE_HANDLE)
        except OSError as exc:
            if exc.errno == errno.EBADF:  # WSAENOTSOCK: closed, or not a socket
                raise
            inner = _wsa_ioctl_handle(sock, SIO_BSP_HANDLE_POLL)
            if inner == sock:
                raise
            sock = inner


# -- ntdll: the AFD device and its poll ---------------------------------------------


def open_afd(name: str) -> int:
    r"""Open ``\Device\Afd\<name>``, a handle on the socket driver itself.

    The trailing name is free text (wepoll: ``Wepoll``, mio: ``Mio``); it only
    shows up in handle listings.
    """
    path = f"\\Device\\Afd\\{name}".encode("utf-16-le")
    chars = ffi.new("char[]", path + b"\0\0")
    ustr = ffi.new("UNICODE_STRING *")
    ustr.Length = ustr.MaximumLength = len(path)
    ustr.Buffer = ffi.cast("WCHAR *", chars)
    attrs = ffi.new("OBJECT_ATTRIBUTES *")
    attrs.Length = ffi.sizeof("OBJECT_ATTRIBUTES")
    attrs.ObjectName = ustr
    handle = ffi.new("HANDLE *")
    iosb = ffi.new("IO_STATUS_BLOCK *")
    status = _ntdll.NtCreateFile(
        handle, SYNCHRONIZE, attrs, iosb, ffi.NULL, 0,
        FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_OPEN, 0, ffi.NULL, 0,
    )  # fmt: skip
    if status != STATUS_SUCCESS:
        raise _nt_error(status, f"NtCreateFile(\\Device\\Afd\\{name})")
    return int(ffi.cast("uintptr_t", handle[0]))


class AfdPoll:
    """One ``IOCTL_AFD_POLL`` request: its IO_STATUS_BLOCK and AFD_POLL_INFO.

    The kernel writes into both until the request's completion packet has been
    dequeued, so the object must stay alive (and unmoved: cffi memory does not
    move) until then, even if the socket was deregistered meanwhile.
    `address` (the IO_STATUS_BLOCK's) is what identifies the request: it comes
    back as the packet's ``lpOverlapped``, and `cancel_io` takes it.
    """

    __slots__ = ("_info", "_iosb", "address")

    def __init__(self) -> None:
        self._iosb = ffi.new("IO_STATUS_BLOCK *")
        self._info = ffi.new("AFD_POLL_INFO *")
        self.address = int(ffi.cast("uintptr_t", self._iosb))

    def submit(self, afd: int, base: int, events: int, fd: int) -> None:
        """Start polling socket ``base`` for ``events`` through AFD handle ``afd``.

        ``fd`` is the socket as the caller knows it, for the error message.
        """
        info = self._info
        info.Timeout = 2**63 - 1  # never: the poll ends by an event or a cancel
        info.NumberOfHandles = 1
        info.Exclusive = 0
        info.Handles[0].Handle = _h(base)
        info.Handles[0].Status = 0
        info.Handles[0].Events = events
        self._iosb.Status = STATUS_PENDING
        size = ffi.sizeof("AFD_POLL_INFO")
        status = _ntdll.NtDeviceIoControlFile(
            _h(afd), ffi.NULL, ffi.NULL, self._iosb, self._iosb,
            IOCTL_AFD_POLL, info, size, info, size,
        )  # fmt: skip
        # SUCCESS (done at once) still queues a packet: the AFD handle was not
        # given FILE_SKIP_COMPLETION_PORT_ON_SUCCESS.
        if status not in (STATUS_SUCCESS, STATUS_PENDING):
            raise _nt_error(status, f"NtDeviceIoControlFile(IOCTL_AFD_POLL) of fd {fd}")

    @property
    def status(self) -> int:
        """The request's NTSTATUS, valid once its packet has been dequeued."""
        return int(self._iosb.Status)

    @property
    def events(self) -> int:
        """The AFD_POLL_* bits that completed it (0 if no handle was reported)."""
        info = self._info
        return int(info.Handles[0].Events) if info.NumberOfHandles >= 1 else 0
