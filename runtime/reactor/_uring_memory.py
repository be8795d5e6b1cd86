"""Memory a `Ring` operation points the kernel at: buffers, socket addresses, msghdrs.

With a completion queue the kernel writes into (or reads from) our memory
*after* the call that submitted the operation has returned, so each block
here is a cffi allocation whose address stays fixed, and the `Ring` holds a
reference to it until the operation's completion is reaped.

Addresses cross in CPython's shapes: ``(host, port)`` for AF_INET,
``(host, port, flowinfo, scope_id)`` for AF_INET6, a path (``str``, or
``bytes`` for a Linux abstract name) for AF_UNIX. Hosts are numeric; a name
is resolved with ``getaddrinfo`` as ``socket.sendto`` itself would.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from ._uring_cffi import ffi, lib

#: Uncleared allocations: a 64 KiB receive buffer need not be zeroed first.
_raw = ffi.new_allocator(should_clear_after_alloc=False)
_SUN_PATH = ffi.offsetof("struct sockaddr_un", "sun_path")
_SUN_MAX = ffi.sizeof("struct sockaddr_un") - _SUN_PATH
_STORAGE = ffi.sizeof("struct sockaddr_storage")


def allocate(nbytes: int) -> Any:
    """A ``char[nbytes]`` the kernel may write into; its contents start undefined."""
    return _raw("char[]", nbytes)


def take(buf: Any, nbytes: int) -> bytes:
    """The first ``nbytes`` of an `allocate`d buffer, as ``bytes``."""
    return ffi.unpack(buf, nbytes)  # type: ignore[no-any-return]


def _host_bytes(family: int, host: str, port: int) -> bytes:
    if family == socket.AF_INET and host in ("", "<broadcast>"):
        return bytes(4) if host == "" else b"\xff\xff\xff\xff"
    if family == socket.AF_INET6 and host == "":
        return bytes(16)
    if family == socket.AF_INET6 and "%" in host:
        # A zone (fe80::1%eth0): the tuple's scope id is what counts, as in
        # CPython (whose getaddrinfo parses the zone, then sets the scope id
        # from the tuple), so the two backends bind and send alike.
        host = host.partition("%")[0]
    try:
        return socket.inet_pton(family, host)
    except OSError:
        # A name, not a number: resolve it the way socket.sendto would.
        info = socket.getaddrinfo(host, port, family, 0, 0, socket.AI_NUMERICSERV)
        return socket.inet_pton(family, str(info[0][4][0]))


class SockAddr:
    """A ``struct sockaddr_storage`` and its length, filled from or decoded to Python."""

    __slots__ = ("family", "len_p", "ptr", "storage")

    def __init__(self, family: int) -> None:
        self.family = family
        self.storage = ffi.new("struct sockaddr_storage *")
        self.ptr = ffi.cast("struct sockaddr *", self.storage)
        self.len_p = ffi.new("socklen_t *", _STORAGE)

    def set(self, address: Any) -> int:
        """Encode ``address``; returns its length (also left in ``len_p[0]``)."""
        family = self.family
        if family == socket.AF_UNIX:
            path = os.fsencode(address) if isinstance(address, str) else bytes(address)
            if len(path) >= _SUN_MAX:
                raise OSError(36, f"AF_UNIX path too long ({len(path)} bytes): {address!r}")
            sun = ffi.cast("struct sockaddr_un *", self.storage)
            sun.sun_family = family
            ffi.memmove(sun.sun_path, path, len(path))
            # A pathname gets its NUL; an abstract name (leading NUL) is exact.
            if path[:1] != b"\0":
                sun.sun_path[len(path)] = b"\0"
                length = _SUN_PATH + len(path) + 1
            else:
                length = _SUN_PATH + len(path)
        elif family in (socket.AF_INET, socket.AF_INET6):
            host, port = address[0], address[1]
            if not 0 <= port <= 0xFFFF:
                raise OverflowError(f"port must be 0-65535, got {port}")
            raw = _host_bytes(family, host, port)
            if family == socket.AF_INET:
                sin = ffi.cast("struct sockaddr_in *", self.storage)
                sin.sin_family = family
                sin.sin_port = socket.htons(port)
                ffi.memmove(ffi.addressof(sin.sin_addr), raw, 4)
                length = ffi.sizeof("struct sockaddr_in")
            else:
                sin6 = ffi.cast("struct sockaddr_in6 *", self.storage)
                sin6.sin6_family = family
                sin6.sin6_port = socket.htons(port)
                sin6.sin6_flowinfo = socket.htonl(address[2] if len(address) > 2 else 0)
                sin6.sin6_scope_id = address[3] if len(address) > 3 else 0
                ffi.memmove(ffi.addressof(sin6.sin6_addr), raw, 16)
                length = ffi.sizeof("struct sockaddr_in6")
        else:
            raise ValueError(f"address family {family} is not supported by the Ring")
        self.len_p[0] = length
        return length

    def reset(self) -> None:
        """Make room for the kernel to write an address (accept, recvmsg)."""
        self.len_p[0] = _STORAGE

    def get(self, length: int | None = None) -> Any:
        """Decode the address the kernel wrote (CPython's ``makesockaddr`` shapes)."""
        n = self.len_p[0] if length is None else length
        family = self.storage.ss_family if n >= 2 else self.family
        if family == socket.AF_INET:
            sin = ffi.cast("struct sockaddr_in *", self.storage)
            host = socket.inet_ntop(family, ffi.buffer(ffi.addressof(sin.sin_addr), 4))
            return (host, socket.ntohs(sin.sin_port))
        if family == socket.AF_INET6:
            sin6 = ffi.cast("struct sockaddr_in6 *", self.storage)
            host = socket.inet_ntop(family, ffi.buffer(ffi.addressof(sin6.sin6_addr), 16))
            return (host, socket.ntohs(sin6.sin6_port), socket.ntohl(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id)
        if family == socket.AF_UNIX:
            sun = ffi.cast("struct sockaddr_un *", self.storage)
            path = ffi.buffer(sun.sun_path, max(0, n - _SUN_PATH))[:]
            if path[:1] == b"\0":
                return path  # an abstract name, as bytes (CPython does the same)
            return os.fsdecode(path.split(b"\0", 1)[0])
        return None


class Message:
    """A ``struct msghdr`` with one iovec and a `SockAddr`: for recvmsg/sendmsg.

    Reused across operations; the data buffer is swapped per operation with
    `set_buffer` and stays referenced here until the next swap.
    """

    __slots__ = ("_data", "addr", "iov", "msg")

    def __init__(self, family: int) -> None:
        self.addr = SockAddr(family)
        self.iov = ffi.new("struct iovec *")
        self.msg = ffi.new("struct msghdr *")
        self.msg.msg_iov = self.iov
        self.msg.msg_iovlen = 1
        self._data: Any = None

    def set_buffer(self, data: Any, nbytes: int, writable: bool) -> None:
        cdata = data if isinstance(data, ffi.CData) else ffi.from_buffer(
            data, require_writable=writable)
        self._data = cdata
        self.iov.iov_base = cdata
        self.iov.iov_len = nbytes

    def for_receive(self, data: Any, nbytes: int) -> None:
        """Point at ``data`` for a recvmsg, with room for the sender's address."""
        self.set_buffer(data, nbytes, True)
        self.msg.msg_name = self.addr.ptr
        self.msg.msg_namelen = _STORAGE
        self.msg.msg_flags = 0

    def for_send(self, data: Any, address: Any) -> None:
        """Point at ``data`` for a sendmsg to ``address`` (None: the connected peer)."""
        view = memoryview(data)
        self.set_buffer(view, view.nbytes, False)
        if address is None:
            self.msg.msg_name = ffi.NULL
            self.msg.msg_namelen = 0
        else:
            self.msg.msg_name = self.addr.ptr
            self.msg.msg_namelen = self.addr.set(address)

    def sender(self) -> Any:
        """The address a completed recvmsg wrote."""
        return self.addr.get(self.msg.msg_namelen)


def new_eventfd() -> int:
    fd = lib.eventfd(0, lib.EFD_CLOEXEC | lib.EFD_NONBLOCK)
    if fd < 0:
        err = ffi.errno
        raise OSError(err, f"eventfd: {os.strerror(err)}")
    return int(fd)
