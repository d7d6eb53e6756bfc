/* State channels, sync mode and ordered reading between contexts in one process over
 * loopback: state send/recv, no-op on an equal state, the empty state refused once set,
 * send_last, a late joiner two hops away, last writer wins, OBJECT states; a slow subscriber
 * in sync mode throttling a fast publisher (and the same without sync mode), sync mode
 * switched off while FULL; yoton_sub_select / yoton_sub_recv_selected in the order of
 * docs/protocol.md §9.2.4; bad input for all of these. */
#include "ytest.h"

#include <pthread.h>

/* --- helpers ---------------------------------------------------------------------------- */

static yoton_channel *make_state(const yoton_context *ctx, const char *base, const char *type) {
    yoton_channel *ch = NULL;
    CHECK_OK(yoton_state_new(ctx, base, type, &ch));
    return ch;
}

static int state_text(const yoton_channel *st, const char *text) {
    return yoton_state_send(st, text, strlen(text));
}

/* The current state's body, its source id and seq (any may be NULL). 1 on success. */
static int state_now(const yoton_channel *st, char *buf, size_t cap, uint64_t *source_id,
                     uint64_t *source_seq) {
    yoton_message *m = NULL;
    const void *data = NULL;
    size_t len = 0;
    if (yoton_state_recv(st, &m) != YOTON_OK) {
        return 0;
    }
    yoton_message_data(m, &data, &len);
    if (buf != NULL) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(buf, data, n);
        buf[n] = '\0';
    }
    if (source_id != NULL) {
        yoton_message_source_id(m, source_id);
    }
    if (source_seq != NULL) {
        yoton_message_source_seq(m, source_seq);
    }
    yoton_message_free(m);
    return 1;
}

struct state_wait {
    const yoton_channel *st;
    const char *text;
};

static int state_is(void *arg) {
    struct state_wait *w = (struct state_wait *)arg;
    char buf[256];
    return state_now(w->st, buf, sizeof buf, NULL, NULL) && strcmp(buf, w->text) == 0;
}

/* Wait (bounded) until the state channel's current state is `text`. */
static int wait_state(const yoton_channel *st, const char *text) {
    struct state_wait w;
    w.st = st;
    w.text = text;
    return yt_wait_until(state_is, &w, YT_WAIT);
}

#define CHECK_STATE_NOW(st, text)                                      \
    do {                                                               \
        char state_buf_[256] = "";                                     \
        CHECK(state_now((st), state_buf_, sizeof state_buf_, NULL, NULL)); \
        CHECK_STREQ(state_buf_, (text));                               \
    } while (0)

struct seq_wait {
    const yoton_channel *st;
    uint64_t above;
};

static int state_seq_above(void *arg) {
    struct seq_wait *w = (struct seq_wait *)arg;
    uint64_t seq = 0;
    return state_now(w->st, NULL, 0, NULL, &seq) && seq > w->above;
}

static uint64_t state_seq(const yoton_channel *st) {
    uint64_t seq = 0;
    CHECK(state_now(st, NULL, 0, NULL, &seq));
    return seq;
}

/* --- state channels --------------------------------------------------------------------- */

static void test_state_basics(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *sa = make_state(a, "status", "txt");
    yoton_channel *sb = make_state(b, "status", NULL); /* NULL type: TEXT */
    yoton_channel *mark_pub = yt_make_pub(a, "mark", NULL);
    yoton_channel *mark_sub = yt_make_sub(b, "mark", NULL);
    yoton_message *m = NULL;
    const void *data = NULL;
    size_t len = 99;
    uint64_t id = 1, seq1 = 0, seq2 = 0;
    char buf[64];

    YT_SECTION("state: send/recv, no-op when equal, empty refused once set, send_last, "
               "last writer wins");
    /* The initial state is the empty message. */
    CHECK_OK(yoton_state_recv(sa, &m));
    CHECK_OK(yoton_message_data(m, &data, &len));
    CHECK_EQ_INT(len, 0);
    CHECK_STREQ((const char *)data, "");
    yoton_message_free(m);
    m = NULL;
    /* Empty before any state: a no-op; send_last without a state: a no-op. */
    CHECK_OK(yoton_state_send(sa, "", 0));
    CHECK_OK(yoton_state_send(sa, NULL, 0));
    CHECK_OK(yoton_state_send_last(sa));
    CHECK_STATE_NOW(sa, "");

    CHECK(yt_link(a, b, NULL, NULL));
    /* b announced itself (NEW_CONNECTION, on which a would re-send its state); a marker b sends
     * after it reaches a only once that was handled, so the state below goes out only once. */
    {
        yoton_channel *joined_pub = yt_make_pub(b, "joined", NULL);
        yoton_channel *joined_sub = yt_make_sub(a, "joined", NULL);
        CHECK_OK(yt_send_text(joined_pub, "joined"));
        CHECK_RECV(joined_sub, "joined");
        yoton_channel_free(joined_pub);
        yoton_channel_free(joined_sub);
    }
    CHECK_OK(state_text(sa, "ready"));
    CHECK_STATE_NOW(sa, "ready"); /* our own state at once */
    CHECK(wait_state(sb, "ready"));
    CHECK(state_now(sb, buf, sizeof buf, &id, &seq1));
    CHECK_EQ_U64(id, yt_ctx_id(a));

    /* An equal state is not sent again: a marker published after it arrives while b's state
     * still carries the first package's seq (one connection keeps the order). */
    CHECK_OK(state_text(sa, "ready"));
    CHECK_OK(yt_send_text(mark_pub, "after the equal state"));
    CHECK_RECV(mark_sub, "after the equal state");
    CHECK_EQ_U64(state_seq(sb), seq1);

    /* The empty state is refused once a state exists; nothing changes. */
    CHECK_RC(yoton_state_send(sa, "", 0), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_STATE_NOW(sa, "ready");
    /* Invalid UTF-8 on a TEXT state. */
    CHECK_RC(yoton_state_send(sa, "x" "\xff", 2), YOTON_ERR_ENCODING);
    CHECK_STATE_NOW(sa, "ready");

    /* send_last re-broadcasts the same state (a new package, a higher seq). */
    CHECK_OK(yoton_state_send_last(sa));
    {
        struct seq_wait w;
        w.st = sb;
        w.above = seq1;
        CHECK(yt_wait_until(state_seq_above, &w, YT_WAIT));
    }
    CHECK(state_now(sb, buf, sizeof buf, &id, &seq2));
    CHECK_STREQ(buf, "ready");
    CHECK(seq2 > seq1);

    /* The other side writes: last writer wins on both. */
    CHECK_OK(state_text(sb, "busy"));
    CHECK_STATE_NOW(sb, "busy");
    CHECK(wait_state(sa, "busy"));
    CHECK(state_now(sa, buf, sizeof buf, &id, NULL));
    CHECK_EQ_U64(id, yt_ctx_id(b));
    CHECK_OK(state_text(sa, "ready")); /* differs from the current "busy": sent */
    CHECK(wait_state(sb, "ready"));

    /* send_last of a state only received: re-sent from the receiver's context. */
    CHECK_OK(yoton_state_send_last(sb));
    {
        /* a gets "ready" from b now: wait for the source id to change to b's. */
        double deadline = yt_now() + YT_WAIT;
        id = 0;
        while (yt_now() < deadline) {
            if (state_now(sa, buf, sizeof buf, &id, NULL) && id == yt_ctx_id(b)) {
                break;
            }
            yt_sleep(0.002);
        }
        CHECK_EQ_U64(id, yt_ctx_id(b));
        CHECK_STREQ(buf, "ready");
    }

    /* Closed: sending refused, the state stays readable. */
    CHECK_OK(yoton_channel_close(sa));
    CHECK_RC(state_text(sa, "more"), YOTON_ERR_CLOSED);
    CHECK_RC(yoton_state_send_last(sa), YOTON_ERR_CLOSED);
    CHECK_STATE_NOW(sa, "ready");

    yoton_channel_free(sa);
    yoton_channel_free(sb);
    yoton_channel_free(mark_pub);
    yoton_channel_free(mark_sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

static void test_state_late_joiner(void) {
    yoton_context *a = yt_context();
    yoton_context *hub = yt_context(); /* a pure router: no state channel */
    yoton_context *late = yt_context();
    yoton_channel *sa = make_state(a, "status", "txt");
    yoton_channel *sl = make_state(late, "status", "txt");

    YT_SECTION("state: a late joiner two hops away gets the state; last writer wins");
    CHECK(yt_link(hub, a, NULL, NULL));
    CHECK_OK(state_text(sa, "S1"));
    /* The late context connects to the hub: its NEW_CONNECTION travels to a, which re-sends
     * its state through the hub. */
    CHECK(yt_link(hub, late, NULL, NULL));
    CHECK(wait_state(sl, "S1"));
    /* Writers on both ends: the last one to arrive wins everywhere. */
    CHECK_OK(state_text(sl, "S2"));
    CHECK(wait_state(sa, "S2"));
    CHECK_OK(state_text(sa, "S3"));
    CHECK(wait_state(sl, "S3"));
    CHECK_STATE_NOW(sa, "S3");

    /* A second late joiner, hosting this time (the hub connects to it). */
    {
        yoton_context *late2 = yt_context();
        yoton_channel *s2 = make_state(late2, "status", NULL);
        CHECK(yt_link(late2, hub, NULL, NULL));
        CHECK(wait_state(s2, "S3"));
        yoton_channel_free(s2);
        yoton_context_free(late2);
    }
    yoton_channel_free(sa);
    yoton_channel_free(sl);
    yoton_context_free(a);
    yoton_context_free(hub);
    yoton_context_free(late);
}

static void check_repr_state(const yoton_value *v, const char *expected, const char *file, int line) {
    char buf[256] = "";
    if (yt_check_rc(yoton_value_repr(v, buf, sizeof buf, NULL), YOTON_OK, "yoton_value_repr", file, line)) {
        yt_check_streq(buf, expected, "repr", expected, file, line);
    }
}
#define CHECK_REPR_STATE(v, text) check_repr_state((v), (text), __FILE__, __LINE__)

static void test_state_object(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *oa = make_state(a, "cfg", "obj");
    yoton_channel *ob = make_state(b, "cfg", "obj");
    yoton_channel *mark_pub = yt_make_pub(a, "mark", NULL);
    yoton_channel *mark_sub = yt_make_sub(b, "mark", NULL);
    yoton_channel *text_state = make_state(a, "plain", "txt");
    yoton_value *v = NULL;
    yoton_value *none = yoton_value_new_none();
    yoton_value *got = NULL;
    yoton_message *m = NULL;
    bool equal = false;
    uint64_t seq = 0;
    char buf[128];

    YT_SECTION("state: OBJECT values with yoton_state_send_value");
    /* The initial OBJECT state (an empty message) reads as None. */
    CHECK_OK(yoton_state_recv(ob, &m));
    CHECK_OK(yoton_message_value(m, &got));
    CHECK_OK(yoton_value_repr(got, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "None");
    yoton_message_free(m);
    m = NULL;
    yoton_value_free(got);
    got = NULL;
    /* ... and so does yoton_state_recv_value, in one call. */
    CHECK_OK(yoton_state_recv_value(ob, &got));
    CHECK_REPR_STATE(got, "None");
    yoton_value_free(got);
    got = NULL;
    CHECK_RC(yoton_state_recv_value(ob, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(yt_link(a, b, NULL, NULL));
    {
        /* Let a handle b's NEW_CONNECTION (which makes a re-send its state) before a has a
         * state: a marker b sends after it on the same connection arrives after it. */
        yoton_channel *back_pub = yt_make_pub(b, "mark-back", NULL);
        yoton_channel *back_sub = yt_make_sub(a, "mark-back", NULL);
        CHECK_OK(yt_send_text(back_pub, "linked"));
        CHECK_RECV(back_sub, "linked");
        yoton_channel_free(back_pub);
        yoton_channel_free(back_sub);
    }
    /* None before any state equals the initial state: a no-op. */
    CHECK_OK(yoton_state_send_value(oa, none));
    CHECK_OK(yt_send_text(mark_pub, "m1"));
    CHECK_RECV(mark_sub, "m1");
    CHECK(state_now(ob, buf, sizeof buf, NULL, &seq));
    CHECK_STREQ(buf, "");
    CHECK_EQ_U64(seq, 0);

    /* {'mode': 'fast', 'n': [1, 2.5, None]} */
    v = yoton_value_new_dict();
    {
        yoton_value *k = NULL, *s = NULL, *l = yoton_value_new_list(), *x;
        CHECK_OK(yoton_value_new_string("mode", &k));
        CHECK_OK(yoton_value_new_string("fast", &s));
        CHECK_OK(yoton_value_dict_set(v, k, s));
        yoton_value_free(k);
        yoton_value_free(s);
        x = yoton_value_new_int(1);
        CHECK_OK(yoton_value_append(l, x));
        yoton_value_free(x);
        x = yoton_value_new_float(2.5);
        CHECK_OK(yoton_value_append(l, x));
        yoton_value_free(x);
        CHECK_OK(yoton_value_append(l, none));
        CHECK_OK(yoton_value_new_string("n", &k));
        CHECK_OK(yoton_value_dict_set(v, k, l));
        yoton_value_free(k);
        yoton_value_free(l);
    }
    CHECK_OK(yoton_state_send_value(oa, v));
    {
        /* wait until b has a non-empty state */
        double deadline = yt_now() + YT_WAIT;
        while (yt_now() < deadline && state_seq(ob) == 0) {
            yt_sleep(0.002);
        }
    }
    CHECK_OK(yoton_state_recv(ob, &m));
    CHECK_OK(yoton_message_value(m, &got));
    CHECK_OK(yoton_value_equal(got, v, &equal));
    CHECK(equal);
    CHECK_OK(yoton_value_repr(got, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "{'mode': 'fast', 'n': [1, 2.5, None]}");
    CHECK_OK(yoton_message_source_seq(m, &seq));
    yoton_message_free(m);
    m = NULL;
    yoton_value_free(got);
    got = NULL;
    CHECK_OK(yoton_state_recv_value(ob, &got));
    CHECK_REPR_STATE(got, "{'mode': 'fast', 'n': [1, 2.5, None]}");
    yoton_value_free(got);
    got = NULL;
    /* The sender's own current state is the value too. */
    CHECK_OK(yoton_state_recv(oa, &m));
    CHECK_OK(yoton_message_value(m, &got));
    CHECK_OK(yoton_value_equal(got, v, &equal));
    CHECK(equal);
    yoton_message_free(m);
    m = NULL;
    yoton_value_free(got);
    got = NULL;

    /* The same value again: a no-op (b's state keeps its seq past a later marker). */
    CHECK_OK(yoton_state_send_value(oa, v));
    CHECK_OK(yt_send_text(mark_pub, "m2"));
    CHECK_RECV(mark_sub, "m2");
    CHECK_EQ_U64(state_seq(ob), seq);
    /* None once a state exists is a real new state. */
    CHECK_OK(yoton_state_send_value(oa, none));
    {
        struct seq_wait w;
        w.st = ob;
        w.above = seq;
        CHECK(yt_wait_until(state_seq_above, &w, YT_WAIT));
    }
    CHECK_OK(yoton_state_recv(ob, &m));
    CHECK_OK(yoton_message_value(m, &got));
    CHECK_OK(yoton_value_repr(got, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "None");
    yoton_message_free(m);
    m = NULL;
    yoton_value_free(got);
    got = NULL;

    /* Raw bytes on an OBJECT state must be a valid value; values need an OBJECT state. */
    CHECK_RC(yoton_state_send(oa, "\xff\xff", 2), YOTON_ERR_ENCODING);
    CHECK_OK(yoton_state_send(oa, "\x73\x02hi", 4)); /* raw OBJECT bytes: 'hi' */
    CHECK_RC(yoton_state_send_value(text_state, v), YOTON_ERR_INVALID_ARGUMENT);

    yoton_value_free(v);
    yoton_value_free(none);
    yoton_channel_free(oa);
    yoton_channel_free(ob);
    yoton_channel_free(mark_pub);
    yoton_channel_free(mark_sub);
    yoton_channel_free(text_state);
    yoton_context_free(a);
    yoton_context_free(b);
}

/* --- sync mode -------------------------------------------------------------------------- */

#define BURST 20000

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

struct burst_job {
    const yoton_channel *pub;
    int n;
    int failures;
    int done; /* guarded by g_lock */
};

/* Burst messages are "m<index>" padded with dots to BURST_MSG bytes: what is already in the
 * socket buffers (about 1 MiB both ways) when "full" reaches the publisher is beyond sync-mode
 * back-pressure, and at this size it is about a thousand messages, well below the burst. */
#define BURST_MSG 1000

static void *burst_thread(void *arg) {
    struct burst_job *job = (struct burst_job *)arg;
    char text[BURST_MSG];
    int i;
    memset(text, '.', sizeof text);
    for (i = 0; i < job->n; i++) {
        char index[16];
        int len = snprintf(index, sizeof index, "m%d", i);
        memcpy(text, index, (size_t)len);
        if (yoton_pub_send(job->pub, text, sizeof text) != YOTON_OK) {
            job->failures++;
        }
    }
    pthread_mutex_lock(&g_lock);
    job->done = 1;
    pthread_mutex_unlock(&g_lock);
    return NULL;
}

static int burst_done(struct burst_job *job) {
    int done;
    pthread_mutex_lock(&g_lock);
    done = job->done;
    pthread_mutex_unlock(&g_lock);
    return done;
}

struct burst_result {
    size_t peak;        /* most messages pending at once at the subscriber */
    int received;
    int misordered;     /* received out of order or duplicated */
    uint64_t discarded; /* dropped by full queues (both contexts) */
};

/* Publish BURST messages from a thread while a slow subscriber reads them (a 5 ms pause every
 * 100 messages). `sub_queue`: the subscriber context's queue limit (0: the default 10000). */
static struct burst_result run_burst(int sync_mode, const char *base, size_t sub_queue) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, base, NULL);
    yoton_channel *sub = NULL;
    struct burst_job job;
    struct burst_result r;
    pthread_t thread;
    long last = -1;
    uint64_t discarded_a = 0, discarded_b = 0;

    memset(&r, 0, sizeof r);
    if (sub_queue > 0) {
        CHECK_OK(yoton_context_set_queue_params(b, sub_queue, 0, YOTON_DISCARD_OLD));
    }
    sub = yt_make_sub(b, base, NULL);
    CHECK(yt_link(a, b, NULL, NULL));
    if (sync_mode) {
        char mark[64];
        yoton_channel *mark_pub, *mark_sub;
        CHECK_OK(yoton_sub_set_sync_mode(sub, true));
        /* Start the burst only once the publisher's context has seen the subscriber's "ok":
         * a marker sent after it on the same connection is routed after it. */
        snprintf(mark, sizeof mark, "%s-mark", base);
        mark_sub = yt_make_sub(a, mark, NULL);
        mark_pub = yt_make_pub(b, mark, NULL);
        CHECK_OK(yt_send_text(mark_pub, "synced"));
        yt_recv_text(mark_sub, "synced", YT_WAIT, __FILE__, __LINE__);
        yoton_channel_free(mark_pub);
        yoton_channel_free(mark_sub);
    }
    job.pub = pub;
    job.n = BURST;
    job.failures = 0;
    job.done = 0;
    CHECK(pthread_create(&thread, NULL, burst_thread, &job) == 0);
    while (r.received < BURST) {
        yoton_message *m = NULL;
        const void *data = NULL;
        size_t len = 0, pending = 0;
        char text[32];
        long index;
        if (yoton_channel_pending(sub, &pending) == YOTON_OK && pending > r.peak) {
            r.peak = pending;
        }
        if (yoton_sub_recv(sub, 0.5, &m) != YOTON_OK) {
            if (burst_done(&job)) {
                break; /* everything sent, nothing more arrives: the rest was dropped */
            }
            continue;
        }
        yoton_message_data(m, &data, &len);
        memcpy(text, data, len < sizeof text - 1 ? len : sizeof text - 1);
        text[len < sizeof text - 1 ? len : sizeof text - 1] = '\0';
        index = text[0] == 'm' ? strtol(text + 1, NULL, 10) : -1;
        if (index <= last) {
            r.misordered++;
        }
        last = index;
        yoton_message_free(m);
        if (r.received % 100 == 0) {
            yt_sleep(0.005); /* a slow subscriber */
        }
        r.received++;
    }
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_EQ_INT(job.failures, 0);
    CHECK_OK(yoton_context_discarded(a, &discarded_a));
    CHECK_OK(yoton_context_discarded(b, &discarded_b));
    r.discarded = discarded_a + discarded_b;
    if (sync_mode) {
        CHECK_OK(yoton_sub_set_sync_mode(sub, false));
    }
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
    return r;
}

static void test_sync_mode_throttles(void) {
    struct burst_result r;

    YT_SECTION("sync mode: a slow subscriber throttles a fast publisher");
    /* Sync mode is a throttle (docs/protocol.md §9.2.3), not a guarantee: what a fast publisher has
     * in flight before "full" reaches it (its out-queue and the socket buffers) still arrives.
     * So: with a queue that fits the burst nothing is lost, and the backlog stays far below
     * the burst: peaks of 0.6-1.4k on the idle 2-core CI machine, up to 5k when other builds
     * load it and delay the "full" word (the control run below shows ~the whole burst piling
     * up without sync mode, so half the burst still tells the two apart).
     * The loss-free mechanism for small queues is YOTON_DISCARD_BLOCK. */
    r = run_burst(1, "flow", 2 * BURST);
    printf("   sync mode: peak pending %zu of %d, received %d, dropped %llu\n", r.peak, BURST,
           r.received, (unsigned long long)r.discarded);
    CHECK_EQ_INT(r.misordered, 0);
    CHECK_EQ_U64((uint64_t)r.received + r.discarded, BURST); /* nothing vanishes unnoticed */
    CHECK_EQ_U64(r.discarded, 0);
    CHECK(r.peak < BURST / 2);

    /* Control: without sync mode (and a queue big enough for the burst) nearly the whole
     * burst piles up at the subscriber. */
    r = run_burst(0, "flow-free", 3 * BURST);
    printf("   no sync mode: peak pending %zu of %d, dropped %llu\n", r.peak, BURST,
           (unsigned long long)r.discarded);
    CHECK_EQ_INT(r.received, BURST);
    CHECK_EQ_INT(r.misordered, 0);
    CHECK(r.peak > BURST / 2);
}

/* Sync mode switched off while FULL tells the publishers "ok" at once. */
static void test_sync_mode_off_releases(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *pub = yt_make_pub(a, "rel", NULL);
    yoton_channel *sub = NULL;
    struct burst_job job;
    pthread_t thread;
    size_t pending = 0;

    YT_SECTION("sync mode switched off while FULL releases the publisher");
    CHECK_OK(yoton_context_set_queue_params(b, 3 * BURST, 0, YOTON_DISCARD_OLD));
    sub = yt_make_sub(b, "rel", NULL);
    CHECK(yt_link(a, b, NULL, NULL));
    CHECK_OK(yoton_sub_set_sync_mode(sub, true));
    CHECK_OK(yoton_sub_set_sync_mode(sub, true)); /* again: fine */
    job.pub = pub;
    job.n = BURST;
    job.failures = 0;
    job.done = 0;
    CHECK(pthread_create(&thread, NULL, burst_thread, &job) == 0);
    /* Nobody reads: the subscriber goes FULL above 32 pending and, once what was in flight
     * has arrived, the publisher gets through about one message per second. */
    CHECK(yt_wait_pending(sub, 33, YT_WAIT));
    yt_sleep(0.5);
    CHECK_OK(yoton_channel_pending(sub, &pending));
    printf("   pending while FULL: %zu of %d\n", pending, BURST);
    CHECK(pending < BURST);
    CHECK(!burst_done(&job));
    /* Off: "ok" goes out and the rest comes at full speed (a bounded wait far below the
     * hours the throttled publisher would need). */
    CHECK_OK(yoton_sub_set_sync_mode(sub, false));
    CHECK(yt_wait_pending(sub, BURST, YT_WAIT));
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_EQ_INT(job.failures, 0);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(a);
    yoton_context_free(b);
}

/* --- ordered reading across subscribers ------------------------------------------------- */

static size_t total_pending(const yoton_channel *s1, const yoton_channel *s2) {
    size_t n1 = 0, n2 = 0;
    yoton_channel_pending(s1, &n1);
    yoton_channel_pending(s2, &n2);
    return n1 + n2;
}

struct total_wait {
    const yoton_channel *s1;
    const yoton_channel *s2;
    size_t n;
};

static int total_reached(void *arg) {
    struct total_wait *w = (struct total_wait *)arg;
    return total_pending(w->s1, w->s2) >= w->n;
}

struct late_send {
    yoton_channel *pub;
    int rc;
};

/* Sends "late" once the main thread is (very likely) waiting in yoton_sub_select_wait. */
static void *late_send_thread(void *arg) {
    struct late_send *job = (struct late_send *)arg;
    yt_sleep(0.05);
    job->rc = yt_send_text(job->pub, "late");
    return NULL;
}

static void test_select(void) {
    yoton_context *p1ctx = yt_context();
    yoton_context *p2ctx = yt_context();
    yoton_context *b = yt_context();
    yoton_channel *p1 = yt_make_pub(p1ctx, "s1", NULL);
    yoton_channel *p2 = yt_make_pub(p2ctx, "s2", NULL);
    yoton_channel *s1 = yt_make_sub(b, "s1", NULL);
    yoton_channel *s2 = yt_make_sub(b, "s2", NULL);
    yoton_channel *both[2];
    static const char *const expected[] = {"12", "3", "4", "56", "7"};
    static const size_t expected_index[] = {0, 1, 0, 1, 0};
    const char *texts = "1234567";
    const int on_p1[] = {1, 1, 0, 1, 0, 0, 1};
    uint64_t last_recv_seq = 0;
    int i, rounds = 0, ordered = 1;
    size_t index = 99, count = 0;
    yoton_message **msgs = NULL;

    YT_SECTION("select / recv_selected: the docs/protocol.md 9.2.4 example");
    both[0] = s1;
    both[1] = s2;
    CHECK(yt_link(b, p1ctx, NULL, NULL));
    CHECK(yt_link(b, p2ctx, NULL, NULL));
    /* Nothing pending: TIMEOUT, index untouched. */
    CHECK_RC(yoton_sub_select_wait(both, 2, 0, &index), YOTON_ERR_TIMEOUT);
    CHECK_EQ_INT(index, 99);
    /* Arrival order 1, 2 on s1; 3 on s2; 4 on s1; 5, 6 on s2; 7 on s1 (each waited for, so
     * the order over the two connections is the order sent). */
    for (i = 0; i < 7; i++) {
        struct total_wait w;
        char text[2];
        text[0] = texts[i];
        text[1] = '\0';
        CHECK_OK(yt_send_text(on_p1[i] ? p1 : p2, text));
        w.s1 = s1;
        w.s2 = s2;
        w.n = (size_t)i + 1;
        CHECK(yt_wait_until(total_reached, &w, YT_WAIT));
    }
    /* recv_selected before any select: nothing (and nothing taken). */
    CHECK_OK(yoton_sub_recv_selected(s1, &msgs, &count));
    CHECK_EQ_INT(count, 0);
    CHECK(msgs == NULL);
    CHECK_EQ_INT(total_pending(s1, s2), 7);

    while (rounds < 10) {
        char got[8] = "";
        size_t k;
        int rc = yoton_sub_select_wait(both, 2, 0, &index);
        if (rc == YOTON_ERR_TIMEOUT) {
            break;
        }
        if (!CHECK_OK(rc)) {
            break;
        }
        CHECK_OK(yoton_sub_recv_selected(both[index], &msgs, &count));
        for (k = 0; k < count && k < sizeof got - 1; k++) {
            const void *data = NULL;
            size_t len = 0;
            uint64_t rs = 0;
            yoton_message_data(msgs[k], &data, &len);
            got[k] = len == 1 ? ((const char *)data)[0] : '?';
            got[k + 1] = '\0';
            yoton_message_recv_seq(msgs[k], &rs);
            if (rs <= last_recv_seq) {
                ordered = 0;
            }
            last_recv_seq = rs;
        }
        yoton_message_array_free(msgs, count);
        msgs = NULL;
        if (rounds < 5) {
            CHECK_EQ_INT(index, expected_index[rounds]);
            CHECK_STREQ(got, expected[rounds]);
        }
        rounds++;
    }
    CHECK_EQ_INT(rounds, 5);
    CHECK(ordered);
    CHECK_EQ_INT(total_pending(s1, s2), 0);

    /* One channel alone: everything it has, in one go. */
    CHECK_OK(yt_send_text(p1, "x"));
    CHECK_OK(yt_send_text(p1, "y"));
    CHECK(yt_wait_pending(s1, 2, YT_WAIT));
    CHECK_OK(yoton_sub_select_wait(both, 1, 0, &index));
    CHECK_EQ_INT(index, 0);
    CHECK_OK(yoton_sub_recv_selected(s1, &msgs, &count));
    CHECK_EQ_INT(count, 2);
    yoton_message_array_free(msgs, count);
    msgs = NULL;
    /* Only the second has messages: index 1. */
    CHECK_OK(yt_send_text(p2, "z"));
    CHECK(yt_wait_pending(s2, 1, YT_WAIT));
    CHECK_OK(yoton_sub_select_wait(both, 2, 0, &index));
    CHECK_EQ_INT(index, 1);
    CHECK_OK(yoton_sub_recv_selected(s2, &msgs, &count));
    CHECK_EQ_INT(count, 1);
    yoton_message_array_free(msgs, count);
    msgs = NULL;
    /* No channels at all. */
    CHECK_RC(yoton_sub_select_wait(NULL, 0, 0, &index), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_sub_select_wait(both, 0, 0, &index), YOTON_ERR_TIMEOUT);

    /* Waiting: nothing comes within 0.3 s (and it did wait); a message sent from another
     * thread while it waits ends the wait; closing every channel ends it with CLOSED. */
    {
        struct late_send job;
        pthread_t thread;
        double t0 = yt_now();
        CHECK_RC(yoton_sub_select_wait(both, 2, 0.3, &index), YOTON_ERR_TIMEOUT);
        CHECK(yt_now() - t0 >= 0.25);
        job.pub = p2;
        job.rc = -1;
        CHECK(pthread_create(&thread, NULL, late_send_thread, &job) == 0);
        t0 = yt_now();
        CHECK_OK(yoton_sub_select_wait(both, 2, YOTON_FOREVER, &index));
        CHECK(yt_now() - t0 < YT_WAIT);
        CHECK_EQ_INT(index, 1);
        CHECK(pthread_join(thread, NULL) == 0);
        CHECK_OK(job.rc);
        CHECK_OK(yoton_sub_recv_selected(s2, &msgs, &count));
        CHECK_EQ_INT(count, 1);
        yoton_message_array_free(msgs, count);
        msgs = NULL;
        CHECK_OK(yoton_channel_close(s1));
        CHECK_OK(yoton_channel_close(s2));
        CHECK_RC(yoton_sub_select_wait(both, 2, YOTON_FOREVER, &index), YOTON_ERR_CLOSED);
    }

    yoton_channel_free(p1);
    yoton_channel_free(p2);
    yoton_channel_free(s1);
    yoton_channel_free(s2);
    yoton_context_free(p1ctx);
    yoton_context_free(p2ctx);
    yoton_context_free(b);
}

/* --- bad input -------------------------------------------------------------------------- */

static void test_bad_input(void) {
    yoton_context *a = yt_context();
    yoton_channel *st = make_state(a, "bad", "txt");
    yoton_channel *pub = yt_make_pub(a, "bad", "obj");
    yoton_channel *sub = yt_make_sub(a, "bad", NULL);
    yoton_channel *req = NULL;
    yoton_channel *ch = NULL;
    yoton_message *m = NULL;
    yoton_message **msgs = NULL;
    yoton_value *v = yoton_value_new_int(1);
    yoton_channel *list[2];
    size_t index = 0, count = 0;

    YT_SECTION("bad input: state, sync mode, select");
    CHECK_OK(yoton_req_new(a, "bad", &req));
    CHECK_RC(yoton_state_new(NULL, "x", NULL, &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_new(a, NULL, NULL, &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_new(a, "x", NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_new(a, "", NULL, &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_new(a, "bad", "txt", &ch), YOTON_ERR_INVALID_ARGUMENT); /* taken */
    CHECK(ch == NULL);
    CHECK_RC(yoton_state_send(NULL, "x", 1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send(st, NULL, 3), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send_value(NULL, v), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send_value(st, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_recv(NULL, &m), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_recv(st, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send_last(NULL), YOTON_ERR_INVALID_ARGUMENT);
    /* wrong kinds */
    CHECK_RC(yoton_state_send(pub, "x", 1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send(sub, "x", 1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send_value(pub, v), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send_value(req, v), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_recv(sub, &m), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_recv(pub, &m), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send_last(req), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_state_send_last(sub), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
    /* the state channel is not a subscriber */
    CHECK_RC(yoton_sub_recv(st, 0.0, &m), YOTON_ERR_INVALID_ARGUMENT);

    /* sync mode */
    CHECK_RC(yoton_sub_set_sync_mode(NULL, true), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_set_sync_mode(pub, true), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_set_sync_mode(st, true), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_set_sync_mode(req, false), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_sub_set_sync_mode(sub, false)); /* off while off: fine */
    CHECK_OK(yoton_sub_set_sync_mode(sub, true));  /* no connection yet: fine */
    CHECK_OK(yoton_sub_set_sync_mode(sub, false));

    /* select / recv_selected */
    list[0] = sub;
    list[1] = NULL;
    CHECK_RC(yoton_sub_select_wait(NULL, 2, 0, &index), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_select_wait(list, 1, 0, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_select_wait(list, 2, 0, &index), YOTON_ERR_INVALID_ARGUMENT); /* NULL item */
    list[1] = pub;
    CHECK_RC(yoton_sub_select_wait(list, 2, 0, &index), YOTON_ERR_INVALID_ARGUMENT); /* not a sub */
    list[1] = st;
    CHECK_RC(yoton_sub_select_wait(list, 2, 0, &index), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_selected(NULL, &msgs, &count), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_selected(sub, NULL, &count), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_selected(sub, &msgs, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_selected(pub, &msgs, &count), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_sub_recv_selected(st, &msgs, &count), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(msgs == NULL);
    /* closed subscriber: select says CLOSED once every channel is closed and empty;
     * recv_selected still reads what is queued (nothing) */
    CHECK_OK(yoton_channel_close(sub));
    CHECK_RC(yoton_sub_select_wait(list, 1, 0, &index), YOTON_ERR_CLOSED);
    CHECK_OK(yoton_sub_recv_selected(sub, &msgs, &count));
    CHECK_EQ_INT(count, 0);

    yoton_value_free(v);
    yoton_channel_free(st);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_channel_free(req);
    yoton_context_free(a);
}

int main(void) {
    test_state_basics();
    test_state_late_joiner();
    test_state_object();
    test_sync_mode_throttles();
    test_sync_mode_off_releases();
    test_select();
    test_bad_input();
    return yt_summary("test_state");
}
