/* Channel and connection callbacks from C: yoton_channel_on_received / yoton_channel_unbind,
 * yoton_connection_on_closed / on_timedout / yoton_connection_unbind.
 *
 *  - they run on the event-processing thread only (a dedicated pump thread here);
 *  - a burst of arrivals gives one `received` call;
 *  - no call after unbind or after the handle was freed, even with the event already queued;
 *  - handlers that free their own handle; free_user_data exactly once per binding;
 *  - `timedout` for a silent raw peer, and for a real peer in a child process that is stopped
 *    (SIGSTOP: timedout(true)) and continued (SIGCONT: timedout(false)); `closed` with "Other
 *    end dropped the connection." when the child is killed with SIGKILL.
 *
 * The child is this same program run again with "--child PORT" (fork + exec, so the child
 * does not inherit a half-copied multithreaded yoton). Only our child's pid is ever signalled,
 * and it is always reaped. */
#include "ytest.h"
#include "rawpeer.h"

#include <limits.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

/* --- helpers ---------------------------------------------------------------------------- */

static int status_of(const yoton_connection *conn) {
    int status = -1;
    CHECK_OK(yoton_connection_get_status(conn, &status));
    return status;
}

/* Receive callback state: drains the subscriber on each call. */
struct recv_probe {
    const yoton_channel *sub;
    struct yt_ev_where where;
    int messages;
    int freed;
    int after_free;
    /* actions */
    const yoton_channel *unbind_on;  /* unbind `unbind_id` on this channel when called */
    uint64_t unbind_id;
    yoton_channel *free_me;          /* free this channel handle when called */
};

static void recv_cb(void *user_data) {
    struct recv_probe *p = (struct recv_probe *)user_data;
    yoton_message **msgs = NULL;
    size_t n = 0;
    if (yt_ev_load(&p->freed)) {
        yt_ev_inc(&p->after_free);
    }
    yt_ev_note(&p->where);
    if (p->sub != NULL && yoton_sub_recv_all(p->sub, &msgs, &n) == YOTON_OK) {
        __atomic_add_fetch(&p->messages, (int)n, __ATOMIC_SEQ_CST);
        yoton_message_array_free(msgs, n);
    }
    if (p->unbind_on != NULL) {
        yoton_channel_unbind(p->unbind_on, p->unbind_id);
        p->unbind_on = NULL;
    }
    if (p->free_me != NULL) {
        yoton_channel *ch = p->free_me;
        p->free_me = NULL;
        p->sub = NULL;
        yoton_channel_free(ch);
    }
}

static void recv_free(void *user_data) {
    struct recv_probe *p = (struct recv_probe *)user_data;
    yt_ev_inc(&p->freed);
}

/* Connection callback state. */
struct conn_probe {
    struct yt_ev_where where;
    int closed;
    char reason[256];
    int timedout_true;
    int timedout_false;
    int last_timedout;
    int order_ok; /* timedout(false) only ever after a timedout(true) */
    int freed;
    int after_free;
    yoton_connection *free_me; /* freed by the closed handler when set */
};

static void closed_cb(void *user_data, const char *reason) {
    struct conn_probe *p = (struct conn_probe *)user_data;
    if (yt_ev_load(&p->freed)) {
        yt_ev_inc(&p->after_free);
    }
    yt_ev_note(&p->where);
    snprintf(p->reason, sizeof p->reason, "%s", reason != NULL ? reason : "(NULL)");
    yt_ev_inc(&p->closed);
    if (p->free_me != NULL) {
        yoton_connection *c = p->free_me;
        p->free_me = NULL;
        yoton_connection_free(c);
    }
}

static void timedout_cb(void *user_data, bool timedout) {
    struct conn_probe *p = (struct conn_probe *)user_data;
    if (yt_ev_load(&p->freed)) {
        yt_ev_inc(&p->after_free);
    }
    yt_ev_note(&p->where);
    if (timedout) {
        yt_ev_inc(&p->timedout_true);
    } else {
        if (yt_ev_load(&p->timedout_true) == 0) {
            p->order_ok = 0;
        }
        yt_ev_inc(&p->timedout_false);
    }
    yt_ev_store(&p->last_timedout, timedout ? 1 : 0);
}

static void conn_free(void *user_data) {
    struct conn_probe *p = (struct conn_probe *)user_data;
    yt_ev_inc(&p->freed);
}

static void conn_probe_init(struct conn_probe *p, pthread_t expected) {
    memset(p, 0, sizeof *p);
    p->where.expected = expected;
    p->order_ok = 1;
    p->last_timedout = -1;
}

static yoton_channel *make(int kind, const yoton_context *ctx, const char *base) {
    yoton_channel *ch = NULL;
    if (kind == YOTON_PUB) {
        CHECK_OK(yoton_pub_new(ctx, base, NULL, &ch));
    } else if (kind == YOTON_SUB) {
        CHECK_OK(yoton_sub_new(ctx, base, NULL, &ch));
    } else {
        CHECK_OK(yoton_state_new(ctx, base, NULL, &ch));
    }
    return ch;
}

static int pending_at_least(void *arg) {
    size_t want = *(const size_t *)arg;
    size_t n = yt_ev_pending();
    return n != (size_t)-1 && n >= want;
}

/* Wait (without processing) until at least n events are queued. */
static int wait_queued(size_t n) {
    return yt_wait_until(pending_at_least, &n, YT_WAIT);
}

/* --- received ------------------------------------------------------------------------------ */

static void test_received_on_processing_thread(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = make(YOTON_PUB, a, "ev");
    yoton_channel *sub = make(YOTON_SUB, b, "ev");
    yoton_channel *st_a = make(YOTON_STATE, a, "status");
    yoton_channel *st_b = make(YOTON_STATE, b, "status");
    struct yt_ev_pump pump;
    struct recv_probe p, ps;
    int i;

    YT_SECTION("received: on the processing thread, bursts coalesce, state channels too");
    CHECK(yt_link(a, b, NULL, NULL));
    if (!yt_ev_pump_start(&pump)) {
        return;
    }
    memset(&p, 0, sizeof p);
    memset(&ps, 0, sizeof ps);
    p.sub = sub;
    p.where.expected = pump.self;
    ps.where.expected = pump.self;
    CHECK_OK(yoton_channel_on_received(sub, recv_cb, &p, recv_free, NULL));
    CHECK_OK(yoton_channel_on_received(st_b, recv_cb, &ps, recv_free, NULL));
    for (i = 0; i < 200; i++) {
        char text[32];
        snprintf(text, sizeof text, "m%d", i);
        CHECK_OK(yt_send_text(pub, text));
    }
    CHECK_OK(yoton_state_send(st_a, "busy", 4));
    CHECK(yt_ev_wait_count(&p.messages, 200, YT_WAIT));
    CHECK(yt_ev_wait_count(&ps.where.calls, 1, YT_WAIT));
    CHECK_EQ_INT(p.messages, 200);
    CHECK(p.where.calls >= 1);
    CHECK(p.where.calls <= 200);
    printf("   200 messages in %d received calls\n", p.where.calls);
    CHECK_EQ_INT(p.where.wrong_thread, 0);
    CHECK_EQ_INT(ps.where.wrong_thread, 0);
    {
        yoton_message *m = NULL;
        const void *data = NULL;
        size_t len = 0;
        CHECK_OK(yoton_state_recv(st_b, &m));
        CHECK_OK(yoton_message_data(m, &data, &len));
        CHECK_EQ_INT(len, 4);
        CHECK_MEMEQ(data, "busy", 4);
        yoton_message_free(m);
    }
    yt_ev_pump_stop(&pump);

    /* A burst that arrives while nobody processes gives one queued event, one call. */
    {
        int calls;
        yt_ev_drain();
        calls = p.where.calls;
        p.where.expected = pthread_self();
        for (i = 0; i < 50; i++) {
            CHECK_OK(yt_send_text(pub, "burst"));
        }
        CHECK(yt_wait_pending(sub, 50, YT_WAIT));
        CHECK(wait_queued(1));
        CHECK_EQ_INT(yt_ev_pending(), 1);
        CHECK_OK(yoton_process_events(0.0, NULL));
        CHECK_EQ_INT(p.where.calls, calls + 1);
        CHECK_EQ_INT(p.messages, 250);
        CHECK_EQ_INT(p.where.wrong_thread, 0);
    }
    yoton_channel_free(sub);
    yoton_channel_free(st_b);
    CHECK_EQ_INT(p.freed, 1);
    CHECK_EQ_INT(ps.freed, 1);
    CHECK_EQ_INT(p.after_free + ps.after_free, 0);
    yoton_channel_free(pub);
    yoton_channel_free(st_a);
    yoton_context_free(a);
    yoton_context_free(b);
    yt_ev_drain();
}

static void test_received_unbind_and_free(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = make(YOTON_PUB, a, "ev");
    yoton_channel *sub = make(YOTON_SUB, b, "ev");
    struct recv_probe p, q;
    uint64_t id = 0, id2 = 0;
    int later = 0;

    YT_SECTION("received: no call after unbind or free, even with the event queued");
    CHECK(yt_link(a, b, NULL, NULL));
    yt_ev_drain();
    memset(&p, 0, sizeof p);
    memset(&q, 0, sizeof q);
    p.where.expected = q.where.expected = pthread_self();
    CHECK_OK(yoton_channel_on_received(sub, recv_cb, &p, recv_free, &id));
    CHECK_OK(yt_send_text(pub, "one"));
    CHECK(wait_queued(1));
    CHECK_OK(yoton_channel_unbind(sub, id));
    CHECK_EQ_INT(p.freed, 1);
    yt_ev_drain();
    CHECK_EQ_INT(p.where.calls, 0);
    CHECK_RC(yoton_channel_unbind(sub, id), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_channel_unbind(sub, 424242u), YOTON_ERR_INVALID_ARGUMENT);
    /* Without a binding, arrivals queue no event at all. */
    CHECK_OK(yt_send_text(pub, "two"));
    CHECK(yt_wait_pending(sub, 2, YT_WAIT));
    CHECK_EQ_INT(yt_ev_pending(), 0);

    /* Bound again, event queued, then the channel handle freed. */
    memset(&p, 0, sizeof p);
    p.where.expected = pthread_self();
    CHECK_OK(yoton_channel_on_received(sub, recv_cb, &p, recv_free, &id));
    CHECK_OK(yoton_channel_on_received(sub, recv_cb, &q, recv_free, &id2));
    CHECK(id != id2);
    CHECK_OK(yt_send_text(pub, "three"));
    CHECK(wait_queued(1));
    yoton_channel_free(sub);
    sub = NULL;
    CHECK_EQ_INT(p.freed, 1);
    CHECK_EQ_INT(q.freed, 1);
    yt_ev_drain();
    CHECK_EQ_INT(p.where.calls + q.where.calls, 0);
    CHECK_EQ_INT(p.after_free + q.after_free, 0);

    /* Bad input. */
    {
        int freed = 0;
        uint64_t keep = 9;
        yoton_channel *s2 = make(YOTON_SUB, b, "ev2");
        CHECK_RC(yoton_channel_on_received(s2, NULL, &freed, yt_ev_count_free, &keep),
                 YOTON_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(freed, 1);
        CHECK_EQ_INT(keep, 9);
        CHECK_RC(yoton_channel_on_received(NULL, recv_cb, &freed, yt_ev_count_free, &keep),
                 YOTON_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(freed, 2);
        CHECK_RC(yoton_channel_unbind(NULL, 1), YOTON_ERR_INVALID_ARGUMENT);
        /* id may be NULL; the binding then ends with the handle. */
        CHECK_OK(yoton_channel_on_received(s2, recv_cb, &freed, yt_ev_count_free, NULL));
        yoton_channel_free(s2);
        CHECK_EQ_INT(freed, 3);
    }
    CHECK_OK(yoton_call_later(0.0, yt_ev_count_free, &later, NULL));
    yt_ev_drain();
    CHECK_EQ_INT(later, 1);
    yoton_channel_free(pub);
    yoton_context_free(a);
    yoton_context_free(b);
    yt_ev_drain();
}

static void test_received_handler_frees_or_unbinds(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = make(YOTON_PUB, a, "ev");
    yoton_channel *sub = make(YOTON_SUB, b, "ev");
    yoton_channel *pub2 = make(YOTON_PUB, a, "ev2");
    yoton_channel *sub2 = make(YOTON_SUB, b, "ev2");
    struct recv_probe p, q;
    uint64_t idq = 0;
    int later = 0;

    YT_SECTION("received: a handler that frees its channel; one that unbinds another");
    CHECK(yt_link(a, b, NULL, NULL));
    yt_ev_drain();
    /* Frees its own channel handle from inside the callback. */
    memset(&p, 0, sizeof p);
    memset(&q, 0, sizeof q);
    p.where.expected = q.where.expected = pthread_self();
    p.sub = sub;
    p.free_me = sub;
    CHECK_OK(yoton_channel_on_received(sub, recv_cb, &p, recv_free, NULL));
    CHECK_OK(yt_send_text(pub, "x"));
    CHECK(yt_ev_pump_count(&p.where.calls, 1, YT_WAIT));
    CHECK_EQ_INT(p.freed, 1); /* released once the call returned */
    CHECK_OK(yt_send_text(pub, "y"));
    CHECK_OK(yoton_call_later(0.05, yt_ev_count_free, &later, NULL));
    CHECK(yt_ev_pump_count(&later, 1, YT_WAIT)); /* later events fine */
    CHECK_EQ_INT(p.where.calls, 1);
    CHECK_EQ_INT(p.after_free, 0);

    /* Two handlers on one channel; the first unbinds the second during the same event. */
    memset(&p, 0, sizeof p);
    memset(&q, 0, sizeof q);
    p.where.expected = q.where.expected = pthread_self();
    p.sub = sub2;
    CHECK_OK(yoton_channel_on_received(sub2, recv_cb, &p, recv_free, NULL));
    CHECK_OK(yoton_channel_on_received(sub2, recv_cb, &q, recv_free, &idq));
    p.unbind_on = sub2;
    p.unbind_id = idq;
    CHECK_OK(yt_send_text(pub2, "z"));
    CHECK(yt_ev_pump_count(&p.where.calls, 1, YT_WAIT));
    yt_ev_drain();
    CHECK_EQ_INT(q.freed, 1);
    /* A handler unbound by an earlier handler of the same `received` event is not called. */
    CHECK_EQ_INT(q.where.calls, 0);
    yoton_channel_free(sub2);
    CHECK_EQ_INT(p.freed, 1);
    yoton_channel_free(pub2);
    yoton_channel_free(pub);
    yoton_context_free(a);
    yoton_context_free(b);
    yt_ev_drain();
}

/* --- closed -------------------------------------------------------------------------------- */

static void test_closed(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL, *cb = NULL, *ca2 = NULL;
    struct conn_probe pa, pa2, pb, pu;
    struct yt_ev_pump pump;
    uint64_t id_u = 0, id_t = 0;
    int freed = 0;

    YT_SECTION("closed: reasons on both sides, on the processing thread; unbind; freed handle");
    CHECK(yt_link(a, b, &ca, &cb));
    yt_ev_drain();
    if (!yt_ev_pump_start(&pump)) {
        return;
    }
    conn_probe_init(&pa, pump.self);
    conn_probe_init(&pa2, pump.self);
    conn_probe_init(&pb, pump.self);
    conn_probe_init(&pu, pump.self);
    CHECK_OK(yoton_context_connection_at(a, 0, false, &ca2)); /* a second handle */
    CHECK_OK(yoton_connection_on_closed(ca, closed_cb, &pa, conn_free, NULL));
    CHECK_OK(yoton_connection_on_closed(ca2, closed_cb, &pa2, conn_free, NULL));
    CHECK_OK(yoton_connection_on_closed(cb, closed_cb, &pb, conn_free, NULL));
    /* Bound and unbound again: never called. Timedout ids are distinct from closed ids. */
    CHECK_OK(yoton_connection_on_closed(ca, closed_cb, &pu, conn_free, &id_u));
    CHECK_OK(yoton_connection_on_timedout(ca, timedout_cb, &pu, conn_free, &id_t));
    CHECK(id_u != id_t);
    CHECK_OK(yoton_connection_unbind(ca, id_u));
    CHECK_OK(yoton_connection_unbind(ca, id_t));
    CHECK_EQ_INT(pu.freed, 2);
    CHECK_RC(yoton_connection_unbind(ca, id_u), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_connection_unbind(ca, id_t), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_connection_unbind(ca2, 999999u), YOTON_ERR_INVALID_ARGUMENT);
    /* A binding belongs to the handle it was made through. */
    {
        uint64_t id_x = 0;
        CHECK_OK(yoton_connection_on_closed(ca, closed_cb, &pu, conn_free, &id_x));
        CHECK_RC(yoton_connection_unbind(ca2, id_x), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_OK(yoton_connection_unbind(ca, id_x));
        CHECK_EQ_INT(pu.freed, 3);
    }

    CHECK_OK(yoton_connection_close(ca, "bye now"));
    CHECK(yt_ev_wait_count(&pa.closed, 1, YT_WAIT));
    CHECK(yt_ev_wait_count(&pa2.closed, 1, YT_WAIT));
    CHECK(yt_ev_wait_count(&pb.closed, 1, YT_WAIT));
    CHECK_STREQ(pa.reason, "bye now");
    CHECK_STREQ(pa2.reason, "bye now");
    CHECK_STREQ(pb.reason, "Closed from other end.");
    CHECK_EQ_INT(pa.where.wrong_thread + pa2.where.wrong_thread + pb.where.wrong_thread, 0);
    CHECK_EQ_INT(pu.closed, 0);
    /* Closing again emits nothing more. */
    CHECK_OK(yoton_connection_close(ca, NULL));
    yt_sleep(0.1);
    CHECK_EQ_INT(pa.closed, 1);
    yt_ev_pump_stop(&pump);

    /* Binding to an already closed connection: accepted; closed is not emitted again. */
    CHECK_OK(yoton_connection_on_closed(cb, closed_cb, &pu, conn_free, NULL));
    yt_ev_drain();
    CHECK_EQ_INT(pu.closed, 0);

    yoton_connection_free(ca);
    yoton_connection_free(ca2);
    yoton_connection_free(cb);
    CHECK_EQ_INT(pa.freed, 1);
    CHECK_EQ_INT(pa2.freed, 1);
    CHECK_EQ_INT(pb.freed, 1);
    CHECK_EQ_INT(pu.freed, 4);
    CHECK_EQ_INT(pa.after_free + pa2.after_free + pb.after_free + pu.after_free, 0);

    /* Bad input. */
    CHECK_OK(yoton_context_bind(a, "localhost:0", 1, NULL, &ca));
    CHECK_RC(yoton_connection_on_closed(ca, NULL, &freed, yt_ev_count_free, NULL),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(freed, 1);
    CHECK_RC(yoton_connection_on_timedout(ca, NULL, &freed, yt_ev_count_free, NULL),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(freed, 2);
    CHECK_RC(yoton_connection_on_closed(NULL, closed_cb, &freed, yt_ev_count_free, NULL),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(freed, 3);
    CHECK_RC(yoton_connection_unbind(NULL, 1), YOTON_ERR_INVALID_ARGUMENT);
    /* A waiting connection closed by its context: "Closed by the context.". */
    conn_probe_init(&pa, pthread_self());
    CHECK_OK(yoton_connection_on_closed(ca, closed_cb, &pa, conn_free, NULL));
    yoton_context_free(a);
    CHECK(yt_ev_pump_count(&pa.closed, 1, YT_WAIT));
    CHECK_STREQ(pa.reason, "Closed by the context.");
    yoton_connection_free(ca);
    CHECK_EQ_INT(pa.freed, 1);
    yoton_context_free(b);
    yt_ev_drain();
}

static void test_closed_queued_then_freed(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL, *cb = NULL, *ca2 = NULL;
    struct conn_probe pa, pa2, pself;
    int later = 0;

    YT_SECTION("closed: handle freed with the event queued; handle freed by its own handler");
    CHECK(yt_link(a, b, &ca, &cb));
    yt_ev_drain();
    conn_probe_init(&pa, pthread_self());
    conn_probe_init(&pa2, pthread_self());
    conn_probe_init(&pself, pthread_self());
    CHECK_OK(yoton_context_connection_at(a, 0, false, &ca2));
    CHECK_OK(yoton_connection_on_closed(ca, closed_cb, &pa, conn_free, NULL));
    CHECK_OK(yoton_connection_on_closed(ca2, closed_cb, &pa2, conn_free, NULL));
    CHECK_OK(yoton_connection_close(ca, NULL));
    CHECK(wait_queued(2)); /* one event per handler, queued */
    yoton_connection_free(ca); /* its binding ends: its queued call is skipped */
    CHECK_EQ_INT(pa.freed, 1);
    yt_ev_drain();
    CHECK_EQ_INT(pa.closed, 0);
    CHECK_EQ_INT(pa2.closed, 1);
    CHECK_STREQ(pa2.reason, "Closed on command.");
    yoton_connection_free(ca2);
    CHECK_EQ_INT(pa2.freed, 1);

    /* The other side's handle is freed by its own closed handler. */
    yoton_connection_free(cb);
    yoton_context_free(a);
    yoton_context_free(b);
    a = yt_context();
    b = yt_context();
    CHECK(yt_link(a, b, &ca, &cb));
    yt_ev_drain();
    pself.free_me = cb;
    CHECK_OK(yoton_connection_on_closed(cb, closed_cb, &pself, conn_free, NULL));
    CHECK_OK(yoton_connection_on_timedout(cb, timedout_cb, &pself, conn_free, NULL));
    CHECK_OK(yoton_connection_close(ca, "going"));
    CHECK(yt_ev_pump_count(&pself.closed, 1, YT_WAIT));
    CHECK_STREQ(pself.reason, "Closed from other end.");
    CHECK_EQ_INT(pself.freed, 2); /* both bindings of the freed handle, once each */
    CHECK_OK(yoton_call_later(0.01, yt_ev_count_free, &later, NULL));
    CHECK(yt_ev_pump_count(&later, 1, YT_WAIT));
    CHECK_EQ_INT(pself.closed, 1);
    CHECK_EQ_INT(pself.after_free, 0);
    yoton_connection_free(ca);
    yoton_context_free(a);
    yoton_context_free(b);
    yt_ev_drain();
}

/* --- timedout with a silent raw peer -------------------------------------------------------- */

static void test_timedout_raw_peer(void) {
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    struct conn_probe p;
    struct yt_ev_pump pump;
    char line[128];
    bool t = false;
    int fd;
    double t0;

    YT_SECTION("timedout: a silent raw peer, heard from again, then gone");
    CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, &conn));
    fd = raw_connect(yt_port(conn));
    CHECK(fd >= 0);
    if (fd < 0) {
        yoton_connection_free(conn);
        yoton_context_free(ctx);
        return;
    }
    t0 = yt_now(); /* the silence cannot start before this */
    CHECK(raw_client_handshake(fd, 0x1234567890abcdefull, 4242, line, sizeof line) == 0);
    CHECK(yt_wait_status(conn, YOTON_STATUS_HOSTING, YT_WAIT));
    if (!yt_ev_pump_start(&pump)) {
        close(fd);
        return;
    }
    conn_probe_init(&p, pump.self);
    CHECK_OK(yoton_connection_on_timedout(conn, timedout_cb, &p, conn_free, NULL));
    CHECK_OK(yoton_connection_on_closed(conn, closed_cb, &p, conn_free, NULL));
    /* Silence: timedout(true) after the 0.5 s default timeout (bounded generously). */
    CHECK(yt_ev_wait_count(&p.timedout_true, 1, YT_WAIT));
    CHECK(yt_now() - t0 >= 0.4); /* not before the timeout */
    CHECK_OK(yoton_connection_is_timedout(conn, &t));
    CHECK(t);
    CHECK_EQ_INT(p.timedout_false, 0);
    CHECK_EQ_INT(status_of(conn), YOTON_STATUS_HOSTING); /* not closed by it */
    /* Once, not repeatedly, while the silence lasts. */
    yt_sleep(0.7);
    CHECK_EQ_INT(p.timedout_true, 1);
    /* Heard from again: timedout(false). */
    CHECK(raw_send_signal(fd, 0) == 0);
    CHECK(yt_ev_wait_count(&p.timedout_false, 1, YT_WAIT));
    CHECK_OK(yoton_connection_is_timedout(conn, &t));
    CHECK(!t);
    CHECK_EQ_INT(p.last_timedout, 0);
    CHECK(p.order_ok);
    /* Gone: closed with the original's reason for an EOF. */
    close(fd);
    CHECK(yt_ev_wait_count(&p.closed, 1, YT_WAIT));
    CHECK_STREQ(p.reason, "Other end dropped the connection.");
    yt_ev_pump_stop(&pump);
    CHECK_EQ_INT(p.where.wrong_thread, 0);
    yoton_connection_free(conn);
    CHECK_EQ_INT(p.freed, 2);
    CHECK_EQ_INT(p.after_free, 0);
    yoton_context_free(ctx);
    yt_ev_drain();
}

/* --- a real peer in a child process: SIGSTOP / SIGCONT / SIGKILL ---------------------------- */

/* The child: connect to the parent and stay until the connection closes (bounded). It never
 * processes events; its IO threads keep sending heartbeats while it is not stopped. */
static int child_main(const char *port) {
    yoton_context *ctx = NULL;
    yoton_connection *conn = NULL;
    char address[64];
    double deadline = yt_now() + 30.0;
    int status = YOTON_STATUS_CONNECTED;
    if (yoton_context_new(&ctx) != YOTON_OK) {
        return 3;
    }
    snprintf(address, sizeof address, "127.0.0.1:%s", port);
    if (yoton_context_connect(ctx, address, 5.0, "child", &conn) != YOTON_OK) {
        yoton_context_free(ctx);
        return 4;
    }
    while (yt_now() < deadline && status != YOTON_STATUS_CLOSED) {
        yt_sleep(0.05);
        if (yoton_connection_get_status(conn, &status) != YOTON_OK) {
            break;
        }
    }
    yoton_connection_free(conn);
    yoton_context_free(ctx);
    return 0;
}

struct child {
    pid_t pid;
    yoton_context *ctx;
    yoton_connection *conn;
};

/* Bind, start "<self> --child PORT", wait until it is connected. 1 on success. */
static int child_start(struct child *c) {
    char exe[PATH_MAX];
    char port[16];
    char *argv[4];
    ssize_t len;
    uint64_t pid2 = 0;
    memset(c, 0, sizeof *c);
    c->pid = -1;
    len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!CHECK(len > 0)) {
        return 0;
    }
    exe[len] = '\0';
    c->ctx = yt_context();
    if (!CHECK_OK(yoton_context_bind(c->ctx, "localhost:0", 1, "to-child", &c->conn))) {
        return 0;
    }
    snprintf(port, sizeof port, "%u", (unsigned)yt_port(c->conn));
    argv[0] = exe;
    argv[1] = (char *)"--child";
    argv[2] = port;
    argv[3] = NULL;
    fflush(stdout);
    fflush(stderr);
    c->pid = fork();
    if (c->pid == 0) {
        execv(exe, argv);
        _exit(127);
    }
    if (!CHECK(c->pid > 0)) {
        return 0;
    }
    if (!CHECK(yt_wait_status(c->conn, YOTON_STATUS_HOSTING, YT_WAIT))) {
        return 0;
    }
    CHECK_OK(yoton_connection_pid2(c->conn, &pid2));
    CHECK_EQ_U64(pid2, (uint64_t)c->pid);
    return 1;
}

/* Kill (SIGKILL) and reap our child, if it still runs; release the rest. */
static void child_end(struct child *c) {
    if (c->pid > 0) {
        int st = 0;
        kill(c->pid, SIGCONT); /* (harmless if not stopped) */
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &st, 0);
        c->pid = -1;
    }
    yoton_connection_free(c->conn);
    yoton_context_free(c->ctx);
    c->conn = NULL;
    c->ctx = NULL;
}

static void test_child_killed(void) {
    struct child c;
    struct conn_probe p;
    struct yt_ev_pump pump;
    int st = 0;

    YT_SECTION("closed: a peer process killed with SIGKILL");
    if (!child_start(&c) || !yt_ev_pump_start(&pump)) {
        child_end(&c);
        return;
    }
    conn_probe_init(&p, pump.self);
    CHECK_OK(yoton_connection_on_closed(c.conn, closed_cb, &p, conn_free, NULL));
    CHECK_OK(yoton_connection_on_timedout(c.conn, timedout_cb, &p, conn_free, NULL));
    CHECK(kill(c.pid, SIGKILL) == 0);
    CHECK(waitpid(c.pid, &st, 0) == c.pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    c.pid = -1;
    CHECK(yt_ev_wait_count(&p.closed, 1, YT_WAIT));
    CHECK_STREQ(p.reason, "Other end dropped the connection.");
    CHECK_EQ_INT(status_of(c.conn), YOTON_STATUS_CLOSED);
    yt_ev_pump_stop(&pump);
    CHECK_EQ_INT(p.where.wrong_thread, 0);
    child_end(&c);
    CHECK_EQ_INT(p.freed, 2);
    CHECK_EQ_INT(p.after_free, 0);
    yt_ev_drain();
}

static void test_child_stopped(void) {
    struct child c;
    struct conn_probe p;
    struct yt_ev_pump pump;
    bool t = false;

    YT_SECTION("timedout: a peer process stopped (SIGSTOP) and continued (SIGCONT)");
    if (!child_start(&c) || !yt_ev_pump_start(&pump)) {
        child_end(&c);
        return;
    }
    conn_probe_init(&p, pump.self);
    CHECK_OK(yoton_connection_on_closed(c.conn, closed_cb, &p, conn_free, NULL));
    CHECK_OK(yoton_connection_on_timedout(c.conn, timedout_cb, &p, conn_free, NULL));
    /* A live peer sends heartbeats (every 0.25 s): no timedout while it runs. A timeout of
     * 2 s (instead of the 0.5 s default) keeps that true on a loaded machine. */
    CHECK_OK(yoton_connection_set_timeout(c.conn, 2.0));
    {
        double timeout = 0;
        CHECK_OK(yoton_connection_timeout(c.conn, &timeout));
        CHECK(timeout == 2.0);
        CHECK_RC(yoton_connection_set_timeout(c.conn, 0.4), YOTON_ERR_INVALID_ARGUMENT);
    }
    yt_sleep(1.0);
    CHECK_EQ_INT(p.timedout_true, 0);
    CHECK(kill(c.pid, SIGSTOP) == 0);
    CHECK(yt_ev_wait_count(&p.timedout_true, 1, YT_WAIT));
    CHECK_OK(yoton_connection_is_timedout(c.conn, &t));
    CHECK(t);
    CHECK_EQ_INT(status_of(c.conn), YOTON_STATUS_HOSTING);
    CHECK(kill(c.pid, SIGCONT) == 0);
    CHECK(yt_ev_wait_count(&p.timedout_false, 1, YT_WAIT));
    CHECK_OK(yoton_connection_is_timedout(c.conn, &t));
    CHECK(!t);
    CHECK(p.order_ok);
    CHECK_EQ_INT(p.last_timedout, 0);
    CHECK_EQ_INT(p.closed, 0);
    /* Stop it again, then kill it while stopped: closed follows. */
    CHECK(kill(c.pid, SIGSTOP) == 0);
    CHECK(yt_ev_wait_count(&p.timedout_true, 2, YT_WAIT));
    CHECK(kill(c.pid, SIGKILL) == 0);
    {
        int st = 0;
        CHECK(waitpid(c.pid, &st, 0) == c.pid);
        c.pid = -1;
    }
    CHECK(yt_ev_wait_count(&p.closed, 1, YT_WAIT));
    CHECK_STREQ(p.reason, "Other end dropped the connection.");
    yt_ev_pump_stop(&pump);
    CHECK_EQ_INT(p.where.wrong_thread, 0);
    child_end(&c);
    CHECK_EQ_INT(p.freed, 2);
    CHECK_EQ_INT(p.after_free, 0);
    yt_ev_drain();
}

/* --- close after being timed out too long (issue 10 item 11) --------------------------------- */

static void test_close_after_timedout(void) {
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    char line[128], reason[256];
    double after = -1, t0;
    int fd;

    YT_SECTION("close-after-timedout: off by default, then a silent peer is dropped");
    CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, &conn));
    CHECK_OK(yoton_connection_close_after_timedout(conn, &after));
    CHECK(after == 0); /* never, as in the original */
    CHECK_RC(yoton_connection_set_close_after_timedout(conn, -1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_connection_set_close_after_timedout(conn, 0.05), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_connection_set_close_after_timedout(conn, 1e19), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_connection_set_close_after_timedout(conn, 0.3));
    CHECK_OK(yoton_connection_close_after_timedout(conn, &after));
    CHECK(after > 0.29 && after < 0.31);
    fd = raw_connect(yt_port(conn));
    CHECK(fd >= 0);
    if (fd >= 0) {
        t0 = yt_now();
        CHECK(raw_client_handshake(fd, 0x1234567890abcdefull, 4242, line, sizeof line) == 0);
        /* Silent from now on: timedout after 0.5 s, closed 0.3 s later. */
        CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
        CHECK(yt_now() - t0 >= 0.7);
        CHECK_OK(yoton_connection_close_reason(conn, reason, sizeof reason, NULL));
        CHECK(strncmp(reason, "Connection timed out and stayed so for", 38) == 0);
        close(fd);
    }
    /* 0 turns it off again. */
    CHECK_OK(yoton_connection_set_close_after_timedout(conn, 0));
    CHECK_OK(yoton_connection_close_after_timedout(conn, &after));
    CHECK(after == 0);
    yoton_connection_free(conn);
    yoton_context_free(ctx);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--child") == 0) {
        return child_main(argv[2]);
    }
    test_received_on_processing_thread();
    test_received_unbind_and_free();
    test_received_handler_frees_or_unbinds();
    test_closed();
    test_closed_queued_then_freed();
    test_timedout_raw_peer();
    test_close_after_timedout();
    test_child_killed();
    test_child_stopped();
    return yt_summary("test_events_conn");
}
