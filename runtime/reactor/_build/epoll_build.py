"""cffi builder for the epoll backend (API, out-of-line mode).

Run by setuptools at install (``cffi_modules`` in setup.py). Everything the
kernel defines (``struct epoll_event``'s layout, the ``EPOLL*`` and ``EFD_*``
numbers) is declared with ``...`` so the C compiler reads it from
``<sys/epoll.h>`` and ``<sys/eventfd.h>``; no number is copied here.
"""

from __future__ import annotations

import pathlib
import runpy

from cffi import FFI

_READINESS = runpy.run_path(str(pathlib.Path(__file__).parent.parent / "_readiness.py"))

CDEF = """
typedef union epoll_data { uint64_t u64; ...; } epoll_data_t;
struct epoll_event { uint32_t events; epoll_data_t data; ...; };

#define EPOLLIN ...
#define EPOLLOUT ...
#define EPOLLPRI ...
#define EPOLLERR ...
#define EPOLLHUP ...
#define EPOLLRDHUP ...
#define EPOLLET ...
#define EPOLL_CTL_ADD ...
#define EPOLL_CTL_MOD ...
#define EPOLL_CTL_DEL ...
#define EPOLL_CLOEXEC ...
#define EFD_CLOEXEC ...
#define EFD_NONBLOCK ...

int epoll_create1(int flags);
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);
int eventfd(unsigned int initval, int flags);
int close(int fd);

int rt_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
int rt_epoll_wait(int epfd, struct epoll_event *buf, int maxevents, int timeout_ms,
                  uint64_t *out);
"""

# Two small helpers keep the per-event work out of Python: the wait loop
# flattens each `struct epoll_event` into (token, portable readiness bits) so
# Python reads one list of ints instead of touching a cdata struct per event.
# The readiness rules are mio's (src/sys/unix/selector/epoll.rs).
SOURCE = """
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RT_READABLE     %(READABLE)d
#define RT_WRITABLE     %(WRITABLE)d
#define RT_READ_CLOSED  %(READ_CLOSED)d
#define RT_WRITE_CLOSED %(WRITE_CLOSED)d
#define RT_ERROR        %(ERROR)d
#define RT_PRIORITY     %(PRIORITY)d

static int rt_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token)
{
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

static uint64_t rt_readiness(uint32_t e)
{
    uint64_t r = 0;
    if (e & (EPOLLIN | EPOLLPRI)) r |= RT_READABLE;
    if (e & EPOLLOUT) r |= RT_WRITABLE;
    /* EPOLLHUP: both directions are shut; EPOLLRDHUP: the peer shut its write side. */
    if ((e & EPOLLHUP) || ((e & EPOLLIN) && (e & EPOLLRDHUP))) r |= RT_READ_CLOSED;
    /* A bare EPOLLERR (no IN/OUT) is how a failed connect or a pipe whose reader
       went away shows up: the write side is closed. */
    if ((e & EPOLLHUP) || ((e & EPOLLOUT) && (e & EPOLLERR)) || e == EPOLLERR)
        r |= RT_WRITE_CLOSED;
    if (e & EPOLLERR) r |= RT_ERROR;
    if (e & EPOLLPRI) r |= RT_PRIORITY;
    return r;
}

static int rt_epoll_wait(int epfd, struct epoll_event *buf, int maxevents, int timeout_ms,
                         uint64_t *out)
{
    int n = epoll_wait(epfd, buf, maxevents, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[2 * i] = buf[i].data.u64;
        out[2 * i + 1] = rt_readiness(buf[i].events);
    }
    return n;
}
""" % _READINESS

ffi = FFI()
ffi.cdef(CDEF)
ffi.set_source("runtime.reactor._epoll_cffi", SOURCE)

if __name__ == "__main__":
    ffi.compile(verbose=True)
