/* ide_kernel: the IDE/kernel network of the original yoton documentation (the way Pyzo
 * talks to its Python interpreters), in one process with four contexts and a scripted session.
 *
 *   ide_kernel            (runs a short session, about 2 s, and exits; 0 = all went as expected)
 *
 *        [ide1] ---\                                   (each line: one TCP connection on
 *                   [broker] --- localhost --- [kernel]  loopback; messages are routed
 *        [ide2] ---/                                   through the broker, hop by hop)
 *
 * Channels (slot base names as in Pyzo):
 *   strm-out          kernel PUB  -> ide SUB   the kernel's stdout, as text
 *   strm-in           ide PUB     -> kernel SUB  what the user types (any IDE may type)
 *   stat-interpreter  STATE, both ways           "Ready" / "Busy"; a late joiner gets it too
 *   reqp-introspect   ide REQ     -> kernel REP  introspection calls; the kernel answers in
 *                                                its replier's own thread (YOTON_REP_THREAD),
 *                                                so it answers even while "executing"
 *   strm-broker       broker PUB  -> ide SUB     the broker's own news: kernel connected,
 *                                                kernel exited (from the connection's
 *                                                `closed` signal), "very busy" (`timedout`)
 *
 * Everything is event-driven: `received` callbacks, timers, future done-callbacks and
 * connection signals, all run by yoton_start_event_loop on the main thread (except the
 * introspection handler, which runs on the replier's thread). The session, one step every
 * 0.3 s: ide1 runs "add 40 2", ide2 runs "print hello", ide2 asks the kernel for a signature
 * and for an unknown method (an error reply), ide1 runs "exit"; the kernel says bye and closes
 * its connection, the broker reports it, and the program ends when both IDEs heard that.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yoton.h>

static void die(const char *what, int rc) {
    fprintf(stderr, "ide_kernel: %s failed: %s (%s)\n", what, yoton_strerror(rc),
            yoton_last_error());
    exit(1);
}
#define TRY(call)                                  \
    do {                                           \
        int rc_ = (call);                          \
        if (rc_ != YOTON_OK) die(#call, rc_);      \
    } while (0)

/* --- the nodes ------------------------------------------------------------------------- */

struct kernel {
    yoton_context *ctx;
    yoton_connection *to_broker;
    yoton_channel *out, *in, *status, *introspect;
    char pending_output[256]; /* the result of the command being "executed" */
    int busy;
};

struct broker {
    yoton_context *ctx;
    yoton_connection *kernel_conn; /* the bind the kernel connected to */
    yoton_channel *news;
};

struct ide {
    const char *name;
    yoton_context *ctx;
    yoton_channel *out, *in, *status, *introspect, *broker_news;
    int heard_exit;
    char last_status[32]; /* the state is re-sent when a context joins: print changes only */
};

static struct kernel kernel;
static struct broker broker;
static struct ide ide1 = {"ide1", NULL, NULL, NULL, NULL, NULL, NULL, 0, ""};
static struct ide ide2 = {"ide2", NULL, NULL, NULL, NULL, NULL, NULL, 0, ""};
static int problems = 0;

static void send_text(const yoton_channel *pub, const char *text) {
    TRY(yoton_pub_send(pub, text, strlen(text)));
}

/* --- kernel ------------------------------------------------------------------------------ */

static void set_status(const char *status) {
    TRY(yoton_state_send(kernel.status, status, strlen(status)));
}

/* The end of a command's "execution" (0.2 s later): print the output, become Ready. */
static void kernel_finish(void *user_data) {
    (void)user_data;
    send_text(kernel.out, kernel.pending_output);
    kernel.busy = 0;
    set_status("Ready");
}

static void kernel_shutdown(void *user_data) {
    (void)user_data;
    send_text(kernel.out, "bye");
    yoton_context_flush(kernel.ctx, 2.0); /* deliver "bye" before closing */
    printf("[kernel] shutting down\n");
    TRY(yoton_connection_close(kernel.to_broker, "Kernel shut down"));
}

/* strm-in received: run the commands typed in any IDE. */
static void kernel_on_input(void *user_data) {
    yoton_message **msgs = NULL;
    size_t n = 0, i;
    (void)user_data;
    TRY(yoton_sub_recv_all(kernel.in, &msgs, &n));
    for (i = 0; i < n; i++) {
        const void *data = NULL;
        size_t len = 0;
        const char *cmd;
        long a = 0, b = 0;
        char echo[300];
        yoton_message_data(msgs[i], &data, &len);
        cmd = (const char *)data;
        printf("[kernel] executing \"%s\"\n", cmd);
        snprintf(echo, sizeof echo, ">>> %s", cmd);
        send_text(kernel.out, echo);
        if (strcmp(cmd, "exit") == 0) {
            yoton_call_later(0.05, kernel_shutdown, NULL, NULL);
            continue;
        }
        if (sscanf(cmd, "add %ld %ld", &a, &b) == 2) {
            snprintf(kernel.pending_output, sizeof kernel.pending_output, "%ld", a + b);
        } else if (strncmp(cmd, "print ", 6) == 0) {
            snprintf(kernel.pending_output, sizeof kernel.pending_output, "%s", cmd + 6);
        } else {
            snprintf(kernel.pending_output, sizeof kernel.pending_output,
                     "error: unknown command");
        }
        /* Busy while "executing": the status reaches every IDE through the broker. */
        kernel.busy = 1;
        set_status("Busy");
        yoton_call_later(0.2, kernel_finish, NULL, NULL);
    }
    yoton_message_array_free(msgs, n);
}

/* reqp-introspect "signature": runs on the replier's own thread (thread mode). */
static void kernel_signature(void *user_data, const yoton_value *args, const yoton_value *kwargs,
                             yoton_reply *reply) {
    const yoton_value *name = NULL;
    char text[64] = "", sig[128];
    yoton_value *result = NULL;
    (void)user_data;
    (void)kwargs;
    if (yoton_value_item(args, 0, &name) != YOTON_OK ||
        yoton_value_copy_string(name, text, sizeof text, NULL) != YOTON_OK) {
        yoton_reply_set_error(reply, "TypeError: signature(name) needs a name");
        return;
    }
    if (strcmp(text, "print") == 0) snprintf(sig, sizeof sig, "print(text)");
    else if (strcmp(text, "add") == 0) snprintf(sig, sizeof sig, "add(a, b)");
    else {
        snprintf(sig, sizeof sig, "NameError: name '%s' is not defined", text);
        yoton_reply_set_error(reply, sig);
        return;
    }
    yoton_value_new_string(sig, &result);
    yoton_reply_set_result(reply, result);
    yoton_value_free(result);
}

static void kernel_create(void) {
    TRY(yoton_context_new(&kernel.ctx));
    TRY(yoton_pub_new(kernel.ctx, "strm-out", "txt", &kernel.out));
    TRY(yoton_sub_new(kernel.ctx, "strm-in", "txt", &kernel.in));
    TRY(yoton_state_new(kernel.ctx, "stat-interpreter", "txt", &kernel.status));
    TRY(yoton_rep_new(kernel.ctx, "reqp-introspect", &kernel.introspect));
    TRY(yoton_channel_on_received(kernel.in, kernel_on_input, NULL, NULL, NULL));
    TRY(yoton_rep_register(kernel.introspect, "signature", kernel_signature, NULL, NULL));
    TRY(yoton_rep_set_mode(kernel.introspect, YOTON_REP_THREAD));
    set_status("Ready");
}

/* --- broker ------------------------------------------------------------------------------ */

static void broker_on_kernel_closed(void *user_data, const char *reason) {
    char text[300];
    (void)user_data;
    snprintf(text, sizeof text, "kernel exited (%s)", reason);
    printf("[broker] %s\n", text);
    send_text(broker.news, text);
}

static void broker_on_kernel_timedout(void *user_data, bool timedout) {
    (void)user_data;
    /* Pyzo shows "Very busy" when the kernel stops answering (stuck in extension code). */
    send_text(broker.news, timedout ? "kernel is very busy" : "kernel responds again");
}

/* Host a connection, return the handle and the "127.0.0.1:port" to connect to. */
static yoton_connection *bind_any(const yoton_context *ctx, const char *label, char *address,
                                  size_t cap) {
    yoton_connection *conn = NULL;
    uint16_t port = 0;
    TRY(yoton_context_bind(ctx, "localhost:0", 1, label, &conn));
    TRY(yoton_connection_port1(conn, &port));
    snprintf(address, cap, "127.0.0.1:%u", (unsigned)port);
    return conn;
}

/* Wait (bounded) until a hosted connection has its peer. */
static void wait_hosting(const yoton_connection *conn, const char *label) {
    int status = 0, i;
    for (i = 0; i < 500; i++) {
        yoton_connection_get_status(conn, &status);
        if (status == YOTON_STATUS_HOSTING) return;
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL);
    }
    fprintf(stderr, "ide_kernel: %s did not come up\n", label);
    exit(1);
}

/* --- IDEs -------------------------------------------------------------------------------- */

static void ide_on_output(void *user_data) {
    struct ide *ide = (struct ide *)user_data;
    yoton_message **msgs = NULL;
    size_t n = 0, i;
    TRY(yoton_sub_recv_all(ide->out, &msgs, &n));
    for (i = 0; i < n; i++) {
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(msgs[i], &data, &len);
        printf("[%s] out: %s\n", ide->name, (const char *)data);
    }
    yoton_message_array_free(msgs, n);
}

static void ide_on_status(void *user_data) {
    struct ide *ide = (struct ide *)user_data;
    yoton_message *m = NULL;
    const void *data = NULL;
    size_t len = 0;
    TRY(yoton_state_recv(ide->status, &m));
    yoton_message_data(m, &data, &len);
    if (len > 0 && strcmp((const char *)data, ide->last_status) != 0) {
        snprintf(ide->last_status, sizeof ide->last_status, "%s", (const char *)data);
        printf("[%s] kernel status: %s\n", ide->name, ide->last_status);
    }
    yoton_message_free(m);
}

static void ide_on_broker_news(void *user_data) {
    struct ide *ide = (struct ide *)user_data;
    yoton_message **msgs = NULL;
    size_t n = 0, i;
    TRY(yoton_sub_recv_all(ide->broker_news, &msgs, &n));
    for (i = 0; i < n; i++) {
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(msgs[i], &data, &len);
        printf("[%s] broker: %s\n", ide->name, (const char *)data);
        if (strncmp((const char *)data, "kernel exited", 13) == 0) ide->heard_exit = 1;
    }
    yoton_message_array_free(msgs, n);
    if (ide1.heard_exit && ide2.heard_exit) {
        printf("both IDEs know the kernel is gone: end of session\n");
        yoton_stop_event_loop();
    }
}

static void ide_create(struct ide *ide) {
    TRY(yoton_context_new(&ide->ctx));
    TRY(yoton_sub_new(ide->ctx, "strm-out", "txt", &ide->out));
    TRY(yoton_pub_new(ide->ctx, "strm-in", "txt", &ide->in));
    TRY(yoton_state_new(ide->ctx, "stat-interpreter", "txt", &ide->status));
    TRY(yoton_req_new(ide->ctx, "reqp-introspect", &ide->introspect));
    TRY(yoton_sub_new(ide->ctx, "strm-broker", "txt", &ide->broker_news));
    TRY(yoton_channel_on_received(ide->out, ide_on_output, ide, NULL, NULL));
    TRY(yoton_channel_on_received(ide->status, ide_on_status, ide, NULL, NULL));
    TRY(yoton_channel_on_received(ide->broker_news, ide_on_broker_news, ide, NULL, NULL));
}

/* A request's done-callback (main thread): print the answer and release the future. */
struct call {
    const char *ide;
    const char *what;
    yoton_future *future;
    int expect_error;
};

static void on_introspect_done(void *user_data, const yoton_future *f) {
    struct call *c = (struct call *)user_data;
    yoton_value *v = NULL;
    char text[256] = "";
    int rc = yoton_future_result(f, 0.0, &v);
    if (rc == YOTON_OK) {
        yoton_value_repr(v, text, sizeof text, NULL);
        printf("[%s] %s -> %s\n", c->ide, c->what, text);
        yoton_value_free(v);
    } else if (rc == YOTON_ERR_REMOTE) {
        yoton_future_exception(f, 0.0, text, sizeof text, NULL);
        printf("[%s] %s -> error: %s\n", c->ide, c->what, text);
    } else {
        printf("[%s] %s -> %s\n", c->ide, c->what, yoton_strerror(rc));
    }
    if ((rc == YOTON_ERR_REMOTE) != c->expect_error) problems++;
    yoton_future_free(c->future); /* our handle; the callback got a borrowed one */
    free(c);
}

static void introspect(struct ide *ide, const char *name, int expect_error) {
    struct call *c = (struct call *)calloc(1, sizeof *c);
    yoton_value *args = yoton_value_new_tuple(), *s = NULL;
    TRY(yoton_value_new_string(name, &s));
    TRY(yoton_value_append(args, s));
    c->ide = ide->name;
    c->what = expect_error ? "signature(unknown)" : "signature(print)";
    c->expect_error = expect_error;
    TRY(yoton_req_call(ide->introspect, "signature", args, NULL, &c->future));
    TRY(yoton_future_add_done_callback(c->future, on_introspect_done, c, NULL));
    yoton_value_free(args);
    yoton_value_free(s);
}

/* --- the scripted session ---------------------------------------------------------------- */

static void type(struct ide *ide, const char *cmd) {
    printf("[%s] types \"%s\"\n", ide->name, cmd);
    send_text(ide->in, cmd);
}

static void step(void *user_data) {
    int i = (int)(size_t)user_data;
    switch (i) {
    case 0: type(&ide1, "add 40 2"); break;
    case 1: type(&ide2, "print hello"); break;
    case 2: introspect(&ide2, "print", 0); break;
    case 3: introspect(&ide2, "nonsense", 1); break;
    case 4: type(&ide1, "exit"); return; /* the last step */
    }
    yoton_call_later(0.3, step, (void *)(size_t)(i + 1), NULL);
}

static void give_up(void *user_data) {
    (void)user_data;
    fprintf(stderr, "ide_kernel: session did not finish in time\n");
    problems++;
    yoton_stop_event_loop();
}

int main(void) {
    char kernel_addr[64], ide1_addr[64], ide2_addr[64];
    yoton_connection *b1, *b2, *c1 = NULL, *c2 = NULL;
    yoton_timer *watchdog = NULL;
    uint64_t kernel_pid = 0;
    char news[64];

    setvbuf(stdout, NULL, _IOLBF, 0);
    kernel_create();
    ide_create(&ide1);
    ide_create(&ide2);
    TRY(yoton_context_new(&broker.ctx));
    TRY(yoton_pub_new(broker.ctx, "strm-broker", "txt", &broker.news));

    /* The broker hosts one connection per peer (one peer per bind). */
    b1 = bind_any(broker.ctx, "ide1", ide1_addr, sizeof ide1_addr);
    b2 = bind_any(broker.ctx, "ide2", ide2_addr, sizeof ide2_addr);
    broker.kernel_conn = bind_any(broker.ctx, "kernel", kernel_addr, sizeof kernel_addr);
    TRY(yoton_connection_on_closed(broker.kernel_conn, broker_on_kernel_closed, NULL, NULL, NULL));
    TRY(yoton_connection_on_timedout(broker.kernel_conn, broker_on_kernel_timedout, NULL, NULL,
                                     NULL));
    TRY(yoton_context_connect(ide1.ctx, ide1_addr, 5.0, "broker", &c1));
    TRY(yoton_context_connect(ide2.ctx, ide2_addr, 5.0, "broker", &c2));
    TRY(yoton_context_connect(kernel.ctx, kernel_addr, 5.0, "broker", &kernel.to_broker));
    wait_hosting(b1, "ide1");
    wait_hosting(b2, "ide2");
    wait_hosting(broker.kernel_conn, "kernel");
    printf("network up: kernel at broker %s, IDEs at %s and %s\n", kernel_addr, ide1_addr,
           ide2_addr);
    TRY(yoton_connection_pid2(broker.kernel_conn, &kernel_pid));
    snprintf(news, sizeof news, "kernel connected (pid %llu)", (unsigned long long)kernel_pid);
    send_text(broker.news, news);

    /* The session, then the event loop runs everything until an IDE callback stops it. */
    yoton_call_later(0.3, step, (void *)(size_t)0, NULL);
    TRY(yoton_timer_new(20.0, true, &watchdog));
    TRY(yoton_timer_bind(watchdog, give_up, NULL, NULL, NULL));
    TRY(yoton_timer_start(watchdog, -1.0, -1));
    TRY(yoton_start_event_loop());
    yoton_timer_free(watchdog);

    printf("session %s\n", problems == 0 ? "ok" : "FAILED");
    yoton_connection_free(b1);
    yoton_connection_free(b2);
    yoton_connection_free(c1);
    yoton_connection_free(c2);
    yoton_connection_free(broker.kernel_conn);
    yoton_connection_free(kernel.to_broker);
    {
        struct ide *ides[2] = {&ide1, &ide2};
        int i;
        for (i = 0; i < 2; i++) {
            yoton_channel_free(ides[i]->out);
            yoton_channel_free(ides[i]->in);
            yoton_channel_free(ides[i]->status);
            yoton_channel_free(ides[i]->introspect);
            yoton_channel_free(ides[i]->broker_news);
            yoton_context_free(ides[i]->ctx);
        }
    }
    yoton_channel_free(kernel.out);
    yoton_channel_free(kernel.in);
    yoton_channel_free(kernel.status);
    yoton_channel_free(kernel.introspect);
    yoton_context_free(kernel.ctx);
    yoton_channel_free(broker.news);
    yoton_context_free(broker.ctx);
    return problems == 0 ? 0 : 1;
}
