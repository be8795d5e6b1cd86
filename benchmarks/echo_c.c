/*
 * echo_c: the reference echo server, in C. One thread, epoll, edge-triggered,
 * non-blocking: what the box can do with no interpreter in the way.
 *
 *     echo_c PORT          (binds 127.0.0.1; prints the port; SIGTERM exits)
 *
 * Each connection echoes what it reads. If the peer does not take a whole
 * echo, the rest waits in a per-connection buffer and the connection stops
 * reading until EPOLLOUT drains it (flow control, as the Python servers do).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

typedef struct {
    int fd;
    char *pending; /* unsent echo, or NULL */
    size_t off, left;
} client;

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void drop(client *c) {
    close(c->fd);
    free(c->pending);
    free(c);
}

/* Send pending bytes; 1 if all gone, 0 if the socket is full, -1 on error. */
static int flush_pending(client *c) {
    while (c->left) {
        ssize_t n = send(c->fd, c->pending + c->off, c->left, MSG_NOSIGNAL);
        if (n > 0) {
            c->off += (size_t)n;
            c->left -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return -1;
        }
    }
    free(c->pending);
    c->pending = NULL;
    return 1;
}

/* Read and echo until the socket is empty; -1 when the connection is over.
 * A read shorter than the buffer means it is empty: stop there instead of
 * asking again for the EAGAIN (edge-triggered, new bytes raise a new edge;
 * the Python servers' short-read rule, tokio PR #4840). One recv and one
 * send per round trip: the fewest system calls, the ceiling. Not when the
 * event says the peer has shut down (its FIN may sit behind the data and
 * raises no new edge): then read on to the 0 that ends the connection. */
static int serve(client *c, char *buf, uint32_t events) {
    if (c->pending) {
        int r = flush_pending(c);
        if (r <= 0) return r;
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, CHUNK, 0);
        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        ssize_t w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (w < 0) w = 0;
        if (w < n) {
            c->left = (size_t)(n - w);
            c->off = 0;
            c->pending = malloc(c->left);
            memcpy(c->pending, buf + w, c->left);
            return 0; /* stop reading until EPOLLOUT */
        }
        if ((size_t)n < CHUNK && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return 0;
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
        perror("echo_c: bind/listen");
        return 1;
    }
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    printf("echo_c listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    char *buf = malloc(CHUNK);
    struct epoll_event events[512];
    while (!stop) {
        int n = epoll_wait(ep, events, 512, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("echo_c: epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            client *c = events[k].data.ptr;
            if (c == NULL) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break; /* EAGAIN, or out of fds: the next edge retries */
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    client *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                              .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
            } else if (serve(c, buf, events[k].events) < 0) {
                drop(c);
            }
        }
    }
    return 0;
}
