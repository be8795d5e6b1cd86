"""cffi builder for the Windows backend (ABI mode, out-of-line, no compiler).

Run ``python runtime/reactor/_build/windows_build.py`` on any platform to
regenerate ``runtime/reactor/_windows_ffi.py``; the result is committed.

Why committed and not generated at install: ABI mode needs no C compiler, but
it does need pycparser to parse the declarations below. The generated module
holds them pre-parsed, so a Windows install imports `runtime` with only the
``_cffi_backend`` wheel, and the Wine test harness imports the package
straight from the work tree with nothing built (trio does the same with its
``_generated_windows_ffi.py``). ``tests/reactor/test_windows_ffi.py`` checks
that the committed module is what this file generates, so the two cannot drift.

ABI mode cannot read headers, so every type below is written out once, with
the header it comes from. Widths are spelled with fixed-size types
(``uint32_t`` for ``DWORD``/``ULONG``, not ``unsigned long``) because Windows
is LLP64: ``long`` is 32 bits there and 64 bits on Linux. Written this way the
layouts are the same on both, and the Linux test suite checks their sizes
against the numbers in the Windows headers.
"""

from __future__ import annotations

import pathlib
import tempfile

from cffi import FFI

CDEF = """
/* <minwindef.h>, <basetsd.h>, <winnt.h>: the scalar types, at their LLP64 widths. */
typedef int BOOL;
typedef uint8_t UCHAR;
typedef uint16_t USHORT;
typedef uint32_t DWORD;
typedef uint32_t ULONG;
typedef uint32_t ACCESS_MASK;
typedef uintptr_t ULONG_PTR;
typedef void *HANDLE;
typedef void *PVOID;
typedef uint16_t WCHAR;           /* UTF-16 code unit; wchar_t is 4 bytes on Linux */
typedef int64_t LARGE_INTEGER;     /* a union over one int64 in <winnt.h>; only QuadPart is used */
/* <ntdef.h> says LONG. Read unsigned here so the STATUS_* values compare as the
   hex the headers print (0xC0000120, not -1073741536). Same width, same bits. */
typedef uint32_t NTSTATUS;
/* <winsock2.h>: a SOCKET is a UINT_PTR handle, not a small int as on Unix. */
typedef uintptr_t SOCKET;

/* <minwinbase.h> */
typedef struct _OVERLAPPED {
    ULONG_PTR Internal;
    ULONG_PTR InternalHigh;
    union {
        struct { DWORD Offset; DWORD OffsetHigh; } DUMMYSTRUCTNAME;
        PVOID Pointer;
    } DUMMYUNIONNAME;
    HANDLE hEvent;
} OVERLAPPED;

/* <minwinbase.h>: one completion packet as GetQueuedCompletionStatusEx returns it. */
typedef struct _OVERLAPPED_ENTRY {
    ULONG_PTR lpCompletionKey;
    OVERLAPPED *lpOverlapped;
    ULONG_PTR Internal;
    DWORD dwNumberOfBytesTransferred;
} OVERLAPPED_ENTRY;

/* <wdm.h> / <winternl.h> */
typedef struct _IO_STATUS_BLOCK {
    union { NTSTATUS Status; PVOID Pointer; };
    ULONG_PTR Information;
} IO_STATUS_BLOCK;

/* <ntdef.h>: Length and MaximumLength count bytes, not characters. */
typedef struct _UNICODE_STRING {
    USHORT Length;
    USHORT MaximumLength;
    WCHAR *Buffer;
} UNICODE_STRING;

/* <ntdef.h> */
typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length;
    HANDLE RootDirectory;
    UNICODE_STRING *ObjectName;
    ULONG Attributes;
    PVOID SecurityDescriptor;
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES;

/* AFD's poll request. Not in any SDK header: the layout is ReactOS's
   sdk/include/reactos/drivers/afd/shared.h, as wepoll's src/afd.h and mio's
   src/sys/windows/afd.rs copy it. The kernel rewrites it in place on completion. */
typedef struct _AFD_POLL_HANDLE_INFO {
    HANDLE Handle;
    ULONG Events;
    NTSTATUS Status;
} AFD_POLL_HANDLE_INFO;

typedef struct _AFD_POLL_INFO {
    LARGE_INTEGER Timeout;
    ULONG NumberOfHandles;
    ULONG Exclusive;
    AFD_POLL_HANDLE_INFO Handles[1];
} AFD_POLL_INFO;

/* kernel32.dll: <ioapiset.h>, <handleapi.h>, <winbase.h>, <errhandlingapi.h> */
HANDLE CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort,
                              ULONG_PTR CompletionKey, DWORD NumberOfConcurrentThreads);
BOOL GetQueuedCompletionStatusEx(HANDLE CompletionPort, OVERLAPPED_ENTRY *lpCompletionPortEntries,
                                 ULONG ulCount, ULONG *ulNumEntriesRemoved,
                                 DWORD dwMilliseconds, BOOL fAlertable);
BOOL PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred,
                                ULONG_PTR dwCompletionKey, OVERLAPPED *lpOverlapped);
BOOL CancelIoEx(HANDLE hFile, OVERLAPPED *lpOverlapped);
BOOL SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags);
BOOL CloseHandle(HANDLE hObject);
DWORD GetLastError(void);

/* ntdll.dll: <winternl.h>, <ntifs.h> */
NTSTATUS NtCreateFile(HANDLE *FileHandle, ACCESS_MASK DesiredAccess,
                      OBJECT_ATTRIBUTES *ObjectAttributes, IO_STATUS_BLOCK *IoStatusBlock,
                      LARGE_INTEGER *AllocationSize, ULONG FileAttributes, ULONG ShareAccess,
                      ULONG CreateDisposition, ULONG CreateOptions, PVOID EaBuffer,
                      ULONG EaLength);
NTSTATUS NtDeviceIoControlFile(HANDLE FileHandle, HANDLE Event, PVOID ApcRoutine,
                               PVOID ApcContext, IO_STATUS_BLOCK *IoStatusBlock,
                               ULONG IoControlCode, PVOID InputBuffer, ULONG InputBufferLength,
                               PVOID OutputBuffer, ULONG OutputBufferLength);
ULONG RtlNtStatusToDosError(NTSTATUS Status);

/* ws2_32.dll: <winsock2.h>. The last parameter is really an
   LPWSAOVERLAPPED_COMPLETION_ROUTINE; we always pass NULL. */
int WSAIoctl(SOCKET s, DWORD dwIoControlCode, PVOID lpvInBuffer, DWORD cbInBuffer,
             PVOID lpvOutBuffer, DWORD cbOutBuffer, DWORD *lpcbBytesReturned,
             OVERLAPPED *lpOverlapped, PVOID lpCompletionRoutine);
int WSAGetLastError(void);
"""

MODULE = "runtime.reactor._windows_ffi"
TARGET = pathlib.Path(__file__).resolve().parent.parent / "_windows_ffi.py"

ffi = FFI()
ffi.cdef(CDEF)
ffi.set_source(MODULE, None)  # None: ABI mode, a pure-Python module, no C


HEADER = (
    "# Generated by runtime/reactor/_build/windows_build.py; do not edit, rerun it.\n# ruff: noqa\n"
)


def generate(target: pathlib.Path = TARGET) -> pathlib.Path:
    """Write the out-of-line ABI module to ``target`` and return its path."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = pathlib.Path(tmp) / "_windows_ffi.py"
        ffi.emit_python_code(str(raw))
        target.write_text(HEADER + raw.read_text())
    return target


if __name__ == "__main__":
    print(generate())
