/*
 * echoload: a closed-loop TCP echo load generator, in C so that it is never
 * the bottleneck of a Python server's benchmark.
 *
 *     echoload HOST PORT CONNS BYTES DURATION_S WARMUP_S
 *
 * One thread, one epoll instance, non-blocking sockets registered once,
 * edge-triggered. Every connection keeps exactly one BYTES-long message in
 * flight: write it, read BYTES back (checked byte for byte against what was
 * sent), record the round trip's latency, write the next one. The first
 * WARMUP_S seconds are not counted. When measurement starts it prints the
 * line "measuring" (the driver samples the server's CPU time then); at the
 * end one JSON object: round trips/s, p50/p90/p99/max latency in
 * microseconds, this process's own CPU seconds during the measurement, and
 * the error counts. Exit status 1 if any connection failed or any echoed
 * byte differed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_NS 1000ULL /* 1 us latency resolution */
#define BUCKETS 1000000u  /* up to 1 s; slower round trips go to `over` */

typedef struct {
    int fd;
    int connected;
    int dead;
    size_t sent, got;
    uint64_t started;
} conn;

static char *msg;
static size_t len;
static uint32_t *hist;
static uint64_t over, count, max_ns, failures, mismatches;
static uint64_t t_measure, t_end;

static uint64_t now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void fail(conn *c, const char *what) {
    if (c->dead) return;
    if (failures++ < 3) fprintf(stderr, "echoload: %s: %s\n", what, strerror(errno));
    close(c->fd);
    c->dead = 1;
}

/* Write what is left of the current message; 0 when it must wait. */
static void push(conn *c) {
    while (c->sent < len) {
        ssize_t n = send(c->fd, msg + c->sent, len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return; /* EPOLLOUT (edge-triggered) resumes us */
        } else {
            fail(c, "send");
            return;
        }
    }
}

static void begin(conn *c, uint64_t t) {
    c->sent = c->got = 0;
    c->started = t;
    push(c);
}

static void record(uint64_t start, uint64_t end) {
    if (start < t_measure || end > t_end) return;
    uint64_t ns = end - start, b = ns / BUCKET_NS;
    if (b < BUCKETS) hist[b]++; else over++;
    if (ns > max_ns) max_ns = ns;
    count++;
}

/* Read what has arrived, finishing round trips as they complete. Edge-
 * triggered, yet it stops before EAGAIN in two cases, as the server's side
 * does: a read shorter than the buffer emptied the socket, and a completed
 * round trip leaves nothing behind it (one message is in flight, and the
 * next one was only just sent). Bytes arriving later raise a new edge.
 * Draining to EAGAIN cost a third system call per round trip, and with it
 * the load generator became the bottleneck against the fastest servers. */
static void pull(conn *c, char *buf, size_t cap) {
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n > 0) {
            if (c->got + (size_t)n > len || memcmp(buf, msg + c->got, (size_t)n) != 0) {
                mismatches++;
                errno = EPROTO;
                fail(c, "echo differs from what was sent");
                return;
            }
            c->got += (size_t)n;
            if (c->got == len && c->sent == len) {
                uint64_t t = now();
                record(c->started, t);
                begin(c, t);
                return;
            }
            if ((size_t)n < cap) return;
        } else if (n == 0) {
            errno = ECONNRESET;
            fail(c, "server closed the connection");
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            fail(c, "recv");
            return;
        }
    }
}

static double percentile(double p) {
    uint64_t want = (uint64_t)((double)count * p / 100.0 + 0.5), seen = 0;
    if (want == 0) want = 1;
    for (uint32_t b = 0; b < BUCKETS; b++) {
        seen += hist[b];
        if (seen >= want) return (double)(b + 1) * BUCKET_NS / 1000.0;
    }
    return (double)max_ns / 1000.0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: echoload HOST PORT CONNS BYTES DURATION_S WARMUP_S\n");
        return 2;
    }
    int nconn = atoi(argv[3]);
    len = (size_t)atol(argv[4]);
    double duration = atof(argv[5]), warmup = atof(argv[6]);
    if (nconn < 1 || len < 1 || duration <= 0 || warmup < 0) {
        fprintf(stderr, "echoload: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconn + 16) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    msg = malloc(len);
    size_t cap = len > 65536 ? len : 65536;
    char *buf = malloc(cap);
    hist = calloc(BUCKETS, sizeof *hist);
    conn *conns = calloc((size_t)nconn, sizeof *conns);
    struct epoll_event *events = calloc((size_t)nconn, sizeof *events);
    if (!msg || !buf || !hist || !conns || !events) return 2;
    for (size_t i = 0; i < len; i++) msg[i] = (char)('A' + (i * 7 + i / 26) % 58);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(argv[1], argv[2], &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "echoload: %s\n", gai_strerror(rc));
        return 2;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);

    /* Connect everything first; the clock starts when all are connected. */
    int waiting = nconn;
    for (int i = 0; i < nconn; i++) {
        conn *c = &conns[i];
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            perror("echoload: connect");
            return 2;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    uint64_t deadline = now() + 10000000000ULL;
    while (waiting > 0) {
        if (now() > deadline) {
            fprintf(stderr, "echoload: %d connections not established after 10 s\n", waiting);
            return 2;
        }
        int n = epoll_wait(ep, events, nconn, 100);
        for (int k = 0; k < n; k++) {
            conn *c = events[k].data.ptr;
            if (c->connected || !(events[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                fprintf(stderr, "echoload: connect: %s\n", strerror(err));
                return 2;
            }
            c->connected = 1;
            waiting--;
        }
    }

    uint64_t t0 = now();
    t_measure = t0 + (uint64_t)(warmup * 1e9);
    t_end = t_measure + (uint64_t)(duration * 1e9);
    for (int i = 0; i < nconn; i++) begin(&conns[i], t0);
    int measuring = 0;
    double cpu0 = 0;
    for (;;) {
        uint64_t t = now();
        if (!measuring && t >= t_measure) {
            measuring = 1;
            cpu0 = cpu_seconds();
            printf("measuring\n");
            fflush(stdout);
        }
        if (t >= t_end) break;
        uint64_t next = measuring ? t_end : t_measure;
        int timeout_ms = (int)((next - t) / 1000000ULL) + 1;
        int n = epoll_wait(ep, events, nconn, timeout_ms);
        for (int k = 0; k < n; k++) {
            conn *c = events[k].data.ptr;
            if (c->dead) continue;
            if (events[k].events & EPOLLOUT && c->sent < len) push(c);
            if (!c->dead && events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) pull(c, buf, cap);
        }
    }
    double cpu = cpu_seconds() - cpu0;
    printf("{\"conns\": %d, \"bytes\": %zu, \"duration_s\": %.3f, \"round_trips\": %llu, "
           "\"rt_per_s\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
           "\"max_us\": %.1f, \"over_1s\": %llu, \"load_cpu_s\": %.3f, \"failures\": %llu, "
           "\"mismatches\": %llu}\n",
           nconn, len, duration, (unsigned long long)count, (double)count / duration,
           percentile(50), percentile(90), percentile(99), (double)max_ns / 1000.0,
           (unsigned long long)over, cpu, (unsigned long long)failures,
           (unsigned long long)mismatches);
    fflush(stdout);
    for (int i = 0; i < nconn; i++)
        if (!conns[i].dead) close(conns[i].fd);
    freeaddrinfo(ai);
    return failures || mismatches ? 1 : 0;
}
