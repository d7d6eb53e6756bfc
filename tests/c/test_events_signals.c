/* Signals and timers from C: yoton_signal_* (bind, emit through the loop, emit_now, unbind,
 * unbind_all, free with emissions queued, free from a handler, arguments, many threads) and
 * yoton_timer_* (order and intervals, repeat and oneshot, stop, restart with a new interval or
 * mode, running, unbind, free from its own callback or with an expiry queued), plus NULL
 * arguments and free_user_data being called exactly once for every binding.
 *
 * Events are processed on the main thread here (yt_ev_pump_*); test_events_loop.c checks the
 * thread callbacks run on. Timing checks are only "never early" and generous upper bounds. */
#include "ytest.h"

#include <math.h>

/* --- helpers ---------------------------------------------------------------------------- */

struct sig_probe {
    int calls;
    int freed;
    int after_free; /* calls after free_user_data: must stay 0 */
    int64_t last_int;
    int last_kind;
    const yoton_signal *sig; /* for handlers that act on their signal */
    yoton_signal *owned;     /* for a handler that frees it */
    uint64_t other_id;       /* for a handler that unbinds another */
};

static void sig_cb(void *user_data, const yoton_value *arg) {
    struct sig_probe *p = (struct sig_probe *)user_data;
    int kind = -1;
    int64_t v = 0;
    if (yt_ev_load(&p->freed)) {
        yt_ev_inc(&p->after_free);
    }
    yoton_value_get_kind(arg, &kind);
    p->last_kind = kind;
    if (kind == YOTON_VALUE_INT && yoton_value_get_int(arg, &v) == YOTON_OK) {
        p->last_int = v;
    }
    yt_ev_inc(&p->calls);
}

static void sig_free(void *user_data) {
    struct sig_probe *p = (struct sig_probe *)user_data;
    yt_ev_inc(&p->freed);
}

static void sig_free_itself_cb(void *user_data, const yoton_value *arg) {
    struct sig_probe *p = (struct sig_probe *)user_data;
    sig_cb(user_data, arg);
    yoton_signal_free(p->owned);
    p->owned = NULL;
}

static void sig_unbind_other_cb(void *user_data, const yoton_value *arg) {
    struct sig_probe *p = (struct sig_probe *)user_data;
    sig_cb(user_data, arg);
    yoton_signal_unbind(p->sig, p->other_id);
}

static int pending_at_least(void *arg) {
    size_t want = *(const size_t *)arg;
    return yt_ev_pending() != (size_t)-1 && yt_ev_pending() >= want;
}

/* Wait (without processing) until at least n events are queued. */
static int wait_queued(size_t n) {
    return yt_wait_until(pending_at_least, &n, YT_WAIT);
}

static void count_cb(void *user_data) { yt_ev_inc((int *)user_data); }

/* After yoton_timer_stop, the timer thread may be in the middle of an expiry it checked just
 * before (it then still queues it: "an expiry already queued still runs"). The timer thread
 * runs its jobs one after the other, so once a delayed call scheduled now has run, that
 * expiry is queued and processed too. */
static void timer_barrier(void) {
    int done = 0;
    CHECK_OK(yoton_call_later(0.001, count_cb, &done, NULL));
    CHECK(yt_ev_pump_count(&done, 1, YT_WAIT));
    yt_ev_drain();
}

/* --- signals ---------------------------------------------------------------------------- */

static void test_signal_basics(void) {
    yoton_signal *sig = NULL;
    struct sig_probe a, b;
    uint64_t ida = 0, idb = 0;
    yoton_value *v;
    size_t n = 0;

    YT_SECTION("signal: bind, emit (queued, with a copied argument), emit_now, unbind");
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(yoton_signal_new(&sig));
    CHECK_OK(yoton_signal_emit(sig, NULL)); /* nobody bound: nothing queued */
    CHECK_EQ_INT(yt_ev_pending(), 0);
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &a, sig_free, &ida));
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &b, sig_free, &idb));
    CHECK(ida != idb);

    v = yoton_value_new_int(42);
    CHECK_OK(yoton_signal_emit(sig, v));
    yoton_value_free(v); /* the emission holds its own copy */
    CHECK_EQ_INT(yt_ev_pending(), 2); /* one event per handler */
    CHECK_EQ_INT(a.calls, 0);
    CHECK_OK(yoton_process_events(0.0, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(b.calls, 1);
    CHECK_EQ_INT(a.last_int, 42);
    CHECK_EQ_INT(b.last_kind, YOTON_VALUE_INT);

    /* No argument: the handlers get a None value (never NULL). */
    CHECK_OK(yoton_signal_emit(sig, NULL));
    yt_ev_drain();
    CHECK_EQ_INT(a.calls, 2);
    CHECK_EQ_INT(a.last_kind, YOTON_VALUE_NONE);

    /* emit_now: at once, on this thread, nothing queued. */
    v = yoton_value_new_int(7);
    CHECK_OK(yoton_signal_emit_now(sig, v));
    yoton_value_free(v);
    CHECK_EQ_INT(a.calls, 3);
    CHECK_EQ_INT(b.calls, 3);
    CHECK_EQ_INT(b.last_int, 7);
    CHECK_EQ_INT(yt_ev_pending(), 0);

    /* Unbind one: only the other is called; its user data is released at once. */
    CHECK_OK(yoton_signal_unbind(sig, ida));
    CHECK_EQ_INT(a.freed, 1);
    CHECK_RC(yoton_signal_unbind(sig, ida), YOTON_ERR_INVALID_ARGUMENT); /* twice */
    CHECK_RC(yoton_signal_unbind(sig, 987654321u), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_signal_emit(sig, NULL));
    CHECK_OK(yoton_signal_emit_now(sig, NULL));
    yt_ev_drain();
    CHECK_EQ_INT(a.calls, 3);
    CHECK_EQ_INT(b.calls, 5);

    /* The same handler and user data may be bound twice: two bindings, two calls. */
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &b, NULL, NULL)); /* id NULL, free NULL */
    CHECK_OK(yoton_signal_emit(sig, NULL));
    yt_ev_drain();
    CHECK_EQ_INT(b.calls, 7);

    /* unbind_all releases every user data once. */
    CHECK_OK(yoton_signal_unbind_all(sig));
    CHECK_EQ_INT(b.freed, 1);
    CHECK_OK(yoton_signal_emit(sig, NULL));
    CHECK_EQ_INT(yt_ev_pending(), 0);
    CHECK_OK(yoton_signal_unbind_all(sig)); /* nothing bound: fine */
    yoton_signal_free(sig);
    CHECK_EQ_INT(a.freed, 1);
    CHECK_EQ_INT(b.freed, 1);
    CHECK_EQ_INT(a.after_free + b.after_free, 0);
    yt_ev_drain();
}

static void test_signal_queued_then_unbound_or_freed(void) {
    yoton_signal *sig = NULL;
    struct sig_probe a, b;
    uint64_t ida = 0;

    YT_SECTION("signal: no call after unbind or free, even with an emission queued");
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(yoton_signal_new(&sig));
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &a, sig_free, &ida));
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &b, sig_free, NULL));
    CHECK_OK(yoton_signal_emit(sig, NULL));
    CHECK_OK(yoton_signal_emit(sig, NULL));
    CHECK_EQ_INT(yt_ev_pending(), 4);
    CHECK_OK(yoton_signal_unbind(sig, ida)); /* a's two queued calls are skipped */
    CHECK_EQ_INT(a.freed, 1);
    yt_ev_drain();
    CHECK_EQ_INT(a.calls, 0);
    CHECK_EQ_INT(b.calls, 2);

    CHECK_OK(yoton_signal_emit(sig, NULL));
    CHECK_EQ_INT(yt_ev_pending(), 1);
    yoton_signal_free(sig); /* the queued call is skipped, the user data released now */
    CHECK_EQ_INT(b.freed, 1);
    yt_ev_drain();
    CHECK_EQ_INT(b.calls, 2);
    CHECK_EQ_INT(a.after_free + b.after_free, 0);
}

static void test_signal_handler_frees_or_unbinds(void) {
    yoton_signal *sig = NULL;
    struct sig_probe a, b;
    int later = 0;

    YT_SECTION("signal: a handler that frees its signal; one that unbinds another");
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(yoton_signal_new(&sig));
    a.owned = sig;
    CHECK_OK(yoton_signal_bind(sig, sig_free_itself_cb, &a, sig_free, NULL));
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &b, sig_free, NULL));
    CHECK_OK(yoton_signal_emit(sig, NULL));
    CHECK_OK(yoton_signal_emit(sig, NULL));
    CHECK_OK(yoton_call_later(0.0, count_cb, &later, NULL));
    yt_ev_drain();
    /* a ran once and freed the signal: every other queued call is skipped. */
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(b.calls, 0);
    CHECK_EQ_INT(a.freed, 1); /* after its own call returned */
    CHECK_EQ_INT(b.freed, 1);
    CHECK_EQ_INT(a.after_free + b.after_free, 0);
    CHECK_EQ_INT(later, 1); /* later events are fine */

    /* Through emit_now: the same. */
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(yoton_signal_new(&sig));
    a.owned = sig;
    CHECK_OK(yoton_signal_bind(sig, sig_free_itself_cb, &a, sig_free, NULL));
    CHECK_OK(yoton_signal_emit_now(sig, NULL));
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(a.freed, 1);

    /* A handler unbinds another one: queued emissions of the other are skipped. */
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(yoton_signal_new(&sig));
    a.sig = sig;
    CHECK_OK(yoton_signal_bind(sig, sig_unbind_other_cb, &a, sig_free, NULL));
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &b, sig_free, &a.other_id));
    CHECK_OK(yoton_signal_emit(sig, NULL));
    yt_ev_drain();
    CHECK_EQ_INT(a.calls, 1);
    CHECK_EQ_INT(b.calls, 0);
    CHECK_EQ_INT(b.freed, 1);
    yoton_signal_free(sig);

    /* ... and through emit_now: the unbound handler must not be called either. */
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_OK(yoton_signal_new(&sig));
    a.sig = sig;
    CHECK_OK(yoton_signal_bind(sig, sig_unbind_other_cb, &a, sig_free, NULL));
    CHECK_OK(yoton_signal_bind(sig, sig_cb, &b, sig_free, &a.other_id));
    CHECK_OK(yoton_signal_emit_now(sig, NULL));
    CHECK_EQ_INT(a.calls, 1);
    /* A handler unbound by an earlier handler of the same emission is not called. */
    CHECK_EQ_INT(b.calls, 0);
    CHECK_EQ_INT(b.after_free, 0);
    CHECK_EQ_INT(b.freed, 1);
    yoton_signal_free(sig);
    CHECK_EQ_INT(a.freed, 1);
    yt_ev_drain();
}

struct emitter {
    const yoton_signal *sig;
    int n;
    int base;
};

static void *emit_main(void *arg) {
    struct emitter *e = (struct emitter *)arg;
    int i;
    for (i = 0; i < e->n; i++) {
        yoton_value *v = yoton_value_new_int(e->base + i);
        yoton_signal_emit(e->sig, v);
        yoton_value_free(v);
    }
    return NULL;
}

/* Sum the int arguments received. */
struct sum_probe {
    int calls;
    int64_t sum;
};

static void sum_cb(void *user_data, const yoton_value *arg) {
    struct sum_probe *p = (struct sum_probe *)user_data;
    int64_t v = 0;
    yoton_value_get_int(arg, &v);
    p->sum += v;
    yt_ev_inc(&p->calls);
}

static void test_signal_threads(void) {
    yoton_signal *sig = NULL;
    struct sum_probe s;
    struct emitter e[4];
    pthread_t th[4];
    int64_t want = 0;
    int i, j;

    YT_SECTION("signal: 4 threads x 250 emissions, every argument arrives once");
    memset(&s, 0, sizeof s);
    CHECK_OK(yoton_signal_new(&sig));
    CHECK_OK(yoton_signal_bind(sig, sum_cb, &s, NULL, NULL));
    for (i = 0; i < 4; i++) {
        e[i].sig = sig;
        e[i].n = 250;
        e[i].base = i * 1000;
        for (j = 0; j < 250; j++) {
            want += i * 1000 + j;
        }
        CHECK(pthread_create(&th[i], NULL, emit_main, &e[i]) == 0);
    }
    CHECK(yt_ev_pump_count(&s.calls, 1000, YT_WAIT));
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    yt_ev_drain();
    CHECK_EQ_INT(s.calls, 1000);
    CHECK_EQ_INT(s.sum, want);
    yoton_signal_free(sig);
}

static void test_signal_bad_input(void) {
    yoton_signal *sig = NULL;
    int freed = 0;
    uint64_t id = 77;
    yoton_value *list;

    YT_SECTION("signal: NULL arguments; free_user_data of a refused binding");
    CHECK_RC(yoton_signal_new(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_signal_new(&sig));
    CHECK_RC(yoton_signal_bind(sig, NULL, &freed, yt_ev_count_free, &id),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(freed, 1); /* never bound: released at once */
    CHECK_EQ_INT(id, 77);   /* out-parameter untouched on failure */
    CHECK_RC(yoton_signal_bind(NULL, sig_cb, &freed, yt_ev_count_free, &id),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(freed, 2);
    CHECK_RC(yoton_signal_emit(NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_signal_emit_now(NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_signal_unbind(NULL, 1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_signal_unbind_all(NULL), YOTON_ERR_INVALID_ARGUMENT);
    yoton_signal_free(NULL);
    /* A nested argument is copied whole. */
    {
        struct sig_probe p;
        yoton_value *x = yoton_value_new_int(5);
        memset(&p, 0, sizeof p);
        list = yoton_value_new_list();
        CHECK_OK(yoton_value_append(list, x));
        CHECK_OK(yoton_signal_bind(sig, sig_cb, &p, sig_free, NULL));
        CHECK_OK(yoton_signal_emit(sig, list));
        yoton_value_free(list);
        yoton_value_free(x);
        yt_ev_drain();
        CHECK_EQ_INT(p.calls, 1);
        CHECK_EQ_INT(p.last_kind, YOTON_VALUE_LIST);
        yoton_signal_free(sig);
        CHECK_EQ_INT(p.freed, 1);
    }
    yt_ev_drain();
}

/* --- timers ----------------------------------------------------------------------------- */

struct tick_log {
    int n;
    char who[128]; /* 'f' fast, 's' slow */
    double t[128];
};

struct tick {
    struct tick_log *log;
    char name;
    int calls;
    int freed;
    int after_free;
    yoton_timer *owned; /* freed by its own callback when set */
};

static void tick_cb(void *user_data) {
    struct tick *k = (struct tick *)user_data;
    int i;
    if (yt_ev_load(&k->freed)) {
        yt_ev_inc(&k->after_free);
    }
    yt_ev_inc(&k->calls);
    if (k->log != NULL) {
        i = k->log->n++;
        if (i < 128) {
            k->log->who[i] = k->name;
            k->log->t[i] = yt_now();
        }
    }
    if (k->owned != NULL) {
        yoton_timer *t = k->owned;
        k->owned = NULL;
        yoton_timer_free(t);
    }
}

static void tick_free(void *user_data) {
    struct tick *k = (struct tick *)user_data;
    yt_ev_inc(&k->freed);
}

static int timer_running(const yoton_timer *t) {
    bool r = false;
    CHECK_OK(yoton_timer_is_running(t, &r));
    return r ? 1 : 0;
}

static void test_timer_order_and_intervals(void) {
    yoton_timer *fast = NULL, *slow = NULL;
    struct tick_log log;
    struct tick f, s;
    double t0;
    int fast_before_slow = 0, i, stopped_at;

    YT_SECTION("timers: a 50 ms repeating timer fires several times before a 300 ms oneshot");
    memset(&log, 0, sizeof log);
    memset(&f, 0, sizeof f);
    memset(&s, 0, sizeof s);
    f.log = s.log = &log;
    f.name = 'f';
    s.name = 's';
    CHECK_OK(yoton_timer_new(0.05, false, &fast));
    CHECK_OK(yoton_timer_new(0.3, true, &slow));
    CHECK_OK(yoton_timer_bind(fast, tick_cb, &f, tick_free, NULL));
    CHECK_OK(yoton_timer_bind(slow, tick_cb, &s, tick_free, NULL));
    CHECK(!timer_running(fast));
    CHECK(!timer_running(slow));
    t0 = yt_now();
    CHECK_OK(yoton_timer_start(fast, -1.0, -1));
    CHECK_OK(yoton_timer_start(slow, -1.0, -1));
    CHECK(timer_running(fast));
    CHECK(timer_running(slow));
    CHECK(yt_ev_pump_count(&s.calls, 1, YT_WAIT));
    for (i = 0; i < log.n && i < 128; i++) {
        if (log.who[i] == 's') {
            break;
        }
        fast_before_slow++;
    }
    CHECK(fast_before_slow >= 3); /* 6 expected */
    CHECK(log.t[i] - t0 >= 0.3 - 0.005); /* never early */
    CHECK(!timer_running(slow));         /* a oneshot stops after firing */
    CHECK(timer_running(fast));
    /* Never early: the k-th tick cannot run before k x 50 ms after the start. */
    CHECK(yt_ev_pump_count(&f.calls, 10, YT_WAIT));
    {
        int k = 0, early = 0;
        for (i = 0; i < log.n && i < 128; i++) {
            if (log.who[i] == 'f') {
                k++;
                if (log.t[i] - t0 < k * 0.05 - 0.005) {
                    early++;
                }
            }
        }
        CHECK(k >= 10);
        CHECK_EQ_INT(early, 0);
    }
    /* The oneshot stays quiet. */
    CHECK_EQ_INT(s.calls, 1);

    /* Stop: an expiry already queued may still run, then nothing more. */
    CHECK_OK(yoton_timer_stop(fast));
    CHECK(!timer_running(fast));
    timer_barrier();
    stopped_at = f.calls;
    yt_ev_pump_for(0.25);
    CHECK_EQ_INT(f.calls, stopped_at);
    CHECK_EQ_INT(s.calls, 1);
    CHECK_OK(yoton_timer_stop(fast)); /* twice: fine */

    /* Restart the oneshot: it fires once more. */
    CHECK_OK(yoton_timer_start(slow, 0.05, -1));
    CHECK(yt_ev_pump_count(&s.calls, 2, YT_WAIT));
    yt_ev_pump_for(0.2);
    CHECK_EQ_INT(s.calls, 2);

    yoton_timer_free(fast);
    yoton_timer_free(slow);
    CHECK_EQ_INT(f.freed, 1);
    CHECK_EQ_INT(s.freed, 1);
    CHECK_EQ_INT(f.after_free + s.after_free, 0);
    yt_ev_drain();
}

static void test_timer_restart_modes(void) {
    yoton_timer *t = NULL;
    struct tick k;
    double t0, t1;
    int n;

    YT_SECTION("timers: start with a changed interval and mode; restart; running");
    memset(&k, 0, sizeof k);
    CHECK_OK(yoton_timer_new(10.0, true, &t));
    CHECK_OK(yoton_timer_bind(t, tick_cb, &k, tick_free, NULL));
    /* A 10 s oneshot becomes a 20 ms repeating timer. */
    CHECK_OK(yoton_timer_start(t, 0.02, 0));
    CHECK(timer_running(t));
    CHECK(yt_ev_pump_count(&k.calls, 4, YT_WAIT));
    CHECK(timer_running(t));
    /* Keep the interval, switch to oneshot: exactly one more call. */
    CHECK_OK(yoton_timer_stop(t));
    timer_barrier();
    n = k.calls;
    CHECK_OK(yoton_timer_start(t, 0.0, 1)); /* interval <= 0 keeps 20 ms */
    CHECK(yt_ev_pump_count(&k.calls, n + 1, YT_WAIT));
    yt_ev_pump_for(0.15);
    CHECK_EQ_INT(k.calls, n + 1);
    CHECK(!timer_running(t));
    /* Back to repeating, keeping the interval (negative interval keeps it too). */
    CHECK_OK(yoton_timer_start(t, -5.0, 0));
    CHECK(yt_ev_pump_count(&k.calls, n + 4, YT_WAIT));
    /* Restarting a running timer postpones its next expiry (no double schedule). */
    CHECK_OK(yoton_timer_stop(t));
    timer_barrier();
    n = k.calls;
    t0 = yt_now();
    CHECK_OK(yoton_timer_start(t, 0.2, 1));
    CHECK_OK(yoton_timer_start(t, 0.2, 1));
    CHECK_OK(yoton_timer_start(t, 0.3, -1)); /* the last start counts */
    CHECK(yt_ev_pump_count(&k.calls, n + 1, YT_WAIT));
    t1 = yt_now();
    CHECK(t1 - t0 >= 0.3 - 0.005);
    yt_ev_pump_for(0.3);
    CHECK_EQ_INT(k.calls, n + 1);
    /* Bad intervals are refused and leave the timer as it was. */
    CHECK_RC(yoton_timer_start(t, NAN, -1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_start(t, INFINITY, -1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(!timer_running(t));
    yoton_timer_free(t);
    CHECK_EQ_INT(k.freed, 1);
    CHECK_EQ_INT(k.after_free, 0);
    yt_ev_drain();
}

static void test_timer_unbind_and_free(void) {
    yoton_timer *t = NULL, *t2 = NULL;
    struct tick a, b, self;
    uint64_t ida = 0, idb = 0;
    int later = 0;

    YT_SECTION("timers: unbind; free with an expiry queued; free from its own callback");
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&self, 0, sizeof self);
    CHECK_OK(yoton_timer_new(0.02, false, &t));
    CHECK_OK(yoton_timer_bind(t, tick_cb, &a, tick_free, &ida));
    CHECK_OK(yoton_timer_bind(t, tick_cb, &b, tick_free, &idb));
    CHECK(ida != idb);
    CHECK_OK(yoton_timer_start(t, -1.0, -1));
    CHECK(yt_ev_pump_count(&a.calls, 2, YT_WAIT));
    CHECK_OK(yoton_timer_unbind(t, ida));
    CHECK_EQ_INT(a.freed, 1);
    CHECK_RC(yoton_timer_unbind(t, ida), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_unbind(t, 123456789u), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(yt_ev_pump_count(&b.calls, b.calls + 3, YT_WAIT));
    CHECK_EQ_INT(a.after_free, 0);

    /* An expiry queued as an event, then the timer freed: the call is skipped. */
    CHECK_OK(yoton_timer_stop(t));
    yt_ev_drain();
    CHECK_OK(yoton_timer_start(t, 0.01, 1));
    CHECK(wait_queued(1)); /* queued, not run */
    {
        int before = b.calls;
        yoton_timer_free(t);
        CHECK_EQ_INT(b.freed, 1);
        yt_ev_drain();
        CHECK_EQ_INT(b.calls, before);
        CHECK_EQ_INT(b.after_free, 0);
    }

    /* A repeating timer freed from its own callback: no crash, no further call, later events
     * fine; its user data is released once, after the callback returned. */
    CHECK_OK(yoton_timer_new(0.01, false, &t2));
    self.owned = t2;
    CHECK_OK(yoton_timer_bind(t2, tick_cb, &self, tick_free, NULL));
    CHECK_OK(yoton_timer_start(t2, -1.0, -1));
    CHECK(yt_ev_pump_count(&self.calls, 1, YT_WAIT));
    CHECK(yt_ev_pump_count(&self.freed, 1, YT_WAIT));
    yt_ev_pump_for(0.1);
    CHECK_EQ_INT(self.calls, 1);
    CHECK_EQ_INT(self.freed, 1);
    CHECK_EQ_INT(self.after_free, 0);
    CHECK_OK(yoton_call_later(0.0, count_cb, &later, NULL));
    CHECK_OK(yoton_call_later(0.02, count_cb, &later, NULL));
    CHECK(yt_ev_pump_count(&later, 2, YT_WAIT));
    yt_ev_drain();
}

static void test_timer_bad_input(void) {
    yoton_timer *t = NULL;
    int freed = 0;
    uint64_t id = 5;
    bool r = true;

    YT_SECTION("timers: bad intervals, NULL arguments, free_user_data of a refused binding");
    CHECK_RC(yoton_timer_new(0.0, true, &t), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_new(-1.0, true, &t), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_new(NAN, true, &t), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_new(INFINITY, true, &t), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(t == NULL);
    CHECK_RC(yoton_timer_new(1.0, true, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_timer_new(1.0, true, &t));
    CHECK_RC(yoton_timer_bind(t, NULL, &freed, yt_ev_count_free, &id), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(freed, 1);
    CHECK_EQ_INT(id, 5);
    CHECK_RC(yoton_timer_bind(NULL, count_cb, &freed, yt_ev_count_free, &id),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(freed, 2);
    CHECK_RC(yoton_timer_start(NULL, 1.0, 1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_stop(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_is_running(NULL, &r), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_is_running(t, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_timer_unbind(NULL, 1), YOTON_ERR_INVALID_ARGUMENT);
    yoton_timer_free(NULL);
    /* A timer without handlers may run and be freed while running. */
    CHECK_OK(yoton_timer_start(t, 0.01, 0));
    yt_ev_pump_for(0.05);
    yoton_timer_free(t);
    /* Many bindings, each called once and released once when the timer goes. */
    {
        static struct tick many[50];
        int i, calls = 0, frees = 0;
        memset(many, 0, sizeof many);
        CHECK_OK(yoton_timer_new(0.01, true, &t));
        for (i = 0; i < 50; i++) {
            CHECK_OK(yoton_timer_bind(t, tick_cb, &many[i], tick_free, NULL));
        }
        CHECK_OK(yoton_timer_start(t, -1.0, -1));
        CHECK(yt_ev_pump_count(&many[49].calls, 1, YT_WAIT));
        yt_ev_drain();
        yoton_timer_free(t);
        for (i = 0; i < 50; i++) {
            calls += many[i].calls;
            frees += many[i].freed;
        }
        CHECK_EQ_INT(calls, 50);
        CHECK_EQ_INT(frees, 50);
    }
    yt_ev_drain();
}

int main(void) {
    test_signal_basics();
    test_signal_queued_then_unbound_or_freed();
    test_signal_handler_frees_or_unbinds();
    test_signal_threads();
    test_signal_bad_input();
    test_timer_order_and_intervals();
    test_timer_restart_modes();
    test_timer_unbind_and_free();
    test_timer_bad_input();
    return yt_summary("test_events_signals");
}
