/* nng_bench: nng (nanomsg-next-gen).
 *
 *   nng_bench pub|sub|req|rep HOST:PORT SIZE COUNT [mode=pub|push] [n=N] [timeout=S] [idle=S]
 *
 * mode=pub (default): pub0/sub0. nng's pub0 never blocks: a subscriber that falls behind loses
 *   messages (default buffers), so the subscriber reports "lost" from the sequence numbers.
 * mode=push: push0/pull0, loss-free (push blocks), the loss-free figure.
 * The receiver listens on PORT..PORT+N-1 (one socket and thread each), the sender dials all of
 * them and waits until N pipes are up before sending (sub0 filters on the subscriber side and
 * subscribes before listening, so a pipe is all it takes). After sending, the sender waits
 * (bounded) for the receivers to hang up: nng_close would drop what is still queued.
 * req/rep: req0 dials, rep0 listens and echoes; the payload "STOP" ends the replier.
 */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

static bench_args A;
static int push_mode;
static atomic_int pipes;

#define NCHECK(call)                                                                          \
    do {                                                                                      \
        int rv_ = (call);                                                                     \
        if (rv_ != 0) {                                                                       \
            char m_[300];                                                                     \
            snprintf(m_, sizeof m_, "%s: %s", #call, nng_strerror(rv_));                      \
            bench_fail(m_);                                                                   \
        }                                                                                     \
    } while (0)

static void url(char *out, size_t cap, int i) {
    snprintf(out, cap, "tcp://%s:%d", A.host, A.port + i);
}

static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg) {
    (void)p;
    (void)arg;
    if (ev == NNG_PIPE_EV_ADD_POST) atomic_fetch_add(&pipes, 1);
    else if (ev == NNG_PIPE_EV_REM_POST) atomic_fetch_sub(&pipes, 1);
}

static void watch_pipes(nng_socket s) {
    NCHECK(nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, pipe_cb, NULL));
    NCHECK(nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_cb, NULL));
}

/* Wait (bounded) until the pipe count satisfies want (>= n if up, == 0 if !up). */
static int wait_pipes(int up, int n, double limit) {
    double end = bench_now() + limit;
    while (bench_now() < end && bench_left() > 0) {
        int p = atomic_load(&pipes);
        if (up ? p >= n : p <= 0) return 1;
        bench_sleep(0.002);
    }
    return 0;
}

typedef struct nsub {
    nng_socket sock;
    bench_rx rx;
    int error;
} nsub;

static void *sub_thread(void *arg) {
    nsub *s = (nsub *)arg;
    unsigned calls = 0;
    while (bench_rx_time_left(&calls)) {
        nng_msg *m = NULL;
        int rv = nng_recvmsg(s->sock, &m, 0);
        if (rv == 0) {
            int done = bench_rx_add(&s->rx, nng_msg_body(m), nng_msg_len(m), A.count);
            nng_msg_free(m);
            if (done) break;
        } else if (rv == NNG_ETIMEDOUT) {
            if (s->rx.received && bench_now() - s->rx.t_last > A.idle) break;
        } else if (rv != NNG_EINTR) {
            s->error = rv;
            break;
        }
    }
    return NULL;
}

static int run_sub(void) {
    nsub *subs = calloc((size_t)A.n, sizeof *subs);
    pthread_t *th = calloc((size_t)A.n, sizeof *th);
    bench_rx *rx = calloc((size_t)A.n, sizeof *rx);
    int i, ok = 1;
    long got = 0;
    char note[128] = "";
    for (i = 0; i < A.n; i++) {
        char u[200];
        if (push_mode) NCHECK(nng_pull0_open(&subs[i].sock));
        else {
            NCHECK(nng_sub0_open(&subs[i].sock));
            NCHECK(nng_socket_set(subs[i].sock, NNG_OPT_SUB_SUBSCRIBE, "", 0));
        }
        NCHECK(nng_socket_set_ms(subs[i].sock, NNG_OPT_RECVTIMEO, 500));
        url(u, sizeof u, i);
        NCHECK(nng_listen(subs[i].sock, u, NULL, 0));
    }
    for (i = 0; i < A.n; i++) pthread_create(&th[i], NULL, sub_thread, &subs[i]);
    for (i = 0; i < A.n; i++) pthread_join(th[i], NULL);
    for (i = 0; i < A.n; i++) {
        rx[i] = subs[i].rx;
        got += rx[i].received;
        if (subs[i].error) {
            ok = 0;
            snprintf(note, sizeof note, "recv: %s", nng_strerror(subs[i].error));
        }
        nng_close(subs[i].sock); /* hangs up: the sender may leave */
    }
    if (!got) {
        ok = 0;
        snprintf(note, sizeof note, "nothing received");
    }
    bench_print_sub(&A, rx, A.n, ok, note);
    free(subs);
    free(th);
    free(rx);
    return ok ? 0 : 1;
}

static int run_pub(void) {
    nng_socket s;
    unsigned char *buf = malloc(A.size);
    int i, ok = 1;
    long sent = 0;
    double t0, t1, cpu0;
    char note[160] = "";
    memset(buf, 'x', A.size);
    if (push_mode) NCHECK(nng_push0_open(&s));
    else NCHECK(nng_pub0_open(&s));
    watch_pipes(s);
    for (i = 0; i < A.n; i++) {
        char u[200];
        url(u, sizeof u, i);
        NCHECK(nng_dial(s, u, NULL, NNG_FLAG_NONBLOCK)); /* retries in the background */
    }
    if (!wait_pipes(1, A.n, bench_left())) bench_fail("receivers did not connect");
    t0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (sent = 0; sent < A.count; sent++) {
        int rv;
        bench_put_seq(buf, (uint64_t)sent);
        rv = nng_send(s, buf, A.size, 0);
        if (rv != 0) {
            snprintf(note, sizeof note, "send: %s", nng_strerror(rv));
            ok = 0;
            break;
        }
        if ((sent & 1023) == 0 && bench_left() < 0) {
            snprintf(note, sizeof note, "deadline while sending");
            ok = 0;
            break;
        }
    }
    t1 = bench_now();
    if (!wait_pipes(0, 0, bench_left() > 30 ? 30 : bench_left()) && ok)
        snprintf(note, sizeof note, "receivers did not hang up");
    bench_print_pub(&A, sent, t0, t1, cpu0, ok, note);
    nng_close(s);
    free(buf);
    return ok ? 0 : 1;
}

static int run_rep(void) {
    nng_socket s;
    char u[200];
    long served = 0;
    int ok = 0;
    NCHECK(nng_rep0_open(&s));
    watch_pipes(s);
    NCHECK(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 200));
    url(u, sizeof u, 0);
    NCHECK(nng_listen(s, u, NULL, 0));
    while (bench_left() > 0) {
        nng_msg *m = NULL;
        int rv = nng_recvmsg(s, &m, 0), stop;
        if (rv == NNG_ETIMEDOUT || rv == NNG_EINTR) continue;
        if (rv != 0) break;
        stop = nng_msg_len(m) == 4 && !memcmp(nng_msg_body(m), "STOP", 4);
        if (stop) bench_rep_window_end();
        else if (served == A.warmup) bench_rep_window_start();
        if (nng_sendmsg(s, m, 0) != 0) {
            nng_msg_free(m);
            break;
        }
        if (stop) {
            ok = 1;
            break;
        }
        served++;
    }
    wait_pipes(0, 0, 3.0); /* let the last reply out: the requester hangs up after it */
    nng_close(s);
    bench_print_rep(&A, served, ok, ok ? "" : "no stop request");
    return ok ? 0 : 1;
}

static int call_once(nng_socket s, const void *data, size_t len, unsigned char *rbuf) {
    size_t sz = A.size + 16;
    if (nng_send(s, (void *)data, len, 0) != 0) return -1;
    if (nng_recv(s, rbuf, &sz, 0) != 0) return -1;
    return sz == len ? 0 : -1;
}

static int run_req(void) {
    nng_socket s;
    unsigned char *buf = malloc(A.size + 16), *rbuf = malloc(A.size + 16);
    double *lat = calloc((size_t)A.count, sizeof *lat);
    char u[200], note[160] = "";
    long i, n = 0;
    int ok = 1;
    double w0, w1, cpu0, cpu1;
    memset(buf, 'x', A.size);
    NCHECK(nng_req0_open(&s));
    watch_pipes(s);
    NCHECK(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000));
    url(u, sizeof u, 0);
    NCHECK(nng_dial(s, u, NULL, NNG_FLAG_NONBLOCK));
    if (!wait_pipes(1, 1, bench_left())) bench_fail("replier did not accept");
    for (i = 0; i < A.warmup; i++)
        if (call_once(s, buf, A.size, rbuf)) bench_fail("warmup call failed");
    w0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (i = 0; i < A.count && bench_left() > 0; i++) {
        double t0 = bench_now();
        if (call_once(s, buf, A.size, rbuf)) {
            snprintf(note, sizeof note, "call failed");
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
    call_once(s, "STOP", 4, rbuf);
    bench_print_req(&A, lat, n, w1 - w0, cpu1 - cpu0, ok, note);
    nng_close(s);
    free(buf);
    free(rbuf);
    free(lat);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    bench_parse(argc, argv, "nng", &A);
    bench_set_deadline(&A);
    if (!strcmp(A.mode, "push")) {
        push_mode = 1;
        A.prog = "nng-push";
    } else if (A.mode[0] == 0 || !strcmp(A.mode, "pub")) {
        A.prog = (!strcmp(A.role, "pub") || !strcmp(A.role, "sub")) ? "nng-pub" : "nng";
    } else {
        bench_usage(argv[0]);
    }
    bench_system_name = A.prog;
    if (!strcmp(A.role, "sub")) return run_sub();
    if (!strcmp(A.role, "pub")) return run_pub();
    if (!strcmp(A.role, "rep")) return run_rep();
    return run_req();
}
