/* The client/server helper from C (docs/protocol.md §11): yoton_request_server_* serving a C
 * handler, yoton_do_request as the client, in one process over loopback. Covers serving in a
 * background thread and in the calling thread, one thread per connection, the default (empty)
 * reply, timeouts, dropped connections with their reason, stop, free callbacks and bad input.
 * (tests/interop/test_clientserver.py runs the same functions against the original.) */
#include "ytest.h"
#include "rawpeer.h"

#include <ctype.h>
#include <pthread.h>

/* --- handlers ---------------------------------------------------------------------------- */

struct server_probe {
    int calls;        /* requests seen (atomic) */
    int freed;        /* free_user_data calls (atomic) */
    int in_handler;   /* handlers running right now (atomic) */
    int max_parallel; /* most handlers seen running at once (atomic) */
    const yoton_request_server *self; /* for "stop" */
    int stop_rc;
};

static void probe_free(void *user_data) {
    yt_ev_inc(&((struct server_probe *)user_data)->freed);
}

/* "upper <text>" -> the text upper-cased; "sleep <s>" -> "slept" after s seconds; "silent" ->
 * no reply set (the default: an empty line); "stop" -> stops the server, replies "stopping". */
static void handler(void *user_data, const char *request, yoton_text_reply *reply) {
    struct server_probe *p = (struct server_probe *)user_data;
    int now = __atomic_add_fetch(&p->in_handler, 1, __ATOMIC_SEQ_CST);
    int seen = yt_ev_load(&p->max_parallel);
    while (now > seen && !__atomic_compare_exchange_n(&p->max_parallel, &seen, now, 0, __ATOMIC_SEQ_CST,
                                                      __ATOMIC_SEQ_CST)) {
    }
    yt_ev_inc(&p->calls);
    if (strncmp(request, "upper ", 6) == 0) {
        char out[256];
        size_t i;
        for (i = 0; request[6 + i] != '\0' && i < sizeof out - 1; i++) {
            out[i] = (char)toupper((unsigned char)request[6 + i]);
        }
        out[i] = '\0';
        yoton_text_reply_set(reply, out); /* still ends in the request's CRLF */
    } else if (strncmp(request, "sleep ", 6) == 0) {
        yt_sleep(atof(request + 6));
        yoton_text_reply_set(reply, "slept"); /* CRLF appended */
    } else if (strncmp(request, "stop", 4) == 0) {
        p->stop_rc = yoton_request_server_stop(p->self);
        yoton_text_reply_set(reply, "stopping");
    }
    __atomic_sub_fetch(&p->in_handler, 1, __ATOMIC_SEQ_CST);
}

static yoton_request_server *make_server(struct server_probe *p, int flags, char *address, size_t cap) {
    yoton_request_server *server = NULL;
    uint16_t port = 0;
    memset(p, 0, sizeof *p);
    if (!CHECK_OK(yoton_request_server_new("127.0.0.1:0", handler, p, probe_free, flags, &server))) {
        return NULL;
    }
    p->self = server;
    CHECK_OK(yoton_request_server_port(server, &port));
    CHECK(port > 0);
    snprintf(address, cap, "127.0.0.1:%u", (unsigned)port);
    return server;
}

/* yoton_do_request, checking the reply text. */
static void expect_reply(const char *address, const char *request, const char *expected, const char *file,
                         int line) {
    char *reply = NULL;
    int rc = yoton_do_request(address, request, 5.0, &reply);
    if (yt_check(rc == YOTON_OK, "yoton_do_request succeeds", file, line)) {
        yt_check(reply != NULL && strcmp(reply, expected) == 0, "the reply is as expected", file, line);
        if (reply == NULL || strcmp(reply, expected) != 0) {
            printf("   request %s -> reply %s, expected %s\n", request, reply ? reply : "(null)", expected);
        }
    }
    yoton_string_free(reply);
}
#define EXPECT_REPLY(addr, req, exp) expect_reply((addr), (req), (exp), __FILE__, __LINE__)

/* --- tests -------------------------------------------------------------------------------- */

static void test_background_server(void) {
    struct server_probe p;
    char address[64];
    char *reply = NULL;
    uint64_t handled = 0, dropped = 0;
    yoton_request_server *server;

    YT_SECTION("a server in its own thread: replies, the default reply, stats, stop");
    server = make_server(&p, YOTON_SERVER_INLINE, address, sizeof address);
    if (server == NULL) {
        return;
    }
    CHECK_OK(yoton_request_server_start(server));
    EXPECT_REPLY(address, "upper hello", "HELLO\r\n");
    EXPECT_REPLY(address, "upper with crlf\r\n", "WITH CRLF\r\n"); /* no second CRLF */
    EXPECT_REPLY(address, "sleep 0.01", "slept\r\n");
    EXPECT_REPLY(address, "silent", "\r\n"); /* nothing set: an empty line */
    /* The server counts a request just before writing its reply (taken back if the write
     * fails); the loop only guards against a slow counter, bounded. */
    {
        double deadline = yt_now() + YT_WAIT;
        do {
            CHECK_OK(yoton_request_server_stats(server, &handled, &dropped));
        } while (handled < 4 && yt_now() < deadline && (yt_sleep(0.005), 1));
    }
    CHECK_EQ_U64(handled, 4);
    CHECK_EQ_U64(dropped, 0);
    CHECK_OK(yoton_request_server_stats(server, NULL, NULL)); /* both optional */
    CHECK_EQ_INT(yt_ev_load(&p.calls), 4);

    /* A reply that takes longer than the client waits. */
    CHECK_RC(yoton_do_request(address, "sleep 0.5", 0.1, &reply), YOTON_ERR_TIMEOUT);
    CHECK(reply == NULL);

    /* Stopped: nobody answers any more. */
    CHECK_OK(yoton_request_server_stop(server));
    CHECK_OK(yoton_request_server_stop(server)); /* twice is harmless */
    CHECK_RC(yoton_do_request(address, "upper late", 1.0, &reply), YOTON_ERR_IO);
    CHECK(strlen(yoton_last_error()) > 0);
    CHECK_EQ_INT(yt_ev_load(&p.freed), 0);
    yoton_request_server_free(server);
    CHECK_EQ_INT(yt_ev_load(&p.freed), 1); /* exactly once, when released */
}

static int calls_at_least_one(void *arg) { return yt_ev_load(&((struct server_probe *)arg)->calls) >= 1; }

static void test_dropped_connection(void) {
    struct server_probe p;
    char address[64];
    char reason[256];
    size_t len = 0;
    uint64_t handled = 0, dropped = 0;
    uint16_t port = 0;
    yoton_request_server *server;
    int fd;

    YT_SECTION("a client that never sends a line is dropped, with a reason");
    server = make_server(&p, YOTON_SERVER_INLINE, address, sizeof address);
    if (server == NULL) {
        return;
    }
    CHECK_OK(yoton_request_server_last_drop_reason(server, reason, sizeof reason, &len));
    CHECK_EQ_INT(len, 0);
    CHECK_STREQ(reason, "");
    CHECK_OK(yoton_request_server_start(server));
    CHECK_OK(yoton_request_server_port(server, &port));
    fd = raw_connect(port);
    CHECK(fd >= 0);
    /* The server gives up on it after 1 s and goes on serving others. */
    EXPECT_REPLY(address, "upper next", "NEXT\r\n");
    CHECK(yt_wait_until(calls_at_least_one, &p, YT_WAIT));
    {
        double deadline = yt_now() + YT_WAIT;
        while (yt_now() < deadline) {
            CHECK_OK(yoton_request_server_stats(server, &handled, &dropped));
            if (dropped >= 1) {
                break;
            }
            yt_sleep(0.02);
        }
    }
    CHECK_EQ_U64(dropped, 1);
    CHECK_EQ_U64(handled, 1);
    CHECK_OK(yoton_request_server_last_drop_reason(server, reason, sizeof reason, &len));
    CHECK(len > 0);
    printf("   drop reason: %s\n", reason);
    /* Buffer convention: a too small buffer is refused, and the length is still given. */
    {
        char small[4];
        size_t full = 0;
        CHECK_RC(yoton_request_server_last_drop_reason(server, small, sizeof small, &full), YOTON_ERR_TOO_LARGE);
        CHECK_EQ_U64(full, len);
    }
    if (fd >= 0) {
        close(fd);
    }
    yoton_request_server_free(server);
}

static void *concurrent_request_main(void *arg) {
    const char *address = (const char *)arg;
    char *reply = NULL;
    intptr_t ok = yoton_do_request(address, "sleep 0.3", 5.0, &reply) == YOTON_OK && reply != NULL &&
                  strcmp(reply, "slept\r\n") == 0;
    yoton_string_free(reply);
    return (void *)ok;
}

static void test_thread_per_connection(void) {
    struct server_probe p;
    char address[64];
    pthread_t th[3];
    int i;
    yoton_request_server *server;

    YT_SECTION("one thread per connection: slow requests are served side by side");
    server = make_server(&p, YOTON_SERVER_THREAD_PER_CONNECTION, address, sizeof address);
    if (server == NULL) {
        return;
    }
    CHECK_OK(yoton_request_server_start(server));
    for (i = 0; i < 3; i++) {
        CHECK(pthread_create(&th[i], NULL, concurrent_request_main, address) == 0);
    }
    for (i = 0; i < 3; i++) {
        void *ok = NULL;
        pthread_join(th[i], &ok);
        CHECK(ok != NULL);
    }
    CHECK_EQ_INT(yt_ev_load(&p.calls), 3);
    CHECK(yt_ev_load(&p.max_parallel) >= 2); /* the inline server would show 1 */
    /* A handler on a connection thread may stop its server: no waiting for itself (stop waits
     * up to 5 s for running handlers; the reply must come well before that). */
    {
        char *reply = NULL;
        CHECK_OK(yoton_do_request(address, "stop", 2.0, &reply));
        CHECK_STREQ(reply, "stopping\r\n");
        yoton_string_free(reply);
        CHECK_OK(p.stop_rc);
    }
    yoton_request_server_free(server);
    CHECK_EQ_INT(yt_ev_load(&p.freed), 1);
}

struct run_job {
    const yoton_request_server *server;
    int rc;
    int returned;
};

static void *run_main(void *arg) {
    struct run_job *job = (struct run_job *)arg;
    job->rc = yoton_request_server_run(job->server);
    yt_ev_store(&job->returned, 1);
    return NULL;
}

static void test_run_in_calling_thread(void) {
    struct server_probe p;
    struct run_job job;
    char address[64];
    pthread_t th;
    yoton_request_server *server;

    YT_SECTION("yoton_request_server_run serves in the calling thread until a handler stops it");
    server = make_server(&p, YOTON_SERVER_INLINE, address, sizeof address);
    if (server == NULL) {
        return;
    }
    memset(&job, 0, sizeof job);
    job.server = server;
    CHECK(pthread_create(&th, NULL, run_main, &job) == 0);
    EXPECT_REPLY(address, "upper run", "RUN\r\n");
    CHECK_EQ_INT(yt_ev_load(&job.returned), 0);
    EXPECT_REPLY(address, "stop", "stopping\r\n");
    CHECK(yt_wait_until(yt_ev_flag_set, &job.returned, YT_WAIT));
    pthread_join(th, NULL);
    CHECK_OK(job.rc);
    CHECK_OK(p.stop_rc);
    yoton_request_server_free(server);
}

static void test_bad_input(void) {
    yoton_request_server *server = NULL;
    char *reply = (char *)"untouched";
    char buf[8];
    size_t len = 0;
    uint16_t port = 0;
    uint64_t n = 0;

    YT_SECTION("bad input: the client/server helper");
    CHECK_RC(yoton_request_server_new(NULL, handler, NULL, NULL, 0, &server), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_new("127.0.0.1:0", NULL, NULL, NULL, 0, &server), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_new("127.0.0.1:0", handler, NULL, NULL, 0, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_new("127.0.0.1:0", handler, NULL, NULL, 9, &server), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_new("no-port-here", handler, NULL, NULL, 0, &server), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_new("127.0.0.1:70000", handler, NULL, NULL, 0, &server),
             YOTON_ERR_INVALID_ARGUMENT); /* port out of range */
    CHECK_RC(yoton_request_server_new("127.0.0.1:\xff", handler, NULL, NULL, 0, &server), YOTON_ERR_ENCODING);
    CHECK(server == NULL);
    CHECK_RC(yoton_request_server_port(NULL, &port), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_start(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_run(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_stop(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_stats(NULL, &n, &n), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_request_server_last_drop_reason(NULL, buf, sizeof buf, &len), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_text_reply_set(NULL, "x"), YOTON_ERR_INVALID_ARGUMENT);
    yoton_request_server_free(NULL); /* no-op */
    yoton_string_free(NULL);         /* no-op */

    CHECK_RC(yoton_do_request(NULL, "x", 1.0, &reply), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_do_request("127.0.0.1:1", NULL, 1.0, &reply), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_do_request("127.0.0.1:1", "x", 1.0, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_do_request("127.0.0.1:1", "x\xff", 1.0, &reply), YOTON_ERR_ENCODING);
    CHECK_RC(yoton_do_request("127.0.0.1", "x", 1.0, &reply), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_do_request("127.0.0.1:70000", "x", 1.0, &reply), YOTON_ERR_INVALID_ARGUMENT);
    /* Nobody listens on port 1 of loopback: refused at once. */
    CHECK_RC(yoton_do_request("127.0.0.1:1", "x", 1.0, &reply), YOTON_ERR_IO);
    CHECK_STREQ(reply, "untouched"); /* out-pointer untouched on failure */
}

struct slow_request {
    const char *address;
    int rc;
};

static void *slow_request_thread(void *arg) {
    struct slow_request *r = (struct slow_request *)arg;
    char *reply = NULL;
    r->rc = yoton_do_request(r->address, "sleep 4", 10.0, &reply);
    yoton_string_free(reply);
    return NULL;
}

/* Freeing a server whose handler runs (issue 10 item 7): in the default (inline) mode the
 * handler runs on the serving thread; the free used to wait for it without limit (14.5 s seen
 * on a 20 s handler). Now it returns after YOTON_HANDLER_WAIT, and the user data is released
 * once the handler returns, never before. */
static void test_free_with_handler_in_flight(void) {
    struct server_probe p;
    char address[64];
    struct slow_request r;
    pthread_t client;
    yoton_request_server *server;
    double t0, took;

    YT_SECTION("server freed while its handler runs: bounded wait");
    server = make_server(&p, YOTON_SERVER_INLINE, address, sizeof address);
    if (server == NULL) {
        return;
    }
    CHECK_OK(yoton_request_server_start(server));
    r.address = address;
    r.rc = -1;
    CHECK(pthread_create(&client, NULL, slow_request_thread, &r) == 0);
    {
        /* Wait (bounded) until the handler is inside its 4 s sleep. */
        double deadline = yt_now() + YT_WAIT;
        while (yt_ev_load(&p.in_handler) == 0 && yt_now() < deadline) {
            yt_sleep(0.001);
        }
    }
    CHECK_EQ_INT(yt_ev_load(&p.in_handler), 1);
    t0 = yt_now();
    yoton_request_server_free(server);
    took = yt_now() - t0;
    printf("   free took %.2f s with a 4 s handler in flight\n", took);
    CHECK(took >= YOTON_HANDLER_WAIT * 0.9 && took < YOTON_HANDLER_WAIT + 1.0);
    CHECK_EQ_INT(yt_ev_load(&p.freed), 0); /* the handler still runs: its data stays */
    CHECK(pthread_join(client, NULL) == 0);
    CHECK_OK(r.rc); /* the request in flight is still answered */
    CHECK(yt_ev_wait_count(&p.freed, 1, YT_WAIT));
    CHECK_EQ_INT(yt_ev_load(&p.in_handler), 0);
}

int main(void) {
    test_bad_input();
    test_background_server();
    test_dropped_connection();
    test_thread_per_connection();
    test_run_in_calling_thread();
    test_free_with_handler_in_flight();
    return yt_summary("test_clientserver");
}
