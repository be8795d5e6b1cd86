"""Making an io_uring ring within the kernel's limits, and what it offers.

`Ring` (``_uring.py``) asks `setup` for its ring and `features` for what the
kernel offers beyond the 5.11 baseline. The facts these rely on (12, 13,
15) are in ``_uring.py``'s essay.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

from ._uring_cffi import ffi, lib

MAX_ENTRIES = 32768
#: setup flags tried in turn, best first, until the kernel accepts one set.
_SETUP_FLAGS = [
    lib.IORING_SETUP_SUBMIT_ALL | lib.IORING_SETUP_COOP_TASKRUN
    | lib.IORING_SETUP_TASKRUN_FLAG | lib.IORING_SETUP_SINGLE_ISSUER
    | lib.IORING_SETUP_DEFER_TASKRUN,
    lib.IORING_SETUP_SUBMIT_ALL | lib.IORING_SETUP_COOP_TASKRUN
    | lib.IORING_SETUP_TASKRUN_FLAG,
    0,
]
NEEDED = {"NODROP": lib.IORING_FEAT_NODROP, "EXT_ARG": lib.IORING_FEAT_EXT_ARG,
           "FAST_POLL": lib.IORING_FEAT_FAST_POLL}
#: The kernel's IORING_MAX_CQ_ENTRIES (2 * IORING_MAX_ENTRIES).
_MAX_CQ_ENTRIES = 2 * MAX_ENTRIES
#: The smallest ring `Ring` shrinks to when the kernel has no memory for the
#: size asked (below it, one loop turn would flush the queue all the time).
MIN_ENTRIES = 8
#: How long `setup` waits for closed rings' memory to be given back (fact
#: 15): before halving the ring (1 + 2 + 4 + 8 ms), and in all before an
#: ENOMEM is final (1 + 2 + ... + 256 ms).
_MEMLOCK_FIRST_WAIT = 0.001
_MEMLOCK_SHORT_WAIT = 0.015
_MEMLOCK_MAX_WAIT = 0.5


def setup(r: Any, entries: int, cq_entries: int | None, defer_taskrun: bool) -> int:
    """Set the ring up: 0, or ``-errno`` of the last refusal.

    Tries the setup flags best first (an older kernel refuses what it does
    not know with ``EINVAL``), and on ``ENOMEM`` halves the ring: for a user
    without ``CAP_IPC_LOCK`` the ring's memory counts against
    ``RLIMIT_MEMLOCK`` (64 KiB or 8 MiB by default, shared by all of the
    user's rings), so a smaller ring is what fits.
    [test_a_low_memlock_limit_gets_a_smaller_ring_or_a_clear_error]
    """
    tries = _SETUP_FLAGS if defer_taskrun else _SETUP_FLAGS[1:]
    asked = entries, cq_entries
    delay = _MEMLOCK_FIRST_WAIT
    waited = 0.0
    while True:
        cq = min(cq_entries if cq_entries is not None else 4 * entries, _MAX_CQ_ENTRIES)
        for flags in tries:
            ret = int(lib.rt_ring_setup(r, entries, cq, flags))
            if ret != -errno.EINVAL:
                break
        if ret != -errno.ENOMEM:
            return ret
        # Rings closed a moment ago still count until the kernel's exit work
        # frees them, after close() returned (fact 15): a program running one
        # runtime after another finds the limit taken by the ones it closed.
        # So wait a little (1, 2, 4, 8 ms) before taking a smaller ring, and
        # once even the smallest is refused, wait longer (to 0.5 s in all)
        # for the asked-for size before saying the limit is too low.
        if waited < _MEMLOCK_SHORT_WAIT or (entries <= MIN_ENTRIES
                                            and waited < _MEMLOCK_MAX_WAIT):
            time.sleep(delay)
            waited += delay
            delay *= 2
            entries, cq_entries = asked
        elif entries > MIN_ENTRIES:
            entries = max(MIN_ENTRIES, entries // 2)
            if cq_entries is not None:
                cq_entries = max(entries, cq_entries // 2)
        else:
            return ret


def memlock_limit_text() -> str:
    """What ``RLIMIT_MEMLOCK`` allows this process, in words, for an error message."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    limit = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1024} KiB"
    return (f"RLIMIT_MEMLOCK is {limit} (ulimit -l), and an io_uring ring's memory "
            "counts against it for a user without CAP_IPC_LOCK; raise it "
            "(ulimit -l, or /etc/security/limits.conf) or run as root")


#: Beyond the 5.11 baseline, by the opcodes IORING_REGISTER_PROBE lists:
#: IORING_OP_SOCKET came with 5.19 (as multishot accept and provided-buffer
#: rings), IORING_OP_SEND_ZC with 6.0 (as multishot receive).
FEATURES = {
    "accept_multishot": lib.IORING_OP_SOCKET,
    "buffer_ring": lib.IORING_OP_SOCKET,
    "recv_multishot": lib.IORING_OP_SEND_ZC,
}
#: A feature the probe finds, switched off (comma-separated names), to run the
#: older kernels' path here: ``RUNTIME_URING_DISABLE=recv_multishot``.
DISABLE_ENV = "RUNTIME_URING_DISABLE"


def _probe(r: Any) -> frozenset[str]:
    supported = ffi.new("unsigned char[]", 256)
    if lib.rt_probe(r, supported, 256) < 0:
        return frozenset()  # before 5.6: no probe, and none of these
    return frozenset(name for name, op in FEATURES.items() if supported[op])


def _disabled() -> frozenset[str]:
    names = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    unknown = names - FEATURES.keys()
    if unknown:
        raise ValueError(f"${DISABLE_ENV} names no io_uring feature: "
                         f"{', '.join(sorted(unknown))} (known: {', '.join(sorted(FEATURES))})")
    return frozenset(names)


def features(r: Any) -> frozenset[str]:
    """What this kernel offers beyond the 5.11 baseline (fact 13), less what
    ``$RUNTIME_URING_DISABLE`` turns off: a subset of `FEATURES`."""
    return _probe(r) - _disabled()
