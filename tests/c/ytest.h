/* ytest.h: a tiny test header for the yoton C API tests (tests/c/).
 *
 * Include it FIRST in a test file (it sets the POSIX feature macro before any system header).
 * Valid C11 and C++17; everything is static so each test program has its own copy.
 *
 *   CHECK(cond)               a boolean condition
 *   CHECK_OK(call)            a yoton call must return YOTON_OK
 *   CHECK_RC(call, code)      a yoton call must return exactly `code`
 *   CHECK_EQ_INT(a, b)        two integers (printed as long long on failure)
 *   CHECK_EQ_U64(a, b)        two unsigned 64-bit integers
 *   CHECK_STREQ(a, b)         two C strings (NULL-safe)
 *   CHECK_MEMEQ(a, b, n)      n bytes
 *
 * Each prints file:line and the expression on failure (for status failures also
 * yoton_strerror and yoton_last_error) and counts the failure; the test goes on.
 * yt_summary() prints "N passed, M failed" and returns the process exit code.
 *
 * Every wait is bounded: yt_wait_until() polls a condition up to a deadline, and the
 * connection helpers below build on it. No test sleeps in place of an assertion.
 */
#ifndef YTEST_H
#define YTEST_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yoton.h>

static int yt_passed = 0;
static int yt_failed = 0;

static inline void yt_fail_header(const char *file, int line) {
    fprintf(stderr, "%s:%d: FAILED: ", file, line);
}

static inline int yt_check(int ok, const char *expr, const char *file, int line) {
    if (ok) {
        yt_passed++;
        return 1;
    }
    yt_failed++;
    yt_fail_header(file, line);
    fprintf(stderr, "CHECK(%s)\n", expr);
    return 0;
}

static inline int yt_check_rc(int rc, int expected, const char *expr, const char *file, int line) {
    if (rc == expected) {
        yt_passed++;
        return 1;
    }
    yt_failed++;
    yt_fail_header(file, line);
    fprintf(stderr, "%s\n    returned %d (%s), expected %d (%s)\n    last error: %s\n", expr, rc,
            yoton_strerror(rc), expected, yoton_strerror(expected), yoton_last_error());
    return 0;
}

static inline int yt_check_eq_ll(long long a, long long b, const char *ea, const char *eb,
                                 const char *file, int line) {
    if (a == b) {
        yt_passed++;
        return 1;
    }
    yt_failed++;
    yt_fail_header(file, line);
    fprintf(stderr, "%s == %s\n    left:  %lld\n    right: %lld\n", ea, eb, a, b);
    return 0;
}

static inline int yt_check_eq_u64(uint64_t a, uint64_t b, const char *ea, const char *eb,
                                  const char *file, int line) {
    if (a == b) {
        yt_passed++;
        return 1;
    }
    yt_failed++;
    yt_fail_header(file, line);
    fprintf(stderr, "%s == %s\n    left:  %llu (0x%016llx)\n    right: %llu (0x%016llx)\n", ea, eb,
            (unsigned long long)a, (unsigned long long)a, (unsigned long long)b,
            (unsigned long long)b);
    return 0;
}

static inline int yt_check_streq(const char *a, const char *b, const char *ea, const char *eb,
                                 const char *file, int line) {
    if (a != NULL && b != NULL && strcmp(a, b) == 0) {
        yt_passed++;
        return 1;
    }
    yt_failed++;
    yt_fail_header(file, line);
    fprintf(stderr, "%s == %s\n    left:  \"%s\"\n    right: \"%s\"\n", ea, eb,
            a != NULL ? a : "(NULL)", b != NULL ? b : "(NULL)");
    return 0;
}

static inline int yt_check_memeq(const void *a, const void *b, size_t n, const char *ea,
                                 const char *eb, const char *file, int line) {
    if (a != NULL && b != NULL && memcmp(a, b, n) == 0) {
        yt_passed++;
        return 1;
    }
    yt_failed++;
    yt_fail_header(file, line);
    fprintf(stderr, "memcmp(%s, %s, %zu) == 0\n", ea, eb, n);
    return 0;
}

#define CHECK(cond) yt_check((cond) ? 1 : 0, #cond, __FILE__, __LINE__)
#define CHECK_OK(call) yt_check_rc((call), YOTON_OK, #call, __FILE__, __LINE__)
#define CHECK_RC(call, code) yt_check_rc((call), (int)(code), #call, __FILE__, __LINE__)
#define CHECK_EQ_INT(a, b) \
    yt_check_eq_ll((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_EQ_U64(a, b) \
    yt_check_eq_u64((uint64_t)(a), (uint64_t)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_STREQ(a, b) yt_check_streq((a), (b), #a, #b, __FILE__, __LINE__)
#define CHECK_MEMEQ(a, b, n) yt_check_memeq((a), (b), (n), #a, #b, __FILE__, __LINE__)

/* Print the summary; returns the exit code (0 when nothing failed). */
static inline int yt_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, yt_passed, yt_failed);
    fflush(stdout);
    return yt_failed == 0 ? 0 : 1;
}

/* Announce a sub-test (helps to read a failing log). */
#define YT_SECTION(title) (printf("-- %s\n", (title)), fflush(stdout))

/* --- time and bounded waits ------------------------------------------------------------- */

/* Monotonic seconds. */
static inline double yt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void yt_sleep(double seconds) {
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Poll `pred(arg)` every few milliseconds until it returns non-zero (returns 1) or
 * `timeout` seconds have passed (returns 0). */
static inline int yt_wait_until(int (*pred)(void *), void *arg, double timeout) {
    double deadline = yt_now() + timeout;
    for (;;) {
        if (pred(arg)) {
            return 1;
        }
        if (yt_now() >= deadline) {
            return 0;
        }
        yt_sleep(0.002);
    }
}

/* --- yoton helpers ---------------------------------------------------------------------- */

/* The default bound for a wait that should succeed quickly on loopback. */
#define YT_WAIT 10.0

struct yt_status_wait {
    const yoton_connection *conn;
    int status;
};

static inline int yt_status_is(void *arg) {
    struct yt_status_wait *w = (struct yt_status_wait *)arg;
    int status = -1;
    return yoton_connection_get_status(w->conn, &status) == YOTON_OK && status == w->status;
}

/* Wait (bounded) until `conn` has `status` (a yoton_connection_status). 1 on success. */
static inline int yt_wait_status(const yoton_connection *conn, int status, double timeout) {
    struct yt_status_wait w;
    w.conn = conn;
    w.status = status;
    return yt_wait_until(yt_status_is, &w, timeout);
}

struct yt_pending_wait {
    const yoton_channel *ch;
    size_t n;
};

static inline int yt_pending_at_least(void *arg) {
    struct yt_pending_wait *w = (struct yt_pending_wait *)arg;
    size_t n = 0;
    return yoton_channel_pending(w->ch, &n) == YOTON_OK && n >= w->n;
}

/* Wait (bounded) until a subscriber has at least `n` messages pending. 1 on success. */
static inline int yt_wait_pending(const yoton_channel *ch, size_t n, double timeout) {
    struct yt_pending_wait w;
    w.ch = ch;
    w.n = n;
    return yt_wait_until(yt_pending_at_least, &w, timeout);
}

/* The listening port of a waiting connection (0 on error). */
static inline uint16_t yt_port(const yoton_connection *conn) {
    uint16_t port = 0;
    if (yoton_connection_port1(conn, &port) != YOTON_OK) {
        return 0;
    }
    return port;
}

/* Connect `client` to `host` over loopback: `host` binds "localhost:0", `client` connects to
 * "127.0.0.1:<port>", and we wait until the host side is HOSTING. The connection handles are
 * returned through host_conn/client_conn (either may be NULL: then the handle is released).
 * Returns 1 on success; failures are counted as check failures. */
static inline int yt_link(const yoton_context *host, const yoton_context *client,
                          yoton_connection **host_conn, yoton_connection **client_conn) {
    yoton_connection *hc = NULL;
    yoton_connection *cc = NULL;
    char address[64];
    int ok = 1;
    if (!CHECK_OK(yoton_context_bind(host, "localhost:0", 1, NULL, &hc))) {
        return 0;
    }
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)yt_port(hc));
    if (!CHECK_OK(yoton_context_connect(client, address, 5.0, NULL, &cc))) {
        ok = 0;
    } else if (!CHECK(yt_wait_status(hc, YOTON_STATUS_HOSTING, YT_WAIT))) {
        ok = 0;
    }
    if (host_conn != NULL) {
        *host_conn = hc;
    } else {
        yoton_connection_free(hc);
    }
    if (client_conn != NULL) {
        *client_conn = cc;
    } else {
        yoton_connection_free(cc);
    }
    return ok;
}

/* A fresh context (NULL after a counted failure). */
static inline yoton_context *yt_context(void) {
    yoton_context *ctx = NULL;
    CHECK_OK(yoton_context_new(&ctx));
    return ctx;
}

/* Small constructors shared by the test files (a failed call is counted and NULL returned). */
static inline uint64_t yt_ctx_id(const yoton_context *ctx) {
    uint64_t id = 0;
    CHECK_OK(yoton_context_id(ctx, &id));
    return id;
}

static inline yoton_channel *yt_make_pub(const yoton_context *ctx, const char *base, const char *type) {
    yoton_channel *ch = NULL;
    CHECK_OK(yoton_pub_new(ctx, base, type, &ch));
    return ch;
}

static inline yoton_channel *yt_make_sub(const yoton_context *ctx, const char *base, const char *type) {
    yoton_channel *ch = NULL;
    CHECK_OK(yoton_sub_new(ctx, base, type, &ch));
    return ch;
}

static inline int yt_send_text(const yoton_channel *pub, const char *text) {
    return yoton_pub_send(pub, text, strlen(text));
}

/* Receive one message and compare its body with `text` (a C string). 1 if equal. */
static inline int yt_recv_text(const yoton_channel *sub, const char *text, double timeout,
                               const char *file, int line) {
    yoton_message *msg = NULL;
    const void *data = NULL;
    size_t len = 0;
    int rc = yoton_sub_recv(sub, timeout, &msg);
    int ok;
    if (rc != YOTON_OK) {
        return yt_check_rc(rc, YOTON_OK, "yoton_sub_recv", file, line);
    }
    yoton_message_data(msg, &data, &len);
    ok = len == strlen(text) && memcmp(data, text, len) == 0;
    if (ok) {
        yt_passed++;
    } else {
        yt_failed++;
        yt_fail_header(file, line);
        fprintf(stderr, "received \"%.*s\", expected \"%s\"\n", (int)len, (const char *)data, text);
    }
    yoton_message_free(msg);
    return ok;
}

/* CHECK_RECV(sub, "text"): the next message (within YT_WAIT seconds) is exactly "text". */
#define CHECK_RECV(sub, text) yt_recv_text((sub), (text), YT_WAIT, __FILE__, __LINE__)

/* --- event-system helpers (yt_ev_; used by test_events_*.c) ------------------------------ */
/* Counters shared with callbacks on other threads use the GCC/Clang __atomic builtins (valid
 * in C11 and C++17). A "pump" thread processes yoton events until told to stop, so tests can
 * check on which thread callbacks run. */
#include <poll.h>
#include <pthread.h>

static inline int yt_ev_load(const int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void yt_ev_store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline int yt_ev_inc(int *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }

/* A free_user_data function: user_data points to an int counter. */
static inline void yt_ev_count_free(void *user_data) { yt_ev_inc((int *)user_data); }

/* Whether `fd` is readable right now (poll with timeout 0). */
static inline int yt_ev_fd_readable(int fd) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

/* yoton's wakeup fd (-1 after a counted failure). */
static inline int yt_ev_wakeup_fd(void) {
    int fd = -1;
    CHECK_OK(yoton_wakeup_fd(&fd));
    return fd;
}

/* Number of pending events ((size_t)-1 on error). */
static inline size_t yt_ev_pending(void) {
    size_t n = (size_t)-1;
    if (yoton_pending_events(&n) != YOTON_OK) {
        return (size_t)-1;
    }
    return n;
}

/* Run whatever is queued now (bounded number of rounds). */
static inline void yt_ev_drain(void) {
    size_t n = 1;
    int rounds = 0;
    while (n > 0 && rounds++ < 1000 && yoton_process_events(0.0, &n) == YOTON_OK) {
    }
}

/* Process events on the calling thread until pred(arg) holds (1) or `timeout` passes (0). */
static inline int yt_ev_pump_until(int (*pred)(void *), void *arg, double timeout) {
    double deadline = yt_now() + timeout;
    for (;;) {
        if (pred(arg)) {
            return 1;
        }
        if (yt_now() >= deadline) {
            return 0;
        }
        yoton_process_events(0.01, NULL);
    }
}

/* Process events on the calling thread for `seconds`. */
static inline void yt_ev_pump_for(double seconds) {
    double deadline = yt_now() + seconds;
    while (yt_now() < deadline) {
        yoton_process_events(0.01, NULL);
    }
}

/* pred for yt_wait_until / yt_ev_pump_until: *(int *)arg != 0. */
static inline int yt_ev_flag_set(void *arg) { return yt_ev_load((const int *)arg) != 0; }

/* A counter reaching a target: pred yt_ev_reached. */
struct yt_ev_target {
    const int *counter;
    int target;
};
static inline int yt_ev_reached(void *arg) {
    struct yt_ev_target *t = (struct yt_ev_target *)arg;
    return yt_ev_load(t->counter) >= t->target;
}
/* Wait (bounded, without processing) until *counter >= target. */
static inline int yt_ev_wait_count(const int *counter, int target, double timeout) {
    struct yt_ev_target t;
    t.counter = counter;
    t.target = target;
    return yt_wait_until(yt_ev_reached, &t, timeout);
}
/* Process events here until *counter >= target (bounded). */
static inline int yt_ev_pump_count(const int *counter, int target, double timeout) {
    struct yt_ev_target t;
    t.counter = counter;
    t.target = target;
    return yt_ev_pump_until(yt_ev_reached, &t, timeout);
}

/* A thread that runs yoton_process_events until stopped. `self` is its id (valid once
 * `started` is set); `errors` counts failing yoton_process_events calls. */
struct yt_ev_pump {
    pthread_t thread;
    pthread_t self;
    int started;
    int stop;
    int errors;
};

static inline void *yt_ev_pump_main(void *arg) {
    struct yt_ev_pump *p = (struct yt_ev_pump *)arg;
    p->self = pthread_self();
    yt_ev_store(&p->started, 1);
    while (!yt_ev_load(&p->stop)) {
        if (yoton_process_events(0.02, NULL) != YOTON_OK) {
            yt_ev_inc(&p->errors);
        }
    }
    return NULL;
}

/* Start a pump thread; 1 when it runs. */
static inline int yt_ev_pump_start(struct yt_ev_pump *p) {
    memset(p, 0, sizeof *p);
    if (!CHECK(pthread_create(&p->thread, NULL, yt_ev_pump_main, p) == 0)) {
        return 0;
    }
    return CHECK(yt_wait_until(yt_ev_flag_set, &p->started, YT_WAIT));
}

/* Stop and join a pump thread; checks it saw no errors. */
static inline void yt_ev_pump_stop(struct yt_ev_pump *p) {
    yt_ev_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    CHECK_EQ_INT(yt_ev_load(&p->errors), 0);
}

/* Where callbacks ran: `calls` and how many of them were NOT on thread `expected`. */
struct yt_ev_where {
    pthread_t expected;
    int calls;
    int wrong_thread;
};

static inline void yt_ev_note(struct yt_ev_where *w) {
    if (!pthread_equal(pthread_self(), w->expected)) {
        yt_ev_inc(&w->wrong_thread);
    }
    yt_ev_inc(&w->calls);
}
/* --- end of event-system helpers ----------------------------------------------------------- */

#endif /* YTEST_H */
