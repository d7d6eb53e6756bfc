/* simple_client_server: the "simple client server" of the original yoton documentation.
 *
 *   simple_client_server server [address]   # start this first: binds, serves, exits on "quit"
 *   simple_client_server client [address]   # connects, makes a few requests, stops the server
 *   simple_client_server both               # both in one process (a thread each), free port
 *
 * address defaults to "localhost:yoton_simple" (a named port: yoton hashes the name to a port
 * number, the same in every program).
 *
 * Two contexts. The server takes the server role with two channels:
 *   - a publisher on "stream": a log of what it does, for whoever subscribes;
 *   - a replier on "data" with the methods add(a, b), upper(text) and quit().
 * The client deploys the matching pair:
 *   - a subscriber on "stream" (it prints the server's log lines);
 *   - a requester on "data" (each call returns a future; the result comes later).
 *
 *        server context                      client context
 *     [pub  "stream"] ------------------> [sub  "stream"]
 *     [rep  "data"  ] <-----------------> [req  "data"  ]
 *
 * The replier runs in event mode: its handlers run inside yoton_process_events, so the whole
 * server is one thread with an ordinary event loop. (YOTON_REP_THREAD would run them in a
 * thread of the channel instead.) The server exits when a client calls quit(), or with
 * status 1 after 30 s without one; the client exits when it is done (status 1 if anything
 * went wrong).
 *
 * Build: part of the CMake build (build/examples/simple_client_server), or by hand:
 *   cc -std=c11 simple_client_server.c -o simple_client_server -lpthread \
 *      $(pkg-config --cflags --libs yoton)
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yoton.h>

#define DEFAULT_ADDRESS "localhost:yoton_simple"

static void die(const char *who, const char *what, int rc) {
    fprintf(stderr, "%s: %s failed: %s (%s)\n", who, what, yoton_strerror(rc), yoton_last_error());
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ===================================== server ============================================ */

struct server {
    yoton_context *ctx;
    yoton_channel *pub;  /* "stream": the server's log */
    yoton_channel *rep;  /* "data": the methods */
    yoton_connection *conn;
    int stop;            /* set by quit(); only touched on the server's event thread */
};

/* Print a line and publish it on "stream". */
static void server_log(struct server *s, const char *text) {
    printf("server: %s\n", text);
    fflush(stdout);
    yoton_pub_send(s->pub, text, strlen(text));
}

/* add(a, b) -> a + b. Handlers get the positional args as a tuple and the keyword args as a
 * dict (both borrowed for the call) and answer through `reply`. */
static void method_add(void *user_data, const yoton_value *args, const yoton_value *kwargs,
                       yoton_reply *reply) {
    struct server *s = (struct server *)user_data;
    const yoton_value *a = NULL, *b = NULL;
    int64_t x, y;
    yoton_value *sum;
    char line[128];
    (void)kwargs;
    if (yoton_value_item(args, 0, &a) != YOTON_OK || yoton_value_item(args, 1, &b) != YOTON_OK ||
        yoton_value_get_int(a, &x) != YOTON_OK || yoton_value_get_int(b, &y) != YOTON_OK) {
        /* The requester gets YOTON_ERR_REMOTE with this text. */
        yoton_reply_set_error(reply, "add() needs two integers");
        return;
    }
    snprintf(line, sizeof line, "add(%lld, %lld) = %lld", (long long)x, (long long)y,
             (long long)(x + y));
    server_log(s, line);
    sum = yoton_value_new_int(x + y);
    yoton_reply_set_result(reply, sum); /* copied: we still own `sum` */
    yoton_value_free(sum);
}

/* upper(text) -> TEXT */
static void method_upper(void *user_data, const yoton_value *args, const yoton_value *kwargs,
                         yoton_reply *reply) {
    struct server *s = (struct server *)user_data;
    const yoton_value *arg = NULL;
    char text[256], line[300];
    size_t i;
    yoton_value *result = NULL;
    (void)kwargs;
    if (yoton_value_item(args, 0, &arg) != YOTON_OK ||
        yoton_value_copy_string(arg, text, sizeof text, NULL) != YOTON_OK) {
        yoton_reply_set_error(reply, "upper() needs one (short) string");
        return;
    }
    snprintf(line, sizeof line, "upper('%s')", text);
    server_log(s, line);
    for (i = 0; text[i] != '\0'; i++) {
        text[i] = (char)toupper((unsigned char)text[i]);
    }
    if (yoton_value_new_string(text, &result) == YOTON_OK) {
        yoton_reply_set_result(reply, result);
    }
    yoton_value_free(result);
}

/* quit() -> "bye", and the server loop ends. */
static void method_quit(void *user_data, const yoton_value *args, const yoton_value *kwargs,
                        yoton_reply *reply) {
    struct server *s = (struct server *)user_data;
    yoton_value *bye = NULL;
    (void)args;
    (void)kwargs;
    server_log(s, "quit() - shutting down");
    s->stop = 1;
    if (yoton_value_new_string("bye", &bye) == YOTON_OK) {
        yoton_reply_set_result(reply, bye);
    }
    yoton_value_free(bye);
}

/* Create the context and channels and bind. Returns the listening port. */
static uint16_t server_start(struct server *s, const char *address) {
    int rc;
    uint16_t port = 0;
    memset(s, 0, sizeof *s);
    if ((rc = yoton_context_new(&s->ctx)) != YOTON_OK) die("server", "yoton_context_new", rc);
    if ((rc = yoton_pub_new(s->ctx, "stream", "txt", &s->pub)) != YOTON_OK)
        die("server", "yoton_pub_new", rc);
    if ((rc = yoton_rep_new(s->ctx, "data", &s->rep)) != YOTON_OK)
        die("server", "yoton_rep_new", rc);
    /* One handler per method; user data is our server (no free function needed). */
    yoton_rep_register(s->rep, "add", method_add, s, NULL);
    yoton_rep_register(s->rep, "upper", method_upper, s, NULL);
    yoton_rep_register(s->rep, "quit", method_quit, s, NULL);
    /* Event mode: requests are handled by yoton_process_events (see server_run). */
    if ((rc = yoton_rep_set_mode(s->rep, YOTON_REP_EVENT)) != YOTON_OK)
        die("server", "yoton_rep_set_mode", rc);
    /* Bind: returns at once with a connection waiting for one client. */
    if ((rc = yoton_context_bind(s->ctx, address, 1, "server", &s->conn)) != YOTON_OK)
        die("server", "yoton_context_bind", rc);
    yoton_connection_port1(s->conn, &port);
    printf("server: listening on %s (port %u)\n", address, (unsigned)port);
    fflush(stdout);
    return port;
}

/* The server's event loop: process events until quit() or 30 s. */
static int server_run(struct server *s) {
    double deadline = now() + 30.0;
    while (!s->stop && now() < deadline) {
        /* Wait up to 0.1 s for the first event, then run everything queued. */
        yoton_process_events(0.1, NULL);
    }
    /* Deliver the last log line and the reply to quit() before closing. */
    yoton_context_flush(s->ctx, 2.0);
    yoton_channel_free(s->pub);
    yoton_channel_free(s->rep);
    yoton_connection_free(s->conn);
    yoton_context_free(s->ctx);
    printf("server: %s\n", s->stop ? "done" : "no quit() within 30 s, giving up");
    fflush(stdout);
    return s->stop ? 0 : 1;
}

/* ===================================== client ============================================ */

/* Print every log line the server published so far (waiting up to `wait` s for the first). */
static void client_show_stream(const yoton_channel *sub, double wait) {
    yoton_message *msg = NULL;
    while (yoton_sub_recv(sub, wait, &msg) == YOTON_OK) {
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(msg, &data, &len);
        printf("client: server said \"%s\"\n", (const char *)data);
        yoton_message_free(msg);
        msg = NULL;
        wait = 0.0;
    }
}

/* Wait for a future and print its result (or error); returns 1 if it succeeded. */
static int client_show_result(const char *call, yoton_future *f, char *out, size_t cap) {
    yoton_value *v = NULL;
    char text[256];
    int rc = yoton_future_result(f, 10.0, &v);
    if (rc == YOTON_OK) {
        yoton_value_repr(v, text, sizeof text, NULL);
        printf("client: %s -> %s\n", call, text);
        if (out != NULL) snprintf(out, cap, "%s", text);
        yoton_value_free(v);
    } else if (rc == YOTON_ERR_REMOTE) {
        /* The replier's error text. */
        yoton_future_exception(f, 0.0, text, sizeof text, NULL);
        printf("client: %s -> error from the server: %s\n", call, text);
        if (out != NULL) snprintf(out, cap, "error: %.200s", text);
    } else {
        printf("client: %s -> failed: %s (%s)\n", call, yoton_strerror(rc), yoton_last_error());
    }
    fflush(stdout);
    yoton_future_free(f);
    return rc == YOTON_OK;
}

static int client_run(const char *address) {
    yoton_context *ctx = NULL;
    yoton_channel *sub = NULL, *req = NULL;
    yoton_connection *conn = NULL;
    yoton_future *f = NULL;
    yoton_value *args, *x;
    char got[256];
    int rc, ok = 1;

    if ((rc = yoton_context_new(&ctx)) != YOTON_OK) die("client", "yoton_context_new", rc);
    if ((rc = yoton_sub_new(ctx, "stream", "txt", &sub)) != YOTON_OK)
        die("client", "yoton_sub_new", rc);
    if ((rc = yoton_req_new(ctx, "data", &req)) != YOTON_OK) die("client", "yoton_req_new", rc);
    /* Connect, retrying for up to 5 s (the server may still be starting). */
    if ((rc = yoton_context_connect(ctx, address, 5.0, "client", &conn)) != YOTON_OK)
        die("client", "yoton_context_connect", rc);
    printf("client: connected to %s\n", address);
    fflush(stdout);

    /* add(3, 4): args are a tuple of values. The call returns a future at once. */
    args = yoton_value_new_tuple();
    x = yoton_value_new_int(3);
    yoton_value_append(args, x);
    yoton_value_free(x);
    x = yoton_value_new_int(4);
    yoton_value_append(args, x);
    yoton_value_free(x);
    if ((rc = yoton_req_call(req, "add", args, NULL, &f)) != YOTON_OK)
        die("client", "yoton_req_call", rc);
    yoton_value_free(args); /* copied by the call */
    ok &= client_show_result("add(3, 4)", f, got, sizeof got);
    ok &= strcmp(got, "7") == 0;
    client_show_stream(sub, 2.0);

    /* upper("hello yoton") */
    args = yoton_value_new_tuple();
    yoton_value_new_string("hello yoton", &x);
    yoton_value_append(args, x);
    yoton_value_free(x);
    if ((rc = yoton_req_call(req, "upper", args, NULL, &f)) != YOTON_OK)
        die("client", "yoton_req_call", rc);
    yoton_value_free(args);
    ok &= client_show_result("upper('hello yoton')", f, got, sizeof got);
    ok &= strcmp(got, "'HELLO YOTON'") == 0;
    client_show_stream(sub, 2.0);

    /* A method the server does not have: a remote error. */
    if ((rc = yoton_req_call(req, "divide", NULL, NULL, &f)) != YOTON_OK)
        die("client", "yoton_req_call", rc);
    client_show_result("divide()", f, got, sizeof got);
    ok &= strcmp(got, "error: Method 'divide' not implemented.") == 0;

    /* quit() stops the server. */
    if ((rc = yoton_req_call(req, "quit", NULL, NULL, &f)) != YOTON_OK)
        die("client", "yoton_req_call", rc);
    ok &= client_show_result("quit()", f, got, sizeof got);
    client_show_stream(sub, 2.0);

    yoton_channel_free(sub);
    yoton_channel_free(req);
    yoton_connection_free(conn);
    yoton_context_free(ctx);
    printf("client: %s\n", ok ? "done" : "something went wrong");
    fflush(stdout);
    return ok ? 0 : 1;
}

/* ===================================== both ============================================== */

static void *server_thread(void *arg) {
    static int status;
    status = server_run((struct server *)arg);
    return &status;
}

static int run_both(void) {
    struct server s;
    pthread_t thread;
    void *status = NULL;
    char address[64];
    int client_status;
    /* A free port; the server processes its events in its own thread. */
    uint16_t port = server_start(&s, "localhost:0");
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    if (pthread_create(&thread, NULL, server_thread, &s) != 0) {
        fprintf(stderr, "cannot start the server thread\n");
        return 1;
    }
    client_status = client_run(address);
    pthread_join(thread, &status);
    return client_status != 0 || *(int *)status != 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    const char *address = argc > 2 ? argv[2] : DEFAULT_ADDRESS;
    if (strcmp(mode, "server") == 0) {
        struct server s;
        server_start(&s, address);
        return server_run(&s);
    }
    if (strcmp(mode, "client") == 0) return client_run(address);
    if (strcmp(mode, "both") == 0) return run_both();
    fprintf(stderr, "usage: %s server|client [address]\n       %s both\n", argv[0], argv[0]);
    return 2;
}
