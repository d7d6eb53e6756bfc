/* rawtcp_bench: plain TCP sockets, the physical ceiling on this machine.
 *
 *   rawtcp_bench pub|sub|req|rep HOST:PORT SIZE COUNT [mode=single|batched] [n=N] [timeout=S]
 *
 * Framing: 8-byte little-endian length + payload. TCP_NODELAY on every socket (as libzmq and
 * yoton do).
 * mode=single (default): one writev() per message (the 8-byte header and the payload, each
 *   from its own buffer: no copy), as an application would send its own buffers.
 * mode=batched: messages are coalesced into 64 KiB writes (a frame that does not fit in
 *   64 KiB is written on its own, with writev); what a messaging library could reach at best.
 * The receiver (the same in both modes) is as competent as we could make it:
 *   - small frames (payload < 16 KiB) are parsed in place from a 256 KiB staging buffer filled
 *     by big reads (many frames per read(), no copy);
 *   - a big frame's payload is read straight into its final buffer (one per connection, kept
 *     and reused, as an application processing messages in place would), with reads of all
 *     that remains of it; after a big frame the next 8-byte header is read on its own, so no
 *     payload byte ever lands in the staging buffer and has to be copied out (only the first
 *     big frame of a connection may have a staged prefix to copy).
 * Fan-out (n=N): the receiver listens on PORT..PORT+N-1 (one thread each); the sender writes
 * every message to each connection in turn. After sending, the sender shuts down its writing
 * side and waits (bounded) for the receiver to close.
 * req/rep: a ping-pong of SIZE-byte frames (same reader, one writev per frame, the replier
 * echoes from where the request was read); the payload "STOP" ends the replier.
 */
#include "bench_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

static bench_args A;
static int batched;

#define BATCH (64 * 1024)

static void put_u64(unsigned char *p, uint64_t v) { bench_put_seq(p, v); }
static uint64_t get_u64(const unsigned char *p) { return bench_get_seq(p); }

static void sockaddr_for(struct sockaddr_in *sa, int i) {
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)(A.port + i));
    if (inet_pton(AF_INET, A.host, &sa->sin_addr) != 1) bench_fail("HOST must be an IPv4 address");
}

static void set_common(int fd, int rcv_timeout_ms) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (rcv_timeout_ms > 0) {
        struct timeval tv = {rcv_timeout_ms / 1000, (rcv_timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
}

static int listen_on(int i) {
    struct sockaddr_in sa;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) bench_fail("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_for(&sa, i);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) bench_fail("bind: address in use?");
    if (listen(fd, 16) != 0) bench_fail("listen");
    return fd;
}

/* Accept one connection, waiting at most until the deadline. */
static int accept_one(int lfd) {
    while (bench_left() > 0) {
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, 200) > 0) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) return fd;
        }
    }
    return -1;
}

static int connect_to(int i) {
    struct sockaddr_in sa;
    sockaddr_for(&sa, i);
    while (bench_left() > 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) bench_fail("socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
        close(fd);
        bench_sleep(0.01);
    }
    bench_fail("connect: nobody listening");
    return -1;
}

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write the 8-byte header and the payload with one writev() (more only if the kernel takes
 * part of it, which a blocking socket does only when interrupted). */
static int writev_all(int fd, const unsigned char *hdr, const unsigned char *payload, size_t len) {
    struct iovec iov[2];
    struct iovec *v = iov;
    int cnt = 2;
    iov[0].iov_base = (void *)hdr;
    iov[0].iov_len = 8;
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = len;
    while (cnt) {
        ssize_t w = writev(fd, v, cnt);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        while (cnt && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            cnt--;
        }
        if (cnt) {
            v->iov_base = (unsigned char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* The frame reader (see the top of this file). */
#define BIG_MIN (16 * 1024)
#define STAGE (256 * 1024)
typedef struct reader {
    int fd;
    unsigned char *buf; /* staging buffer: headers and small frames */
    size_t off, have;
    unsigned char *big; /* final buffer of big payloads (reused) */
    size_t big_cap;
    int header_alone;   /* the last frame was big: read the next header on its own */
} reader;

static void reader_init(reader *r, int fd) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->buf = malloc(STAGE);
}

static void reader_free(reader *r) {
    free(r->buf);
    free(r->big);
}

/* 1: a frame (valid until the next call); 0: EOF; -1: error; -2: timeout (SO_RCVTIMEO) between
 * frames. */
static int read_frame(reader *r, const unsigned char **data, size_t *len) {
    for (;;) {
        size_t need = 8, want;
        ssize_t got;
        if (r->have >= 8) {
            uint64_t l = get_u64(r->buf + r->off);
            if (l >= BIG_MIN) {
                size_t done = r->have - 8 < l ? r->have - 8 : (size_t)l;
                if (l > r->big_cap) {
                    free(r->big);
                    r->big = malloc((size_t)l);
                    if (!r->big) return -1;
                    r->big_cap = (size_t)l;
                }
                if (done) memcpy(r->big, r->buf + r->off + 8, done); /* staged prefix (rare) */
                r->off += 8 + done;
                r->have -= 8 + done;
                if (r->have == 0) r->off = 0;
                while (done < l) { /* the rest straight into place */
                    got = read(r->fd, r->big + done, (size_t)l - done);
                    if (got > 0) done += (size_t)got;
                    else if (got == 0) return 0;
                    else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        if (bench_left() < 0) return -1;
                    } else if (errno != EINTR) return -1;
                }
                r->header_alone = 1;
                *data = r->big;
                *len = (size_t)l;
                return 1;
            }
            need = 8 + (size_t)l;
            if (r->have >= need) {
                *data = r->buf + r->off + 8;
                *len = (size_t)l;
                r->off += need;
                r->have -= need;
                if (r->have == 0) r->off = 0;
                r->header_alone = 0;
                return 1;
            }
        }
        if (r->off + need > STAGE) { /* a small frame's start near the end: move it (< 16 KiB) */
            memmove(r->buf, r->buf + r->off, r->have);
            r->off = 0;
        }
        want = r->header_alone && r->have < 8 ? 8 - r->have : STAGE - r->off - r->have;
        got = read(r->fd, r->buf + r->off + r->have, want);
        if (got > 0) r->have += (size_t)got;
        else if (got == 0) return 0;
        else if (errno == EAGAIN || errno == EWOULDBLOCK) return -2;
        else if (errno != EINTR) return -1;
    }
}

/* ------------------------------------------------------------------------------ pub/sub -- */
typedef struct rsub {
    int lfd;
    bench_rx rx;
    int error;
} rsub;

static void *sub_thread(void *arg) {
    rsub *s = (rsub *)arg;
    reader r;
    int fd = accept_one(s->lfd);
    if (fd < 0) {
        s->error = 1;
        return NULL;
    }
    set_common(fd, 500);
    reader_init(&r, fd);
    while (bench_left() > 0) {
        const unsigned char *d;
        size_t len;
        int rc = read_frame(&r, &d, &len);
        if (rc == 1) {
            if (bench_rx_add(&s->rx, d, len, A.count)) break;
        } else if (rc == -2) {
            if (s->rx.received && bench_now() - s->rx.t_last > A.idle) break;
        } else {
            if (rc < 0) s->error = 2;
            break;
        }
    }
    close(fd); /* the sender waits for this */
    reader_free(&r);
    return NULL;
}

static int run_sub(void) {
    rsub *subs = calloc((size_t)A.n, sizeof *subs);
    pthread_t *th = calloc((size_t)A.n, sizeof *th);
    bench_rx *rx = calloc((size_t)A.n, sizeof *rx);
    int i, ok = 1;
    long got = 0;
    char note[64] = "";
    for (i = 0; i < A.n; i++) subs[i].lfd = listen_on(i);
    for (i = 0; i < A.n; i++) pthread_create(&th[i], NULL, sub_thread, &subs[i]);
    for (i = 0; i < A.n; i++) pthread_join(th[i], NULL);
    for (i = 0; i < A.n; i++) {
        rx[i] = subs[i].rx;
        got += rx[i].received;
        if (subs[i].error) {
            ok = 0;
            snprintf(note, sizeof note, "%s", subs[i].error == 1 ? "no sender" : "read error");
        }
        close(subs[i].lfd);
    }
    if (!got) ok = 0;
    bench_print_sub(&A, rx, A.n, ok, note);
    return ok ? 0 : 1;
}

static int run_pub(void) {
    int *fds = calloc((size_t)A.n, sizeof *fds);
    unsigned char hdr[8];
    unsigned char *payload = malloc(A.size); /* the application's message buffer */
    unsigned char *out = malloc(BATCH);
    size_t used = 0;
    long sent;
    int i, ok = 1;
    double t0, t1, cpu0;
    char note[64] = "";
    memset(payload, 'x', A.size);
    put_u64(hdr, A.size);
    for (i = 0; i < A.n; i++) {
        fds[i] = connect_to(i);
        set_common(fds[i], 0);
    }
    t0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (sent = 0; sent < A.count && ok; sent++) {
        bench_put_seq(payload, (uint64_t)sent);
        if (batched && A.size + 8 <= BATCH) {
            if (used + A.size + 8 > BATCH) {
                for (i = 0; i < A.n; i++)
                    if (write_all(fds[i], out, used)) ok = 0;
                used = 0;
            }
            memcpy(out + used, hdr, 8);
            memcpy(out + used + 8, payload, A.size);
            used += A.size + 8;
        } else {
            for (i = 0; i < A.n; i++)
                if (writev_all(fds[i], hdr, payload, A.size)) ok = 0;
        }
        if ((sent & 1023) == 0 && bench_left() < 0) {
            snprintf(note, sizeof note, "deadline while sending");
            ok = 0;
        }
    }
    if (used && ok)
        for (i = 0; i < A.n; i++)
            if (write_all(fds[i], out, used)) ok = 0;
    t1 = bench_now();
    if (!ok && !note[0]) snprintf(note, sizeof note, "write failed");
    /* Half-close and wait (bounded) for the receivers to close. */
    for (i = 0; i < A.n; i++) {
        char sink[4096];
        shutdown(fds[i], SHUT_WR);
        while (bench_left() > 0) {
            struct pollfd p = {fds[i], POLLIN, 0};
            if (poll(&p, 1, 200) > 0 && read(fds[i], sink, sizeof sink) <= 0) break;
        }
        close(fds[i]);
    }
    bench_print_pub(&A, sent, t0, t1, cpu0, ok, note);
    free(payload);
    free(out);
    free(fds);
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------------------ req/rep -- */
static int run_rep(void) {
    int lfd = listen_on(0), fd, ok = 0;
    long served = 0;
    reader r;
    unsigned char hdr[8];
    fd = accept_one(lfd);
    if (fd < 0) bench_fail("no requester");
    set_common(fd, 200);
    reader_init(&r, fd);
    while (bench_left() > 0) {
        const unsigned char *d;
        size_t len;
        int rc = read_frame(&r, &d, &len), stop;
        if (rc == -2) continue;
        if (rc != 1) break;
        stop = len == 4 && !memcmp(d, "STOP", 4);
        if (stop) bench_rep_window_end();
        else if (served == A.warmup) bench_rep_window_start();
        put_u64(hdr, len);
        if (writev_all(fd, hdr, d, len)) break; /* echo, no copy */
        if (stop) {
            ok = 1;
            break;
        }
        served++;
    }
    close(fd);
    close(lfd);
    reader_free(&r);
    bench_print_rep(&A, served, ok, ok ? "" : "no stop request");
    return ok ? 0 : 1;
}

static int call_once(int fd, reader *r, const unsigned char *payload, size_t len) {
    const unsigned char *d;
    unsigned char hdr[8];
    size_t got;
    put_u64(hdr, len);
    if (writev_all(fd, hdr, payload, len)) return -1;
    if (read_frame(r, &d, &got) != 1) return -1;
    return got == len ? 0 : -1;
}

static int run_req(void) {
    int fd = connect_to(0), ok = 1;
    unsigned char *payload = malloc(A.size);
    double *lat = calloc((size_t)A.count, sizeof *lat);
    long i, n = 0;
    double w0, w1, cpu0, cpu1;
    reader r;
    char note[64] = "";
    set_common(fd, 10000);
    reader_init(&r, fd);
    memset(payload, 'x', A.size);
    for (i = 0; i < A.warmup; i++)
        if (call_once(fd, &r, payload, A.size)) bench_fail("warmup call failed");
    w0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (i = 0; i < A.count && bench_left() > 0; i++) {
        double t0 = bench_now();
        if (call_once(fd, &r, payload, A.size)) {
            ok = 0;
            snprintf(note, sizeof note, "call failed");
            break;
        }
        lat[n++] = bench_now() - t0;
    }
    w1 = bench_now();
    cpu1 = bench_cpu_seconds();
    if (n < A.count && ok) {
        ok = 0;
        snprintf(note, sizeof note, "deadline after %ld calls", n);
    }
    call_once(fd, &r, (const unsigned char *)"STOP", 4);
    close(fd);
    reader_free(&r);
    bench_print_req(&A, lat, n, w1 - w0, cpu1 - cpu0, ok, note);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    bench_parse(argc, argv, "rawtcp", &A);
    bench_set_deadline(&A);
    if (!strcmp(A.mode, "batched")) {
        batched = 1;
        A.prog = "rawtcp-batched";
    } else if (A.mode[0] == 0 || !strcmp(A.mode, "single")) {
        A.prog = "rawtcp";
    } else {
        bench_usage(argv[0]);
    }
    bench_system_name = A.prog;
    if (!strcmp(A.role, "sub")) return run_sub();
    if (!strcmp(A.role, "pub")) return run_pub();
    if (!strcmp(A.role, "rep")) return run_rep();
    return run_req();
}
