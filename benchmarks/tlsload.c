/* TLS load generator for benchmarks/tls_echo.py (OpenSSL, epoll, non-blocking).
 *
 *   tlsload echo      HOST PORT CONNS SIZE DURATION WARMUP
 *   tlsload handshake HOST PORT CONNS DURATION WARMUP
 *   tlsload idle      HOST PORT CONNS
 *
 * echo: CONNS TLS 1.3 connections, each with one SIZE-byte message in
 * flight (closed loop): write it, read SIZE bytes back, again.
 * handshake: CONNS connections at a time, each connect, handshake, one
 * 1-byte round trip (so the server really served it), close_notify, close,
 * and a fresh connection (no session resumption: every handshake is full).
 * idle: open CONNS connections, one round trip each, print "ready", hold
 * them until stdin closes.
 * echo and handshake print "measuring" after WARMUP seconds, then one JSON
 * line after DURATION more. The server's certificate is not verified: the
 * client's costs are not what is measured.
 * Build: cc -O2 -o tlsload tlsload.c -lssl -lcrypto
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, HANDSHAKING, WRITING, READING };
enum mode { ECHO, HANDSHAKE, IDLE };

struct conn {
    int fd;
    SSL *ssl;
    enum state state;
    size_t got;
    unsigned events;
};

static SSL_CTX *ctx;
static struct sockaddr_in addr;
static int ep;
static size_t size;
static char *msg, *buf;
static long long round_trips, handshakes;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
           + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) {
    fprintf(stderr, "tlsload: %s: %s\n", what, strerror(errno));
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void want(struct conn *c, unsigned events) {
    if (c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl mod");
    c->events = events;
}

static void open_conn(struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("connect");
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    c->state = CONNECTING;
    c->got = 0;
    c->events = EPOLLOUT;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl add");
}

static void close_conn(struct conn *c) {
    SSL_shutdown(c->ssl); /* sends close_notify; not waiting for the server's */
    SSL_free(c->ssl);
    close(c->fd);
}

/* Wait for what OpenSSL asked for; exit on a real error. */
static void blocked(struct conn *c, int ret, const char *op) {
    int err = SSL_get_error(c->ssl, ret);
    if (err == SSL_ERROR_WANT_READ) want(c, EPOLLIN);
    else if (err == SSL_ERROR_WANT_WRITE) want(c, EPOLLOUT);
    else {
        fprintf(stderr, "tlsload: %s failed (SSL error %d, errno %s)\n", op, err,
                strerror(errno));
        ERR_print_errors_fp(stderr);
        exit(1);
    }
}

/* Push one connection as far as it goes without waiting. Returns 1 when a
 * handshake-mode connection finished its round trip (the caller recycles it). */
static int step(struct conn *c, enum mode mode) {
    for (;;) {
        int ret;
        switch (c->state) {
        case CONNECTING: {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) { errno = err; die("connect"); }
            c->state = HANDSHAKING;
            break;
        }
        case HANDSHAKING:
            ret = SSL_connect(c->ssl);
            if (ret != 1) { blocked(c, ret, "handshake"); return 0; }
            c->state = WRITING;
            break;
        case WRITING:
            ret = SSL_write(c->ssl, msg, (int)size);
            if (ret <= 0) { blocked(c, ret, "write"); return 0; }
            c->state = READING;
            c->got = 0;
            break;
        case READING:
            ret = SSL_read(c->ssl, buf, (int)(size - c->got));
            if (ret <= 0) {
                if (SSL_get_error(c->ssl, ret) == SSL_ERROR_ZERO_RETURN) {
                    fprintf(stderr, "tlsload: the server closed a connection\n");
                    exit(1);
                }
                blocked(c, ret, "read");
                return 0;
            }
            c->got += (size_t)ret;
            if (c->got < size) break;
            round_trips++;
            if (mode == HANDSHAKE) return 1;
            if (mode == IDLE) { want(c, EPOLLIN); return 1; }
            c->state = WRITING;
            break;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: see the comment at the top of tlsload.c\n");
        return 2;
    }
    enum mode mode = !strcmp(argv[1], "echo") ? ECHO : !strcmp(argv[1], "handshake") ? HANDSHAKE
                                                                                     : IDLE;
    int conns = atoi(argv[4]);
    size = mode == ECHO ? (size_t)atoi(argv[5]) : 1;
    double duration = mode == ECHO ? atof(argv[6]) : mode == HANDSHAKE ? atof(argv[5]) : 0;
    double warmup = mode == ECHO ? atof(argv[7]) : mode == HANDSHAKE ? atof(argv[6]) : 0;

    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[3]));
    inet_pton(AF_INET, argv[2], &addr.sin_addr);
    msg = malloc(size);
    buf = malloc(size);
    memset(msg, 'x', size);
    ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");

    struct conn *all = calloc((size_t)conns, sizeof *all);
    for (int i = 0; i < conns; i++) open_conn(&all[i]);

    struct epoll_event events[256];
    double start = now(), measure_from = start + warmup, stop = measure_from + duration;
    double cpu0 = 0;
    int measuring = 0, ready = 0;
    for (;;) {
        double t = now();
        if (mode != IDLE && !measuring && t >= measure_from) {
            measuring = 1;
            round_trips = handshakes = 0;
            cpu0 = cpu_seconds();
            printf("measuring\n");
            fflush(stdout);
        }
        if (mode != IDLE && t >= stop) break;
        int n = epoll_wait(ep, events, 256, 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (mode == IDLE && c->state == READING && c->got == size) continue;
            if (!step(c, mode)) continue;
            if (mode == HANDSHAKE) {
                handshakes++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close_conn(c);
                open_conn(c);
            } else if (++ready == conns) {
                printf("ready\n");
                fflush(stdout);
                char sink[64];
                while (read(0, sink, sizeof sink) > 0) {}
                return 0;
            }
        }
    }
    double wall = now() - measure_from;
    printf("{\"round_trips\": %lld, \"handshakes\": %lld, \"duration_s\": %.3f, "
           "\"load_cpu_s\": %.3f}\n", round_trips, handshakes, wall, cpu_seconds() - cpu0);
    return 0;
}
