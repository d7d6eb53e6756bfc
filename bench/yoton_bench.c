/* yoton_bench: the yoton C library (include/yoton.h, libyoton.so).
 *
 *   yoton_bench pub|sub|req|rep HOST:PORT SIZE COUNT [mode=sync|block|zc|block-zc] [n=N]
 *               [timeout=S] [idle=S] [warmup=W]
 *
 * pub/sub: BINARY ("bin") channels on slot base "bench". Each subscriber context binds one
 * port and, right after binding, publishes "ready" on the TEXT slot base "bench_ready" (held
 * in the connection's queue until the publisher connects). The publisher connects to every
 * subscriber and sends nothing before it has received N ready messages. Subscribers receive
 * with yoton_sub_recv (0.5 s timeout) until COUNT messages, or the last sequence number, or
 * `idle` seconds of silence. With the default queue parameters a subscriber that falls behind
 * loses the oldest queued messages (the original's semantics; counted as "lost"); mode=sync
 * turns on the subscriber's sync mode (yoton_sub_set_sync_mode: publishers are asked to pause
 * while more than 32 messages are pending); mode=block sets YOTON_DISCARD_BLOCK on both
 * contexts (queues never drop, a full one pushes back through TCP): the loss-free variant,
 * comparable with libzmq's XPUB_NODROP. The publisher sends with the plain, copying
 * yoton_pub_send (the library copies the caller's bytes; what every user gets) unless the mode
 * ends in "zc" (mode=zc: default queue parameters, mode=block-zc: loss-free), which sends with
 * the zero-copy yoton_pub_send_zc instead (see zc_send below): systems yoton-zc and
 * yoton-block-zc, reported beside the headline yoton / yoton-block. Fan-out (n=N): the
 * subscriber process holds N contexts, each binding PORT+i, each with its own receiving thread;
 * the publisher context connects to all (run.py starts N one-receiver processes instead for the
 * process-per-subscriber layout).
 * req/rep: OBJECT RPC on slot base "bench": the requester calls bench(s) with s a string of
 * SIZE bytes; the replier (YOTON_REP_THREAD mode) returns its argument. stop() ends it. The
 * requester reports its CPU over the timed calls, the replier its CPU from the first timed call
 * (after warmup=W calls) to stop().
 * The same slot names and types as bench/pyyoton_bench.py, so the two implementations mix.
 */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>

#include <yoton.h>

#define CHECK(call)                                                                           \
    do {                                                                                      \
        int rc_ = (call);                                                                     \
        if (rc_ != YOTON_OK) {                                                                \
            char m_[400];                                                                     \
            snprintf(m_, sizeof m_, "%s: %s (%s)", #call, yoton_strerror(rc_),                \
                     yoton_last_error());                                                     \
            bench_fail(m_);                                                                   \
        }                                                                                     \
    } while (0)

static bench_args A;
static int sync_mode;  /* mode=sync: the subscriber uses the original's sync mode */
static int block_mode; /* mode=block: both contexts use YOTON_DISCARD_BLOCK (loss-free) */
static int zc_mode;    /* mode=zc / block-zc: the publisher sends with yoton_pub_send_zc */

/* Zero-copy sends (mode=zc, mode=block-zc): a ring of ZC_RING buffers, each handed to yoton
 * with yoton_pub_send_zc and given back by its free callback (from a yoton thread) once
 * written; the publisher waits on a condition variable for a free one (polling with sleeps
 * added up to 100 us of idle time per wait). Only the sequence number changes per message. */
#define ZC_RING 16
static unsigned char *zc_buf[ZC_RING];
static int zc_busy[ZC_RING]; /* guarded by zc_lock */
static pthread_mutex_t zc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t zc_freed = PTHREAD_COND_INITIALIZER;

static void zc_release(void *user_data) {
    pthread_mutex_lock(&zc_lock);
    zc_busy[(intptr_t)user_data] = 0;
    pthread_cond_signal(&zc_freed);
    pthread_mutex_unlock(&zc_lock);
}

/* Send message `seq` from a free ring buffer; the pattern bytes are already in place. */
static int zc_send(const yoton_channel *pub, uint64_t seq) {
    intptr_t i = -1;
    pthread_mutex_lock(&zc_lock);
    while (i < 0) {
        for (intptr_t k = 0; k < ZC_RING; k++) {
            if (!zc_busy[k]) {
                zc_busy[k] = 1;
                i = k;
                break;
            }
        }
        if (i < 0) {
            struct timespec until;
            if (bench_left() < 0) {
                pthread_mutex_unlock(&zc_lock);
                return YOTON_ERR_TIMEOUT;
            }
            clock_gettime(CLOCK_REALTIME, &until); /* bounded: re-check the deadline every 100 ms */
            until.tv_nsec += 100 * 1000 * 1000;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&zc_freed, &zc_lock, &until);
        }
    }
    pthread_mutex_unlock(&zc_lock);
    bench_put_seq(zc_buf[i], seq);
    /* (On failure yoton calls zc_release at once: the buffer is free again either way.) */
    return yoton_pub_send_zc(pub, zc_buf[i], A.size, zc_release, (void *)i);
}

static void set_queue_params(const yoton_context *ctx) {
    if (block_mode) CHECK(yoton_context_set_queue_params(ctx, 10000, 0, YOTON_DISCARD_BLOCK));
}

/* ------------------------------------------------------------------------------ pub/sub -- */
typedef struct ysub {
    yoton_context *ctx;
    yoton_channel *sub, *ready;
    bench_rx rx;
    int error;
} ysub;

static void *sub_thread(void *arg) {
    ysub *s = (ysub *)arg;
    unsigned calls = 0;
    while (bench_rx_time_left(&calls)) {
        yoton_message *m = NULL;
        int rc = yoton_sub_recv(s->sub, 0.5, &m);
        if (rc == YOTON_OK) {
            const void *data = NULL;
            size_t len = 0;
            int done;
            yoton_message_data(m, &data, &len);
            done = bench_rx_add(&s->rx, data, len, A.count);
            yoton_message_free(m);
            if (done) break;
        } else if (rc == YOTON_ERR_TIMEOUT) {
            if (s->rx.received && bench_now() - s->rx.t_last > A.idle) break;
        } else {
            s->error = rc;
            break;
        }
    }
    return NULL;
}

static int run_sub(void) {
    int i, ok = 1;
    ysub *subs = calloc((size_t)A.n, sizeof *subs);
    pthread_t *th = calloc((size_t)A.n, sizeof *th);
    char note[128] = "";
    for (i = 0; i < A.n; i++) {
        char addr[160], text[64];
        yoton_connection *conn = NULL;
        CHECK(yoton_context_new(&subs[i].ctx));
        set_queue_params(subs[i].ctx);
        CHECK(yoton_sub_new(subs[i].ctx, "bench", "bin", &subs[i].sub));
        if (sync_mode) CHECK(yoton_sub_set_sync_mode(subs[i].sub, true));
        CHECK(yoton_pub_new(subs[i].ctx, "bench_ready", "txt", &subs[i].ready));
        snprintf(addr, sizeof addr, "%s:%d", A.host, A.port + i);
        CHECK(yoton_context_bind(subs[i].ctx, addr, 1, NULL, &conn));
        yoton_connection_free(conn);
        snprintf(text, sizeof text, "ready %d %d", (int)getpid(), i);
        CHECK(yoton_pub_send(subs[i].ready, text, strlen(text)));
    }
    for (i = 0; i < A.n; i++) pthread_create(&th[i], NULL, sub_thread, &subs[i]);
    for (i = 0; i < A.n; i++) pthread_join(th[i], NULL);
    {
        long got = 0;
        for (i = 0; i < A.n; i++) {
            got += subs[i].rx.received;
            if (subs[i].error) {
                ok = 0;
                snprintf(note, sizeof note, "recv error: %s", yoton_strerror(subs[i].error));
            }
        }
        if (got == 0) {
            ok = 0;
            snprintf(note, sizeof note, "nothing received");
        }
    }
    {
        bench_rx *rx = calloc((size_t)A.n, sizeof *rx);
        uint64_t discarded = 0, d;
        for (i = 0; i < A.n; i++) {
            rx[i] = subs[i].rx;
            if (yoton_context_discarded(subs[i].ctx, &d) == YOTON_OK) discarded += d;
        }
        if (discarded && !note[0])
            snprintf(note, sizeof note, "queue discarded %llu", (unsigned long long)discarded);
        for (i = 0; i < A.n; i++) {
            yoton_channel_free(subs[i].sub);
            yoton_channel_free(subs[i].ready);
            yoton_context_free(subs[i].ctx); /* hangs up: the publisher may leave */
        }
        bench_print_sub(&A, rx, A.n, ok, note);
        free(rx);
    }
    free(subs);
    free(th);
    return ok ? 0 : 1;
}

static int run_pub(void) {
    yoton_context *ctx = NULL;
    yoton_channel *pub = NULL, *ready = NULL;
    unsigned char *buf = malloc(A.size);
    int i, readies = 0, ok = 1;
    long sent = 0;
    double t0, t1, cpu0;
    size_t nconn = 0;
    long send_retries = 0;
    char note[160] = "";

    memset(buf, 'x', A.size);
    CHECK(yoton_context_new(&ctx));
    set_queue_params(ctx);
    CHECK(yoton_pub_new(ctx, "bench", "bin", &pub));
    CHECK(yoton_sub_new(ctx, "bench_ready", "txt", &ready));
    for (i = 0; i < A.n; i++) {
        char addr[160];
        yoton_connection *conn = NULL;
        snprintf(addr, sizeof addr, "%s:%d", A.host, A.port + i);
        CHECK(yoton_context_connect(ctx, addr, bench_left() > 10 ? 10.0 : bench_left(), NULL,
                                    &conn));
        yoton_connection_free(conn);
    }
    while (readies < A.n && bench_left() > 0) {
        yoton_message *m = NULL;
        if (yoton_sub_recv(ready, 0.2, &m) == YOTON_OK) {
            readies++;
            yoton_message_free(m);
        }
    }
    if (readies < A.n) bench_fail("subscribers did not report ready");

    if (zc_mode) {
        for (int i = 0; i < ZC_RING; i++) {
            zc_buf[i] = (unsigned char *)malloc(A.size);
            memcpy(zc_buf[i], buf, A.size);
        }
    }
    t0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (sent = 0; sent < A.count; sent++) {
        int rc;
        if (zc_mode) {
            rc = zc_send(pub, (uint64_t)sent);
        } else {
            bench_put_seq(buf, (uint64_t)sent);
            rc = yoton_pub_send(pub, buf, A.size);
        }
        /* Loss-free mode: a send that found the queue still full after 1 s is refused; a
         * loss-free publisher tries again (bounded by the deadline). */
        while (rc == YOTON_ERR_TIMEOUT && block_mode && bench_left() > 0) {
            send_retries++;
            rc = zc_mode ? zc_send(pub, (uint64_t)sent) : yoton_pub_send(pub, buf, A.size);
        }
        if (rc != YOTON_OK) {
            snprintf(note, sizeof note, "send: %s (%s)", yoton_strerror(rc), yoton_last_error());
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
    if (send_retries && !note[0]) snprintf(note, sizeof note, "%ld sends refused after 1 s, retried", send_retries);
    /* Deliver what is queued, then wait (bounded) for the subscribers to hang up, so that
     * nothing in flight is cut off by our own close. */
    if (yoton_context_flush(ctx, bench_left() > 30 ? 30 : bench_left()) != YOTON_OK && ok)
        snprintf(note, sizeof note, "flush timed out");
    while (bench_left() > 0) {
        if (yoton_context_connection_count(ctx, &nconn) != YOTON_OK || nconn == 0) break;
        bench_sleep(0.005);
    }
    bench_print_pub(&A, sent, t0, t1, cpu0, ok, note);
    yoton_channel_free(pub);
    yoton_channel_free(ready);
    yoton_context_free(ctx);
    free(buf);
    if (zc_mode)
        for (i = 0; i < ZC_RING; i++) free(zc_buf[i]); /* all released: the context is gone */
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------------------ req/rep -- */
static atomic_long served;
static atomic_int stop_flag;

static void h_bench(void *ud, const yoton_value *args, const yoton_value *kwargs,
                    yoton_reply *reply) {
    const yoton_value *item = NULL;
    (void)ud;
    (void)kwargs;
    if (atomic_load(&served) == A.warmup) bench_rep_window_start(); /* the first timed call */
    if (yoton_value_item(args, 0, &item) == YOTON_OK) yoton_reply_set_result(reply, item);
    else yoton_reply_set_error(reply, "bench() takes one argument");
    atomic_fetch_add(&served, 1);
}

static void h_stop(void *ud, const yoton_value *args, const yoton_value *kwargs,
                   yoton_reply *reply) {
    (void)ud;
    (void)args;
    (void)kwargs;
    (void)reply; /* None */
    bench_rep_window_end();
    atomic_store(&stop_flag, 1);
}

static int run_rep(void) {
    yoton_context *ctx = NULL;
    yoton_channel *rep = NULL;
    yoton_connection *conn = NULL;
    char addr[160];
    size_t nconn = 0;
    double t_stop;
    int ok;
    CHECK(yoton_context_new(&ctx));
    CHECK(yoton_rep_new(ctx, "bench", &rep));
    CHECK(yoton_rep_register(rep, "bench", h_bench, NULL, NULL));
    CHECK(yoton_rep_register(rep, "stop", h_stop, NULL, NULL));
    CHECK(yoton_rep_set_mode(rep, YOTON_REP_THREAD));
    snprintf(addr, sizeof addr, "%s:%d", A.host, A.port);
    CHECK(yoton_context_bind(ctx, addr, 1, NULL, &conn));
    while (!atomic_load(&stop_flag) && bench_left() > 0) bench_sleep(0.005);
    ok = atomic_load(&stop_flag);
    /* Let the stop reply out, then wait (bounded) for the requester to hang up. */
    yoton_context_flush(ctx, 2.0);
    t_stop = bench_now();
    while (bench_now() - t_stop < 3.0 && bench_left() > 0) {
        if (yoton_context_connection_count(ctx, &nconn) != YOTON_OK || nconn == 0) break;
        bench_sleep(0.005);
    }
    bench_print_rep(&A, atomic_load(&served), ok, ok ? "" : "no stop request");
    yoton_connection_free(conn);
    yoton_channel_free(rep);
    yoton_context_free(ctx);
    return ok ? 0 : 1;
}

static int call_once(const yoton_channel *req, const char *method, const yoton_value *args,
                     double timeout, size_t expect_len) {
    yoton_future *f = NULL;
    yoton_value *v = NULL;
    int rc = yoton_req_call(req, method, args, NULL, &f);
    if (rc != YOTON_OK) return rc;
    rc = yoton_future_result(f, timeout, &v);
    if (rc == YOTON_OK && expect_len) {
        const char *d = NULL;
        size_t len = 0;
        if (yoton_value_get_string(v, &d, &len) != YOTON_OK || len != expect_len)
            rc = YOTON_ERR_INTERNAL;
    }
    yoton_value_free(v);
    yoton_future_free(f);
    return rc;
}

static int run_req(void) {
    yoton_context *ctx = NULL;
    yoton_channel *req = NULL;
    yoton_connection *conn = NULL;
    yoton_value *s = NULL, *args = yoton_value_new_tuple(), *noargs = yoton_value_new_tuple();
    char *payload = malloc(A.size + 1);
    double *lat = calloc((size_t)A.count, sizeof *lat);
    char addr[160], note[200] = "";
    long i, n = 0;
    double w0, w1, cpu0, cpu1;
    int rc, ok = 1;

    memset(payload, 'x', A.size);
    payload[A.size] = 0;
    CHECK(yoton_value_new_string_len(payload, A.size, &s));
    CHECK(yoton_value_append(args, s));
    CHECK(yoton_context_new(&ctx));
    CHECK(yoton_req_new(ctx, "bench", &req));
    snprintf(addr, sizeof addr, "%s:%d", A.host, A.port);
    CHECK(yoton_context_connect(ctx, addr, 10.0, NULL, &conn));
    for (i = 0; i < A.warmup; i++) {
        if ((rc = call_once(req, "bench", args, 10.0, A.size)) != YOTON_OK) {
            snprintf(note, sizeof note, "warmup call: %s (%s)", yoton_strerror(rc),
                     yoton_last_error());
            bench_fail(note);
        }
    }
    w0 = bench_now();
    cpu0 = bench_cpu_seconds();
    for (i = 0; i < A.count && bench_left() > 0; i++) {
        double t0 = bench_now();
        if ((rc = call_once(req, "bench", args, 10.0, A.size)) != YOTON_OK) {
            snprintf(note, sizeof note, "call: %s (%s)", yoton_strerror(rc), yoton_last_error());
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
    call_once(req, "stop", noargs, 5.0, 0);
    bench_print_req(&A, lat, n, w1 - w0, cpu1 - cpu0, ok, note);
    yoton_connection_free(conn);
    yoton_channel_free(req);
    yoton_context_free(ctx);
    yoton_value_free(s);
    yoton_value_free(args);
    yoton_value_free(noargs);
    free(payload);
    free(lat);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    bench_parse(argc, argv, "yoton", &A);
    if (!strcmp(A.mode, "sync")) {
        sync_mode = 1;
        A.prog = "yoton-sync";
        bench_system_name = A.prog;
    } else if (!strcmp(A.mode, "block")) {
        block_mode = 1;
        A.prog = "yoton-block";
        bench_system_name = A.prog;
    } else if (!strcmp(A.mode, "zc")) {
        zc_mode = 1;
        A.prog = "yoton-zc";
        bench_system_name = A.prog;
    } else if (!strcmp(A.mode, "block-zc")) {
        block_mode = 1;
        zc_mode = 1;
        A.prog = "yoton-block-zc";
        bench_system_name = A.prog;
    } else if (A.mode[0]) {
        bench_usage(argv[0]);
    }
    bench_set_deadline(&A);
    if (!strcmp(A.role, "sub")) return run_sub();
    if (!strcmp(A.role, "pub")) return run_pub();
    if (!strcmp(A.role, "rep")) return run_rep();
    return run_req();
}
