"""cffi builder for the io_uring `Ring` (API, out-of-line mode).

Run by setuptools at install (``cffi_modules`` in setup.py, Linux only).
The kernel's interface is used directly, without liburing: two syscalls
(``io_uring_setup``, ``io_uring_enter``) and three mmapped regions. Struct
layouts and constants come from ``<linux/io_uring.h>`` and the socket
headers through ``...``; no number is copied here.

The C helpers below keep the hot path to one cffi call per operation: each
``rt_prep_*`` takes a free SQE, fills it and returns 0 (or ``-EBUSY`` when
the submission queue is full); ``rt_enter`` publishes the queued SQEs and
submits them in one ``io_uring_enter``, optionally waiting; ``rt_reap``
copies every completion into a flat ``int64_t`` array of (token, result,
flags) triples and frees their slots. The ring heads and tails are shared
with the kernel, so they are read with acquire and written with release
ordering (io_uring(7), "memory ordering").
"""

from __future__ import annotations

from cffi import FFI

CDEF = """
struct __kernel_timespec { int64_t tv_sec; long long tv_nsec; ...; };
struct sockaddr { unsigned short sa_family; ...; };
struct sockaddr_storage { unsigned short ss_family; ...; };
struct in_addr { ...; };
struct in6_addr { ...; };
struct sockaddr_in { unsigned short sin_family; uint16_t sin_port; struct in_addr sin_addr; ...; };
struct sockaddr_in6 {
    unsigned short sin6_family; uint16_t sin6_port; uint32_t sin6_flowinfo;
    struct in6_addr sin6_addr; uint32_t sin6_scope_id; ...;
};
struct sockaddr_un { unsigned short sun_family; char sun_path[...]; ...; };
typedef unsigned int socklen_t;
struct iovec { void *iov_base; size_t iov_len; };
struct msghdr {
    void *msg_name; socklen_t msg_namelen; struct iovec *msg_iov; size_t msg_iovlen;
    void *msg_control; size_t msg_controllen; int msg_flags; ...;
};

/* What Python reads of a ring; the rest is private to the C helpers. */
struct rt_ring {
    int fd;
    unsigned setup_flags;
    unsigned features;
    unsigned sq_entries;
    unsigned cq_entries;
    unsigned reaped_more;     /* of the last rt_reap: completions with F_MORE */
    ...;
};

/* A provided-buffer ring (IORING_REGISTER_PBUF_RING): `entries` buffers of
   `bufsize` bytes the kernel picks from for a receive; see rt_buf_*. */
struct rt_bufring {
    unsigned entries;
    unsigned bufsize;
    unsigned bgid;
    char *bufs;
    ...;
};
static const int rt_cqe_buffer_shift;

#define IORING_SETUP_CQSIZE ...
#define IORING_SETUP_SUBMIT_ALL ...
#define IORING_SETUP_COOP_TASKRUN ...
#define IORING_SETUP_TASKRUN_FLAG ...
#define IORING_SETUP_SINGLE_ISSUER ...
#define IORING_SETUP_DEFER_TASKRUN ...
#define IORING_FEAT_NODROP ...
#define IORING_FEAT_EXT_ARG ...
#define IORING_FEAT_FAST_POLL ...
#define IORING_FEAT_SINGLE_MMAP ...
#define IORING_OP_RECV ...
#define IORING_OP_SEND ...
#define IORING_OP_RECVMSG ...
#define IORING_OP_SENDMSG ...
#define IORING_ASYNC_CANCEL_ALL ...
#define IORING_ASYNC_CANCEL_ANY ...
#define IORING_TIMEOUT_ETIME_SUCCESS ...
#define IORING_CQE_F_MORE ...
#define IORING_CQE_F_BUFFER ...
#define IORING_OP_ACCEPT ...
#define IORING_OP_SOCKET ...
#define IORING_OP_SEND_ZC ...
#define IORING_OP_LAST ...
#define POLLIN ...
#define POLLOUT ...
#define AF_INET ...
#define AF_INET6 ...
#define AF_UNIX ...
#define EFD_CLOEXEC ...
#define EFD_NONBLOCK ...

int rt_ring_setup(struct rt_ring *r, unsigned entries, unsigned cq_entries, unsigned flags);
void rt_ring_close(struct rt_ring *r);
unsigned rt_sq_pending(struct rt_ring *r);
unsigned rt_sq_space(struct rt_ring *r);
unsigned rt_cq_ready(struct rt_ring *r);
int rt_enter(struct rt_ring *r, unsigned wait_nr, int64_t timeout_ns);
int rt_run_work(struct rt_ring *r);
unsigned rt_reap(struct rt_ring *r, int64_t *out, unsigned cap);

int rt_prep_nop(struct rt_ring *r, int64_t token);
int rt_prep_net(struct rt_ring *r, int op, int fd, const void *addr, unsigned len,
                int flags, int64_t token);
int rt_prep_accept(struct rt_ring *r, int fd, struct sockaddr *addr, socklen_t *addrlen,
                   int flags, int64_t token);
int rt_prep_connect(struct rt_ring *r, int fd, const struct sockaddr *addr, socklen_t len,
                    int64_t token);
int rt_prep_cancel(struct rt_ring *r, int64_t target, unsigned flags, int64_t token);
int rt_prep_poll_add(struct rt_ring *r, int fd, unsigned events, unsigned flags,
                     int64_t token);
int rt_prep_timeout(struct rt_ring *r, struct __kernel_timespec *ts, unsigned flags,
                    int64_t token);

int rt_prep_recv_multishot(struct rt_ring *r, int fd, unsigned bgid, int flags,
                           int64_t token);
int rt_prep_accept_multishot(struct rt_ring *r, int fd, int flags, int64_t token);

int rt_probe(struct rt_ring *r, unsigned char *supported, unsigned n);
int rt_bufring_setup(struct rt_ring *r, struct rt_bufring *b, unsigned bgid,
                     unsigned entries, unsigned bufsize);
void rt_bufring_free(struct rt_ring *r, struct rt_bufring *b);
char *rt_buf_ptr(struct rt_bufring *b, unsigned cqe_flags);
void rt_buf_recycle(struct rt_bufring *b, unsigned cqe_flags);
unsigned rt_buf_recycle_reaped(struct rt_bufring *b, const int64_t *out, unsigned n);

int eventfd(unsigned int initval, int flags);
"""

SOURCE = r"""
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <linux/io_uring.h>
#include <linux/time_types.h>

struct rt_ring {
    int fd;
    unsigned setup_flags;
    unsigned features;
    unsigned sq_entries;
    unsigned cq_entries;
    /* submission ring: the kernel advances khead, we advance ktail */
    unsigned *sq_khead, *sq_ktail, *sq_kflags;
    unsigned sq_mask;
    unsigned sq_tail;                /* SQEs filled so far (published at enter) */
    struct io_uring_sqe *sqes;
    /* completion ring: the kernel advances ktail, we advance khead */
    unsigned *cq_khead, *cq_ktail;
    unsigned cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_map; size_t sq_map_len;
    void *cq_map; size_t cq_map_len;
    size_t sqes_len;
    unsigned reaped_more;
};

struct rt_bufring {
    unsigned entries;
    unsigned bufsize;
    unsigned bgid;
    unsigned mask;
    unsigned short tail;
    struct io_uring_buf_ring *br;    /* shared with the kernel */
    size_t br_len;
    char *bufs;                      /* entries * bufsize bytes */
    size_t bufs_len;
};

#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void rt_ring_close(struct rt_ring *r)
{
    if (r->sqes) munmap(r->sqes, r->sqes_len);
    if (r->cq_map && r->cq_map != r->sq_map) munmap(r->cq_map, r->cq_map_len);
    if (r->sq_map) munmap(r->sq_map, r->sq_map_len);
    if (r->fd >= 0) close(r->fd);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

/* 0, or -errno: io_uring_setup, then the three mmaps (two with SINGLE_MMAP). */
static int rt_ring_setup(struct rt_ring *r, unsigned entries, unsigned cq_entries,
                         unsigned flags)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    memset(r, 0, sizeof *r);
    r->fd = -1;
    p.flags = flags;
    if (cq_entries) {
        p.flags |= IORING_SETUP_CQSIZE;
        p.cq_entries = cq_entries;
    }
    int fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (fd < 0) return -errno;
    r->fd = fd;
    r->setup_flags = p.flags;
    r->features = p.features;
    r->sq_entries = p.sq_entries;
    r->cq_entries = p.cq_entries;

    r->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_map_len > r->sq_map_len) r->sq_map_len = r->cq_map_len;
        r->cq_map_len = r->sq_map_len;
    }
    void *sq = mmap(0, r->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) goto fail;
    r->sq_map = sq;
    void *cq = sq;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        cq = mmap(0, r->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                  fd, IORING_OFF_CQ_RING);
        if (cq == MAP_FAILED) goto fail;
    }
    r->cq_map = cq;
    r->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes = mmap(0, r->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) goto fail;
    r->sqes = sqes;

    r->sq_khead = (unsigned *)((char *)sq + p.sq_off.head);
    r->sq_ktail = (unsigned *)((char *)sq + p.sq_off.tail);
    r->sq_kflags = (unsigned *)((char *)sq + p.sq_off.flags);
    r->sq_mask = *(unsigned *)((char *)sq + p.sq_off.ring_mask);
    r->cq_khead = (unsigned *)((char *)cq + p.cq_off.head);
    r->cq_ktail = (unsigned *)((char *)cq + p.cq_off.tail);
    r->cq_mask = *(unsigned *)((char *)cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)((char *)cq + p.cq_off.cqes);
    /* The index array maps ring slots to SQEs; identity, set once (as liburing). */
    unsigned *array = (unsigned *)((char *)sq + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i;
    r->sq_tail = *r->sq_ktail;
    return 0;
fail:;
    int err = errno;
    rt_ring_close(r);
    return -err;
}

/* SQEs filled but not yet consumed by the kernel. */
static unsigned rt_sq_pending(struct rt_ring *r)
{
    if (!r->sqes) return 0;
    return r->sq_tail - LOAD_ACQ(r->sq_khead);
}

static unsigned rt_sq_space(struct rt_ring *r)
{
    return r->sq_entries - rt_sq_pending(r);
}

/* Completions in the CQ ring now, reaped or not by nobody yet: no syscall. */
static unsigned rt_cq_ready(struct rt_ring *r)
{
    if (!r->cqes) return 0;
    return LOAD_ACQ(r->cq_ktail) - *r->cq_khead;
}

/* Completions are waiting in the kernel, not yet in the CQ ring: an overflow
   list (IORING_FEAT_NODROP) or task work that posts them when we enter. */
static int rt_needs_enter(struct rt_ring *r)
{
    return __atomic_load_n(r->sq_kflags, __ATOMIC_RELAXED)
           & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN);
}

/* Submit every queued SQE in one io_uring_enter; wait for wait_nr completions
   (timeout_ns < 0: no limit) unless some are already in the CQ ring.
   Returns >= 0 (SQEs submitted) or -errno (-ETIME: the timeout passed). */
static int rt_enter(struct rt_ring *r, unsigned wait_nr, int64_t timeout_ns)
{
    if (!r->sqes) return -EBADF;
    STORE_REL(r->sq_ktail, r->sq_tail);
    unsigned to_submit = r->sq_tail - LOAD_ACQ(r->sq_khead);
    if (wait_nr && LOAD_ACQ(r->cq_ktail) != *r->cq_khead) wait_nr = 0;
    unsigned flags = 0;
    if (wait_nr || rt_needs_enter(r)) flags |= IORING_ENTER_GETEVENTS;
    if (!to_submit && !flags) return 0;   /* nothing to do: no syscall */
    struct io_uring_getevents_arg arg;
    struct __kernel_timespec ts;
    void *argp = NULL;
    size_t argsz = 0;
    if (wait_nr && timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        memset(&arg, 0, sizeof arg);
        arg.ts = (uint64_t)(uintptr_t)&ts;
        argp = &arg;
        argsz = sizeof arg;
        flags |= IORING_ENTER_EXT_ARG;
    }
    int ret = (int)syscall(__NR_io_uring_enter, r->fd, to_submit, wait_nr, flags, argp, argsz);
    return ret < 0 ? -errno : ret;
}

/* Submit what is queued and run the ring's deferred task work now
   (IORING_ENTER_GETEVENTS, waiting for nothing): completions the kernel has
   ready are posted, and the requests they end let go of their files. */
static int rt_run_work(struct rt_ring *r)
{
    if (!r->sqes) return -EBADF;
    STORE_REL(r->sq_ktail, r->sq_tail);
    unsigned to_submit = r->sq_tail - LOAD_ACQ(r->sq_khead);
    int ret = (int)syscall(__NR_io_uring_enter, r->fd, to_submit, 0, IORING_ENTER_GETEVENTS,
                           NULL, 0);
    return ret < 0 ? -errno : ret;
}

/* Copy up to cap completions into out as (token, res, flags) and free their slots. */
static unsigned rt_reap(struct rt_ring *r, int64_t *out, unsigned cap)
{
    if (!r->cqes) return 0;
    unsigned head = *r->cq_khead;
    unsigned tail = LOAD_ACQ(r->cq_ktail);
    unsigned n = 0, more = 0;
    while (head != tail && n < cap) {
        struct io_uring_cqe *cqe = &r->cqes[head & r->cq_mask];
        out[3 * n] = (int64_t)cqe->user_data;
        out[3 * n + 1] = cqe->res;
        out[3 * n + 2] = cqe->flags;
        more += (cqe->flags & IORING_CQE_F_MORE) != 0;
        head++;
        n++;
    }
    STORE_REL(r->cq_khead, head);
    r->reaped_more = more;
    return n;
}

/* A zeroed SQE for the next ring slot, or NULL when the queue is full. */
static struct io_uring_sqe *rt_sqe(struct rt_ring *r, int op, int fd, int64_t token)
{
    if (token < 0 || r->sq_tail - LOAD_ACQ(r->sq_khead) >= r->sq_entries) return NULL;
    struct io_uring_sqe *sqe = &r->sqes[r->sq_tail & r->sq_mask];
    r->sq_tail++;
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = (unsigned char)op;
    sqe->fd = fd;
    sqe->user_data = (uint64_t)token;
    return sqe;
}

/* Every prep: -EBADF on a closed ring, -EINVAL for a negative token, -EBUSY
   when the submission queue is full (flush it with rt_enter and retry). */
#define RT_SQE(op, fd) \
    if (!r->sqes) return -EBADF; \
    struct io_uring_sqe *sqe = rt_sqe(r, (op), (fd), token); \
    if (!sqe) return token < 0 ? -EINVAL : -EBUSY;

static int rt_prep_nop(struct rt_ring *r, int64_t token)
{
    RT_SQE(IORING_OP_NOP, -1)
    return 0;
}

/* recv/send (addr: the buffer, len: its size) and recvmsg/sendmsg (addr: the
   msghdr, len: 1): the same four fields, so one helper. */
static int rt_prep_net(struct rt_ring *r, int op, int fd, const void *addr, unsigned len,
                       int flags, int64_t token)
{
    RT_SQE(op, fd)
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->len = len;
    sqe->msg_flags = (unsigned)flags;
    return 0;
}

static int rt_prep_accept(struct rt_ring *r, int fd, struct sockaddr *addr,
                          socklen_t *addrlen, int flags, int64_t token)
{
    RT_SQE(IORING_OP_ACCEPT, fd)
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->addr2 = (uint64_t)(uintptr_t)addrlen;
    sqe->accept_flags = (unsigned)flags;
    return 0;
}

static int rt_prep_connect(struct rt_ring *r, int fd, const struct sockaddr *addr,
                           socklen_t len, int64_t token)
{
    RT_SQE(IORING_OP_CONNECT, fd)
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->off = len;
    return 0;
}

static int rt_prep_cancel(struct rt_ring *r, int64_t target, unsigned flags, int64_t token)
{
    RT_SQE(IORING_OP_ASYNC_CANCEL, -1)
    sqe->addr = (uint64_t)target;
    sqe->cancel_flags = flags;
    return 0;
}

static int rt_prep_poll_add(struct rt_ring *r, int fd, unsigned events, unsigned flags,
                            int64_t token)
{
    RT_SQE(IORING_OP_POLL_ADD, fd)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    events = (events << 16) | (events >> 16);   /* liburing's __swahw32 */
#endif
    sqe->poll32_events = events;
    sqe->len = flags;
    return 0;
}

/* A receive that stays armed (Linux 6.0): one completion per arrival, each
   in a buffer the kernel takes from group bgid, with IORING_CQE_F_MORE while
   it stays armed. It ends (no F_MORE) at EOF, an error, a cancel, or when the
   group has no buffer left (-ENOBUFS). */
static int rt_prep_recv_multishot(struct rt_ring *r, int fd, unsigned bgid, int flags,
                                  int64_t token)
{
    RT_SQE(IORING_OP_RECV, fd)
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = (unsigned short)bgid;
    sqe->ioprio |= IORING_RECV_MULTISHOT;
    sqe->msg_flags = (unsigned)flags;
    return 0;
}

/* An accept that stays armed (Linux 5.19): one completion (the new fd) per
   connection, with IORING_CQE_F_MORE while it stays armed. No address: one
   sockaddr would be shared by every completion. */
static int rt_prep_accept_multishot(struct rt_ring *r, int fd, int flags, int64_t token)
{
    RT_SQE(IORING_OP_ACCEPT, fd)
    sqe->accept_flags = (unsigned)flags;
    sqe->ioprio |= IORING_ACCEPT_MULTISHOT;
    return 0;
}

/* IORING_REGISTER_PROBE: supported[op] = 1 for each opcode this kernel
   knows (op < n). 0, or -errno (-EINVAL before Linux 5.6). */
static int rt_probe(struct rt_ring *r, unsigned char *supported, unsigned n)
{
    enum { MAX_OPS = 256 };
    size_t len = sizeof(struct io_uring_probe) + MAX_OPS * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *p = calloc(1, len);
    if (!p) return -ENOMEM;
    int ret = (int)syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PROBE, p, MAX_OPS);
    if (ret < 0) {
        ret = -errno;
    } else {
        memset(supported, 0, n);
        for (unsigned i = 0; i < p->ops_len && i < MAX_OPS; i++) {
            unsigned op = p->ops[i].op;
            if (op < n && (p->ops[i].flags & IO_URING_OP_SUPPORTED)) supported[op] = 1;
        }
        ret = 0;
    }
    free(p);
    return ret;
}

static void rt_bufring_free(struct rt_ring *r, struct rt_bufring *b)
{
    if (b->br && r && r->fd >= 0) {
        struct io_uring_buf_reg reg;
        memset(&reg, 0, sizeof reg);
        reg.bgid = (unsigned short)b->bgid;
        syscall(__NR_io_uring_register, r->fd, IORING_UNREGISTER_PBUF_RING, &reg, 1);
    }
    if (b->br) munmap(b->br, b->br_len);
    if (b->bufs) munmap(b->bufs, b->bufs_len);
    memset(b, 0, sizeof *b);
}

/* Register a provided-buffer ring (Linux 5.19) of `entries` (a power of two)
   buffers of `bufsize` bytes as group bgid, every buffer handed to the
   kernel. 0, or -errno (-EINVAL before 5.19, -ENOMEM past RLIMIT_MEMLOCK). */
static int rt_bufring_setup(struct rt_ring *r, struct rt_bufring *b, unsigned bgid,
                            unsigned entries, unsigned bufsize)
{
    memset(b, 0, sizeof *b);
    if (!entries || (entries & (entries - 1)) || entries > 32768 || !bufsize) return -EINVAL;
    long page = sysconf(_SC_PAGESIZE);
    b->br_len = ((entries * sizeof(struct io_uring_buf)) + page - 1) / page * page;
    void *br = mmap(0, b->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED) return -errno;
    b->br = br;
    b->bufs_len = (size_t)entries * bufsize;
    void *bufs = mmap(0, b->bufs_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (bufs == MAP_FAILED) {
        int err = errno;
        b->bufs = NULL;
        rt_bufring_free(NULL, b);
        return -err;
    }
    b->bufs = bufs;
    b->entries = entries;
    b->bufsize = bufsize;
    b->bgid = bgid;
    b->mask = entries - 1;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = entries;
    reg.bgid = (unsigned short)bgid;
    if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        int err = errno;
        rt_bufring_free(NULL, b);
        return -err;
    }
    for (unsigned i = 0; i < entries; i++) {
        struct io_uring_buf *buf = &b->br->bufs[i];
        buf->addr = (uint64_t)(uintptr_t)(b->bufs + (size_t)i * bufsize);
        buf->len = bufsize;
        buf->bid = (unsigned short)i;
    }
    b->tail = (unsigned short)entries;
    STORE_REL(&b->br->tail, b->tail);
    return 0;
}

/* The bytes of the buffer a completion (its cqe flags) says the kernel filled. */
static char *rt_buf_ptr(struct rt_bufring *b, unsigned cqe_flags)
{
    unsigned bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
    return b->bufs + (size_t)bid * b->bufsize;
}

/* Hand that buffer back to the kernel (after its bytes were copied out). */
static void rt_buf_recycle(struct rt_bufring *b, unsigned cqe_flags)
{
    unsigned short bid = (unsigned short)(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    struct io_uring_buf *buf = &b->br->bufs[b->tail & b->mask];
    buf->addr = (uint64_t)(uintptr_t)(b->bufs + (size_t)bid * b->bufsize);
    buf->len = b->bufsize;
    buf->bid = bid;
    b->tail++;
    STORE_REL(&b->br->tail, b->tail);
}

static const int rt_cqe_buffer_shift = IORING_CQE_BUFFER_SHIFT;

/* Give back every buffer the n completions in out (as rt_reap wrote them)
   were received into: one call per batch, after its bytes were copied out.
   Every buffer completion of the batch must come from this ring's group.
   Returns how many were given back. */
static unsigned rt_buf_recycle_reaped(struct rt_bufring *b, const int64_t *out, unsigned n)
{
    unsigned given = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned flags = (unsigned)out[3 * i + 2];
        if (!(flags & IORING_CQE_F_BUFFER)) continue;
        unsigned short bid = (unsigned short)(flags >> IORING_CQE_BUFFER_SHIFT);
        struct io_uring_buf *buf = &b->br->bufs[(unsigned short)(b->tail + given) & b->mask];
        buf->addr = (uint64_t)(uintptr_t)(b->bufs + (size_t)bid * b->bufsize);
        buf->len = b->bufsize;
        buf->bid = bid;
        given++;
    }
    if (given) {
        b->tail = (unsigned short)(b->tail + given);
        STORE_REL(&b->br->tail, b->tail);
    }
    return given;
}

static int rt_prep_timeout(struct rt_ring *r, struct __kernel_timespec *ts, unsigned flags,
                           int64_t token)
{
    RT_SQE(IORING_OP_TIMEOUT, -1)
    sqe->addr = (uint64_t)(uintptr_t)ts;
    sqe->len = 1;
    sqe->timeout_flags = flags;
    return 0;
}
"""

ffi = FFI()
ffi.cdef(CDEF)
ffi.set_source("runtime.reactor._uring_cffi", SOURCE)

if __name__ == "__main__":
    ffi.compile(verbose=True)
