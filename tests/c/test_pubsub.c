/* Publish/subscribe between contexts in one process over loopback: message types, receiving
 * (timeouts, recv_all, batches of bodies, message properties), slot names and collisions, the
 * startup queue, queue limits and discarding, the maximum message size, a 10 MiB message,
 * every connection property, looking connections up, closing (reasons seen by both sides),
 * context close and reuse, flush, multi-hop routing (a chain and a tree) and concurrent use
 * from threads. */
#include "ytest.h"

#include <math.h>
#include <pthread.h>
#include <unistd.h>

/* --- helpers ---------------------------------------------------------------------------- */

/* Receive one message (bounded); NULL after a counted failure. */
static yoton_message *recv_one(const yoton_channel *sub) {
    yoton_message *msg = NULL;
    CHECK_OK(yoton_sub_recv(sub, YT_WAIT, &msg));
    return msg;
}

static uint64_t msg_u64(int (*getter)(const yoton_message *, uint64_t *), const yoton_message *m) {
    uint64_t v = 0;
    CHECK_OK(getter(m, &v));
    return v;
}

/* Status of a connection (-1 on error). */
static int status_of(const yoton_connection *conn) {
    int status = -1;
    CHECK_OK(yoton_connection_get_status(conn, &status));
    return status;
}

/* The close reason of a closed connection into buf ("" on error). */
static const char *reason_of(const yoton_connection *conn, char *buf, size_t cap) {
    buf[0] = '\0';
    CHECK_OK(yoton_connection_close_reason(conn, buf, cap, NULL));
    return buf;
}

static size_t count_of(const yoton_context *ctx) {
    size_t n = 99;
    CHECK_OK(yoton_context_connection_count(ctx, &n));
    return n;
}

static size_t count_all_of(const yoton_context *ctx) {
    size_t n = 99;
    CHECK_OK(yoton_context_connection_count_all(ctx, &n));
    return n;
}

struct discarded_wait {
    const yoton_context *ctx;
    uint64_t n;
};

static int discarded_at_least(void *arg) {
    struct discarded_wait *w = (struct discarded_wait *)arg;
    uint64_t n = 0;
    return yoton_context_discarded(w->ctx, &n) == YOTON_OK && n >= w->n;
}

struct count_wait {
    const yoton_context *ctx;
    size_t n;
};

static int count_is(void *arg) {
    struct count_wait *w = (struct count_wait *)arg;
    size_t n = 99;
    return yoton_context_connection_count(w->ctx, &n) == YOTON_OK && n == w->n;
}

static int wait_count(const yoton_context *ctx, size_t n) {
    struct count_wait w;
    w.ctx = ctx;
    w.n = n;
    return yt_wait_until(count_is, &w, YT_WAIT);
}

/* --- tests ------------------------------------------------------------------------------ */

static void test_message_types(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pt = yt_make_pub(a, "data", "txt");
    yoton_channel *pb = yt_make_pub(a, "data", "bin");
    yoton_channel *po = yt_make_pub(a, "data", "obj");
    yoton_channel *pc = yt_make_pub(a, "data", "num");
    yoton_channel *st = yt_make_sub(b, "data", NULL); /* NULL type: TEXT */
    yoton_channel *sb = yt_make_sub(b, "data", "bin");
    yoton_channel *so = yt_make_sub(b, "data", "obj");
    yoton_channel *sc = yt_make_sub(b, "data", "num");
    yoton_message *m;
    yoton_value *v;
    const void *data = NULL;
    size_t len = 0;
    uint64_t seq_t, seq_b, rseq_t, rseq_b;
    static const unsigned char binary[] = {0, 1, 2, 255, 0, 'z'};
    static const char text[] = "h\xc3\xa9llo \xf0\x9f\x98\x80";
    char buf[64];

    YT_SECTION("TEXT, BINARY, OBJECT and custom messages");
    CHECK(yt_link(a, b, NULL, NULL));

    CHECK_OK(yoton_pub_send(pt, text, strlen(text)));
    CHECK_OK(yoton_pub_send(pb, binary, sizeof binary));
    v = yoton_value_new_tuple();
    {
        yoton_value *x = NULL;
        yoton_value *l = yoton_value_new_list();
        yoton_value *n = yoton_value_new_none();
        yoton_value *i = yoton_value_new_int(-1);
        CHECK_OK(yoton_value_new_string("x", &x));
        CHECK_OK(yoton_value_append(l, n));
        CHECK_OK(yoton_value_append(v, i));
        CHECK_OK(yoton_value_append(v, x));
        CHECK_OK(yoton_value_append(v, l));
        yoton_value_free(x);
        yoton_value_free(l);
        yoton_value_free(n);
        yoton_value_free(i);
    }
    CHECK_OK(yoton_pub_send_value(po, v));
    CHECK_OK(yoton_pub_send_value(po, v)); /* the value is borrowed, not consumed */
    yoton_value_free(v);
    CHECK_OK(yoton_pub_send(po, "\x73\x02hi", 4)); /* raw OBJECT bytes: 'hi' */
    CHECK_OK(yt_send_text(pc, "3.25"));

    /* TEXT: body, length, the NUL after it, source id. */
    m = recv_one(st);
    if (m != NULL) {
        CHECK_OK(yoton_message_data(m, &data, &len));
        CHECK_EQ_INT(len, strlen(text));
        CHECK_STREQ((const char *)data, text); /* NUL-terminated */
        CHECK_EQ_U64(msg_u64(yoton_message_source_id, m), yt_ctx_id(a));
        seq_t = msg_u64(yoton_message_source_seq, m);
        rseq_t = msg_u64(yoton_message_recv_seq, m);
        /* A TEXT body that is not an OBJECT value. */
        v = NULL;
        CHECK_RC(yoton_message_value(m, &v), YOTON_ERR_ENCODING);
        CHECK(v == NULL);
        yoton_message_free(m);
    } else {
        seq_t = rseq_t = 0;
    }
    /* BINARY: bytes intact (embedded NULs), a NUL after the body too. */
    m = recv_one(sb);
    if (m != NULL) {
        CHECK_OK(yoton_message_data(m, &data, &len));
        CHECK_EQ_INT(len, sizeof binary);
        CHECK_MEMEQ(data, binary, sizeof binary);
        CHECK(((const unsigned char *)data)[len] == 0);
        seq_b = msg_u64(yoton_message_source_seq, m);
        rseq_b = msg_u64(yoton_message_recv_seq, m);
        CHECK(seq_b > seq_t);   /* the sender's order */
        CHECK(rseq_b > rseq_t); /* the arrival order across channels */
        yoton_message_free(m);
    }
    /* OBJECT: decode the body. */
    m = recv_one(so);
    if (m != NULL) {
        CHECK_OK(yoton_message_value(m, &v));
        CHECK_OK(yoton_value_repr(v, buf, sizeof buf, NULL));
        CHECK_STREQ(buf, "(-1, 'x', [None])");
        yoton_value_free(v);
        yoton_message_free(m);
    }
    m = recv_one(so);
    yoton_message_free(m);
    m = recv_one(so);
    if (m != NULL) {
        CHECK_OK(yoton_message_value(m, &v));
        CHECK_OK(yoton_value_repr(v, buf, sizeof buf, NULL));
        CHECK_STREQ(buf, "'hi'");
        yoton_value_free(v);
        yoton_message_free(m);
    }
    /* Custom type: raw bytes, its own slot. */
    CHECK_RECV(sc, "3.25");
    CHECK_OK(yoton_channel_message_type(sc, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "num");
    CHECK_EQ_INT(len, 3);

    /* Types do not mix on the same base: only TEXT got the TEXT message. */
    CHECK_OK(yt_send_text(pt, "only text"));
    CHECK_RECV(st, "only text");
    CHECK_OK(yoton_channel_pending(sb, &len));
    CHECK_EQ_INT(len, 0);
    CHECK_OK(yoton_channel_pending(sc, &len));
    CHECK_EQ_INT(len, 0);

    /* An empty send is skipped: nothing arrives and no sequence number is used. */
    CHECK_OK(yoton_pub_send(pt, "", 0));
    CHECK_OK(yt_send_text(pt, "x1"));
    CHECK_OK(yt_send_text(pt, "x2"));
    {
        yoton_message *m1 = recv_one(st);
        yoton_message *m2 = recv_one(st);
        if (m1 != NULL && m2 != NULL) {
            CHECK_OK(yoton_message_data(m1, &data, &len));
            CHECK_STREQ((const char *)data, "x1");
            CHECK_EQ_U64(msg_u64(yoton_message_source_seq, m2),
                         msg_u64(yoton_message_source_seq, m1) + 1);
        }
        yoton_message_free(m1);
        yoton_message_free(m2);
    }

    yoton_channel_free(pt);
    yoton_channel_free(pb);
    yoton_channel_free(po);
    yoton_channel_free(pc);
    yoton_channel_free(st);
    yoton_channel_free(sb);
    yoton_channel_free(so);
    yoton_channel_free(sc);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_receiving(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "rx", "txt");
    yoton_channel *sub = yt_make_sub(b, "rx", "txt");
    yoton_channel *loop_sub = yt_make_sub(a, "rx", "txt");
    yoton_message *msg = NULL;
    yoton_message **all = NULL;
    size_t n = 99;
    size_t i;
    double t0;

    YT_SECTION("recv timeouts, recv_all, pending");
    CHECK(yt_link(a, b, NULL, NULL));
    /* Nothing there: timeout 0 returns at once, a short timeout returns. */
    t0 = yt_now();
    CHECK_RC(yoton_sub_recv(sub, 0, &msg), YOTON_ERR_TIMEOUT);
    CHECK(yt_now() - t0 < 1.0);
    t0 = yt_now();
    CHECK_RC(yoton_sub_recv(sub, 0.05, &msg), YOTON_ERR_TIMEOUT);
    CHECK(yt_now() - t0 < 5.0);
    CHECK(msg == NULL);
    CHECK_OK(yoton_channel_pending(sub, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(yoton_sub_recv_all(sub, &all, &n));
    CHECK_EQ_INT(n, 0);
    CHECK(all == NULL);

    /* Five messages, then recv_all takes them in order. */
    for (i = 0; i < 5; i++) {
        char text[32];
        snprintf(text, sizeof text, "m%zu", i);
        CHECK_OK(yt_send_text(pub, text));
    }
    CHECK(yt_wait_pending(sub, 5, YT_WAIT));
    CHECK_OK(yoton_channel_pending(sub, &n));
    CHECK_EQ_INT(n, 5);
    CHECK_OK(yoton_sub_recv_all(sub, &all, &n));
    CHECK_EQ_INT(n, 5);
    CHECK(all != NULL);
    for (i = 0; all != NULL && i < n; i++) {
        const void *data = NULL;
        size_t len = 0;
        char want[32];
        snprintf(want, sizeof want, "m%zu", i);
        CHECK_OK(yoton_message_data(all[i], &data, &len));
        CHECK_STREQ((const char *)data, want);
    }
    yoton_message_array_free(all, n);
    CHECK_OK(yoton_channel_pending(sub, &n));
    CHECK_EQ_INT(n, 0);

    /* A context never delivers its own packages to itself: b got it, a's sub did not. */
    CHECK_OK(yt_send_text(pub, "not for a"));
    CHECK_RECV(sub, "not for a");
    CHECK_RC(yoton_sub_recv(loop_sub, 0.1, &msg), YOTON_ERR_TIMEOUT);

    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_channel_free(loop_sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

struct late_send {
    const yoton_channel *pub;
    int rc;
};

/* Send "late" a little after the receiver started waiting (the wait, not this delay, is
 * what the test checks: it passes however the two threads are scheduled). */
static void *late_send_thread(void *arg) {
    struct late_send *job = (struct late_send *)arg;
    yt_sleep(0.05);
    job->rc = yoton_pub_send(job->pub, "late", 4);
    return NULL;
}

static size_t pending_of(const yoton_channel *ch) {
    size_t n = 99;
    CHECK_OK(yoton_channel_pending(ch, &n));
    return n;
}

static void test_recv_batch(void) {
    static const char *const bodies[] = {"a", "bb", "ccc", "dddd", "eeeee", "ffffff"};
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "batch", "bin");
    yoton_channel *sub = yt_make_sub(b, "batch", "bin");
    char buf[64];
    size_t lens[8];
    uint64_t seqs[8];
    uint64_t last_seq;
    size_t count = 99;
    size_t used = 99;
    size_t i;
    double t0;
    yoton_message *msg = NULL;
    struct late_send job;
    pthread_t thread;

    YT_SECTION("recv_batch: bodies in one buffer, what does not fit stays queued");
    CHECK(yt_link(a, b, NULL, NULL));
    t0 = yt_now();
    CHECK_RC(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_TIMEOUT);
    CHECK(yt_now() - t0 < 1.0);
    CHECK_RC(yoton_sub_recv_batch(sub, 0.05, buf, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_TIMEOUT);
    CHECK(yt_now() - t0 < 5.0);
    CHECK_EQ_INT(count, 99); /* out-parameters untouched on failure */
    CHECK_EQ_INT(used, 99);

    for (i = 0; i < 6; i++) {
        CHECK_OK(yoton_pub_send(pub, bodies[i], strlen(bodies[i])));
    }
    CHECK(yt_wait_pending(sub, 6, YT_WAIT));

    /* Bad arguments are refused before anything is taken. */
    CHECK_RC(yoton_sub_recv_batch(NULL, 0, buf, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, lens, seqs, 0, &count, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, NULL, seqs, 8, &count, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, lens, seqs, 8, NULL, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_batch(sub, 0, NULL, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_batch(sub, NAN, buf, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_batch(sub, 2e9, buf, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_batch(pub, 0, buf, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(pending_of(sub), 6);

    /* At most max_count: three bodies, in order, with increasing arrival numbers. */
    CHECK_OK(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, lens, seqs, 3, &count, &used));
    CHECK_EQ_INT(count, 3);
    CHECK_EQ_INT(used, 6);
    CHECK_EQ_INT(lens[0], 1);
    CHECK_EQ_INT(lens[1], 2);
    CHECK_EQ_INT(lens[2], 3);
    CHECK_MEMEQ(buf, "abbccc", 6);
    CHECK(seqs[0] < seqs[1] && seqs[1] < seqs[2]);
    last_seq = seqs[2];
    CHECK_EQ_INT(pending_of(sub), 3);

    /* Only what fits: "dddd" fills 8 bytes but for 4, "eeeee" does not fit and stays. */
    CHECK_OK(yoton_sub_recv_batch(sub, 0, buf, 8, lens, seqs, 8, &count, &used));
    CHECK_EQ_INT(count, 1);
    CHECK_EQ_INT(used, 4);
    CHECK_MEMEQ(buf, "dddd", 4);
    CHECK(seqs[0] > last_seq);
    CHECK_EQ_INT(pending_of(sub), 2);

    /* The oldest does not fit: YOTON_ERR_TOO_LARGE, *used its size, nothing taken. A NULL
     * buffer of 0 bytes asks the same. */
    count = 99;
    CHECK_RC(yoton_sub_recv_batch(sub, 0, buf, 4, lens, seqs, 8, &count, &used),
             YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(used, 5);
    CHECK_EQ_INT(count, 99);
    used = 0;
    CHECK_RC(yoton_sub_recv_batch(sub, 0, NULL, 0, lens, NULL, 8, &count, &used),
             YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(used, 5);
    CHECK_EQ_INT(pending_of(sub), 2);

    /* seqs and used may be NULL. */
    CHECK_OK(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, lens, NULL, 8, &count, NULL));
    CHECK_EQ_INT(count, 2);
    CHECK_EQ_INT(lens[0], 5);
    CHECK_EQ_INT(lens[1], 6);
    CHECK_MEMEQ(buf, "eeeeeffffff", 11);
    CHECK_EQ_INT(pending_of(sub), 0);

    YT_SECTION("recv_batch: waiting, order with yoton_sub_recv, closing");
    job.pub = pub;
    job.rc = -1;
    if (CHECK(pthread_create(&thread, NULL, late_send_thread, &job) == 0)) {
        CHECK_OK(yoton_sub_recv_batch(sub, YT_WAIT, buf, sizeof buf, lens, seqs, 8, &count,
                                      &used));
        CHECK_EQ_INT(count, 1);
        CHECK_MEMEQ(buf, "late", 4);
        pthread_join(thread, NULL);
        CHECK_OK(job.rc);
    }

    /* The two calls share one queue: yoton_sub_recv takes the oldest, the batch the rest. */
    CHECK_OK(yoton_pub_send(pub, "x1", 2));
    CHECK_OK(yoton_pub_send(pub, "x2", 2));
    CHECK_OK(yoton_pub_send(pub, "x3", 2));
    CHECK(yt_wait_pending(sub, 3, YT_WAIT));
    CHECK_OK(yoton_sub_recv(sub, 0, &msg));
    if (msg != NULL) {
        const void *data = NULL;
        size_t len = 0;
        CHECK_OK(yoton_message_data(msg, &data, &len));
        CHECK_MEMEQ(data, "x1", 2);
        last_seq = msg_u64(yoton_message_recv_seq, msg);
        yoton_message_free(msg);
    }
    CHECK_OK(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, lens, seqs, 8, &count, &used));
    CHECK_EQ_INT(count, 2);
    CHECK_MEMEQ(buf, "x2x3", 4);
    CHECK(seqs[0] > last_seq);

    /* Closed: what is queued is still taken, then YOTON_ERR_CLOSED at once, also when
     * asked to wait. */
    CHECK_OK(yoton_pub_send(pub, "last", 4));
    CHECK(yt_wait_pending(sub, 1, YT_WAIT));
    CHECK_OK(yoton_channel_close(sub));
    CHECK_OK(yoton_sub_recv_batch(sub, YT_WAIT, buf, sizeof buf, lens, seqs, 8, &count, &used));
    CHECK_EQ_INT(count, 1);
    CHECK_MEMEQ(buf, "last", 4);
    t0 = yt_now();
    CHECK_RC(yoton_sub_recv_batch(sub, YT_WAIT, buf, sizeof buf, lens, seqs, 8, &count, &used),
             YOTON_ERR_CLOSED);
    CHECK(yt_now() - t0 < 1.0);

    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_slot_names(void) {
    yoton_context *ctx = yt_context();
    yoton_channel *pub = yt_make_pub(ctx, "chat", NULL);
    yoton_channel *sub = yt_make_sub(ctx, "chat", "txt"); /* mirror slots: no collision */
    yoton_channel *spaced = yt_make_pub(ctx, "My Chat", "bin");
    yoton_channel *other = NULL;
    char buf[64];
    size_t len = 0;
    int kind = -1;

    YT_SECTION("slot names, buffer convention, collisions");
    CHECK_OK(yoton_channel_get_kind(pub, &kind));
    CHECK_EQ_INT(kind, YOTON_PUB);
    CHECK_OK(yoton_channel_get_kind(sub, &kind));
    CHECK_EQ_INT(kind, YOTON_SUB);
    CHECK_OK(yoton_channel_slot_outgoing(pub, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "chat.txt.pub-sub");
    CHECK_EQ_INT(len, 16);
    CHECK_OK(yoton_channel_slot_incoming(pub, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "chat.txt.sub-pub");
    CHECK_OK(yoton_channel_slot_outgoing(sub, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "chat.txt.sub-pub");
    CHECK_OK(yoton_channel_slot_incoming(sub, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "chat.txt.pub-sub");
    CHECK_OK(yoton_channel_message_type(pub, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "txt");
    CHECK_OK(yoton_channel_slot_outgoing(spaced, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "My Chat.bin.pub-sub"); /* as written, not normalised */
    CHECK_OK(yoton_channel_message_type(spaced, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "bin");

    /* Buffer convention: cap 0 gives the length; the NUL needs room; nothing written. */
    len = 0;
    CHECK_RC(yoton_channel_slot_outgoing(pub, NULL, 0, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 16);
    strcpy(buf, "untouched");
    len = 0;
    CHECK_RC(yoton_channel_slot_outgoing(pub, buf, 16, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 16);
    CHECK_STREQ(buf, "untouched");
    CHECK_OK(yoton_channel_slot_outgoing(pub, buf, 17, &len));
    CHECK_STREQ(buf, "chat.txt.pub-sub");
    CHECK_RC(yoton_channel_slot_incoming(sub, buf, 3, NULL), YOTON_ERR_TOO_LARGE);
    CHECK_RC(yoton_channel_message_type(pub, buf, 0, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 3);

    /* Collisions: same slot hash in one context (names are normalised: case, spaces). */
    CHECK_RC(yoton_pub_new(ctx, "chat", "txt", &other), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yoton_last_error(), "Slot not free") != NULL);
    CHECK_RC(yoton_pub_new(ctx, "CHAT", NULL, &other), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_new(ctx, "Chat", NULL, &other), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(other == NULL);
    /* Another type is another slot. */
    CHECK_OK(yoton_pub_new(ctx, "chat", "obj", &other));
    yoton_channel_free(other);
    other = NULL;
    /* Closing frees the slot. */
    CHECK_OK(yoton_channel_close(pub));
    CHECK_OK(yoton_pub_new(ctx, "chat", NULL, &other));
    yoton_channel_free(other);
    other = NULL;
    /* So does freeing. */
    yoton_channel_free(sub);
    CHECK_OK(yoton_sub_new(ctx, "chat", NULL, &other));

    yoton_channel_free(other);
    yoton_channel_free(pub);
    yoton_channel_free(spaced);
    yoton_context_free(ctx);
}

static void test_startup_queue(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_context *c = yt_context();
    yoton_context *d = yt_context();
    yoton_channel *pa = yt_make_pub(a, "early", NULL);
    yoton_channel *sb = yt_make_sub(b, "early", NULL);
    yoton_channel *pc = yt_make_pub(c, "early", NULL);
    yoton_channel *sd = yt_make_sub(d, "early", NULL);
    size_t n = 99;

    YT_SECTION("startup queue");
    /* Sent while a has no connection: queued in the context. */
    CHECK_OK(yt_send_text(pa, "s0"));
    CHECK_OK(yt_send_text(pa, "s1"));
    CHECK_OK(yt_send_text(pa, "s2"));
    CHECK_OK(yoton_context_startup_queued(a, &n));
    CHECK_EQ_INT(n, 3);
    /* a binds (the queue moves to the waiting connection), b connects and gets them all. */
    CHECK(yt_link(a, b, NULL, NULL));
    CHECK_OK(yoton_context_startup_queued(a, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_RECV(sb, "s0");
    CHECK_RECV(sb, "s1");
    CHECK_RECV(sb, "s2");
    /* The connecting side moves its startup queue too. */
    CHECK_OK(yt_send_text(pc, "c0"));
    CHECK_OK(yt_send_text(pc, "c1"));
    CHECK_OK(yoton_context_startup_queued(c, &n));
    CHECK_EQ_INT(n, 2);
    CHECK(yt_link(d, c, NULL, NULL));
    CHECK_OK(yoton_context_startup_queued(c, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_RECV(sd, "c0");
    CHECK_RECV(sd, "c1");
    /* With a waiting connection (bound, no peer) sends queue on it, not in the context. */
    {
        yoton_connection *waiting = NULL;
        CHECK_OK(yoton_context_close(a));
        CHECK_OK(yoton_context_bind(a, "localhost:0", 1, NULL, &waiting));
        yoton_channel_free(pa);
        pa = yt_make_pub(a, "early", NULL);
        CHECK_OK(yt_send_text(pa, "w0"));
        CHECK_OK(yoton_context_startup_queued(a, &n));
        CHECK_EQ_INT(n, 0);
        yoton_connection_free(waiting);
    }

    yoton_channel_free(pa);
    yoton_channel_free(sb);
    yoton_channel_free(pc);
    yoton_channel_free(sd);
    yoton_context_free(a);
    yoton_context_free(b);
    yoton_context_free(c);
    yoton_context_free(d);
}

/* 8 sends into a startup queue of 5: which ones survive, with which seqs. */
static void check_discard_mode(int mode, int first) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub;
    yoton_channel *sub = yt_make_sub(b, "dq", NULL);
    uint64_t discarded = 0;
    size_t n = 0;
    int i;

    CHECK_OK(yoton_context_set_queue_params(a, 5, 0, mode));
    {
        /* Read back: 0 bytes kept the default byte limit; every out-pointer may be NULL. */
        size_t packages = 0, bytes = 0;
        int got_mode = -1;
        CHECK_OK(yoton_context_queue_params(a, &packages, &bytes, &got_mode));
        CHECK_EQ_U64(packages, 5);
        CHECK_EQ_U64(bytes, (uint64_t)256 << 20);
        CHECK_EQ_INT(got_mode, mode);
        CHECK_OK(yoton_context_queue_params(a, NULL, NULL, NULL));
        CHECK_RC(yoton_context_queue_params(NULL, &packages, NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);
    }
    pub = yt_make_pub(a, "dq", NULL);
    for (i = 0; i < 8; i++) {
        char text[8];
        snprintf(text, sizeof text, "m%d", i);
        CHECK_OK(yt_send_text(pub, text));
    }
    CHECK_OK(yoton_context_startup_queued(a, &n));
    CHECK_EQ_INT(n, 5);
    CHECK_OK(yoton_context_discarded(a, &discarded));
    CHECK_EQ_U64(discarded, 3);
    CHECK(yt_link(a, b, NULL, NULL));
    for (i = first; i < first + 5; i++) {
        yoton_message *m = recv_one(sub);
        char want[8];
        const void *data = NULL;
        size_t len = 0;
        snprintf(want, sizeof want, "m%d", i);
        if (m == NULL) {
            break;
        }
        CHECK_OK(yoton_message_data(m, &data, &len));
        CHECK_STREQ((const char *)data, want);
        CHECK_EQ_U64(msg_u64(yoton_message_source_seq, m), (uint64_t)i + 1);
        yoton_message_free(m);
    }
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_queue_params(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "full", NULL);
    yoton_channel *sub;
    struct discarded_wait w;
    uint64_t discarded = 0;
    size_t n = 0;
    int i;

    YT_SECTION("queue params and the discarded counter");
    check_discard_mode(YOTON_DISCARD_NEW, 0); /* keeps m0..m4, seqs 1..5 */
    check_discard_mode(YOTON_DISCARD_OLD, 3); /* keeps m3..m7, seqs 4..8 */

    /* A subscriber queue of 3 (OLD): 10 arrive, 7 are dropped, the last 3 stay. */
    CHECK_OK(yoton_context_set_queue_params(b, 3, 0, YOTON_DISCARD_OLD));
    sub = yt_make_sub(b, "full", NULL);
    CHECK(yt_link(a, b, NULL, NULL));
    for (i = 0; i < 10; i++) {
        char text[8];
        snprintf(text, sizeof text, "q%d", i);
        CHECK_OK(yt_send_text(pub, text));
    }
    w.ctx = b;
    w.n = 7;
    CHECK(yt_wait_until(discarded_at_least, &w, YT_WAIT));
    CHECK_OK(yoton_context_discarded(b, &discarded));
    CHECK_EQ_U64(discarded, 7);
    CHECK_OK(yoton_channel_pending(sub, &n));
    CHECK_EQ_INT(n, 3);
    CHECK_RECV(sub, "q7");
    CHECK_RECV(sub, "q8");
    CHECK_RECV(sub, "q9");
    CHECK_OK(yoton_context_discarded(a, &discarded));
    CHECK_EQ_U64(discarded, 0);

    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_max_message_size(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "size", "bin");
    yoton_channel *sub = yt_make_sub(b, "size", "bin");
    yoton_connection *ca = NULL;
    yoton_connection *cb = NULL;
    char payload[2000];
    char reason[256];

    YT_SECTION("maximum message size");
    memset(payload, 'p', sizeof payload);
    CHECK(yt_link(a, b, &ca, &cb));
    /* Sending: above the limit is refused. */
    {
        uint64_t max = 0;
        CHECK_OK(yoton_context_max_message_size(a, &max));
        CHECK_EQ_U64(max, (uint64_t)256 << 20); /* the default */
        CHECK_RC(yoton_context_set_max_message_size(a, 1023), YOTON_ERR_INVALID_ARGUMENT); /* floor */
        CHECK_OK(yoton_context_max_message_size(a, &max));
        CHECK_EQ_U64(max, (uint64_t)256 << 20); /* a refused value changes nothing */
        CHECK_OK(yoton_context_set_max_message_size(a, 1100));
        CHECK_OK(yoton_context_max_message_size(a, &max));
        CHECK_EQ_U64(max, 1100);
        CHECK_RC(yoton_context_max_message_size(a, NULL), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_RC(yoton_context_max_message_size(NULL, &max), YOTON_ERR_INVALID_ARGUMENT);
    }
    CHECK_RC(yoton_pub_send(pub, payload, 1101), YOTON_ERR_TOO_LARGE);
    CHECK_OK(yoton_pub_send(pub, payload, 1100));
    {
        yoton_message *m = recv_one(sub);
        const void *data = NULL;
        size_t len = 0;
        if (m != NULL) {
            CHECK_OK(yoton_message_data(m, &data, &len));
            CHECK_EQ_INT(len, 1100);
        }
        yoton_message_free(m);
    }
    /* Receiving: a peer announcing more than our limit is disconnected with a reason. */
    CHECK_OK(yoton_context_set_max_message_size(b, 1050));
    CHECK_OK(yoton_pub_send(pub, payload, 1080));
    CHECK(yt_wait_status(cb, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(strncmp(reason_of(cb, reason, sizeof reason), "Lost track of the stream", 24) == 0);
    printf("   receiver's reason: %s\n", reason);
    CHECK(yt_wait_status(ca, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_STREQ(reason_of(ca, reason, sizeof reason), "Other end dropped the connection.");
    {
        size_t n = 99;
        CHECK_OK(yoton_channel_pending(sub, &n));
        CHECK_EQ_INT(n, 0);
    }

    yoton_connection_free(ca);
    yoton_connection_free(cb);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_big_message(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "big", "bin");
    yoton_channel *sub = yt_make_sub(b, "big", "bin");
    const size_t size = (size_t)10 << 20;
    unsigned char *payload = (unsigned char *)malloc(size);
    yoton_message *m = NULL;
    size_t i;

    YT_SECTION("a 10 MiB message");
    for (i = 0; i < size; i++) {
        payload[i] = (unsigned char)(i * 31 + (i >> 13));
    }
    CHECK(yt_link(b, a, NULL, NULL));
    CHECK_OK(yoton_pub_send(pub, payload, size));
    CHECK_OK(yt_send_text(pub, "after")); /* order kept after a big one */
    CHECK_OK(yoton_sub_recv(sub, 30.0, &m));
    if (m != NULL) {
        const void *data = NULL;
        size_t len = 0;
        CHECK_OK(yoton_message_data(m, &data, &len));
        CHECK_EQ_INT(len, size);
        CHECK(len == size && memcmp(data, payload, size) == 0);
        CHECK(len == size && ((const unsigned char *)data)[size] == 0);
        yoton_message_free(m);
    }
    CHECK_RECV(sub, "after");
    free(payload);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_connection_properties(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *host = NULL;
    yoton_connection *client = NULL;
    yoton_connection *found = NULL;
    yoton_connection *extra = NULL;
    char buf[64];
    char address[64];
    size_t len = 0;
    uint16_t port = 0, p2 = 0;
    uint64_t u = 0;
    double t = 0;
    bool flag = false;

    YT_SECTION("connection properties");
    CHECK_OK(yoton_context_bind(a, "localhost:0", 1, "hostside", &host));
    /* Waiting. */
    CHECK_EQ_INT(status_of(host), YOTON_STATUS_WAITING);
    CHECK_OK(yoton_connection_is_waiting(host, &flag));
    CHECK(flag);
    CHECK_OK(yoton_connection_is_alive(host, &flag));
    CHECK(flag);
    CHECK_OK(yoton_connection_is_connected(host, &flag));
    CHECK(!flag);
    CHECK_OK(yoton_connection_is_timedout(host, &flag));
    CHECK(!flag);
    CHECK_OK(yoton_connection_hostname1(host, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "127.0.0.1");
    CHECK_EQ_INT(len, 9);
    CHECK_OK(yoton_connection_hostname2(host, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "");
    CHECK_EQ_INT(len, 0);
    CHECK_OK(yoton_connection_port1(host, &port));
    CHECK(port != 0);
    CHECK_OK(yoton_connection_port2(host, &p2));
    CHECK_EQ_INT(p2, 0);
    CHECK_OK(yoton_connection_id1(host, &u));
    CHECK_EQ_U64(u, yt_ctx_id(a));
    CHECK_OK(yoton_connection_id2(host, &u));
    CHECK_EQ_U64(u, 0);
    CHECK_OK(yoton_connection_pid1(host, &u));
    CHECK_EQ_U64(u, (uint64_t)getpid());
    CHECK_OK(yoton_connection_pid2(host, &u));
    CHECK_EQ_U64(u, 0);
    CHECK_OK(yoton_connection_name(host, buf, sizeof buf, &len));
    CHECK_STREQ(buf, "hostside");
    CHECK_OK(yoton_connection_timeout(host, &t));
    CHECK(t == 0.5);
    CHECK_RC(yoton_connection_close_reason(host, buf, sizeof buf, &len), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(count_of(a), 0);
    CHECK_EQ_INT(count_all_of(a), 1);
    CHECK_RC(yoton_context_connection_at(a, 0, false, &found), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_context_connection_at(a, 0, true, &found));
    CHECK_OK(yoton_connection_port1(found, &p2));
    CHECK_EQ_INT(p2, port);
    yoton_connection_free(found);
    found = NULL;
    CHECK_OK(yoton_context_connection_by_name(a, "hostside", &found)); /* waiting ones too */
    yoton_connection_free(found);
    found = NULL;

    /* Connected. */
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    CHECK_OK(yoton_context_connect(b, address, 5.0, "clientside", &client));
    CHECK(yt_wait_status(host, YOTON_STATUS_HOSTING, YT_WAIT));
    CHECK_EQ_INT(status_of(client), YOTON_STATUS_CONNECTED);
    CHECK_OK(yoton_connection_is_connected(host, &flag));
    CHECK(flag);
    CHECK_OK(yoton_connection_is_waiting(host, &flag));
    CHECK(!flag);
    CHECK_OK(yoton_connection_is_connected(client, &flag));
    CHECK(flag);
    CHECK_OK(yoton_connection_is_alive(client, &flag));
    CHECK(flag);
    CHECK_OK(yoton_connection_is_timedout(client, &flag));
    CHECK(!flag);
    CHECK_OK(yoton_connection_hostname2(host, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "127.0.0.1");
    CHECK_OK(yoton_connection_hostname1(client, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "127.0.0.1");
    CHECK_OK(yoton_connection_hostname2(client, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "127.0.0.1");
    CHECK_OK(yoton_connection_port1(host, &p2));
    CHECK_EQ_INT(p2, port);
    CHECK_OK(yoton_connection_port2(client, &p2));
    CHECK_EQ_INT(p2, port);
    {
        uint16_t client_port = 0, seen_by_host = 0;
        CHECK_OK(yoton_connection_port1(client, &client_port));
        CHECK_OK(yoton_connection_port2(host, &seen_by_host));
        CHECK(client_port != 0);
        CHECK_EQ_INT(seen_by_host, client_port);
    }
    CHECK_OK(yoton_connection_id2(host, &u));
    CHECK_EQ_U64(u, yt_ctx_id(b));
    CHECK_OK(yoton_connection_id1(client, &u));
    CHECK_EQ_U64(u, yt_ctx_id(b));
    CHECK_OK(yoton_connection_id2(client, &u));
    CHECK_EQ_U64(u, yt_ctx_id(a));
    CHECK_OK(yoton_connection_pid2(host, &u));
    CHECK_EQ_U64(u, (uint64_t)getpid());
    CHECK_OK(yoton_connection_pid2(client, &u));
    CHECK_EQ_U64(u, (uint64_t)getpid());
    CHECK_OK(yoton_connection_name(client, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "clientside");
    /* Hostname buffer convention. */
    len = 0;
    CHECK_RC(yoton_connection_hostname1(host, NULL, 0, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 9);
    CHECK_RC(yoton_connection_hostname1(host, buf, 9, NULL), YOTON_ERR_TOO_LARGE);
    CHECK_OK(yoton_connection_hostname1(host, buf, 10, NULL));
    CHECK_RC(yoton_connection_name(host, buf, 3, &len), YOTON_ERR_TOO_LARGE);
    CHECK_EQ_INT(len, 8);

    /* Names and lookups. */
    CHECK_OK(yoton_connection_set_name(host, "renamed"));
    CHECK_OK(yoton_connection_name(host, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "renamed");
    CHECK_RC(yoton_context_connection_by_name(a, "hostside", &found), YOTON_ERR_NOT_FOUND);
    CHECK_OK(yoton_context_connection_by_name(a, "renamed", &found));
    CHECK_OK(yoton_connection_id2(found, &u));
    CHECK_EQ_U64(u, yt_ctx_id(b));
    yoton_connection_free(found);
    found = NULL;
    CHECK_OK(yoton_context_connection_by_name(b, "clientside", &found));
    yoton_connection_free(found);
    found = NULL;
    /* Counting and indexing: one with a peer, plus one waiting. */
    CHECK_EQ_INT(count_of(a), 1);
    CHECK_EQ_INT(count_all_of(a), 1);
    CHECK_OK(yoton_context_bind(a, "localhost:0", 1, "spare", &extra));
    CHECK_EQ_INT(count_of(a), 1);
    CHECK_EQ_INT(count_all_of(a), 2);
    CHECK_OK(yoton_context_connection_at(a, 0, false, &found));
    CHECK_OK(yoton_connection_name(found, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "renamed");
    yoton_connection_free(found);
    found = NULL;
    CHECK_RC(yoton_context_connection_at(a, 1, false, &found), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_context_connection_at(a, 1, true, &found));
    CHECK_OK(yoton_connection_name(found, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "spare");
    yoton_connection_free(found);
    found = NULL;
    CHECK_RC(yoton_context_connection_at(a, 2, true, &found), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(count_of(b), 1);

    /* Timeout: at least 0.5 s. */
    CHECK_OK(yoton_connection_set_timeout(client, 1.5));
    CHECK_OK(yoton_connection_timeout(client, &t));
    CHECK(t == 1.5);
    CHECK_RC(yoton_connection_set_timeout(client, 0.4), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(strstr(yoton_last_error(), "at least") != NULL);
    CHECK_OK(yoton_connection_timeout(client, &t));
    CHECK(t == 1.5);
    CHECK_OK(yoton_connection_set_timeout(client, 0.5));

    /* Handles are independent: freeing one leaves the connection open. */
    CHECK_OK(yoton_context_connection_at(b, 0, false, &found));
    yoton_connection_free(found);
    CHECK_EQ_INT(status_of(client), YOTON_STATUS_CONNECTED);

    /* A named port: "localhost:test" hashes to 56337 (docs/protocol.md §4.5); with max_tries the
     * port is 56337 or one of the next tries. */
    {
        yoton_connection *named = NULL;
        if (CHECK_OK(yoton_context_bind(b, "localhost:test", 64, NULL, &named))) {
            CHECK_OK(yoton_connection_port1(named, &p2));
            CHECK(p2 >= 56337 && p2 <= 56337 + 308);
            yoton_connection_free(named);
        }
    }

    yoton_connection_free(extra);
    yoton_connection_free(host);
    yoton_connection_free(client);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_closing(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL;
    yoton_connection *cb = NULL;
    yoton_connection *waiting = NULL;
    char reason[256];
    bool flag = true;

    YT_SECTION("closing: reasons on both sides");
    /* close with a reason: the peer gets a close package. */
    CHECK(yt_link(a, b, &ca, &cb));
    CHECK_OK(yoton_connection_close(cb, "bye"));
    CHECK_EQ_INT(status_of(cb), YOTON_STATUS_CLOSED);
    CHECK_STREQ(reason_of(cb, reason, sizeof reason), "bye");
    CHECK(yt_wait_status(ca, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_STREQ(reason_of(ca, reason, sizeof reason), "Closed from other end.");
    CHECK_OK(yoton_connection_is_alive(ca, &flag));
    CHECK(!flag);
    CHECK(wait_count(a, 0));
    CHECK_EQ_INT(count_all_of(a), 0);
    /* reason buffer convention */
    {
        size_t len = 0;
        CHECK_RC(yoton_connection_close_reason(ca, NULL, 0, &len), YOTON_ERR_TOO_LARGE);
        CHECK_EQ_INT(len, strlen("Closed from other end."));
    }
    yoton_connection_free(ca);
    yoton_connection_free(cb);

    /* close(NULL): the default reason. */
    CHECK(yt_link(a, b, &ca, &cb));
    CHECK_OK(yoton_connection_close(ca, NULL));
    CHECK_STREQ(reason_of(ca, reason, sizeof reason), "Closed on command.");
    CHECK(yt_wait_status(cb, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_STREQ(reason_of(cb, reason, sizeof reason), "Closed from other end.");
    yoton_connection_free(ca);
    yoton_connection_free(cb);

    /* close_on_problem: the peer is not told, it sees the socket drop. */
    CHECK(yt_link(a, b, &ca, &cb));
    CHECK_OK(yoton_connection_close_on_problem(ca, "oops"));
    CHECK_STREQ(reason_of(ca, reason, sizeof reason), "oops");
    CHECK(yt_wait_status(cb, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_STREQ(reason_of(cb, reason, sizeof reason), "Other end dropped the connection.");
    CHECK_OK(yoton_connection_close_on_problem(ca, "again")); /* no-op */
    CHECK_STREQ(reason_of(ca, reason, sizeof reason), "oops");
    yoton_connection_free(ca);
    yoton_connection_free(cb);

    /* Closing a waiting connection; close_on_problem(NULL) default reason. */
    CHECK_OK(yoton_context_bind(a, "localhost:0", 1, NULL, &waiting));
    CHECK_OK(yoton_connection_close_on_problem(waiting, NULL));
    CHECK_EQ_INT(status_of(waiting), YOTON_STATUS_CLOSED);
    CHECK_STREQ(reason_of(waiting, reason, sizeof reason), "Unspecified problem");
    CHECK_EQ_INT(count_all_of(a), 0);
    CHECK_RC(yoton_connection_flush(waiting, 0.5), YOTON_ERR_CLOSED);
    yoton_connection_free(waiting);

    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_context_close_and_reuse(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL;
    yoton_connection *cb = NULL;
    yoton_channel *pub = yt_make_pub(a, "reuse", NULL);
    yoton_channel *sub = yt_make_sub(b, "reuse", NULL);
    char reason[256];
    bool closed = false;

    YT_SECTION("context close, close_channels, reuse");
    CHECK(yt_link(a, b, &ca, &cb));
    CHECK_OK(yt_send_text(pub, "first"));
    CHECK_RECV(sub, "first");
    CHECK_OK(yoton_context_close(a));
    CHECK_EQ_INT(status_of(ca), YOTON_STATUS_CLOSED);
    CHECK_STREQ(reason_of(ca, reason, sizeof reason), "Closed by the context.");
    CHECK_OK(yoton_channel_is_closed(pub, &closed));
    CHECK(closed);
    CHECK_RC(yt_send_text(pub, "lost"), YOTON_ERR_CLOSED);
    CHECK_EQ_INT(count_all_of(a), 0);
    CHECK(yt_wait_status(cb, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_STREQ(reason_of(cb, reason, sizeof reason), "Closed from other end.");
    CHECK_OK(yoton_context_close(a)); /* twice: fine */
    yoton_connection_free(ca);
    yoton_connection_free(cb);
    yoton_channel_free(pub);

    /* Reuse: new channels and connections on the same context. */
    pub = yt_make_pub(a, "reuse", NULL);
    CHECK(yt_link(b, a, &cb, &ca));
    CHECK_OK(yt_send_text(pub, "second"));
    CHECK_RECV(sub, "second");

    /* close_channels: channels closed, connections kept. */
    CHECK_OK(yoton_context_close_channels(b));
    CHECK_OK(yoton_channel_is_closed(sub, &closed));
    CHECK(closed);
    CHECK_EQ_INT(count_of(b), 1);
    CHECK_EQ_INT(status_of(cb), YOTON_STATUS_HOSTING);
    CHECK_OK(yt_send_text(pub, "nobody listens"));
    CHECK_OK(yoton_context_flush(a, 5.0));
    CHECK_EQ_INT(status_of(ca), YOTON_STATUS_CONNECTED);

    yoton_connection_free(ca);
    yoton_connection_free(cb);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_flush(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ca = NULL;
    yoton_connection *waiting = NULL;
    yoton_channel *pub = yt_make_pub(a, "flush", "bin");
    yoton_channel *sub = yt_make_sub(b, "flush", "bin");
    char payload[1000];
    int i;

    YT_SECTION("flush");
    memset(payload, 'f', sizeof payload);
    CHECK(yt_link(b, a, NULL, &ca));
    for (i = 0; i < 200; i++) {
        CHECK_OK(yoton_pub_send(pub, payload, sizeof payload));
    }
    CHECK_OK(yoton_connection_flush(ca, 5.0));
    CHECK_OK(yoton_context_flush(a, 5.0));
    CHECK_OK(yoton_context_flush(a, YOTON_FOREVER)); /* no limit: everything is written */
    CHECK_OK(yoton_connection_flush(ca, YOTON_FOREVER));
    CHECK(yt_wait_pending(sub, 200, YT_WAIT));
    /* A waiting connection has no peer to flush to; the context flush skips it. */
    CHECK_OK(yoton_context_bind(a, "localhost:0", 1, NULL, &waiting));
    CHECK_RC(yoton_connection_flush(waiting, 0.5), YOTON_ERR_CLOSED);
    CHECK_OK(yoton_context_flush(a, 5.0));
    /* A context without connections flushes trivially. */
    {
        yoton_context *lonely = yt_context();
        CHECK_OK(yoton_context_flush(lonely, 0.1));
        yoton_context_free(lonely);
    }
    yoton_connection_free(waiting);
    yoton_connection_free(ca);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

/* Connect `client` to a new bind of `host` ("localhost:0"); waits for HOSTING. */
static int link_to(const yoton_context *host, const yoton_context *client) {
    return yt_link(host, client, NULL, NULL);
}

static void test_multi_hop(void) {
    yoton_context *a = yt_context();
    yoton_context *router = yt_context();
    yoton_context *b = yt_context();
    yoton_context *c = yt_context();
    yoton_channel *pa = yt_make_pub(a, "news", NULL);
    yoton_channel *sa = yt_make_sub(a, "back", NULL);
    yoton_channel *sb = yt_make_sub(b, "news", NULL);
    yoton_channel *pb = yt_make_pub(b, "back", NULL);
    yoton_channel *sc = yt_make_sub(c, "news", NULL);
    yoton_message *m = NULL;
    const int n = 20;
    int i;

    YT_SECTION("multi-hop: a <-> router <-> b, and c on the router too");
    /* A chain a - router - b, plus a leaf c on the router: a tree with the router in the
     * middle. The router has no channels at all: it only forwards. */
    CHECK(link_to(router, a));
    CHECK(link_to(router, b));
    CHECK(link_to(router, c));
    CHECK_EQ_INT(count_of(router), 3);
    for (i = 0; i < n; i++) {
        char text[16];
        snprintf(text, sizeof text, "n%d", i);
        CHECK_OK(yt_send_text(pa, text));
    }
    for (i = 0; i < n; i++) {
        char text[16];
        snprintf(text, sizeof text, "n%d", i);
        CHECK_RECV(sb, text);
        CHECK_RECV(sc, text);
    }
    /* Exactly once: nothing more arrives. */
    CHECK_RC(yoton_sub_recv(sb, 0.2, &m), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_sub_recv(sc, 0.0, &m), YOTON_ERR_TIMEOUT);
    /* The originator's id and seq survive the hops. */
    CHECK_OK(yt_send_text(pa, "id"));
    m = recv_one(sb);
    if (m != NULL) {
        CHECK_EQ_U64(msg_u64(yoton_message_source_id, m), yt_ctx_id(a));
        CHECK_EQ_U64(msg_u64(yoton_message_source_seq, m), (uint64_t)n + 2); /* +NEW_CONNECTION */
        yoton_message_free(m);
    }
    m = recv_one(sc);
    yoton_message_free(m);
    /* A 3 MiB message crosses both hops intact. */
    {
        yoton_channel *bigp = yt_make_pub(a, "bignews", "bin");
        yoton_channel *bigs = yt_make_sub(b, "bignews", "bin");
        const size_t size = (size_t)3 << 20;
        unsigned char *payload = (unsigned char *)malloc(size);
        size_t k;
        for (k = 0; k < size; k++) {
            payload[k] = (unsigned char)(k % 251);
        }
        CHECK_OK(yoton_pub_send(bigp, payload, size));
        m = NULL;
        CHECK_OK(yoton_sub_recv(bigs, 30.0, &m));
        if (m != NULL) {
            const void *data = NULL;
            size_t len = 0;
            CHECK_OK(yoton_message_data(m, &data, &len));
            CHECK(len == size && memcmp(data, payload, size) == 0);
            yoton_message_free(m);
        }
        free(payload);
        yoton_channel_free(bigp);
        yoton_channel_free(bigs);
    }
    /* And back the other way. */
    CHECK_OK(yt_send_text(pb, "reply"));
    CHECK_RECV(sa, "reply");
    CHECK_RC(yoton_sub_recv(sa, 0.1, &m), YOTON_ERR_TIMEOUT);

    /* The router leaves: the network falls apart, nothing is delivered any more. */
    CHECK_OK(yoton_context_close(router));
    CHECK(wait_count(a, 0));
    CHECK(wait_count(b, 0));

    yoton_channel_free(pa);
    yoton_channel_free(sa);
    yoton_channel_free(sb);
    yoton_channel_free(pb);
    yoton_channel_free(sc);
    yoton_context_free(a);
    yoton_context_free(router);
    yoton_context_free(b);
    yoton_context_free(c);
}

/* A ring a - b - c - a: every package reaches every node by two paths; each subscriber
 * still gets each message once, and the originator does not get its own messages back. */
static void test_ring(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_context *c = yt_context();
    yoton_channel *pa = yt_make_pub(a, "ring", NULL);
    yoton_channel *sa = yt_make_sub(a, "ring", NULL);
    yoton_channel *sb = yt_make_sub(b, "ring", NULL);
    yoton_channel *sc = yt_make_sub(c, "ring", NULL);
    yoton_message *m = NULL;
    int i;

    YT_SECTION("a ring: no duplicates, no echo");
    CHECK(link_to(a, b));
    CHECK(link_to(b, c));
    CHECK(link_to(c, a));
    for (i = 0; i < 10; i++) {
        char text[16];
        snprintf(text, sizeof text, "r%d", i);
        CHECK_OK(yt_send_text(pa, text));
    }
    for (i = 0; i < 10; i++) {
        char text[16];
        snprintf(text, sizeof text, "r%d", i);
        CHECK_RECV(sb, text);
        CHECK_RECV(sc, text);
    }
    CHECK_RC(yoton_sub_recv(sb, 0.3, &m), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_sub_recv(sc, 0.0, &m), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_sub_recv(sa, 0.0, &m), YOTON_ERR_TIMEOUT);
    yoton_channel_free(pa);
    yoton_channel_free(sa);
    yoton_channel_free(sb);
    yoton_channel_free(sc);
    yoton_context_free(a);
    yoton_context_free(b);
    yoton_context_free(c);
}

/* --- threads ---------------------------------------------------------------------------- */

struct recv_job {
    const yoton_channel *sub;
    double timeout;
    int rc;
    char text[32];
};

static void *recv_thread(void *arg) {
    struct recv_job *job = (struct recv_job *)arg;
    yoton_message *m = NULL;
    job->rc = yoton_sub_recv(job->sub, job->timeout, &m);
    job->text[0] = '\0';
    if (job->rc == YOTON_OK) {
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(m, &data, &len);
        snprintf(job->text, sizeof job->text, "%s", (const char *)data);
        yoton_message_free(m);
    }
    return NULL;
}

#define SEND_THREADS 4
#define PER_THREAD 250

struct send_job {
    const yoton_channel *pub;
    int index;
    int failures;
};

static void *send_thread(void *arg) {
    struct send_job *job = (struct send_job *)arg;
    int i;
    job->failures = 0;
    for (i = 0; i < PER_THREAD; i++) {
        unsigned char body[8];
        body[0] = (unsigned char)job->index;
        body[1] = (unsigned char)(i & 0xff);
        body[2] = (unsigned char)(i >> 8);
        if (yoton_pub_send(job->pub, body, 3) != YOTON_OK) {
            job->failures++;
        }
    }
    return NULL;
}

/* Two receivers share one subscriber: each records what it got, both stop once all `target`
 * messages are in (or at a deadline). */
struct multi_shared {
    pthread_mutex_t lock;
    int received;
    int target;
    double deadline;
};

struct multi_recv {
    const yoton_channel *sub;
    struct multi_shared *shared;
    int count;
    unsigned char seen[512];
};

static void *multi_recv_thread(void *arg) {
    struct multi_recv *r = (struct multi_recv *)arg;
    for (;;) {
        yoton_message *m = NULL;
        const void *data = NULL;
        size_t len = 0;
        int done;
        if (yoton_sub_recv(r->sub, 0.05, &m) == YOTON_OK) {
            yoton_message_data(m, &data, &len);
            if (len == 2) {
                const unsigned char *b = (const unsigned char *)data;
                int k = b[0] | (b[1] << 8);
                if (k < 512) {
                    r->seen[k]++;
                }
            }
            r->count++;
            yoton_message_free(m);
            pthread_mutex_lock(&r->shared->lock);
            r->shared->received++;
            pthread_mutex_unlock(&r->shared->lock);
            continue;
        }
        pthread_mutex_lock(&r->shared->lock);
        done = r->shared->received >= r->shared->target || yt_now() > r->shared->deadline;
        pthread_mutex_unlock(&r->shared->lock);
        if (done) {
            return NULL;
        }
    }
}

static void test_threads(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "thr", NULL);
    yoton_channel *sub = yt_make_sub(b, "thr", NULL);
    yoton_channel *bpub = yt_make_pub(a, "thr", "bin");
    yoton_channel *bsub = yt_make_sub(b, "thr", "bin");
    struct recv_job job;
    struct send_job jobs[SEND_THREADS];
    pthread_t thread;
    pthread_t threads[SEND_THREADS];
    int next[SEND_THREADS];
    int i;
    int in_order = 1;
    int seq_increasing = 1;
    uint64_t last_seq = 0;

    YT_SECTION("threads: blocking recv, close from another thread, concurrent sends");
    CHECK(yt_link(a, b, NULL, NULL));

    /* A receiver blocked without a timeout gets a message sent from this thread. */
    job.sub = sub;
    job.timeout = -1.0;
    CHECK(pthread_create(&thread, NULL, recv_thread, &job) == 0);
    CHECK_OK(yt_send_text(pub, "wake up"));
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_OK(job.rc);
    CHECK_STREQ(job.text, "wake up");

    /* A receiver blocked without a timeout is released by closing the channel. */
    job.timeout = -1.0;
    CHECK(pthread_create(&thread, NULL, recv_thread, &job) == 0);
    yt_sleep(0.05); /* give it time to block (the test passes either way) */
    CHECK_OK(yoton_channel_close(sub));
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_RC(job.rc, YOTON_ERR_CLOSED);

    /* Several threads publish on one channel at once: nothing lost, per-thread order kept,
     * and sequence numbers arrive strictly increasing (seq assigned and queued atomically). */
    for (i = 0; i < SEND_THREADS; i++) {
        jobs[i].pub = bpub;
        jobs[i].index = i;
        next[i] = 0;
        CHECK(pthread_create(&threads[i], NULL, send_thread, &jobs[i]) == 0);
    }
    for (i = 0; i < SEND_THREADS * PER_THREAD; i++) {
        yoton_message *m = NULL;
        const void *data = NULL;
        size_t len = 0;
        const unsigned char *body;
        uint64_t seq;
        if (yoton_sub_recv(bsub, YT_WAIT, &m) != YOTON_OK) {
            CHECK_EQ_INT(i, SEND_THREADS * PER_THREAD); /* report how many arrived */
            break;
        }
        yoton_message_data(m, &data, &len);
        body = (const unsigned char *)data;
        if (len == 3 && body[0] < SEND_THREADS) {
            int k = body[1] | (body[2] << 8);
            if (k != next[body[0]]) {
                in_order = 0;
            }
            next[body[0]] = k + 1;
        } else {
            in_order = 0;
        }
        seq = msg_u64(yoton_message_source_seq, m);
        if (seq <= last_seq) {
            seq_increasing = 0;
        }
        last_seq = seq;
        yoton_message_free(m);
    }
    for (i = 0; i < SEND_THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK_EQ_INT(jobs[i].failures, 0);
        CHECK_EQ_INT(next[i], PER_THREAD);
    }
    CHECK(in_order);
    CHECK(seq_increasing);

    /* Two threads receive from one subscriber at once: every message exactly once. */
    {
        struct multi_recv r1, r2;
        struct multi_shared shared;
        pthread_t t1, t2;
        const int total = 400;
        memset(&r1, 0, sizeof r1);
        memset(&r2, 0, sizeof r2);
        pthread_mutex_init(&shared.lock, NULL);
        shared.received = 0;
        shared.target = total;
        shared.deadline = yt_now() + YT_WAIT;
        r1.sub = r2.sub = bsub;
        r1.shared = r2.shared = &shared;
        CHECK(pthread_create(&t1, NULL, multi_recv_thread, &r1) == 0);
        CHECK(pthread_create(&t2, NULL, multi_recv_thread, &r2) == 0);
        for (i = 0; i < total; i++) {
            unsigned char body[2];
            body[0] = (unsigned char)(i & 0xff);
            body[1] = (unsigned char)(i >> 8);
            CHECK_OK(yoton_pub_send(bpub, body, 2));
        }
        CHECK(pthread_join(t1, NULL) == 0);
        CHECK(pthread_join(t2, NULL) == 0);
        pthread_mutex_destroy(&shared.lock);
        CHECK_EQ_INT(r1.count + r2.count, total);
        {
            int dup_or_missing = 0;
            for (i = 0; i < total; i++) {
                if (r1.seen[i] + r2.seen[i] != 1) {
                    dup_or_missing++;
                }
            }
            CHECK_EQ_INT(dup_or_missing, 0);
        }
    }

    /* Freeing the context releases a receiver blocked without a timeout on one of its
     * channels (a different handle than the one freed: allowed). */
    {
        yoton_channel *lone = yt_make_sub(b, "lone", NULL);
        job.sub = lone;
        job.timeout = -1.0;
        CHECK(pthread_create(&thread, NULL, recv_thread, &job) == 0);
        yt_sleep(0.05);
        yoton_context_free(b);
        b = NULL;
        CHECK(pthread_join(thread, NULL) == 0);
        CHECK_RC(job.rc, YOTON_ERR_CLOSED);
        yoton_channel_free(lone);
    }

    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_channel_free(bpub);
    yoton_channel_free(bsub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_lifetimes_and_names(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "CHAT", NULL);
    yoton_channel *sub = yt_make_sub(b, " chat", NULL); /* strip + lower: the same slot */
    yoton_message *m = NULL;
    const void *data = NULL;
    size_t len = 0;
    uint64_t ids[64];
    int i, j, unique = 1;

    YT_SECTION("slot name normalisation across contexts; messages outlive everything");
    CHECK(yt_link(a, b, NULL, NULL));
    CHECK_OK(yt_send_text(pub, "normalised"));
    m = recv_one(sub);
    /* Free the channel and both contexts: the message stays readable. */
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
    if (m != NULL) {
        CHECK_OK(yoton_message_data(m, &data, &len));
        CHECK_STREQ((const char *)data, "normalised");
        yoton_message_free(m);
    }

    /* Context ids: non-zero and unique, even when created in a burst. */
    for (i = 0; i < 64; i++) {
        yoton_context *c = yt_context();
        ids[i] = yt_ctx_id(c);
        yoton_context_free(c);
    }
    for (i = 0; i < 64; i++) {
        if (ids[i] == 0) {
            unique = 0;
        }
        for (j = 0; j < i; j++) {
            if (ids[i] == ids[j]) {
                unique = 0;
            }
        }
    }
    CHECK(unique);
}

static void test_queue_bytes(void) {
    yoton_context *a = yt_context();
    yoton_channel *pub;
    char body[1000];
    size_t n = 0;
    uint64_t discarded = 0;

    YT_SECTION("queue byte limit");
    memset(body, 'b', sizeof body);
    /* 2500 bytes hold two 1000-byte messages (with or without header overhead), not three. */
    CHECK_OK(yoton_context_set_queue_params(a, 100, 2500, YOTON_DISCARD_NEW));
    pub = yt_make_pub(a, "bytes", "bin");
    CHECK_OK(yoton_pub_send(pub, body, sizeof body));
    CHECK_OK(yoton_pub_send(pub, body, sizeof body));
    CHECK_OK(yoton_pub_send(pub, body, sizeof body));
    CHECK_OK(yoton_context_startup_queued(a, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_OK(yoton_context_discarded(a, &discarded));
    CHECK_EQ_U64(discarded, 1);
    /* 0 bytes keeps the byte limit; the package limit changes. */
    CHECK_OK(yoton_context_set_queue_params(a, 1, 0, YOTON_DISCARD_OLD));
    CHECK_OK(yoton_pub_send(pub, body, 10));
    CHECK_OK(yoton_context_startup_queued(a, &n));
    CHECK_EQ_INT(n, 1);
    yoton_channel_free(pub);
    yoton_context_free(a);
}

/* One bind, one peer: the listening socket closes when the peer is accepted, and the same
 * port can be bound again for the next peer. */
static void test_one_peer_per_bind(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_context *c = yt_context();
    yoton_connection *ha = NULL;
    yoton_connection *again = NULL;
    yoton_connection *cc = NULL;
    char address[64];
    uint16_t port;

    YT_SECTION("one peer per bind; the port can be bound again");
    CHECK(yt_link(a, b, &ha, NULL));
    port = yt_port(ha);
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    CHECK_RC(yoton_context_connect(c, address, 0.2, NULL, &cc), YOTON_ERR_IO);
    snprintf(address, sizeof address, "localhost:%u", (unsigned)port);
    CHECK_OK(yoton_context_bind(a, address, 1, NULL, &again));
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    CHECK_OK(yoton_context_connect(c, address, 5.0, NULL, &cc));
    CHECK(yt_wait_status(again, YOTON_STATUS_HOSTING, YT_WAIT));
    CHECK_EQ_INT(count_of(a), 2);
    yoton_connection_free(ha);
    yoton_connection_free(again);
    yoton_connection_free(cc);
    yoton_context_free(a);
    yoton_context_free(b);
    yoton_context_free(c);
}

/* A maximum message size below yoton's own context messages (NEW_CONNECTION is 14 bytes)
 * must not break connecting: the limit is about user messages. */
static void test_tiny_max_message_size(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_connection *ha = NULL;
    yoton_connection *cb = NULL;
    char address[64];
    size_t n = 0;
    int rc;

    YT_SECTION("the smallest maximum message size and yoton's own context messages");
    /* Connecting side with the smallest allowed limit. */
    CHECK_OK(yoton_context_set_max_message_size(b, 1024));
    CHECK_OK(yoton_context_bind(a, "localhost:0", 1, NULL, &ha));
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)yt_port(ha));
    rc = yoton_context_connect(b, address, 5.0, NULL, &cb);
    CHECK_RC(rc, YOTON_OK);
    CHECK_OK(yoton_context_connection_count_all(b, &n));
    {
        /* A failed connect leaves no connection behind. */
        size_t expected = rc == YOTON_OK ? 1 : 0;
        CHECK_EQ_INT(n, expected);
    }
    yoton_connection_free(cb);
    cb = NULL;
    yoton_connection_free(ha);
    ha = NULL;
    CHECK_OK(yoton_context_close(a));
    CHECK_OK(yoton_context_close(b));
    CHECK_OK(yoton_context_set_max_message_size(b, (uint64_t)256 << 20));

    /* Hosting side with the smallest allowed limit. */
    {
        yoton_channel *sub = yt_make_sub(a, "tiny", NULL);
        yoton_channel *pub = yt_make_pub(b, "tiny", NULL);
        int status = -1;
        CHECK_OK(yoton_context_set_max_message_size(a, 1024));
        CHECK_OK(yoton_context_bind(a, "localhost:0", 1, NULL, &ha));
        snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)yt_port(ha));
        CHECK_OK(yoton_context_connect(b, address, 5.0, NULL, &cb));
        CHECK_OK(yt_send_text(pub, "ok")); /* 2 bytes: within the limit */
        yt_recv_text(sub, "ok", 2.0, __FILE__, __LINE__);
        CHECK_OK(yoton_connection_get_status(ha, &status));
        CHECK_EQ_INT(status, YOTON_STATUS_HOSTING);
        yoton_channel_free(sub);
        yoton_channel_free(pub);
    }
    yoton_connection_free(ha);
    yoton_connection_free(cb);
    yoton_context_free(a);
    yoton_context_free(b);
}

int main(void) {
    test_message_types();
    test_receiving();
    test_recv_batch();
    test_slot_names();
    test_startup_queue();
    test_queue_params();
    test_max_message_size();
    test_big_message();
    test_connection_properties();
    test_closing();
    test_context_close_and_reuse();
    test_flush();
    test_multi_hop();
    test_ring();
    test_threads();
    test_lifetimes_and_names();
    test_queue_bytes();
    test_one_peer_per_bind();
    test_tiny_max_message_size();
    return yt_summary("test_pubsub");
}
