/* The event loop from C: yoton_process_events (blocking modes, counts, re-entrancy),
 * yoton_start_event_loop / yoton_stop_event_loop (from callbacks, from other threads, nested),
 * yoton_call_later (order, delays, bad delays, user data), the level-triggered wakeup fd (exact
 * readability, a burst from several threads), yoton_time_until_next_timer,
 * yoton_pending_events, yoton_embed_event_loop (host loop integration), on which thread
 * callbacks run, and a callback that takes long.
 *
 * The event queue is process-wide: each section leaves it empty. No timing assertions beyond
 * generous bounds and "never early". */
#include "ytest.h"

#include <math.h>
#include <sched.h>
#include <unistd.h>

/* --- helpers ---------------------------------------------------------------------------- */

/* A log of small integers written by callbacks (processing thread) and read by the test. */
struct order_log {
    int items[64];
    int n;
};

struct log_entry {
    struct order_log *log;
    int value;
    double at; /* when it ran (yt_now) */
};

static void log_cb(void *user_data) {
    struct log_entry *e = (struct log_entry *)user_data;
    int i = yt_ev_inc(&e->log->n) - 1;
    if (i < 64) {
        e->log->items[i] = e->value;
    }
    e->at = yt_now();
}

static void count_cb(void *user_data) { yt_ev_inc((int *)user_data); }

static void noop_cb(void *user_data) { (void)user_data; }

/* user data that knows whether its call happened before it was freed */
struct once_data {
    int called;
    int freed;
    int freed_after_call;
};

static void once_cb(void *user_data) {
    struct once_data *d = (struct once_data *)user_data;
    yt_ev_inc(&d->called);
}

static void once_free(void *user_data) {
    struct once_data *d = (struct once_data *)user_data;
    if (yt_ev_load(&d->called) > 0) {
        yt_ev_inc(&d->freed_after_call);
    }
    yt_ev_inc(&d->freed);
}

static void sleep_cb(void *user_data) {
    yt_sleep(*(const double *)user_data);
}

static int yt_ev_reached_pending(void *arg) {
    size_t n = yt_ev_pending();
    return n != (size_t)-1 && n >= *(const size_t *)arg;
}

static double time_until(void) {
    double t = -99.0;
    CHECK_OK(yoton_time_until_next_timer(&t));
    return t;
}

/* --- tests ------------------------------------------------------------------------------ */

/* Must run first: nothing has been scheduled in this process yet. */
static void test_fresh_state(void) {
    int fd = -1, fd2 = -2;
    size_t n = 99;
    double t = 0.0;

    YT_SECTION("fresh state: no events, no timers, the wakeup fd is quiet");
    CHECK_OK(yoton_wakeup_fd(&fd));
    CHECK(fd >= 0);
    CHECK_OK(yoton_wakeup_fd(&fd2));
    CHECK_EQ_INT(fd, fd2); /* one fd for the whole process */
    CHECK(!yt_ev_fd_readable(fd));
    CHECK_OK(yoton_pending_events(&n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(yoton_time_until_next_timer(&t));
    CHECK(t == -1.0);
    n = 99;
    CHECK_OK(yoton_process_events(0.0, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(yoton_process_events(0.0, NULL));

    /* NULL out-parameters are refused. */
    CHECK_RC(yoton_wakeup_fd(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_pending_events(NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_time_until_next_timer(NULL), YOTON_ERR_INVALID_ARGUMENT);
}

static void test_call_later_order(void) {
    struct order_log log;
    struct log_entry e[6];
    int fd = yt_ev_wakeup_fd();
    size_t n = 0;
    double t0, t;
    int i;

    YT_SECTION("call_later: back, front and delayed order");
    memset(&log, 0, sizeof log);
    for (i = 0; i < 6; i++) {
        e[i].log = &log;
        e[i].value = i;
        e[i].at = 0;
    }
    CHECK_OK(yoton_call_later(0.0, log_cb, &e[0], NULL));
    CHECK_OK(yoton_call_later(0.0, log_cb, &e[1], NULL));
    CHECK_OK(yoton_call_later(-1.0, log_cb, &e[2], NULL)); /* front */
    CHECK_OK(yoton_call_later(-0.5, log_cb, &e[3], NULL)); /* front again: before e[2] */
    CHECK_EQ_INT(yt_ev_pending(), 4);
    CHECK(yt_ev_fd_readable(fd));
    CHECK_EQ_INT(yt_ev_load(&log.n), 0); /* nothing runs before processing */
    CHECK_OK(yoton_process_events(0.0, &n));
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(log.n, 4);
    CHECK_EQ_INT(log.items[0], 3);
    CHECK_EQ_INT(log.items[1], 2);
    CHECK_EQ_INT(log.items[2], 0);
    CHECK_EQ_INT(log.items[3], 1);
    CHECK(!yt_ev_fd_readable(fd));
    CHECK_EQ_INT(yt_ev_pending(), 0);

    /* Delayed calls run in the order they are due, never early. */
    memset(&log, 0, sizeof log);
    t0 = yt_now();
    CHECK_OK(yoton_call_later(0.50, log_cb, &e[0], NULL));
    CHECK_OK(yoton_call_later(0.30, log_cb, &e[1], NULL));
    CHECK_OK(yoton_call_later(0.40, log_cb, &e[2], NULL));
    t = time_until();
    CHECK(t >= 0.0 && t <= 0.30 + 1e-6); /* the earliest one */
    CHECK_EQ_INT(yt_ev_pending(), 0);     /* not queued before they are due */
    CHECK(yt_ev_pump_count(&log.n, 3, YT_WAIT));
    CHECK_EQ_INT(log.items[0], 1);
    CHECK_EQ_INT(log.items[1], 2);
    CHECK_EQ_INT(log.items[2], 0);
    CHECK(e[1].at - t0 >= 0.30 - 0.005);
    CHECK(e[2].at - t0 >= 0.40 - 0.005);
    CHECK(e[0].at - t0 >= 0.50 - 0.005);
    CHECK(time_until() == -1.0); /* nothing left */
    yt_ev_drain();
}

static void test_call_later_bad_input_and_user_data(void) {
    struct once_data d[12];
    int freed = 0;
    int called = 0;
    int i;

    YT_SECTION("call_later: NaN, infinities and NULL are refused; free_user_data once");
    memset(d, 0, sizeof d);
    CHECK_RC(yoton_call_later(NAN, once_cb, &d[0], once_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_call_later(-INFINITY, once_cb, &d[1], once_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_call_later(INFINITY, once_cb, &d[2], once_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_call_later(0.0, NULL, &d[3], once_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_call_later(0.0, NULL, NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(strlen(yoton_last_error()) > 0);
    CHECK_EQ_INT(yt_ev_pending(), 0); /* nothing was queued */
    CHECK(time_until() == -1.0);      /* nor scheduled */
    /* A refused call never happens, so its user data is released at once, exactly once. */
    for (i = 0; i < 4; i++) {
        CHECK_EQ_INT(d[i].called, 0);
        CHECK_EQ_INT(d[i].freed, 1);
    }
    yt_ev_drain();
    for (i = 0; i < 4; i++) {
        CHECK_EQ_INT(d[i].freed, 1);
    }

    /* Accepted calls: the callback gets its user data, then free_user_data runs once, after. */
    memset(d, 0, sizeof d);
    for (i = 0; i < 10; i++) {
        CHECK_OK(yoton_call_later(i < 5 ? 0.0 : 0.01 * i, once_cb, &d[i], once_free));
    }
    CHECK_OK(yoton_call_later(-1.0, count_cb, &called, NULL)); /* NULL free_user_data */
    CHECK_OK(yoton_call_later(0.0, yt_ev_count_free, &freed, NULL));
    CHECK_OK(yoton_call_later(0.0, noop_cb, NULL, NULL)); /* NULL user data is passed along */
    CHECK(yt_ev_pump_count(&d[9].freed, 1, YT_WAIT)); /* the last one due */
    for (i = 0; i < 10; i++) {
        CHECK_EQ_INT(d[i].called, 1);
        CHECK_EQ_INT(d[i].freed, 1);
        CHECK_EQ_INT(d[i].freed_after_call, 1);
    }
    CHECK_EQ_INT(called, 1);
    CHECK_EQ_INT(freed, 1);
    yt_ev_drain();
}

struct delayed_post {
    double delay;
    int *counter;
};

static void *post_after(void *arg) {
    struct delayed_post *p = (struct delayed_post *)arg;
    yt_sleep(p->delay);
    yoton_call_later(0.0, count_cb, p->counter, NULL);
    return NULL;
}

static void test_process_events_blocking(void) {
    size_t n = 99;
    double t0;
    int hits = 0;
    pthread_t th;
    struct delayed_post p;

    YT_SECTION("process_events: block 0, positive, negative; NaN refused");
    t0 = yt_now();
    CHECK_OK(yoton_process_events(0.0, &n));
    CHECK_EQ_INT(n, 0);
    n = 99;
    CHECK_OK(yoton_process_events(0.05, &n)); /* nothing comes: returns after ~50 ms */
    CHECK_EQ_INT(n, 0);
    CHECK(yt_now() - t0 >= 0.045);
    CHECK(yt_now() - t0 < 5.0);
    CHECK_RC(yoton_process_events(NAN, &n), YOTON_ERR_INVALID_ARGUMENT);

    /* A positive block returns as soon as the first event is run. */
    t0 = yt_now();
    CHECK_OK(yoton_call_later(0.05, count_cb, &hits, NULL));
    CHECK_OK(yoton_process_events(8.0, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(hits, 1);
    CHECK(yt_now() - t0 < 6.0);

    /* block applies to the first event only: a later delayed call is not waited for. */
    CHECK_OK(yoton_call_later(0.0, count_cb, &hits, NULL));
    CHECK_OK(yoton_call_later(1.0, count_cb, &hits, NULL));
    CHECK_OK(yoton_process_events(5.0, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(hits, 2);
    CHECK(yt_ev_pump_count(&hits, 3, YT_WAIT));

    /* Negative: wait until an event comes, here posted by another thread. */
    p.delay = 0.05;
    p.counter = &hits;
    CHECK(pthread_create(&th, NULL, post_after, &p) == 0);
    CHECK_OK(yoton_process_events(-1.0, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(hits, 4);
    pthread_join(th, NULL);
    /* -INFINITY is "forever" too (only NaN is refused). */
    CHECK(pthread_create(&th, NULL, post_after, &p) == 0);
    CHECK_OK(yoton_process_events(-INFINITY, &n));
    CHECK_EQ_INT(hits, 5);
    pthread_join(th, NULL);
    /* +INFINITY is a (very long) positive block. */
    CHECK(pthread_create(&th, NULL, post_after, &p) == 0);
    CHECK_OK(yoton_process_events(INFINITY, &n));
    CHECK_EQ_INT(hits, 6);
    pthread_join(th, NULL);
    yt_ev_drain();
}

/* --- start/stop ---------------------------------------------------------------------------- */

/* A watchdog stops the loop after a generous bound, so a broken stop cannot hang the test. */
struct watchdog {
    pthread_t thread;
    int cancel;
    int fired;
    double seconds;
};

static void *watchdog_main(void *arg) {
    struct watchdog *w = (struct watchdog *)arg;
    double deadline = yt_now() + w->seconds;
    while (!yt_ev_load(&w->cancel)) {
        if (yt_now() >= deadline) {
            yt_ev_store(&w->fired, 1);
            yoton_stop_event_loop();
            deadline = yt_now() + 1.0; /* keep trying */
        }
        yt_sleep(0.005);
    }
    return NULL;
}

static void watchdog_start(struct watchdog *w, double seconds) {
    memset(w, 0, sizeof *w);
    w->seconds = seconds;
    CHECK(pthread_create(&w->thread, NULL, watchdog_main, w) == 0);
}

/* Returns whether the watchdog had to stop the loop. */
static int watchdog_end(struct watchdog *w) {
    yt_ev_store(&w->cancel, 1);
    pthread_join(w->thread, NULL);
    return yt_ev_load(&w->fired);
}

struct loop_probe {
    int ran;
    int nested_rc;
    int nested_returned;
    int process_rc;
    int process_block_rc;
    int after_stop;
    int stop_rc;
    int running_rc;      /* yoton_event_loop_is_running inside the loop */
    bool running_inside;
    pthread_t thread;
};

static void stop_cb(void *user_data) {
    struct loop_probe *p = (struct loop_probe *)user_data;
    bool running = false;
    p->thread = pthread_self();
    p->running_rc = yoton_event_loop_is_running(&running);
    p->running_inside = running;
    yt_ev_inc(&p->ran);
    p->stop_rc = yoton_stop_event_loop();
}

static void nested_cb(void *user_data) {
    struct loop_probe *p = (struct loop_probe *)user_data;
    size_t n = 0;
    yt_ev_inc(&p->ran);
    p->nested_rc = yoton_start_event_loop(); /* nested: returns at once */
    p->nested_returned = 1;
    p->process_rc = yoton_process_events(0.0, &n); /* re-entrant: refused */
    p->process_block_rc = yoton_process_events(0.5, &n);
    yoton_stop_event_loop();
    yoton_stop_event_loop(); /* twice is harmless */
}

/* Stops the loop from another thread once the loop has run an event (*arg set by it): a stop
 * while no loop runs would be a no-op. */
static void *stop_later_main(void *arg) {
    yt_wait_until(yt_ev_flag_set, arg, YT_WAIT);
    yt_sleep(0.05);
    yoton_stop_event_loop();
    return NULL;
}

static void set_flag_cb(void *user_data) { yt_ev_store((int *)user_data, 1); }

struct start_in_thread {
    int rc;
    int done;
};

static void *start_loop_main(void *arg) {
    struct start_in_thread *s = (struct start_in_thread *)arg;
    s->rc = yoton_start_event_loop();
    yt_ev_store(&s->done, 1);
    return NULL;
}

struct reentrant_start {
    int rc;
    int returned;
};

static void start_from_process_cb(void *user_data) {
    struct reentrant_start *r = (struct reentrant_start *)user_data;
    r->rc = yoton_start_event_loop();
    yt_ev_store(&r->returned, 1);
}

static void test_start_stop(void) {
    struct watchdog w;
    struct loop_probe p;
    pthread_t th;
    int hits = 0;

    YT_SECTION("start/stop: stop from a callback, from a thread; nested start; re-entrancy");
    /* A stop while no loop runs does nothing and is not remembered by the next start. */
    CHECK_OK(yoton_stop_event_loop());
    {
        bool running = true;
        CHECK_OK(yoton_event_loop_is_running(&running));
        CHECK(!running);
        CHECK_RC(yoton_event_loop_is_running(NULL), YOTON_ERR_INVALID_ARGUMENT);
    }
    memset(&p, 0, sizeof p);
    CHECK_OK(yoton_call_later(0.05, count_cb, &hits, NULL));
    CHECK_OK(yoton_call_later(0.10, stop_cb, &p, NULL));
    watchdog_start(&w, YT_WAIT);
    CHECK_OK(yoton_start_event_loop());
    CHECK(!watchdog_end(&w));
    CHECK_EQ_INT(p.ran, 1);
    CHECK_EQ_INT(hits, 1);
    CHECK_OK(p.stop_rc);
    CHECK_OK(p.running_rc);
    CHECK(p.running_inside); /* seen from a callback of the running loop */
    {
        bool running = true;
        CHECK_OK(yoton_event_loop_is_running(&running));
        CHECK(!running); /* and not any more once it returned */
    }
    CHECK(pthread_equal(p.thread, pthread_self()));

    /* Nested start returns at once; re-entrant process_events is refused. */
    memset(&p, 0, sizeof p);
    CHECK_OK(yoton_call_later(0.0, nested_cb, &p, NULL));
    watchdog_start(&w, YT_WAIT);
    CHECK_OK(yoton_start_event_loop());
    CHECK(!watchdog_end(&w));
    CHECK_EQ_INT(p.ran, 1);
    CHECK_OK(p.nested_rc);
    CHECK_EQ_INT(p.nested_returned, 1);
    CHECK_RC(p.process_rc, YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(p.process_block_rc, YOTON_ERR_INVALID_ARGUMENT);
    yt_ev_drain();

    /* Stop from another thread. */
    {
        static int looping = 0;
        CHECK(pthread_create(&th, NULL, stop_later_main, &looping) == 0);
        CHECK_OK(yoton_call_later(0.0, set_flag_cb, &looping, NULL));
    }
    watchdog_start(&w, YT_WAIT);
    CHECK_OK(yoton_start_event_loop());
    CHECK(!watchdog_end(&w));
    pthread_join(th, NULL);
    yt_ev_drain();

    /* The loop runs on the thread that started it; a second start elsewhere returns at once. */
    {
        struct start_in_thread s;
        int rc;
        memset(&s, 0, sizeof s);
        memset(&p, 0, sizeof p);
        CHECK(pthread_create(&th, NULL, start_loop_main, &s) == 0);
        yt_sleep(0.05); /* let it start (the checks below hold either way) */
        CHECK_OK(yoton_call_later(0.0, count_cb, &hits, NULL));
        CHECK(yt_ev_wait_count(&hits, 2, YT_WAIT)); /* run by the thread's loop */
        rc = yoton_start_event_loop();              /* already running: returns at once */
        CHECK_OK(rc);
        CHECK_OK(yoton_call_later(0.0, stop_cb, &p, NULL));
        CHECK(yt_wait_until(yt_ev_flag_set, &s.done, YT_WAIT));
        if (!yt_ev_load(&s.done)) {
            yoton_stop_event_loop();
        }
        pthread_join(th, NULL);
        CHECK_OK(s.rc);
        CHECK_EQ_INT(p.ran, 1);
        CHECK(pthread_equal(p.thread, th));
    }
    yt_ev_drain();

    /* yoton_start_event_loop from inside a yoton_process_events callback: it must return
     * (it cannot run a loop re-entrantly) and leave no loop marked as running. */
    {
        struct reentrant_start r;
        memset(&r, 0, sizeof r);
        r.rc = -1;
        CHECK_OK(yoton_call_later(0.0, start_from_process_cb, &r, NULL));
        CHECK_OK(yoton_process_events(0.0, NULL));
        CHECK_EQ_INT(r.returned, 1);
        CHECK(r.rc == YOTON_OK || r.rc == YOTON_ERR_INVALID_ARGUMENT);
        /* A normal start/stop cycle still works afterwards. */
        memset(&p, 0, sizeof p);
        CHECK_OK(yoton_call_later(0.0, stop_cb, &p, NULL));
        watchdog_start(&w, YT_WAIT);
        CHECK_OK(yoton_start_event_loop());
        CHECK(!watchdog_end(&w));
        CHECK_EQ_INT(p.ran, 1);
    }
    yt_ev_drain();
}

struct forever_call {
    int rc;
    int done;
    size_t n;
};

static void *process_forever_main(void *arg) {
    struct forever_call *f = (struct forever_call *)arg;
    f->rc = yoton_process_events(-1.0, &f->n);
    yt_ev_store(&f->done, 1);
    return NULL;
}

static void test_stop_wakes_blocking_process_events(void) {
    struct forever_call f;
    pthread_t th;

    YT_SECTION("stop_event_loop wakes a yoton_process_events(-1) that waits");
    memset(&f, 0, sizeof f);
    CHECK(pthread_create(&th, NULL, process_forever_main, &f) == 0);
    yt_sleep(0.1); /* let it block */
    CHECK_OK(yoton_stop_event_loop());
    /* A negative block waits "until one comes (or yoton_stop_event_loop)", also outside
     * yoton_start_event_loop. */
    CHECK(yt_wait_until(yt_ev_flag_set, &f.done, 3.0));
    if (!yt_ev_load(&f.done)) {
        /* Unblock it with an event so the test can go on. */
        yoton_call_later(0.0, noop_cb, NULL, NULL);
        CHECK(yt_wait_until(yt_ev_flag_set, &f.done, YT_WAIT));
    }
    pthread_join(th, NULL);
    CHECK_OK(f.rc);
    yt_ev_drain();
    /* No stop is left pending: a later blocking call still waits for its event. */
    {
        size_t n = 0;
        int hits = 0;
        CHECK_OK(yoton_call_later(0.05, count_cb, &hits, NULL));
        CHECK_OK(yoton_process_events(5.0, &n));
        CHECK_EQ_INT(hits, 1);
    }
    yt_ev_drain();
}

/* --- wakeup fd ----------------------------------------------------------------------------- */

static void test_wakeup_fd_exact(void) {
    int fd = yt_ev_wakeup_fd();
    int hits = 0;
    int i, k;
    size_t n = 0;
    double t;

    YT_SECTION("wakeup fd: readable exactly while events are pending");
    CHECK(!yt_ev_fd_readable(fd));
    for (k = 1; k <= 3; k++) {
        for (i = 0; i < k; i++) {
            CHECK_OK(yoton_call_later(i % 2 == 0 ? 0.0 : -1.0, count_cb, &hits, NULL));
            CHECK(yt_ev_fd_readable(fd));
            CHECK_EQ_INT(yt_ev_pending(), i + 1);
        }
        /* Still readable after looking (level-triggered: never read it yourself). */
        CHECK(yt_ev_fd_readable(fd));
        CHECK_OK(yoton_process_events(0.0, &n));
        CHECK_EQ_INT(n, k);
        CHECK(!yt_ev_fd_readable(fd));
        CHECK_EQ_INT(yt_ev_pending(), 0);
    }
    CHECK_EQ_INT(hits, 6);

    /* A delayed call makes it readable when it is due (not before it is scheduled to). */
    CHECK_OK(yoton_call_later(0.2, count_cb, &hits, NULL));
    t = time_until();
    CHECK(t > 0.0 && t <= 0.2 + 1e-6);
    {
        struct pollfd p;
        double t0 = yt_now();
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        CHECK(poll(&p, 1, 5000) == 1);
        CHECK(yt_now() - t0 >= 0.15); /* not readable long before it is due */
        CHECK_EQ_INT(yt_ev_pending(), 1);
        CHECK_OK(yoton_process_events(0.0, &n));
        CHECK_EQ_INT(n, 1);
        CHECK_EQ_INT(hits, 7);
        CHECK(!yt_ev_fd_readable(fd));
    }

    /* An event queued by a callback during processing is run in the same round. */
    yt_ev_drain();
}

/* 4 producer threads x 1000 call_later; one consumer that only processes when the fd says
 * so. A lost wakeup would leave the consumer waiting forever (bounded here). */
#define BURST_THREADS 4
#define BURST_EACH 1000

struct burst {
    int go;
    int ran;
    int producers_done;
    int spurious;  /* readable but nothing to process */
    int wakeups;
    int consumer_done;
    int wrong_thread;
    pthread_t consumer;
};

static void burst_cb(void *user_data) {
    struct burst *b = (struct burst *)user_data;
    if (!pthread_equal(pthread_self(), b->consumer)) {
        yt_ev_inc(&b->wrong_thread);
    }
    yt_ev_inc(&b->ran);
}

static void *burst_producer(void *arg) {
    struct burst *b = (struct burst *)arg;
    int i;
    while (!yt_ev_load(&b->go)) {
        yt_sleep(0.0005);
    }
    for (i = 0; i < BURST_EACH; i++) {
        if (yoton_call_later(0.0, burst_cb, b, NULL) != YOTON_OK) {
            break;
        }
        if (i % 97 == 0) {
            sched_yield();
        }
    }
    yt_ev_inc(&b->producers_done);
    return NULL;
}

static void *burst_consumer(void *arg) {
    struct burst *b = (struct burst *)arg;
    int fd = -1;
    double deadline = yt_now() + 30.0;
    b->consumer = pthread_self();
    yoton_wakeup_fd(&fd);
    yt_ev_store(&b->go, 1);
    while (yt_ev_load(&b->ran) < BURST_THREADS * BURST_EACH && yt_now() < deadline) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 200) == 1) {
            size_t n = 0;
            yt_ev_inc(&b->wakeups);
            yoton_process_events(0.0, &n);
            if (n == 0) {
                yt_ev_inc(&b->spurious);
            }
        }
    }
    yt_ev_store(&b->consumer_done, 1);
    return NULL;
}

static void test_wakeup_fd_burst(void) {
    struct burst b;
    pthread_t prod[BURST_THREADS], cons;
    int fd = yt_ev_wakeup_fd();
    int i;

    YT_SECTION("wakeup fd: 4 threads x 1000 call_later, a consumer driven only by the fd");
    memset(&b, 0, sizeof b);
    CHECK(pthread_create(&cons, NULL, burst_consumer, &b) == 0);
    for (i = 0; i < BURST_THREADS; i++) {
        CHECK(pthread_create(&prod[i], NULL, burst_producer, &b) == 0);
    }
    for (i = 0; i < BURST_THREADS; i++) {
        pthread_join(prod[i], NULL);
    }
    pthread_join(cons, NULL);
    CHECK_EQ_INT(b.producers_done, BURST_THREADS);
    CHECK_EQ_INT(b.ran, BURST_THREADS * BURST_EACH);
    CHECK_EQ_INT(b.wrong_thread, 0);
    CHECK_EQ_INT(b.spurious, 0); /* readable only while something was pending */
    CHECK(b.wakeups >= 1);
    CHECK(!yt_ev_fd_readable(fd));
    CHECK_EQ_INT(yt_ev_pending(), 0);
    printf("   %d events in %d wakeups\n", b.ran, b.wakeups);
}

/* --- time until next timer ----------------------------------------------------------------- */

static void test_time_until_next_timer(void) {
    yoton_timer *t = NULL;
    int hits = 0;
    double left;

    YT_SECTION("time_until_next_timer: a running timer, a delayed call, overdue, none");
    CHECK(time_until() == -1.0);
    CHECK_OK(yoton_timer_new(0.4, true, &t));
    CHECK(time_until() == -1.0); /* a stopped timer is not due */
    CHECK_OK(yoton_timer_bind(t, count_cb, &hits, NULL, NULL));
    CHECK_OK(yoton_timer_start(t, -1.0, -1));
    left = time_until();
    CHECK(left > 0.0 && left <= 0.4 + 1e-6);
    CHECK_OK(yoton_call_later(0.1, count_cb, &hits, NULL));
    left = time_until();
    CHECK(left >= 0.0 && left <= 0.1 + 1e-6);
    /* Use it as a poll timeout, like a host loop without threads would. */
    while (yt_ev_load(&hits) < 2) {
        struct pollfd p;
        int ms;
        left = time_until();
        if (left < 0) {
            left = 1.0;
        }
        ms = (int)(left * 1000.0) + 1;
        p.fd = yt_ev_wakeup_fd();
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, ms > 5000 ? 5000 : ms) == 1) {
            yoton_process_events(0.0, NULL);
        }
        if (hits < 2 && time_until() == -1.0 && yt_ev_pending() == 0) {
            break; /* nothing left that could bring the count up */
        }
    }
    CHECK_EQ_INT(hits, 2);
    /* A oneshot timer that fired is no longer due. */
    CHECK(time_until() == -1.0);
    yoton_timer_free(t);
    yt_ev_drain();
}

static void test_stopped_timer_not_due(void) {
    yoton_timer *t = NULL;
    double left;
    YT_SECTION("time_until_next_timer after a timer was stopped or freed");
    yt_ev_pump_for(0.3); /* let earlier sections' short timers expire */
    CHECK_OK(yoton_timer_new(30.0, false, &t));
    CHECK_OK(yoton_timer_start(t, -1.0, -1));
    left = time_until();
    CHECK(left > 25.0 && left <= 30.0);
    CHECK_OK(yoton_timer_stop(t));
    left = time_until();
    /* A stopped (or freed, or restarted) timer's old expiry does not count: -1 if none is left. */
    CHECK(left == -1.0);
    yoton_timer_free(t);
    yt_ev_drain();
}

/* --- embedding ----------------------------------------------------------------------------- */

/* Announcements are counted per calling thread: `main` (the test thread), `poster` (a thread
 * that records itself in `poster` before posting) and `other`. A thread that decided to
 * announce an event just before the callback was installed (e.g. the timer thread, for an
 * earlier delayed call) may still call the new callback a moment later: such a straggler
 * shows up as `other`, so exact counts are only asserted per thread. */
struct embed_probe {
    pthread_t main;
    pthread_t poster;
    int has_poster;
    int calls;
    int calls_main;
    int calls_poster;
    int calls_other;
    int freed;
    int called_after_free; /* must stay 0 */
    int write_fd;          /* if >= 0: the "post a job" pipe of a host loop */
};

static void embed_probe_init(struct embed_probe *e) {
    memset(e, 0, sizeof *e);
    e->main = pthread_self();
    e->write_fd = -1;
}

static void embed_cb(void *user_data) {
    struct embed_probe *e = (struct embed_probe *)user_data;
    if (yt_ev_load(&e->freed)) {
        yt_ev_inc(&e->called_after_free);
    }
    if (pthread_equal(pthread_self(), e->main)) {
        yt_ev_inc(&e->calls_main);
    } else if (yt_ev_load(&e->has_poster) && pthread_equal(pthread_self(), e->poster)) {
        yt_ev_inc(&e->calls_poster);
    } else {
        yt_ev_inc(&e->calls_other);
    }
    yt_ev_inc(&e->calls);
    if (e->write_fd >= 0) {
        char c = 1;
        ssize_t r = write(e->write_fd, &c, 1);
        (void)r;
    }
}

static void embed_free(void *user_data) {
    struct embed_probe *e = (struct embed_probe *)user_data;
    yt_ev_inc(&e->freed);
}

struct poster {
    int *counter;
    int n;
    struct embed_probe *probe; /* may be NULL */
};

static void *poster_main(void *arg) {
    struct poster *p = (struct poster *)arg;
    int i;
    if (p->probe != NULL) {
        p->probe->poster = pthread_self();
        yt_ev_store(&p->probe->has_poster, 1);
    }
    for (i = 0; i < p->n; i++) {
        yoton_call_later(0.0, count_cb, p->counter, NULL);
    }
    return NULL;
}

/* A host loop: its own thread, woken only through a pipe the embed callback writes to. */
struct host_loop {
    int pipe_rd;
    int stop;
    int rounds;
    int errors;
    pthread_t self;
    int started;
};

static void *host_loop_main(void *arg) {
    struct host_loop *h = (struct host_loop *)arg;
    h->self = pthread_self();
    yt_ev_store(&h->started, 1);
    while (!yt_ev_load(&h->stop)) {
        struct pollfd p;
        p.fd = h->pipe_rd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 50) == 1) {
            char buf[256];
            ssize_t r = read(h->pipe_rd, buf, sizeof buf); /* drain the jobs */
            (void)r;
            /* The job: process yoton's events on the host's thread. */
            if (yoton_process_events(0.0, NULL) != YOTON_OK) {
                yt_ev_inc(&h->errors);
            }
            yt_ev_inc(&h->rounds);
        }
    }
    return NULL;
}

static void where_cb(void *user_data) { yt_ev_note((struct yt_ev_where *)user_data); }

static void test_embed(void) {
    struct embed_probe e1, e2;
    int hits = 0;
    int i, other;

    YT_SECTION("embed_event_loop: once per round, on the posting thread, user data released");
    yt_ev_drain();
    embed_probe_init(&e1);
    embed_probe_init(&e2);
    CHECK_OK(yoton_embed_event_loop(embed_cb, &e1, embed_free));
    CHECK_EQ_INT(e1.calls_main, 0); /* nothing pending: no call */
    for (i = 0; i < 5; i++) {
        CHECK_OK(yoton_call_later(0.0, count_cb, &hits, NULL));
    }
    CHECK_EQ_INT(e1.calls_main, 1); /* only for the first event after a processing round */
    CHECK_OK(yoton_process_events(0.0, NULL));
    CHECK_EQ_INT(hits, 5);
    /* A post from another thread: the callback runs on that thread, once for its 3 posts. */
    {
        pthread_t th;
        struct poster p;
        p.counter = &hits;
        p.n = 3;
        p.probe = &e1;
        CHECK(pthread_create(&th, NULL, poster_main, &p) == 0);
        pthread_join(th, NULL);
        CHECK_EQ_INT(e1.calls_poster, 1);
        CHECK_EQ_INT(e1.calls_main, 1);
        CHECK_OK(yoton_process_events(0.0, NULL));
        CHECK_EQ_INT(hits, 8);
    }
    /* A delayed call announces itself when it is due (from yoton's timer thread). */
    other = e1.calls_other;
    CHECK_OK(yoton_call_later(0.05, count_cb, &hits, NULL));
    CHECK(yt_ev_wait_count(&e1.calls_other, other + 1, YT_WAIT));
    {
        size_t one = 1;
        CHECK(yt_wait_until(yt_ev_reached_pending, &one, YT_WAIT));
    }
    CHECK_OK(yoton_process_events(0.0, NULL));
    CHECK_EQ_INT(hits, 9);

    /* Replacing the callback releases the previous user data, once (at once, or when a
     * thread that is running the old callback right now returns from it). */
    CHECK_OK(yoton_embed_event_loop(embed_cb, &e2, embed_free));
    CHECK(yt_ev_wait_count(&e1.freed, 1, YT_WAIT));
    CHECK_EQ_INT(e2.calls_main, 0);
    CHECK_OK(yoton_call_later(0.0, count_cb, &hits, NULL));
    CHECK_EQ_INT(e2.calls_main, 1);
    CHECK_EQ_INT(e1.calls_main, 1);
    /* Disabling releases it too; events go on without announcements. */
    CHECK_OK(yoton_embed_event_loop(NULL, NULL, NULL));
    CHECK(yt_ev_wait_count(&e2.freed, 1, YT_WAIT));
    CHECK_OK(yoton_call_later(0.0, count_cb, &hits, NULL));
    CHECK_EQ_INT(e2.calls_main, 1);
    CHECK_OK(yoton_process_events(0.0, NULL));
    CHECK_EQ_INT(hits, 11);
    CHECK_EQ_INT(e1.freed, 1);
    CHECK_EQ_INT(e2.freed, 1);
    CHECK_EQ_INT(e1.called_after_free + e2.called_after_free, 0);

    /* Embedding while events are already pending announces them at once. */
    embed_probe_init(&e1);
    CHECK_OK(yoton_call_later(0.0, count_cb, &hits, NULL));
    CHECK_OK(yoton_embed_event_loop(embed_cb, &e1, embed_free));
    CHECK_EQ_INT(e1.calls_main, 1);
    CHECK_OK(yoton_process_events(0.0, NULL));
    CHECK_EQ_INT(hits, 12);
    /* NULL callback with user data: embedding is off and that user data is released at once;
     * the previous one too. */
    embed_probe_init(&e2);
    yoton_embed_event_loop(NULL, &e2, embed_free);
    CHECK_EQ_INT(e2.freed, 1);
    CHECK(yt_ev_wait_count(&e1.freed, 1, YT_WAIT));
    CHECK_EQ_INT(e1.freed, 1);
    CHECK_EQ_INT(e1.called_after_free + e2.called_after_free, 0);
    if (e1.calls_other + e2.calls_other > 0) {
        printf("   (%d late announcement(s) from other threads)\n", e1.calls_other + e2.calls_other);
    }
    yt_ev_drain();

    YT_SECTION("embed_event_loop: a host loop woken only by the embed callback");
    {
        int fds[2];
        struct host_loop h;
        struct yt_ev_where w;
        pthread_t host, th[4];
        struct poster p;
        yoton_timer *t = NULL;
        int timer_hits = 0;
        memset(&h, 0, sizeof h);
        memset(&w, 0, sizeof w);
        embed_probe_init(&e1);
        CHECK(pipe(fds) == 0);
        e1.write_fd = fds[1];
        h.pipe_rd = fds[0];
        CHECK(pthread_create(&host, NULL, host_loop_main, &h) == 0);
        CHECK(yt_wait_until(yt_ev_flag_set, &h.started, YT_WAIT));
        w.expected = h.self;
        CHECK_OK(yoton_embed_event_loop(embed_cb, &e1, embed_free));
        hits = 0;
        p.counter = &hits;
        p.n = 1000;
        p.probe = NULL;
        for (i = 0; i < 4; i++) {
            CHECK(pthread_create(&th[i], NULL, poster_main, &p) == 0);
        }
        for (i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
        }
        CHECK_OK(yoton_call_later(0.0, where_cb, &w, NULL));
        CHECK_OK(yoton_timer_new(0.02, false, &t));
        CHECK_OK(yoton_timer_bind(t, count_cb, &timer_hits, NULL, NULL));
        CHECK_OK(yoton_timer_start(t, -1.0, -1));
        CHECK(yt_ev_wait_count(&hits, 4000, YT_WAIT));
        CHECK(yt_ev_wait_count(&timer_hits, 3, YT_WAIT));
        CHECK(yt_ev_wait_count(&w.calls, 1, YT_WAIT));
        yoton_timer_free(t);
        CHECK_EQ_INT(w.wrong_thread, 0);
        CHECK_EQ_INT(hits, 4000);
        CHECK(e1.calls >= 1);
        CHECK_OK(yoton_embed_event_loop(NULL, NULL, NULL));
        /* A poster that fetched the callback just before may still be running it: then the
         * user data is released when it returns, on that thread. Never a call after that. */
        CHECK(yt_ev_wait_count(&e1.freed, 1, YT_WAIT));
        CHECK_EQ_INT(e1.freed, 1);
        CHECK_EQ_INT(e1.called_after_free, 0);
        yt_ev_store(&h.stop, 1);
        pthread_join(host, NULL);
        CHECK_EQ_INT(h.errors, 0);
        close(fds[0]);
        close(fds[1]);
        printf("   %d embed announcements, %d host rounds\n", e1.calls, h.rounds);
    }
    yt_ev_drain();
}

/* --- threads ------------------------------------------------------------------------------- */

struct sig_where {
    struct yt_ev_where *w;
    int64_t last_arg;
};

static void sig_where_cb(void *user_data, const yoton_value *arg) {
    struct sig_where *s = (struct sig_where *)user_data;
    int64_t v = -1;
    yoton_value_get_int(arg, &v);
    s->last_arg = v;
    yt_ev_note(s->w);
}

static void *thread_posts(void *arg) {
    struct yt_ev_where *w = (struct yt_ev_where *)arg;
    int i;
    for (i = 0; i < 10; i++) {
        yoton_call_later(i % 2 == 0 ? 0.0 : 0.01, where_cb, w, NULL);
    }
    return NULL;
}

struct sig_emitter {
    const yoton_signal *sig;
};

static void *thread_emits(void *arg) {
    struct sig_emitter *e = (struct sig_emitter *)arg;
    yoton_value *v = yoton_value_new_int(7);
    int i;
    for (i = 0; i < 10; i++) {
        yoton_signal_emit(e->sig, v);
    }
    yoton_value_free(v);
    return NULL;
}

static void test_callbacks_on_processing_thread(void) {
    struct yt_ev_pump pump;
    struct yt_ev_where w;
    struct sig_where sw;
    struct sig_emitter se;
    yoton_signal *sig = NULL;
    yoton_timer *timer = NULL, *oneshot = NULL;
    pthread_t th[3];
    int i;

    YT_SECTION("callbacks run on the processing thread only (call_later, timers, signals)");
    memset(&w, 0, sizeof w);
    if (!yt_ev_pump_start(&pump)) {
        return;
    }
    w.expected = pump.self;
    sw.w = &w;
    sw.last_arg = 0;
    CHECK_OK(yoton_signal_new(&sig));
    CHECK_OK(yoton_signal_bind(sig, sig_where_cb, &sw, NULL, NULL));
    se.sig = sig;
    CHECK_OK(yoton_timer_new(0.01, false, &timer));
    CHECK_OK(yoton_timer_bind(timer, where_cb, &w, NULL, NULL));
    CHECK_OK(yoton_timer_new(0.02, true, &oneshot));
    CHECK_OK(yoton_timer_bind(oneshot, where_cb, &w, NULL, NULL));
    CHECK_OK(yoton_timer_start(timer, -1.0, -1));
    CHECK_OK(yoton_timer_start(oneshot, -1.0, -1));
    /* From the main thread, from other threads, and from the timer thread. */
    for (i = 0; i < 10; i++) {
        CHECK_OK(yoton_call_later(i % 3 == 0 ? -1.0 : 0.0, where_cb, &w, NULL));
        CHECK_OK(yoton_signal_emit(sig, NULL));
    }
    CHECK_OK(yoton_call_later(0.03, where_cb, &w, NULL));
    CHECK(pthread_create(&th[0], NULL, thread_posts, &w) == 0);
    CHECK(pthread_create(&th[1], NULL, thread_posts, &w) == 0);
    CHECK(pthread_create(&th[2], NULL, thread_emits, &se) == 0);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    /* 10 + 10 + 1 + 20 + 10 = 51, plus the oneshot, plus a few repeats. */
    CHECK(yt_ev_wait_count(&w.calls, 51 + 1 + 3, YT_WAIT));
    yoton_timer_free(timer);
    yoton_timer_free(oneshot);
    yt_ev_pump_stop(&pump);
    CHECK_EQ_INT(w.wrong_thread, 0);
    CHECK_EQ_INT(sw.last_arg, 7);
    /* emit_now is the exception: the handlers run on the caller's thread, at once. */
    memset(&w, 0, sizeof w);
    w.expected = pthread_self();
    CHECK_OK(yoton_signal_emit_now(sig, NULL));
    CHECK_EQ_INT(w.calls, 1);
    CHECK_EQ_INT(w.wrong_thread, 0);
    CHECK_EQ_INT(sw.last_arg, -1); /* emitted without an argument: None, not an int */
    yoton_signal_free(sig);
    yt_ev_drain();
}

/* --- a callback that takes long ------------------------------------------------------------ */

static void test_long_callback(void) {
    double nap = 0.2;
    int quick = 0, ticks = 0;
    yoton_timer *t = NULL;
    int i;

    YT_SECTION("a callback that takes 200 ms: the others still run after it");
    CHECK_OK(yoton_timer_new(0.05, false, &t));
    CHECK_OK(yoton_timer_bind(t, count_cb, &ticks, NULL, NULL));
    CHECK_OK(yoton_timer_start(t, -1.0, -1));
    CHECK_OK(yoton_call_later(0.0, sleep_cb, &nap, NULL));
    for (i = 0; i < 3; i++) {
        CHECK_OK(yoton_call_later(0.0, count_cb, &quick, NULL));
    }
    CHECK_OK(yoton_call_later(0.0, sleep_cb, &nap, NULL));
    CHECK(yt_ev_pump_count(&quick, 3, YT_WAIT));
    CHECK(yt_ev_pump_count(&ticks, 3, YT_WAIT)); /* the timer kept going */
    /* Events posted while a long callback runs are not lost. */
    CHECK_OK(yoton_call_later(0.0, sleep_cb, &nap, NULL));
    CHECK_OK(yoton_call_later(0.05, count_cb, &quick, NULL));
    CHECK(yt_ev_pump_count(&quick, 4, YT_WAIT));
    yoton_timer_free(t);
    yt_ev_drain();
    CHECK_EQ_INT(yt_ev_pending(), 0);
}

/* One event-processing thread at a time (issue 10 item 9): while a thread processes events,
 * another thread's yoton_process_events (and so yoton_start_event_loop) is refused at once, so the
 * promise that callbacks run on "the" event thread holds. Afterwards that thread may take over. */
static void test_one_processing_thread(void) {
    struct yt_ev_pump pump;
    struct yt_ev_where w;
    int refused = 0, tries;
    size_t n = 0;

    YT_SECTION("events are processed on one thread at a time");
    if (!yt_ev_pump_start(&pump)) {
        return;
    }
    /* The pump is inside yoton_process_events nearly all the time (20 ms waits). */
    for (tries = 0; tries < 200 && !refused; tries++) {
        int rc = yoton_process_events(0, NULL);
        if (rc == YOTON_ERR_INVALID_ARGUMENT) {
            refused = 1;
            CHECK(strstr(yoton_last_error(), "another thread") != NULL);
        } else {
            CHECK_OK(rc);
        }
    }
    CHECK(refused);
    yt_ev_pump_stop(&pump);
    /* Now this thread is the event thread. */
    memset(&w, 0, sizeof w);
    w.expected = pthread_self();
    CHECK_OK(yoton_call_later(0, where_cb, &w, NULL));
    CHECK_OK(yoton_process_events(0, &n));
    CHECK_EQ_INT(w.calls, 1);
    CHECK_EQ_INT(w.wrong_thread, 0);
    yt_ev_drain();
}

int main(void) {
    test_fresh_state();
    test_call_later_order();
    test_call_later_bad_input_and_user_data();
    test_process_events_blocking();
    test_start_stop();
    test_stop_wakes_blocking_process_events();
    test_wakeup_fd_exact();
    test_wakeup_fd_burst();
    test_time_until_next_timer();
    test_embed();
    test_callbacks_on_processing_thread();
    test_long_callback();
    test_one_processing_thread();
    test_stopped_timer_not_due(); /* last: it leaves a stale timer entry behind */
    return yt_summary("test_events_loop");
}
