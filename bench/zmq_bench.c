/* zmq_bench: libzmq.
 *
 *   zmq_bench pub|sub|req|rep HOST:PORT SIZE COUNT [n=N] [timeout=S] [idle=S] [warmup=W]
 *
 * pub/sub: the subscriber binds SUB sockets (subscribed to everything) on PORT..PORT+N-1, all
 * in one context, one receiving thread per socket; the publisher is an XPUB with
 * ZMQ_XPUB_NODROP=1 (loss-free: sends block at the high-water mark instead of dropping) and
 * ZMQ_XPUB_VERBOSE=1, connects to every subscriber and waits for N subscription messages
 * before sending. Default high-water marks (1000), default I/O threads (1).
 * req/rep: REQ connects, REP binds and echoes; the payload "STOP" ends the replier.
 */
#include "bench_common.h"

#include <pthread.h>

#include <zmq.h>

static bench_args A;

#define ZCHECK(call)                                                                          \
    do {                                                                                      \
        if ((call) != 0) {                                                                    \
            char m_[300];                                                                     \
            snprintf(m_, sizeof m_, "%s: %s", #call, zmq_strerror(zmq_errno()));              \
            bench_fail(m_);                                                                   \
        }                                                                                     \
    } while (0)

static void endpoint(char *out, size_t cap, int i) {
    snprintf(out, cap, "tcp://%s:%d", A.host, A.port + i);
}

typedef struct zsub {
    void *sock;
    bench_rx rx;
    int error;
} zsub;

static void *sub_thread(void *arg) {
    zsub *s = (zsub *)arg;
    unsigned calls = 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (bench_rx_time_left(&calls)) {
        int rc = zmq_msg_recv(&msg, s->sock, 0);
        if (rc >= 0) {
            if (bench_rx_add(&s->rx, zmq_msg_data(&msg), zmq_msg_size(&msg), A.count)) break;
        } else if (zmq_errno() == EAGAIN) {
            if (s->rx.received && bench_now() - s->rx.t_last > A.idle) break;
        } else if (zmq_errno() != EINTR) {
            s->error = zmq_errno();
            break;
        }
    }
    zmq_msg_close(&msg);
    return NULL;
}

static int run_sub(void) {
    void *ctx = zmq_ctx_new();
    zsub *subs = calloc((size_t)A.n, sizeof *subs);
    pthread_t *th = calloc((size_t)A.n, sizeof *th);
    bench_rx *rx = calloc((size_t)A.n, sizeof *rx);
    int i, ok = 1, tmo = 500, linger = 0;
    long got = 0;
    char note[128] = "";
    for (i = 0; i < A.n; i++) {
        char ep[200];
        subs[i].sock = zmq_socket(ctx, ZMQ_SUB);
        ZCHECK(zmq_setsockopt(subs[i].sock, ZMQ_SUBSCRIBE, "", 0));
        ZCHECK(zmq_setsockopt(subs[i].sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo));
        ZCHECK(zmq_setsockopt(subs[i].sock, ZMQ_LINGER, &linger, sizeof linger));
        endpoint(ep, sizeof ep, i);
        ZCHECK(zmq_bind(subs[i].sock, ep));
    }
    for (i = 0; i < A.n; i++) pthread_create(&th[i], NULL, sub_thread, &subs[i]);
    for (i = 0; i < A.n; i++) pthread_join(th[i], NULL);
    for (i = 0; i < A.n; i++) {
        rx[i] = subs[i].rx;
        got += rx[i].received;
        if (subs[i].error) {
            ok = 0;
            snprintf(note, sizeof note, "recv: %s", zmq_strerror(subs[i].error));
        }
        zmq_close(subs[i].sock);
    }
    if (!got) {
        ok = 0;
        snprintf(note, sizeof note, "nothing received");
    }
    zmq_ctx_term(ctx); /* hangs up: the publisher may leave */
    bench_print_sub(&A, rx, A.n, ok, note);
    free(subs);
    free(th);
    free(rx);
    return ok ? 0 : 1;
}

static int run_pub(void) {
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    unsigned char *buf = malloc(A.size);
    int one = 1, tmo = 200, subs = 0, i, ok = 1, linger;
    long sent = 0;
    double t0, t1, cpu0;
    char note[160] = "";
    memset(buf, 'x', A.size);
    ZCHECK(zmq_setsockopt(pub, ZMQ_XPUB_NODROP, &one, sizeof one));
    ZCHECK(zmq_setsockopt(pub, ZMQ_XPUB_VERBOSE, &one, sizeof one));
    ZCHECK(zmq_setsockopt(pub, ZMQ_RCVTIMEO, &tmo, sizeof tmo));
    for (i = 0; i < A.n; i++) {
        char ep[200];
        endpoint(ep, sizeof ep, i);
        ZCHECK(zmq_connect(pub, ep));
    }
    /* Wait for one subscription message per subscriber. */
    while (subs < A.n && bench_left() > 0) {
        unsigned char m[256];
        int rc = zmq_recv(pub, m, sizeof m, 0);
        if (rc >= 1 && m[0] == 1) subs++;
    }
    if (subs < A.n) bench_fail("subscribers did not subscribe");
    t0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (sent = 0; sent < A.count; sent++) {
        bench_put_seq(buf, (uint64_t)sent);
        for (;;) {
            int rc = zmq_send(pub, buf, A.size, 0);
            if (rc >= 0) break;
            if (zmq_errno() == EAGAIN || zmq_errno() == EINTR) {
                zmq_pollitem_t it = {pub, 0, ZMQ_POLLOUT, 0};
                if (bench_left() < 0) break;
                zmq_poll(&it, 1, 100);
                continue;
            }
            snprintf(note, sizeof note, "send: %s", zmq_strerror(zmq_errno()));
            ok = 0;
            break;
        }
        if (!ok) break;
        if ((sent & 1023) == 0 && bench_left() < 0) {
            snprintf(note, sizeof note, "deadline while sending");
            ok = 0;
            break;
        }
    }
    t1 = bench_now();
    /* zmq_close + zmq_ctx_term wait (bounded by the linger) until everything is sent. */
    linger = (int)(bench_left() > 30 ? 30000 : (bench_left() > 0 ? bench_left() * 1000 : 0));
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    bench_print_pub(&A, sent, t0, t1, cpu0, ok, note);
    free(buf);
    return ok ? 0 : 1;
}

static int run_rep(void) {
    void *ctx = zmq_ctx_new();
    void *rep = zmq_socket(ctx, ZMQ_REP);
    char ep[200];
    int tmo = 200, linger = 2000, ok = 0;
    long served = 0;
    zmq_msg_t msg;
    endpoint(ep, sizeof ep, 0);
    ZCHECK(zmq_setsockopt(rep, ZMQ_RCVTIMEO, &tmo, sizeof tmo));
    ZCHECK(zmq_setsockopt(rep, ZMQ_LINGER, &linger, sizeof linger));
    ZCHECK(zmq_bind(rep, ep));
    zmq_msg_init(&msg);
    while (bench_left() > 0) {
        int rc = zmq_msg_recv(&msg, rep, 0);
        int stop;
        if (rc < 0) {
            if (zmq_errno() == EAGAIN || zmq_errno() == EINTR) continue;
            break;
        }
        stop = zmq_msg_size(&msg) == 4 && !memcmp(zmq_msg_data(&msg), "STOP", 4);
        if (stop) bench_rep_window_end();
        else if (served == A.warmup) bench_rep_window_start();
        if (zmq_msg_send(&msg, rep, 0) < 0) break; /* echo (moves the message) */
        if (stop) {
            ok = 1;
            break;
        }
        served++;
    }
    zmq_msg_close(&msg);
    zmq_close(rep);
    zmq_ctx_term(ctx);
    bench_print_rep(&A, served, ok, ok ? "" : "no stop request");
    return ok ? 0 : 1;
}

static int call_once(void *req, const void *data, size_t len, unsigned char *rbuf) {
    int rc;
    if (zmq_send(req, data, len, 0) < 0) return -1;
    rc = zmq_recv(req, rbuf, A.size + 16, 0);
    return rc == (int)len ? 0 : -1;
}

static int run_req(void) {
    void *ctx = zmq_ctx_new();
    void *req = zmq_socket(ctx, ZMQ_REQ);
    unsigned char *buf = malloc(A.size + 16), *rbuf = malloc(A.size + 16);
    double *lat = calloc((size_t)A.count, sizeof *lat);
    char ep[200], note[160] = "";
    int tmo = 10000, linger = 1000, ok = 1;
    long i, n = 0;
    double w0, w1, cpu0, cpu1;
    memset(buf, 'x', A.size);
    endpoint(ep, sizeof ep, 0);
    ZCHECK(zmq_setsockopt(req, ZMQ_RCVTIMEO, &tmo, sizeof tmo));
    ZCHECK(zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger));
    ZCHECK(zmq_connect(req, ep));
    for (i = 0; i < A.warmup; i++)
        if (call_once(req, buf, A.size, rbuf)) bench_fail("warmup call failed");
    w0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (i = 0; i < A.count && bench_left() > 0; i++) {
        double t0 = bench_now();
        if (call_once(req, buf, A.size, rbuf)) {
            snprintf(note, sizeof note, "call failed: %s", zmq_strerror(zmq_errno()));
            ok = 0;
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
    if (ok) call_once(req, "STOP", 4, rbuf);
    bench_print_req(&A, lat, n, w1 - w0, cpu1 - cpu0, ok, note);
    zmq_close(req);
    zmq_ctx_term(ctx);
    free(buf);
    free(rbuf);
    free(lat);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    bench_parse(argc, argv, "zmq", &A);
    bench_set_deadline(&A);
    if (!strcmp(A.role, "sub")) return run_sub();
    if (!strcmp(A.role, "pub")) return run_pub();
    if (!strcmp(A.role, "rep")) return run_rep();
    return run_req();
}
