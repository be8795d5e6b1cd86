"""cffi builder for the kqueue backend (API, out-of-line mode).

Run by setuptools at install (``cffi_modules`` in setup.py) on macOS and the
BSDs, and on Linux when libkqueue's headers are installed
(``scripts/install-libkqueue.sh``). The ``EVFILT_*``, ``EV_*`` and ``NOTE_*``
numbers differ between macOS, FreeBSD and libkqueue, and so does
``struct kevent`` (FreeBSD >= 12 made ``data`` 64-bit and added ``ext[4]``):
all of them are declared with ``...`` so the C compiler reads them from
``<sys/event.h>``: the numbers, the struct's size and padding, and (through
``__typeof__``) the type of ``data``. The selector never touches a
``struct kevent`` field from Python; the two C helpers below fill and read
them. Only ``_kqueue.raw_kevent``, for the facts tests, uses the fields.
"""

from __future__ import annotations

import pathlib
import runpy
import sys

from cffi import FFI

_READINESS = runpy.run_path(str(pathlib.Path(__file__).parent.parent / "_readiness.py"))

#: Where libkqueue puts its header on Linux (Debian's libkqueue-dev).
LIBKQUEUE_INCLUDE = "/usr/include/kqueue"

CDEF = """
typedef int... rt_kev_data_t;
struct kevent {
    uintptr_t ident;
    short filter;
    unsigned short flags;
    unsigned int fflags;
    rt_kev_data_t data;
    void *udata;
    ...;
};
typedef int... time_t;
struct timespec { time_t tv_sec; long tv_nsec; ...; };

#define EVFILT_READ ...
#define EVFILT_WRITE ...
#define EVFILT_USER ...
#define EV_ADD ...
#define EV_DELETE ...
#define EV_CLEAR ...
#define EV_RECEIPT ...
#define EV_EOF ...
#define EV_ERROR ...
#define NOTE_TRIGGER ...
#define RT_LIBKQUEUE ...

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents, const struct timespec *timeout);

int rt_kevent_ctl(int kq, int n, const uintptr_t *idents, const int *filters, const int *flags,
                  unsigned int fflags, uint64_t token, int *errs);
int rt_kevent_wait(int kq, struct kevent *buf, int nevents, int64_t timeout_ns,
                   uint64_t *out, int32_t *table);
"""

# rt_kevent_ctl applies up to RT_MAX_CHANGES changes and writes
# each change's errno (0: it worked) to errs. On a kernel (macOS, FreeBSD) it
# does what mio's `kevent_register` does: every change carries EV_RECEIPT, so
# the kernel answers each one with its own EV_ERROR entry (data = 0 or an
# errno) instead of stopping at the first failure, and the answers fill the
# eventlist so no pending event is dequeued by accident. libkqueue 2.3.1 (the
# header defines LIBKQUEUE) does not implement EV_RECEIPT: a change that works
# gets no entry, an error with room in the eventlist gets none either, and
# the call goes on to return real events, which the caller would then lose.
# There each change is its own kevent() with no eventlist, whose -1/errno is
# that change's answer.
#
# rt_kevent_wait flattens the kevents into (token, portable readiness) pairs.
# kqueue reports the read and write filters of one fd as two kevents, both
# carrying the token in udata; they are merged here (an open-addressing table
# keyed by token, sized to the batch) so a batch holds one entry per token, as
# epoll's does. The readiness rules are mio's (src/sys/unix/selector/kqueue.rs).
SOURCE = """
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/event.h>

#define RT_READABLE     %(READABLE)d
#define RT_WRITABLE     %(WRITABLE)d
#define RT_READ_CLOSED  %(READ_CLOSED)d
#define RT_WRITE_CLOSED %(WRITE_CLOSED)d
#define RT_ERROR        %(ERROR)d
#define RT_ERRNO_SHIFT  %(ERRNO_SHIFT)d
#define RT_PRIORITY     %(PRIORITY)d

#ifdef LIBKQUEUE
#define RT_LIBKQUEUE 1
#else
#define RT_LIBKQUEUE 0
#endif

/* FreeBSD >= 12 made `data` an int64_t; elsewhere it is an intptr_t. */
typedef __typeof__(((struct kevent *)0)->data) rt_kev_data_t;

#define RT_MAX_CHANGES 2

static int rt_kevent_ctl(int kq, int n, const uintptr_t *idents, const int *filters,
                         const int *flags, unsigned int fflags, uint64_t token, int *errs)
{
    struct kevent changes[RT_MAX_CHANGES];
    struct timespec zero = {0, 0};
    int i;

    if (n < 1 || n > RT_MAX_CHANGES) {
        errno = EINVAL;
        return -1;
    }
#if RT_LIBKQUEUE
    for (i = 0; i < n; i++) {
        EV_SET(&changes[i], idents[i], filters[i], flags[i], fflags, 0,
               (void *)(uintptr_t)token);
        errno = 0;
        if (kevent(kq, &changes[i], 1, NULL, 0, &zero) < 0)
            /* libkqueue leaves errno to whatever its last syscall said. */
            errs[i] = errno ? errno : EIO;
        else
            errs[i] = 0;
    }
    return n;
#else
    struct kevent receipts[RT_MAX_CHANGES];
    int j, got;

    for (i = 0; i < n; i++) {
        EV_SET(&changes[i], idents[i], filters[i], flags[i] | EV_RECEIPT, fflags, 0,
               (void *)(uintptr_t)token);
        errs[i] = -1;  /* no receipt (yet) */
    }
    /* One receipt per change fills the eventlist, so this never waits and
       never dequeues a real event; the zero timeout is a second guard. */
    got = kevent(kq, changes, n, receipts, n, &zero);
    if (got < 0)
        return -1;
    for (j = 0; j < got; j++) {
        if (!(receipts[j].flags & EV_ERROR))
            continue;
        for (i = 0; i < n; i++) {
            if (errs[i] == -1 && receipts[j].filter == changes[i].filter
                    && receipts[j].ident == changes[i].ident) {
                errs[i] = (int)receipts[j].data;
                break;
            }
        }
    }
    return got;
#endif
}

static uint64_t rt_readiness(const struct kevent *ev)
{
    uint64_t r = 0;
    if (ev->filter == EVFILT_READ || ev->filter == EVFILT_USER) r |= RT_READABLE;
    if (ev->filter == EVFILT_WRITE) r |= RT_WRITABLE;
    if (ev->flags & EV_EOF) {
        if (ev->filter == EVFILT_READ) r |= RT_READ_CLOSED;
        if (ev->filter == EVFILT_WRITE) r |= RT_WRITE_CLOSED;
        /* With EV_EOF, fflags holds the socket's pending error, if any: it is
           handed up with the event (mio's is_error), since reading it here
           may have consumed it (libkqueue reads SO_ERROR, fact 17). */
        if (ev->fflags != 0)
            r |= RT_ERROR | ((uint64_t)(ev->fflags & 0xffff) << RT_ERRNO_SHIFT);
    }
    if (ev->flags & EV_ERROR) r |= RT_ERROR;
#ifdef EV_OOBAND
    /* macOS flags out-of-band data on the read filter; FreeBSD and libkqueue cannot. */
    if (ev->filter == EVFILT_READ && (ev->flags & EV_OOBAND)) r |= RT_PRIORITY;
#endif
    return r;
}

static int rt_kevent_wait(int kq, struct kevent *buf, int nevents, int64_t timeout_ns,
                          uint64_t *out, int32_t *table)
{
    struct timespec ts, *tsp = NULL;
    uint32_t size = 1, mask, slot;
    int i, n, m = 0;

    if (timeout_ns >= 0) {
#if RT_LIBKQUEUE
        /* libkqueue hands the timeout to epoll_wait in whole milliseconds,
           rounded down: round up here, or we would wake before the deadline. */
        timeout_ns = (timeout_ns + 999999) / 1000000 * 1000000;
#endif
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns %% 1000000000);
        tsp = &ts;
    }
    n = kevent(kq, NULL, 0, buf, nevents, tsp);
    /* A failure returns -errno, read here: by the time Python reads
       ffi.errno a signal handler may have run and made a C call of its own
       (a Waker's NOTE_TRIGGER), leaving errno 0. */
    if (n < 0)
        return -errno;
    if (n == 0)
        return 0;
    /* table has room for the next power of two >= 2 * nevents. */
    while (size < 2u * (uint32_t)n) size <<= 1;
    mask = size - 1;
    memset(table, 0xff, size * sizeof(int32_t));
    for (i = 0; i < n; i++) {
        uint64_t token = (uint64_t)(uintptr_t)buf[i].udata;
        uint64_t readiness = rt_readiness(&buf[i]);
        slot = (uint32_t)((token * 0x9E3779B97F4A7C15ull) >> 32) & mask;
        while (table[slot] >= 0 && out[2 * table[slot]] != token)
            slot = (slot + 1) & mask;
        if (table[slot] >= 0) {
            out[2 * table[slot] + 1] |= readiness;
        } else {
            table[slot] = m;
            out[2 * m] = token;
            out[2 * m + 1] = readiness;
            m++;
        }
    }
    return m;
}
""" % _READINESS  # noqa: UP031 (C braces would need escaping in an f-string)

ffi = FFI()
ffi.cdef(CDEF)
if sys.platform.startswith("linux"):
    ffi.set_source(
        "runtime.reactor._kqueue_cffi",
        SOURCE,
        include_dirs=[LIBKQUEUE_INCLUDE],
        libraries=["kqueue"],
    )
else:
    ffi.set_source("runtime.reactor._kqueue_cffi", SOURCE)

if __name__ == "__main__":
    ffi.compile(verbose=True)
