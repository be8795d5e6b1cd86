"""The portable readiness bits every backend reports.

These are *our* numbers, not the kernel's: each backend translates what its
queue says (``EPOLLIN``, ``EVFILT_READ``, ``AFD_POLL_RECEIVE``...) into them,
so `Event` and the executor above never see a backend-specific flag.

This module has no imports on purpose: the cffi builders load it by path at
build time (before the package is importable) so the C side of a backend and
the Python side share one definition.
"""

READABLE = 0x01
WRITABLE = 0x02
READ_CLOSED = 0x04
WRITE_CLOSED = 0x08
ERROR = 0x10
PRIORITY = 0x20
#: A backend that learns a socket's pending errno with its event (kqueue's
#: ``EV_EOF`` with ``fflags``) reports it above these bits, with ``ERROR``:
#: ``readiness >> ERRNO_SHIFT`` is the errno, 0 when none came.
ERRNO_SHIFT = 8


class Readiness:
    """The bits above as one public name: ``from runtime.reactor import Readiness``.

    Plain ints, not an ``IntFlag``: the IO driver ORs and masks them on
    every event, and an ``IntFlag`` operation costs a Python call.
    """

    READABLE = READABLE
    WRITABLE = WRITABLE
    READ_CLOSED = READ_CLOSED
    WRITE_CLOSED = WRITE_CLOSED
    ERROR = ERROR
    PRIORITY = PRIORITY
    ERRNO_SHIFT = ERRNO_SHIFT
