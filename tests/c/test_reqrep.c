/* Request/reply between contexts in one process over loopback: C handlers (user data and its
 * release), args and kwargs as values, results of every kind, error replies, unknown methods,
 * the built-in echo, replier modes (off, thread, event) and yoton_rep_handle_pending, one
 * request at a time, load balancing over two repliers; futures (status transitions, cancel,
 * auto-cancel, timeouts, result_or_cancel, default timeout, freeing a pending future, a replier
 * freed or disconnected mid-request), detached futures with the executor-side setters, done
 * callbacks run by yoton_process_events, and bad input for everything in this scope. */
#include "ytest.h"

#include <math.h>
#include <pthread.h>

/* --- shared state of handlers and callbacks (all guarded by one lock) ------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static int get_int(const int *p) {
    int v;
    pthread_mutex_lock(&g_lock);
    v = *p;
    pthread_mutex_unlock(&g_lock);
    return v;
}

static void add_int(int *p, int delta) {
    pthread_mutex_lock(&g_lock);
    *p += delta;
    pthread_mutex_unlock(&g_lock);
}

static void set_int(int *p, int v) {
    pthread_mutex_lock(&g_lock);
    *p = v;
    pthread_mutex_unlock(&g_lock);
}

struct int_wait {
    const int *p;
    int value;
};

static int int_reached(void *arg) {
    struct int_wait *w = (struct int_wait *)arg;
    return get_int(w->p) >= w->value;
}

/* Wait (bounded) until *p >= value. */
static int wait_int(const int *p, int value) {
    struct int_wait w;
    w.p = p;
    w.value = value;
    return yt_wait_until(int_reached, &w, YT_WAIT);
}

/* The user data of a handler: what it saw, and how often it was released. */
struct hdata {
    const char *name;    /* e.g. the replier's name, returned by some handlers */
    int calls;           /* handler calls */
    int freed;           /* free_user_data calls */
    int args_kind;       /* kinds seen in the last call */
    int kwargs_kind;
    size_t args_len;
    size_t kwargs_len;
    pthread_t thread;    /* the thread of the last call */
    int open;            /* gate handlers: wait until this is set */
    int active;          /* concurrency tracking */
    int max_active;
    double sleep;        /* slow handlers: seconds to sleep */
    int rc[8];           /* results of calls made inside the handler */
};

static void hdata_init(struct hdata *h, const char *name) {
    memset(h, 0, sizeof *h);
    h->name = name;
}

static void hdata_free(void *ud) {
    add_int(&((struct hdata *)ud)->freed, 1);
}

/* Record what every handler sees. */
static struct hdata *hd_enter(void *ud, const yoton_value *args, const yoton_value *kwargs) {
    struct hdata *h = (struct hdata *)ud;
    int ak = -1, kk = -1;
    size_t al = 99, kl = 99;
    yoton_value_get_kind(args, &ak);
    yoton_value_get_kind(kwargs, &kk);
    yoton_value_len(args, &al);
    yoton_value_len(kwargs, &kl);
    pthread_mutex_lock(&g_lock);
    h->calls++;
    h->args_kind = ak;
    h->kwargs_kind = kk;
    h->args_len = al;
    h->kwargs_len = kl;
    h->thread = pthread_self();
    pthread_mutex_unlock(&g_lock);
    return h;
}

/* --- value helpers ---------------------------------------------------------------------- */

static yoton_value *v_str(const char *s) {
    yoton_value *v = NULL;
    CHECK_OK(yoton_value_new_string(s, &v));
    return v;
}

/* Append `item` to `c` and free `item`; returns `c`. */
static yoton_value *v_push(yoton_value *c, yoton_value *item) {
    CHECK_OK(yoton_value_append(c, item));
    yoton_value_free(item);
    return c;
}

/* d[key] = item, freeing key and item; returns d. */
static yoton_value *v_set(yoton_value *d, yoton_value *key, yoton_value *item) {
    CHECK_OK(yoton_value_dict_set(d, key, item));
    yoton_value_free(key);
    yoton_value_free(item);
    return d;
}

static yoton_value *v_tuple1(yoton_value *a) {
    return v_push(yoton_value_new_tuple(), a);
}

static yoton_value *v_tuple2(yoton_value *a, yoton_value *b) {
    return v_push(v_push(yoton_value_new_tuple(), a), b);
}

static const char *v_repr(const yoton_value *v, char *buf, size_t cap) {
    buf[0] = '\0';
    if (v != NULL) {
        yoton_value_repr(v, buf, cap, NULL);
    }
    return buf;
}

/* Python hex(): "0x" and lowercase digits without zero padding. */
static const char *py_hex(uint64_t id, char *buf, size_t cap) {
    snprintf(buf, cap, "0x%llx", (unsigned long long)id);
    return buf;
}

/* --- future helpers --------------------------------------------------------------------- */

/* Call, freeing args and kwargs (either may be NULL). NULL future after a counted failure. */
static yoton_future *call_take(const yoton_channel *req, const char *method, yoton_value *args,
                               yoton_value *kwargs) {
    yoton_future *f = NULL;
    CHECK_OK(yoton_req_call(req, method, args, kwargs, &f));
    yoton_value_free(args);
    yoton_value_free(kwargs);
    return f;
}

static int status_of(const yoton_future *f) {
    int s = -1;
    CHECK_OK(yoton_future_get_status(f, &s));
    return s;
}

static int flag_of(int (*getter)(const yoton_future *, bool *), const yoton_future *f) {
    bool b = false;
    if (!CHECK_OK(getter(f, &b))) {
        return -1;
    }
    return b ? 1 : 0;
}

struct status_wait {
    const yoton_future *f;
    int status;
};

static int future_has_status(void *arg) {
    struct status_wait *w = (struct status_wait *)arg;
    int s = -1;
    return yoton_future_get_status(w->f, &s) == YOTON_OK && s == w->status;
}

static int wait_future_status(const yoton_future *f, int status) {
    struct status_wait w;
    w.f = f;
    w.status = status;
    return yt_wait_until(future_has_status, &w, YT_WAIT);
}

/* The result's repr must be `text`; frees the future. */
static void expect_result_repr(yoton_future *f, const char *text, const char *file, int line) {
    yoton_value *v = NULL;
    char buf[512];
    int rc = yoton_future_result(f, YT_WAIT, &v);
    if (yt_check_rc(rc, YOTON_OK, "yoton_future_result(f, YT_WAIT, &v)", file, line)) {
        yt_check_streq(v_repr(v, buf, sizeof buf), text, "repr(result)", text, file, line);
    }
    yoton_value_free(v);
    yoton_future_free(f);
}
#define CHECK_RESULT_REPR(f, text) expect_result_repr((f), (text), __FILE__, __LINE__)

/* The request must fail with YOTON_ERR_REMOTE and exactly `text` (result, last error,
 * exception, status); frees the future. */
static void expect_remote(yoton_future *f, const char *text, const char *file, int line) {
    yoton_value *v = NULL;
    char buf[512];
    size_t len = 0;
    int rc = yoton_future_result(f, YT_WAIT, &v);
    yt_check_rc(rc, YOTON_ERR_REMOTE, "yoton_future_result(f) is REMOTE", file, line);
    yt_check(v == NULL, "v == NULL (out not written)", file, line);
    /* The last error is exactly the replier's text (yoton_strerror says "remote error"). */
    yt_check_streq(yoton_last_error(), text, "yoton_last_error()", "text", file, line);
    buf[0] = '\0';
    rc = yoton_future_exception(f, 0.0, buf, sizeof buf, &len);
    yt_check_rc(rc, YOTON_OK, "yoton_future_exception", file, line);
    yt_check_streq(buf, text, "exception text", "text", file, line);
    yt_check_eq_ll((long long)len, (long long)strlen(text), "len", "strlen(text)", file, line);
    yt_check_eq_ll(status_of(f), YOTON_FUTURE_ERROR, "status", "YOTON_FUTURE_ERROR", file, line);
    yoton_value_free(v);
    yoton_future_free(f);
}
#define CHECK_REMOTE(f, text) expect_remote((f), (text), __FILE__, __LINE__)

/* --- a replier and a requester in two linked contexts ----------------------------------- */

struct pair {
    yoton_context *a; /* replier side (hosts) */
    yoton_context *b; /* requester side (connects) */
    yoton_connection *ha;
    yoton_connection *cb;
    yoton_channel *rep;
    yoton_channel *req;
};

static void pair_open(struct pair *p, const char *base) {
    memset(p, 0, sizeof *p);
    p->a = yt_context();
    p->b = yt_context();
    CHECK(yt_link(p->a, p->b, &p->ha, &p->cb));
    CHECK_OK(yoton_rep_new(p->a, base, &p->rep));
    CHECK_OK(yoton_req_new(p->b, base, &p->req));
}

static void pair_close(struct pair *p) {
    yoton_channel_free(p->rep);
    yoton_channel_free(p->req);
    yoton_connection_free(p->ha);
    yoton_connection_free(p->cb);
    yoton_context_free(p->a);
    yoton_context_free(p->b);
}

/* --- handlers --------------------------------------------------------------------------- */

/* add(a, b, scale=1) -> (a + b) * scale */
static void h_add(void *ud, const yoton_value *args, const yoton_value *kwargs,
                  yoton_reply *reply) {
    const yoton_value *x = NULL;
    const yoton_value *y = NULL;
    const yoton_value *s = NULL;
    int64_t a = 0, b = 0, scale = 1;
    yoton_value *r;
    hd_enter(ud, args, kwargs);
    if (yoton_value_item(args, 0, &x) != YOTON_OK || yoton_value_item(args, 1, &y) != YOTON_OK ||
        yoton_value_get_int(x, &a) != YOTON_OK || yoton_value_get_int(y, &b) != YOTON_OK) {
        yoton_reply_set_error(reply, "add needs two ints");
        return;
    }
    if (yoton_value_dict_get(kwargs, "scale", &s) == YOTON_OK) {
        yoton_value_get_int(s, &scale);
    }
    r = yoton_value_new_int((a + b) * scale);
    yoton_reply_set_result(reply, r);
    yoton_value_free(r);
}

/* Another add, to replace the first one. */
static void h_sub(void *ud, const yoton_value *args, const yoton_value *kwargs,
                  yoton_reply *reply) {
    const yoton_value *x = NULL;
    const yoton_value *y = NULL;
    int64_t a = 0, b = 0;
    yoton_value *r;
    hd_enter(ud, args, kwargs);
    yoton_value_item(args, 0, &x);
    yoton_value_item(args, 1, &y);
    yoton_value_get_int(x, &a);
    yoton_value_get_int(y, &b);
    r = yoton_value_new_int(a - b);
    yoton_reply_set_result(reply, r);
    yoton_value_free(r);
}

/* ret(x) -> x; ret() -> None (no reply set) */
static void h_ret(void *ud, const yoton_value *args, const yoton_value *kwargs,
                  yoton_reply *reply) {
    const yoton_value *x = NULL;
    hd_enter(ud, args, kwargs);
    if (yoton_value_item(args, 0, &x) == YOTON_OK) {
        yoton_reply_set_result(reply, x);
    }
}

/* kw(**kwargs) -> (args, kwargs) */
static void h_kw(void *ud, const yoton_value *args, const yoton_value *kwargs,
                 yoton_reply *reply) {
    yoton_value *t = yoton_value_new_tuple();
    hd_enter(ud, args, kwargs);
    yoton_value_append(t, args);
    yoton_value_append(t, kwargs);
    yoton_reply_set_result(reply, t);
    yoton_value_free(t);
}

/* fail() -> error with the text in hdata.name */
static void h_fail(void *ud, const yoton_value *args, const yoton_value *kwargs,
                   yoton_reply *reply) {
    struct hdata *h = hd_enter(ud, args, kwargs);
    yoton_reply_set_error(reply, h->name);
}

/* twice(): a result, then an error: the last answer counts */
static void h_twice(void *ud, const yoton_value *args, const yoton_value *kwargs,
                    yoton_reply *reply) {
    yoton_value *one = yoton_value_new_int(1);
    hd_enter(ud, args, kwargs);
    yoton_reply_set_result(reply, one);
    yoton_reply_set_error(reply, "second answer");
    yoton_value_free(one);
}

/* whoami() -> hdata.name (a replier's name) after sleeping hdata.sleep seconds */
static void h_whoami(void *ud, const yoton_value *args, const yoton_value *kwargs,
                     yoton_reply *reply) {
    struct hdata *h = hd_enter(ud, args, kwargs);
    yoton_value *name = NULL;
    yt_sleep(h->sleep);
    if (yoton_value_new_string(h->name, &name) == YOTON_OK) {
        yoton_reply_set_result(reply, name);
    }
    yoton_value_free(name);
}

/* gate() -> 1 once hdata.open is set (waits at most 10 s) */
static void h_gate(void *ud, const yoton_value *args, const yoton_value *kwargs,
                   yoton_reply *reply) {
    struct hdata *h = hd_enter(ud, args, kwargs);
    yoton_value *one = yoton_value_new_int(1);
    double deadline = yt_now() + YT_WAIT;
    while (!get_int(&h->open) && yt_now() < deadline) {
        yt_sleep(0.002);
    }
    yoton_reply_set_result(reply, one);
    yoton_value_free(one);
}

/* slow(): tracks how many calls run at once */
static void h_slow(void *ud, const yoton_value *args, const yoton_value *kwargs,
                   yoton_reply *reply) {
    struct hdata *h = hd_enter(ud, args, kwargs);
    (void)reply;
    pthread_mutex_lock(&g_lock);
    h->active++;
    if (h->active > h->max_active) {
        h->max_active = h->active;
    }
    pthread_mutex_unlock(&g_lock);
    yt_sleep(h->sleep);
    add_int(&h->active, -1);
}

/* badreply(): bad calls on the reply, recorded in hdata.rc; then a valid result */
static void h_badreply(void *ud, const yoton_value *args, const yoton_value *kwargs,
                       yoton_reply *reply) {
    struct hdata *h = hd_enter(ud, args, kwargs);
    yoton_value *ok = v_str("ok");
    int rc0 = yoton_reply_set_result(NULL, ok);
    int rc1 = yoton_reply_set_result(reply, NULL);
    int rc2 = yoton_reply_set_error(NULL, "x");
    int rc3 = yoton_reply_set_error(reply, NULL);
    int rc4 = yoton_reply_set_error(reply, "bad" "\xff" "utf8");
    int rc5 = yoton_reply_set_result(reply, ok);
    pthread_mutex_lock(&g_lock);
    h->rc[0] = rc0;
    h->rc[1] = rc1;
    h->rc[2] = rc2;
    h->rc[3] = rc3;
    h->rc[4] = rc4;
    h->rc[5] = rc5;
    pthread_mutex_unlock(&g_lock);
    yoton_value_free(ok);
}

static int reg(const yoton_channel *rep, const char *method, yoton_rep_handler fn,
               struct hdata *h) {
    return yoton_rep_register(rep, method, fn, h, hdata_free);
}

/* --- tests: calls, values, errors ------------------------------------------------------- */

static void test_calls_and_values(void) {
    struct pair p;
    struct hdata hadd, hret, hkw, hfail, htwice;
    yoton_future *f;
    yoton_value *v;
    char buf[512];

    YT_SECTION("handlers: args, kwargs, user data, results of every kind, errors");
    pair_open(&p, "svc");
    hdata_init(&hadd, "add");
    hdata_init(&hret, "ret");
    hdata_init(&hkw, "kw");
    hdata_init(&hfail, "bad thing: \xc3\xbc\nline two");
    hdata_init(&htwice, "twice");
    CHECK_OK(reg(p.rep, "add", h_add, &hadd));
    CHECK_OK(reg(p.rep, "ret", h_ret, &hret));
    CHECK_OK(reg(p.rep, "kw", h_kw, &hkw));
    CHECK_OK(reg(p.rep, "fail", h_fail, &hfail));
    CHECK_OK(reg(p.rep, "twice", h_twice, &htwice));
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));

    /* add(3, 4): args arrive as a tuple, kwargs as an (empty) dict. */
    f = call_take(p.req, "add", v_tuple2(yoton_value_new_int(3), yoton_value_new_int(4)), NULL);
    CHECK_RESULT_REPR(f, "7");
    CHECK_EQ_INT(get_int(&hadd.calls), 1);
    CHECK_EQ_INT(hadd.args_kind, YOTON_VALUE_TUPLE);
    CHECK_EQ_INT(hadd.kwargs_kind, YOTON_VALUE_DICT);
    CHECK_EQ_INT(hadd.args_len, 2);
    CHECK_EQ_INT(hadd.kwargs_len, 0);
    /* args given as a list still arrive as a tuple; kwargs reach the handler. */
    f = call_take(p.req, "add",
                  v_push(v_push(yoton_value_new_list(), yoton_value_new_int(5)),
                         yoton_value_new_int(6)),
                  v_set(yoton_value_new_dict(), v_str("scale"), yoton_value_new_int(10)));
    CHECK_RESULT_REPR(f, "110");
    CHECK_EQ_INT(hadd.args_kind, YOTON_VALUE_TUPLE);
    CHECK_EQ_INT(hadd.kwargs_len, 1);
    /* The handler's own error. */
    f = call_take(p.req, "add", v_tuple1(v_str("x")), NULL);
    CHECK_REMOTE(f, "add needs two ints");

    /* kw: NULL args and kwargs are an empty tuple and an empty dict; kwargs round-trip. */
    f = call_take(p.req, "kw", NULL, NULL);
    CHECK_RESULT_REPR(f, "((), {})");
    f = call_take(p.req, "kw", v_tuple1(yoton_value_new_none()),
                  v_set(v_set(yoton_value_new_dict(), v_str("b"),
                              v_push(yoton_value_new_list(), yoton_value_new_float(1.5))),
                        v_str("a"), yoton_value_new_bool(true)));
    CHECK_RESULT_REPR(f, "((None,), {'b': [1.5], 'a': True})");

    /* Results of every kind come back equal. */
    {
        yoton_value *vals[20];
        int n = 0, i;
        char big[20001];
        memset(big, 'z', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        vals[n++] = yoton_value_new_none();
        vals[n++] = yoton_value_new_bool(true);
        vals[n++] = yoton_value_new_bool(false);
        vals[n++] = yoton_value_new_int(0);
        vals[n++] = yoton_value_new_int(INT64_MIN);
        vals[n++] = yoton_value_new_int(INT64_MAX);
        vals[n++] = yoton_value_new_float(-2.75);
        vals[n++] = yoton_value_new_float(1e300);
        vals[n++] = yoton_value_new_float(-INFINITY);
        vals[n++] = v_str("");
        vals[n++] = v_str("h\xc3\xa9llo \xf0\x9f\x98\x80");
        vals[n] = NULL;
        CHECK_OK(yoton_value_new_string_len("a\0b", 3, &vals[n]));
        n++;
        vals[n++] = v_str(big);
        vals[n++] = yoton_value_new_list();
        vals[n++] = yoton_value_new_tuple();
        vals[n++] = yoton_value_new_dict();
        vals[n++] = v_push(v_push(yoton_value_new_list(), v_tuple1(yoton_value_new_int(1))),
                           v_push(yoton_value_new_list(), yoton_value_new_none()));
        vals[n++] = v_set(v_set(v_set(yoton_value_new_dict(), yoton_value_new_int(1), v_str("one")),
                                v_tuple2(yoton_value_new_int(2), v_str("t")),
                                v_push(yoton_value_new_list(), yoton_value_new_dict())),
                          v_str("k"), yoton_value_new_float(0.5));
        {
            yoton_value *l = yoton_value_new_list();
            for (i = 0; i < 1000; i++) {
                v_push(l, yoton_value_new_int(i * 1000003));
            }
            vals[n++] = l;
        }
        for (i = 0; i < n; i++) {
            bool equal = false;
            v = NULL;
            yoton_value *args = yoton_value_new_tuple();
            CHECK_OK(yoton_value_append(args, vals[i])); /* a copy: vals[i] stays ours */
            f = call_take(p.req, "ret", args, NULL);
            if (CHECK_OK(yoton_future_result(f, YT_WAIT, &v))) {
                CHECK_OK(yoton_value_equal(v, vals[i], &equal));
                if (!CHECK(equal)) {
                    fprintf(stderr, "    value %d came back as %s\n", i, v_repr(v, buf, sizeof buf));
                }
            }
            yoton_value_free(v);
            yoton_future_free(f);
        }
        for (i = 0; i < n; i++) {
            yoton_value_free(vals[i]);
        }
        /* NaN: not equal to itself, so check the kind and the number. */
        f = call_take(p.req, "ret", v_tuple1(yoton_value_new_float(NAN)), NULL);
        v = NULL;
        if (CHECK_OK(yoton_future_result(f, YT_WAIT, &v))) {
            double d = 0.0;
            int kind = -1;
            CHECK_OK(yoton_value_get_kind(v, &kind));
            CHECK_EQ_INT(kind, YOTON_VALUE_FLOAT);
            CHECK_OK(yoton_value_get_float(v, &d));
            CHECK(d != d);
        }
        yoton_value_free(v);
        yoton_future_free(f);
        /* No answer set: None. */
        f = call_take(p.req, "ret", NULL, NULL);
        CHECK_RESULT_REPR(f, "None");
    }

    /* Error replies: the exact text reaches the requester. */
    f = call_take(p.req, "fail", NULL, NULL);
    CHECK_REMOTE(f, "bad thing: \xc3\xbc\nline two");
    /* The exception text with a small buffer: TOO_LARGE and the needed length. */
    f = call_take(p.req, "fail", NULL, NULL);
    {
        char small[4];
        size_t len = 0;
        CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_REMOTE);
        CHECK_RC(yoton_future_exception(f, 0.0, small, sizeof small, &len), YOTON_ERR_TOO_LARGE);
        CHECK_EQ_INT(len, strlen(hfail.name));
        len = 0;
        CHECK_RC(yoton_future_exception(f, 0.0, NULL, 0, &len), YOTON_ERR_TOO_LARGE);
        CHECK_EQ_INT(len, strlen(hfail.name));
        CHECK_OK(yoton_future_exception(f, 0.0, buf, sizeof buf, NULL));
        CHECK_STREQ(buf, hfail.name);
        CHECK_EQ_INT(flag_of(yoton_future_is_done, f), 1);
        CHECK_EQ_INT(flag_of(yoton_future_is_running, f), 0);
        CHECK_EQ_INT(flag_of(yoton_future_is_cancelled, f), 0);
    }
    yoton_future_free(f);
    /* The last answer given counts (result then error: error). */
    f = call_take(p.req, "twice", NULL, NULL);
    CHECK_REMOTE(f, "second answer");
    /* The exception of a successful request: INVALID_ARGUMENT. */
    f = call_take(p.req, "add", v_tuple2(yoton_value_new_int(1), yoton_value_new_int(1)), NULL);
    CHECK(wait_future_status(f, YOTON_FUTURE_SUCCESS));
    CHECK_RC(yoton_future_exception(f, 1.0, buf, sizeof buf, NULL), YOTON_ERR_INVALID_ARGUMENT);
    yoton_future_free(f);

    /* Unknown methods (never registered, or "" ). */
    f = call_take(p.req, "x", NULL, NULL);
    CHECK_REMOTE(f, "Method 'x' not implemented.");
    f = call_take(p.req, "", NULL, NULL);
    CHECK_REMOTE(f, "Method '' not implemented.");

    /* The user data was handed to the handlers and nothing was released yet. */
    CHECK_EQ_INT(get_int(&hret.calls), 21);
    CHECK_EQ_INT(get_int(&hadd.freed) + get_int(&hret.freed) + get_int(&hkw.freed) +
                     get_int(&hfail.freed) + get_int(&htwice.freed),
                 0);

    /* Freeing the channel releases every registration's user data exactly once. */
    yoton_channel_free(p.rep);
    p.rep = NULL;
    CHECK(wait_int(&hadd.freed, 1));
    CHECK(wait_int(&hret.freed, 1));
    CHECK(wait_int(&hkw.freed, 1));
    CHECK(wait_int(&hfail.freed, 1));
    CHECK(wait_int(&htwice.freed, 1));
    yt_sleep(0.05);
    CHECK_EQ_INT(get_int(&hadd.freed), 1);
    CHECK_EQ_INT(get_int(&hret.freed), 1);
    CHECK_EQ_INT(get_int(&htwice.freed), 1);
    pair_close(&p);
    CHECK_EQ_INT(get_int(&hadd.freed), 1);
    CHECK_EQ_INT(get_int(&hkw.freed), 1);
    CHECK_EQ_INT(get_int(&hfail.freed), 1);
}

static void test_registration_and_echo(void) {
    struct pair p;
    struct hdata h1, h2, h3, hecho;
    yoton_future *f;
    char hex[32], expected[128];

    YT_SECTION("register, replace, unregister (user data released once); built-in echo");
    pair_open(&p, "reg");
    hdata_init(&h1, "first");
    hdata_init(&h2, "second");
    hdata_init(&h3, "third");
    hdata_init(&hecho, "my echo");
    py_hex(yt_ctx_id(p.a), hex, sizeof hex);
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));

    CHECK_OK(reg(p.rep, "op", h_add, &h1));
    f = call_take(p.req, "op", v_tuple2(yoton_value_new_int(5), yoton_value_new_int(3)), NULL);
    CHECK_RESULT_REPR(f, "8");
    /* Replacing: the old user data is released at once, exactly once. */
    CHECK_OK(reg(p.rep, "op", h_sub, &h2));
    CHECK_EQ_INT(get_int(&h1.freed), 1);
    CHECK_EQ_INT(get_int(&h2.freed), 0);
    f = call_take(p.req, "op", v_tuple2(yoton_value_new_int(5), yoton_value_new_int(3)), NULL);
    CHECK_RESULT_REPR(f, "2");
    CHECK_EQ_INT(get_int(&h1.calls), 1);
    CHECK_EQ_INT(get_int(&h2.calls), 1);
    /* Re-registering the same user data under the same name: the old binding ends (once). */
    CHECK_OK(reg(p.rep, "op", h_sub, &h2));
    CHECK_EQ_INT(get_int(&h2.freed), 1);
    /* Unregistering releases it; the method is then unknown. */
    CHECK_OK(yoton_rep_unregister(p.rep, "op"));
    CHECK_EQ_INT(get_int(&h2.freed), 2);
    CHECK_RC(yoton_rep_unregister(p.rep, "op"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&h2.freed), 2);
    f = call_take(p.req, "op", v_tuple2(yoton_value_new_int(5), yoton_value_new_int(3)), NULL);
    CHECK_REMOTE(f, "Method 'op' not implemented.");
    CHECK_EQ_INT(get_int(&h1.freed), 1);
    /* NULL free_user_data is allowed. */
    CHECK_OK(yoton_rep_register(p.rep, "plain", h_ret, &h3, NULL));
    f = call_take(p.req, "plain", v_tuple1(yoton_value_new_int(9)), NULL);
    CHECK_RESULT_REPR(f, "9");
    CHECK_OK(yoton_rep_unregister(p.rep, "plain"));
    CHECK_EQ_INT(get_int(&h3.freed), 0);

    /* Built-in echo: (arg, hex(replier context id)) in Python hex() form. */
    f = call_take(p.req, "echo", v_tuple1(v_str("hi")), NULL);
    snprintf(expected, sizeof expected, "('hi', '%s')", hex);
    CHECK_RESULT_REPR(f, expected);
    {
        /* The id string itself, item by item. */
        yoton_value *v = NULL;
        const yoton_value *item = NULL;
        char idtext[64];
        f = call_take(p.req, "echo", v_tuple1(yoton_value_new_int(42)),
                      v_set(yoton_value_new_dict(), v_str("sleep"), yoton_value_new_float(0.01)));
        if (CHECK_OK(yoton_future_result(f, YT_WAIT, &v))) {
            size_t n = 0;
            int kind = -1;
            CHECK_OK(yoton_value_get_kind(v, &kind));
            CHECK_EQ_INT(kind, YOTON_VALUE_TUPLE);
            CHECK_OK(yoton_value_len(v, &n));
            CHECK_EQ_INT(n, 2);
            CHECK_OK(yoton_value_item(v, 1, &item));
            CHECK_OK(yoton_value_copy_string(item, idtext, sizeof idtext, NULL));
            CHECK_STREQ(idtext, hex);
            CHECK(strncmp(idtext, "0x", 2) == 0);
            CHECK(idtext[2] != '0'); /* no zero padding */
            CHECK_EQ_U64(strtoull(idtext + 2, NULL, 16), yt_ctx_id(p.a));
        }
        yoton_value_free(v);
        yoton_future_free(f);
    }
    /* echo() without args: (None, hex); echo with the sleep as second positional arg. */
    f = call_take(p.req, "echo", NULL, NULL);
    snprintf(expected, sizeof expected, "(None, '%s')", hex);
    CHECK_RESULT_REPR(f, expected);
    f = call_take(p.req, "echo", v_tuple2(v_str("s"), yoton_value_new_int(0)), NULL);
    snprintf(expected, sizeof expected, "('s', '%s')", hex);
    CHECK_RESULT_REPR(f, expected);
    /* A bad sleep is the handler's error. */
    f = call_take(p.req, "echo", v_tuple2(v_str("s"), v_str("long")), NULL);
    CHECK_RC(yoton_future_result(f, YT_WAIT, NULL), YOTON_ERR_INVALID_ARGUMENT);
    {
        yoton_value *v = NULL;
        CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_REMOTE);
        CHECK(strstr(yoton_last_error(), "sleep") != NULL);
    }
    yoton_future_free(f);
    /* A registered "echo" replaces the built-in; unregistering restores it. */
    CHECK_OK(reg(p.rep, "echo", h_whoami, &hecho));
    f = call_take(p.req, "echo", v_tuple1(v_str("hi")), NULL);
    CHECK_RESULT_REPR(f, "'my echo'");
    CHECK_OK(yoton_rep_unregister(p.rep, "echo"));
    CHECK_EQ_INT(get_int(&hecho.freed), 1);
    f = call_take(p.req, "echo", v_tuple1(v_str("hi")), NULL);
    snprintf(expected, sizeof expected, "('hi', '%s')", hex);
    CHECK_RESULT_REPR(f, expected);

    /* Freeing the context first, then the channel: released once, at the channel's free. */
    CHECK_OK(reg(p.rep, "late", h_ret, &h3));
    yoton_context_free(p.a);
    p.a = NULL;
    CHECK_EQ_INT(get_int(&h3.freed), 0);
    yoton_channel_free(p.rep);
    p.rep = NULL;
    CHECK(wait_int(&h3.freed, 1));
    pair_close(&p);
    yt_sleep(0.05);
    CHECK_EQ_INT(get_int(&h1.freed), 1);
    CHECK_EQ_INT(get_int(&h2.freed), 2);
    CHECK_EQ_INT(get_int(&h3.freed), 1);
    CHECK_EQ_INT(get_int(&hecho.freed), 1);
}

/* --- modes ------------------------------------------------------------------------------ */

struct pump_wait {
    const yoton_future *f;
    size_t events;
};

static int done_or_pump(void *arg) {
    struct pump_wait *w = (struct pump_wait *)arg;
    bool done = false;
    size_t n = 0;
    if (yoton_future_is_done(w->f, &done) == YOTON_OK && done) {
        return 1;
    }
    yoton_process_events(0.01, &n);
    w->events += n;
    return 0;
}

/* Process events until the future is done (bounded). Returns the number of events run, or
 * 0 if the future did not finish. */
static size_t pump_until_done(const yoton_future *f) {
    struct pump_wait w;
    w.f = f;
    w.events = 0;
    if (!yt_wait_until(done_or_pump, &w, YT_WAIT)) {
        return 0;
    }
    return w.events == 0 ? 1 : w.events;
}

static void test_modes(void) {
    struct pair p;
    struct hdata h;
    yoton_future *f;
    size_t pending = 0, handled = 0;
    pthread_t main_thread = pthread_self();

    YT_SECTION("replier modes: off, event (only inside yoton_process_events), thread; "
               "handle_pending");
    pair_open(&p, "modes");
    hdata_init(&h, "mode");
    CHECK_OK(reg(p.rep, "whoami", h_whoami, &h));

    /* Off (the default): the pre-request waits in the queue, nothing is acknowledged. */
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK(yt_wait_pending(p.rep, 1, YT_WAIT));
    CHECK_RC(yoton_future_result(f, 0.3, NULL), YOTON_ERR_INVALID_ARGUMENT);
    {
        yoton_value *v = NULL;
        CHECK_RC(yoton_future_result(f, 0.3, &v), YOTON_ERR_TIMEOUT);
        CHECK(v == NULL);
    }
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_EQ_INT(get_int(&h.calls), 0);

    /* handle_pending (any mode, the calling thread): acknowledges; once the request came,
     * handles it. Loop (bounded) until the future is done. */
    {
        double deadline = yt_now() + YT_WAIT;
        size_t total = 0;
        bool done = false;
        CHECK_OK(yoton_rep_handle_pending(p.rep, &handled));
        CHECK(handled >= 1);
        total += handled;
        while (yoton_future_is_done(f, &done) == YOTON_OK && !done && yt_now() < deadline) {
            CHECK_OK(yoton_rep_handle_pending(p.rep, NULL));
            yt_sleep(0.002);
        }
        CHECK(done);
    }
    CHECK_RESULT_REPR(f, "'mode'");
    CHECK_EQ_INT(get_int(&h.calls), 1);
    CHECK(pthread_equal(h.thread, main_thread));
    /* At most the requester's late req- is left. */
    CHECK_OK(yoton_rep_handle_pending(p.rep, &handled));
    CHECK(handled <= 1);

    /* Event mode: nothing happens until events are processed (then on this thread). */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_EVENT));
    {
        int mode = -1;
        CHECK_OK(yoton_rep_get_mode(p.rep, &mode));
        CHECK_EQ_INT(mode, YOTON_REP_EVENT);
        CHECK_RC(yoton_rep_set_mode(p.rep, 7), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_OK(yoton_rep_get_mode(p.rep, &mode));
        CHECK_EQ_INT(mode, YOTON_REP_EVENT); /* unchanged by a refused mode */
        CHECK_RC(yoton_rep_get_mode(p.rep, NULL), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_RC(yoton_rep_get_mode(p.req, &mode), YOTON_ERR_INVALID_ARGUMENT); /* not a replier */
    }
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK(yt_wait_pending(p.rep, 1, YT_WAIT));
    yt_sleep(0.3); /* the replier must not act on its own meanwhile */
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_EQ_INT(get_int(&h.calls), 1);
    CHECK_OK(yoton_channel_pending(p.rep, &pending));
    CHECK(pending >= 1);
    CHECK(pump_until_done(f) > 0);
    CHECK_RESULT_REPR(f, "'mode'");
    CHECK_EQ_INT(get_int(&h.calls), 2);
    CHECK(pthread_equal(h.thread, main_thread));

    /* Thread mode: handled without any help, on another thread. */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK_RESULT_REPR(f, "'mode'");
    CHECK_EQ_INT(get_int(&h.calls), 3);
    CHECK(!pthread_equal(h.thread, main_thread));

    /* Off again: requests wait; thread mode can be started again afterwards. */
    {
        int mode = -1;
        CHECK_OK(yoton_rep_get_mode(p.rep, &mode));
        CHECK_EQ_INT(mode, YOTON_REP_THREAD);
    }
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_OFF));
    yt_sleep(0.05);
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK_RC(yoton_future_result(f, 0.3, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(yt_wait_pending(p.rep, 1, YT_WAIT));
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    CHECK_RESULT_REPR(f, "'mode'");
    CHECK_EQ_INT(get_int(&h.calls), 4);

    /* Event mode picks up a backlog that queued while off. */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_OFF));
    yt_sleep(0.05);
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK(yt_wait_pending(p.rep, 1, YT_WAIT));
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_EVENT));
    CHECK(pump_until_done(f) > 0);
    CHECK_RESULT_REPR(f, "'mode'");
    CHECK_EQ_INT(get_int(&h.calls), 5);

    /* Invalid modes. */
    CHECK_RC(yoton_rep_set_mode(p.rep, 3), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_set_mode(p.rep, -1), YOTON_ERR_INVALID_ARGUMENT);
    pair_close(&p);
    CHECK(wait_int(&h.freed, 1));
}

/* --- one request at a time, load balancing ---------------------------------------------- */

struct caller_job {
    const yoton_channel *req;
    int n;
    int ok;
};

static void *caller_thread(void *arg) {
    struct caller_job *job = (struct caller_job *)arg;
    yoton_future *fs[8];
    int i;
    for (i = 0; i < job->n; i++) {
        fs[i] = NULL;
        yoton_req_call(job->req, "slow", NULL, NULL, &fs[i]);
    }
    for (i = 0; i < job->n; i++) {
        yoton_value *v = NULL;
        if (fs[i] != NULL && yoton_future_result(fs[i], YT_WAIT, &v) == YOTON_OK) {
            job->ok++;
        }
        yoton_value_free(v);
        yoton_future_free(fs[i]);
    }
    return NULL;
}

struct pending_job {
    const yoton_channel *rep;
    int *stop;
    int handled;
};

static void *handle_pending_thread(void *arg) {
    struct pending_job *job = (struct pending_job *)arg;
    while (!get_int(job->stop)) {
        size_t n = 0;
        if (yoton_rep_handle_pending(job->rep, &n) == YOTON_OK) {
            job->handled += (int)n;
        }
        yt_sleep(0.001);
    }
    return NULL;
}

static void test_one_at_a_time(void) {
    yoton_context *a = yt_context();
    yoton_context *b = yt_context();
    yoton_context *c = yt_context();
    yoton_channel *rep = NULL, *rb = NULL, *rc = NULL;
    struct hdata h;
    struct caller_job jb, jc;
    struct pending_job jp;
    pthread_t tb, tc, tp;
    int stop = 0;

    YT_SECTION("a replier handles one request at a time (two requesters, thread mode and "
               "handle_pending at once)");
    hdata_init(&h, "slow");
    h.sleep = 0.02;
    CHECK(yt_link(a, b, NULL, NULL));
    CHECK(yt_link(a, c, NULL, NULL));
    CHECK_OK(yoton_rep_new(a, "one", &rep));
    CHECK_OK(yoton_req_new(b, "one", &rb));
    CHECK_OK(yoton_req_new(c, "one", &rc));
    CHECK_OK(reg(rep, "slow", h_slow, &h));
    CHECK_OK(yoton_rep_set_mode(rep, YOTON_REP_THREAD));
    jb.req = rb;
    jb.n = 5;
    jb.ok = 0;
    jc.req = rc;
    jc.n = 5;
    jc.ok = 0;
    jp.rep = rep;
    jp.stop = &stop;
    jp.handled = 0;
    CHECK(pthread_create(&tp, NULL, handle_pending_thread, &jp) == 0);
    CHECK(pthread_create(&tb, NULL, caller_thread, &jb) == 0);
    CHECK(pthread_create(&tc, NULL, caller_thread, &jc) == 0);
    CHECK(pthread_join(tb, NULL) == 0);
    CHECK(pthread_join(tc, NULL) == 0);
    set_int(&stop, 1);
    CHECK(pthread_join(tp, NULL) == 0);
    CHECK_EQ_INT(jb.ok, 5);
    CHECK_EQ_INT(jc.ok, 5);
    CHECK_EQ_INT(get_int(&h.calls), 10);
    CHECK_EQ_INT(get_int(&h.max_active), 1);
    yoton_channel_free(rep);
    yoton_channel_free(rb);
    yoton_channel_free(rc);
    yoton_context_free(a);
    yoton_context_free(b);
    yoton_context_free(c);
    CHECK(wait_int(&h.freed, 1));
}

static void test_load_balancing(void) {
    yoton_context *q = yt_context();
    yoton_context *r[2];
    yoton_channel *rep[2];
    yoton_channel *req = NULL;
    struct hdata h[2];
    yoton_future *fs[4];
    int by[2] = {0, 0};
    int i, k;

    YT_SECTION("two repliers: 4 calls to a sleeping handler spread over both");
    hdata_init(&h[0], "r1");
    hdata_init(&h[1], "r2");
    for (k = 0; k < 2; k++) {
        r[k] = yt_context();
        rep[k] = NULL;
        h[k].sleep = 0.3;
        CHECK(yt_link(q, r[k], NULL, NULL));
        CHECK_OK(yoton_rep_new(r[k], "work", &rep[k]));
        CHECK_OK(reg(rep[k], "whoami", h_whoami, &h[k]));
        CHECK_OK(yoton_rep_set_mode(rep[k], YOTON_REP_THREAD));
    }
    CHECK_OK(yoton_req_new(q, "work", &req));
    for (i = 0; i < 4; i++) {
        fs[i] = call_take(req, "whoami", NULL, NULL);
    }
    printf("   handled by:");
    for (i = 0; i < 4; i++) {
        yoton_value *v = NULL;
        char name[16] = "";
        if (CHECK_OK(yoton_future_result(fs[i], YT_WAIT, &v))) {
            CHECK_OK(yoton_value_copy_string(v, name, sizeof name, NULL));
        }
        printf(" %s", name);
        for (k = 0; k < 2; k++) {
            if (strcmp(name, h[k].name) == 0) {
                by[k]++;
            }
        }
        yoton_value_free(v);
        yoton_future_free(fs[i]);
    }
    printf("\n");
    CHECK_EQ_INT(by[0] + by[1], 4);
    CHECK(by[0] >= 1); /* a busy replier does not acknowledge: the free one gets the work */
    CHECK(by[1] >= 1);
    CHECK_EQ_INT(get_int(&h[0].calls) + get_int(&h[1].calls), 4);
    yoton_channel_free(req);
    for (k = 0; k < 2; k++) {
        yoton_channel_free(rep[k]);
        yoton_context_free(r[k]);
        CHECK(wait_int(&h[k].freed, 1));
    }
    yoton_context_free(q);
}

static void test_rpc_spin(void) {
    struct pair p;
    double spin = -1;
    int round;

    YT_SECTION("RPC spin: a context setting, calls work with it off and on");
    pair_open(&p, "spin");
    CHECK_OK(yoton_context_rpc_spin(p.b, &spin));
    CHECK(spin > 0 && spin <= 0.01); /* on by default */
    CHECK_RC(yoton_context_set_rpc_spin(p.b, -1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_context_set_rpc_spin(p.b, 0.5), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_context_set_rpc_spin(p.b, 0.0 / 0.0), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_context_set_rpc_spin(NULL, 0), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_context_rpc_spin(p.b, NULL), YOTON_ERR_INVALID_ARGUMENT);
    {
        /* The stall timeout (loss-free mode) is a context setting of the same kind. */
        double stall = -1;
        CHECK_OK(yoton_context_stall_timeout(p.a, &stall));
        CHECK(stall == 10.0);
        CHECK_RC(yoton_context_set_stall_timeout(p.a, 0.1), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_RC(yoton_context_set_stall_timeout(p.a, -1), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_RC(yoton_context_set_stall_timeout(p.a, 0.0 / 0.0), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_RC(yoton_context_stall_timeout(p.a, NULL), YOTON_ERR_INVALID_ARGUMENT);
        CHECK_OK(yoton_context_set_stall_timeout(p.a, 0));
        CHECK_OK(yoton_context_stall_timeout(p.a, &stall));
        CHECK(stall == 0.0);
        CHECK_OK(yoton_context_set_stall_timeout(p.a, 2.5));
        CHECK_OK(yoton_context_stall_timeout(p.a, &stall));
        CHECK(stall == 2.5);
    }
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    for (round = 0; round < 2; round++) {
        double want = round == 0 ? 0.0 : 0.001;
        int i;
        CHECK_OK(yoton_context_set_rpc_spin(p.a, want));
        CHECK_OK(yoton_context_set_rpc_spin(p.b, want));
        CHECK_OK(yoton_context_rpc_spin(p.b, &spin));
        CHECK(spin == want);
        for (i = 0; i < 20; i++) {
            yoton_value *args = yoton_value_new_tuple();
            yoton_value *item = yoton_value_new_int(i);
            yoton_value *v = NULL;
            yoton_future *f;
            CHECK_OK(yoton_value_append(args, item));
            yoton_value_free(item);
            f = call_take(p.req, "echo", args, NULL);
            CHECK_OK(yoton_future_result(f, YT_WAIT, &v));
            yoton_value_free(v);
            yoton_future_free(f);
        }
    }
    pair_close(&p);
}

/* --- futures ---------------------------------------------------------------------------- */

static void test_future_states(void) {
    struct pair p;
    struct hdata hg;
    yoton_future *f;
    yoton_value *v = NULL;
    bool out = false;
    char buf[64];

    YT_SECTION("futures: waiting -> running -> success; cancel, auto-cancel, timeouts, "
               "result_or_cancel, default timeout");
    pair_open(&p, "fut");
    hdata_init(&hg, "gate");
    CHECK_OK(reg(p.rep, "gate", h_gate, &hg));

    /* Waiting while no replier takes it. */
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_EQ_INT(flag_of(yoton_future_is_done, f), 0);
    CHECK_EQ_INT(flag_of(yoton_future_is_running, f), 0);
    CHECK_EQ_INT(flag_of(yoton_future_is_cancelled, f), 0);
    CHECK_RC(yoton_future_result(f, 0.0, &v), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_future_exception(f, 0.0, buf, sizeof buf, NULL), YOTON_ERR_TIMEOUT);
    /* Running once a replier took it (the handler blocks until we open the gate). */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    CHECK(wait_int(&hg.calls, 1));
    CHECK(wait_future_status(f, YOTON_FUTURE_RUNNING));
    CHECK_EQ_INT(flag_of(yoton_future_is_running, f), 1);
    CHECK_EQ_INT(flag_of(yoton_future_is_done, f), 0);
    /* A running request cannot be cancelled. */
    out = true;
    CHECK_OK(yoton_future_cancel(f, &out));
    CHECK(!out);
    CHECK_OK(yoton_future_cancel(f, NULL));
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_RUNNING);
    CHECK_RC(yoton_future_result(f, 0.0, &v), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_future_result(f, 0.2, &v), YOTON_ERR_TIMEOUT);
    /* result_or_cancel on a running request: no result in time, and it cannot be cancelled,
     * so it reports a timeout and the request goes on. */
    CHECK_RC(yoton_future_result_or_cancel(f, 0.1, &v), YOTON_ERR_TIMEOUT);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_RUNNING);
    CHECK_EQ_INT(flag_of(yoton_future_is_cancelled, f), 0);
    set_int(&hg.open, 1);
    CHECK_OK(yoton_future_result(f, YT_WAIT, &v));
    yoton_value_free(v);
    v = NULL;
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_SUCCESS);
    CHECK_EQ_INT(flag_of(yoton_future_is_done, f), 1);
    CHECK_EQ_INT(flag_of(yoton_future_is_running, f), 0);
    /* Cancel of a done future: true, and it stays a success. */
    out = false;
    CHECK_OK(yoton_future_cancel(f, &out));
    CHECK(out);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_SUCCESS);
    CHECK_EQ_INT(flag_of(yoton_future_is_cancelled, f), 0);
    /* The result can be read again (and with a zero timeout). */
    CHECK_OK(yoton_future_result(f, 0.0, &v));
    CHECK_OK(yoton_value_repr(v, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "1");
    yoton_value_free(v);
    v = NULL;
    /* result_or_cancel of a done future: the value. */
    CHECK_OK(yoton_future_result_or_cancel(f, 0.0, &v));
    yoton_value_free(v);
    v = NULL;
    yoton_future_free(f);

    /* From here the replier is off: nothing is ever taken. */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_OFF));
    yt_sleep(0.05);

    /* Cancel while waiting. */
    f = call_take(p.req, "gate", NULL, NULL);
    out = false;
    CHECK_OK(yoton_future_cancel(f, &out));
    CHECK(out);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_CANCELLED);
    CHECK_EQ_INT(flag_of(yoton_future_is_cancelled, f), 1);
    CHECK_EQ_INT(flag_of(yoton_future_is_done, f), 1);
    CHECK_RC(yoton_future_result(f, -1.0, &v), YOTON_ERR_CANCELLED);
    CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_CANCELLED);
    CHECK_RC(yoton_future_exception(f, -1.0, buf, sizeof buf, NULL), YOTON_ERR_CANCELLED);
    CHECK_RC(yoton_future_result_or_cancel(f, 1.0, &v), YOTON_ERR_CANCELLED);
    out = false;
    CHECK_OK(yoton_future_cancel(f, &out)); /* again: true */
    CHECK(out);
    CHECK(v == NULL);
    yoton_future_free(f);

    /* Auto-cancel: a short timeout, then a blocking result sees CANCELLED. */
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_OK(yoton_future_set_auto_cancel_timeout(f, 0.2));
    CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_CANCELLED);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_CANCELLED);
    yoton_future_free(f);
    /* Auto-cancel 0: cancelled at the next sweep. */
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_OK(yoton_future_set_auto_cancel_timeout(f, 0.0));
    CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_CANCELLED);
    yoton_future_free(f);

    /* Timeout 0 and a finite timeout, then cancel. */
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_RC(yoton_future_result(f, 0.0, &v), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_future_result(f, 0.25, &v), YOTON_ERR_TIMEOUT);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_OK(yoton_future_cancel(f, &out));
    CHECK(out);
    CHECK_RC(yoton_future_result(f, 0.0, &v), YOTON_ERR_CANCELLED);
    yoton_future_free(f);

    /* result_or_cancel: no replier within the timeout -> cancelled. */
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_RC(yoton_future_result_or_cancel(f, 0.2, &v), YOTON_ERR_CANCELLED);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_CANCELLED);
    CHECK(v == NULL);
    yoton_future_free(f);

    /* Default timeout of the requester for new requests. */
    CHECK_OK(yoton_req_set_default_timeout(p.req, 0.2));
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_CANCELLED);
    yoton_future_free(f);
    /* A future's own timeout overrides the default. */
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_OK(yoton_future_set_auto_cancel_timeout(f, -1.0));
    CHECK_RC(yoton_future_result(f, 0.5, &v), YOTON_ERR_TIMEOUT);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_OK(yoton_future_cancel(f, NULL));
    yoton_future_free(f);
    /* Negative default: never auto-cancelled. */
    CHECK_OK(yoton_req_set_default_timeout(p.req, -1.0));
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_RC(yoton_future_result(f, 0.5, &v), YOTON_ERR_TIMEOUT);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_OK(yoton_future_cancel(f, NULL));
    yoton_future_free(f);
    CHECK_OK(yoton_req_set_default_timeout(p.req, 10.0));

    /* Switched on now, the replier works through the backlog of cancelled pre-requests
     * (their acknowledgements are ignored) and answers a new request. */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK_RESULT_REPR(f, "1");
    CHECK_EQ_INT(get_int(&hg.calls), 2); /* none of the cancelled ones ran */
    pair_close(&p);
    CHECK(wait_int(&hg.freed, 1));
}

static void test_future_freed_while_pending(void) {
    struct pair p;
    struct hdata hw, hg;
    yoton_future *f;

    YT_SECTION("a future freed while pending (waiting or running); the channel keeps working");
    pair_open(&p, "freed");
    hdata_init(&hw, "w");
    hdata_init(&hg, "gate");
    CHECK_OK(reg(p.rep, "whoami", h_whoami, &hw));
    CHECK_OK(reg(p.rep, "gate", h_gate, &hg));
    /* Waiting futures freed at once. */
    f = call_take(p.req, "whoami", NULL, NULL);
    yoton_future_free(f);
    f = call_take(p.req, "whoami", NULL, NULL);
    yoton_future_free(f);
    /* The requests still go out and are handled when the replier starts; their replies are
     * dropped. */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    CHECK(wait_int(&hw.calls, 2));
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK_RESULT_REPR(f, "'w'");
    CHECK_EQ_INT(get_int(&hw.calls), 3);
    /* A running future freed. */
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK(wait_future_status(f, YOTON_FUTURE_RUNNING));
    yoton_future_free(f);
    set_int(&hg.open, 1);
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK_RESULT_REPR(f, "'w'");
    CHECK_EQ_INT(get_int(&hg.calls), 1);
    pair_close(&p);
    CHECK(wait_int(&hw.freed, 1));
    CHECK(wait_int(&hg.freed, 1));
}

/* frees its own channel (hdata.rc[0] holds nothing; the channel is in g_self_rep) */
static yoton_channel *g_self_rep = NULL;
static void h_free_self(void *ud, const yoton_value *args, const yoton_value *kwargs,
                        yoton_reply *reply) {
    struct hdata *h = hd_enter(ud, args, kwargs);
    yoton_value *v = v_str("bye");
    double t0 = yt_now();
    yoton_channel_free(g_self_rep); /* from inside its own handler: must not wait for itself */
    pthread_mutex_lock(&g_lock);
    h->sleep = yt_now() - t0; /* how long the free took */
    pthread_mutex_unlock(&g_lock);
    g_self_rep = NULL;
    yoton_reply_set_result(reply, v);
    yoton_value_free(v);
}

/* Releasing a replier while its handler runs (issue 10 items 7 and 10): the free waits for a
 * handler on another thread (at most YOTON_HANDLER_WAIT) and releases the user data before it
 * returns; a handler that outlasts the wait releases it right after it returns; a handler
 * freeing its own channel does not wait for itself; and the request taken is answered. */
static void test_replier_freed_while_handling(void) {
    struct pair p;
    struct hdata hg, hs, hw;
    yoton_future *f;
    yoton_channel *rep2 = NULL;
    double t0, took;

    YT_SECTION("the replier channel freed while its handler runs");
    pair_open(&p, "gone");
    hdata_init(&hg, "gate");
    hdata_init(&hw, "again");
    /* 1. A handler that ends within the wait: free waits for it, then releases. */
    hdata_init(&hs, "slow");
    hs.sleep = 0.4;
    CHECK_OK(reg(p.rep, "slow", h_slow, &hs));
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    f = call_take(p.req, "slow", NULL, NULL);
    CHECK(wait_int(&hs.calls, 1));
    t0 = yt_now();
    yoton_channel_free(p.rep); /* the handler is still inside */
    took = yt_now() - t0;
    p.rep = NULL;
    CHECK_EQ_INT(get_int(&hs.active), 0); /* it returned before the free did */
    CHECK_EQ_INT(get_int(&hs.freed), 1); /* and its user data was released on this thread */
    CHECK(took < YOTON_HANDLER_WAIT);
    CHECK_RESULT_REPR(f, "None"); /* the request taken before the close is still answered */

    /* 2. A handler that outlasts the wait: free returns after YOTON_HANDLER_WAIT; the user
     * data is released once the handler returns, not before. */
    CHECK_OK(yoton_rep_new(p.a, "gone", &p.rep));
    CHECK_OK(reg(p.rep, "gate", h_gate, &hg));
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK(wait_int(&hg.calls, 1));
    t0 = yt_now();
    yoton_channel_free(p.rep);
    took = yt_now() - t0;
    p.rep = NULL;
    CHECK(took >= YOTON_HANDLER_WAIT * 0.9 && took < YOTON_HANDLER_WAIT + 1.0);
    CHECK_EQ_INT(get_int(&hg.freed), 0); /* not while the handler runs */
    set_int(&hg.open, 1);
    CHECK(wait_int(&hg.freed, 1));
    CHECK_RESULT_REPR(f, "1");

    /* 3. A handler that frees its own channel: no wait, and the caller is answered at once. */
    CHECK_OK(yoton_rep_new(p.a, "gone", &g_self_rep));
    hdata_init(&hs, "self");
    hs.sleep = -1;
    CHECK_OK(reg(g_self_rep, "quit", h_free_self, &hs));
    CHECK_OK(yoton_rep_set_mode(g_self_rep, YOTON_REP_THREAD));
    t0 = yt_now();
    f = call_take(p.req, "quit", NULL, NULL);
    CHECK_RESULT_REPR(f, "'bye'");
    CHECK(yt_now() - t0 < 1.0);
    CHECK(wait_int(&hs.freed, 1));
    pthread_mutex_lock(&g_lock);
    CHECK(hs.sleep >= 0 && hs.sleep < 0.5);
    pthread_mutex_unlock(&g_lock);

    /* The slot is free again: a new replier on the same base works. */
    CHECK_OK(yoton_rep_new(p.a, "gone", &rep2));
    CHECK_OK(reg(rep2, "whoami", h_whoami, &hw));
    CHECK_OK(yoton_rep_set_mode(rep2, YOTON_REP_THREAD));
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK_RESULT_REPR(f, "'again'");
    yoton_channel_free(rep2);
    CHECK_EQ_INT(get_int(&hw.freed), 1); /* idle replier: released before the free returns */
    pair_close(&p);
    CHECK_EQ_INT(get_int(&hg.freed), 1);
}

static void test_replier_disconnects(void) {
    struct pair p;
    struct hdata hg;
    yoton_future *f, *g;
    yoton_value *v = NULL;
    char buf[512];

    YT_SECTION("the replier's connection closes while it runs the request: YOTON_ERR_IO");
    pair_open(&p, "drop");
    hdata_init(&hg, "gate");
    CHECK_OK(reg(p.rep, "gate", h_gate, &hg));
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK(wait_future_status(f, YOTON_FUTURE_RUNNING));
    /* A second request waits behind it (not taken yet). */
    g = call_take(p.req, "gate", NULL, NULL);
    /* The replier side closes its connection. */
    CHECK_OK(yoton_connection_close(p.ha, "replier going away"));
    CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_IO);
    CHECK(strstr(yoton_last_error(), "connection closed") != NULL);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_ERROR);
    CHECK_OK(yoton_future_exception(f, 0.0, buf, sizeof buf, NULL));
    CHECK(strlen(buf) > 0);
    /* The waiting one is not affected by the lost peer: it waits (and can be cancelled). */
    CHECK_EQ_INT(status_of(g), YOTON_FUTURE_WAITING);
    CHECK_OK(yoton_future_cancel(g, NULL));
    CHECK_EQ_INT(status_of(g), YOTON_FUTURE_CANCELLED);
    set_int(&hg.open, 1);
    yoton_future_free(f);
    yoton_future_free(g);
    pair_close(&p);
    CHECK(wait_int(&hg.freed, 1));

    /* The same when the requester's side drops the link (without telling the peer). */
    pair_open(&p, "drop2");
    hdata_init(&hg, "gate");
    CHECK_OK(reg(p.rep, "gate", h_gate, &hg));
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));
    f = call_take(p.req, "gate", NULL, NULL);
    CHECK(wait_future_status(f, YOTON_FUTURE_RUNNING));
    CHECK_OK(yoton_connection_close_on_problem(p.cb, "requester cut the cable"));
    CHECK_RC(yoton_future_result(f, YT_WAIT, &v), YOTON_ERR_IO);
    CHECK(strstr(yoton_last_error(), "requester cut the cable") != NULL);
    set_int(&hg.open, 1);
    yoton_future_free(f);
    pair_close(&p);
    CHECK(wait_int(&hg.freed, 1));
}

/* --- detached futures and done callbacks ------------------------------------------------ */

struct cbdata {
    int calls;
    int freed;
    int status;       /* the status seen inside the callback */
    int result_rc;    /* yoton_future_result(f, 0) inside the callback */
    char repr[64];    /* the result seen inside the callback */
    pthread_t thread;
    int order;        /* position among several callbacks */
    int *sequence;    /* shared counter giving `order` */
    yoton_future *free_me; /* freed from inside the callback */
};

static void cbdata_init(struct cbdata *c) {
    memset(c, 0, sizeof *c);
    c->status = -1;
    c->result_rc = -1;
}

static void cb_done(void *ud, const yoton_future *f) {
    struct cbdata *c = (struct cbdata *)ud;
    int status = -1;
    yoton_value *v = NULL;
    int rc;
    char repr[64] = "";
    yoton_future_get_status(f, &status);
    rc = yoton_future_result(f, 0.0, &v);
    v_repr(v, repr, sizeof repr);
    yoton_value_free(v);
    if (c->free_me != NULL) {
        yoton_future_free(c->free_me);
        c->free_me = NULL;
    }
    pthread_mutex_lock(&g_lock);
    c->calls++;
    c->status = status;
    c->result_rc = rc;
    memcpy(c->repr, repr, sizeof repr);
    c->thread = pthread_self();
    if (c->sequence != NULL) {
        c->order = ++*c->sequence;
    }
    pthread_mutex_unlock(&g_lock);
}

static void cb_free(void *ud) {
    add_int(&((struct cbdata *)ud)->freed, 1);
}

struct cb_pump {
    const int *p;
    int value;
};

static int cb_reached_or_pump(void *arg) {
    struct cb_pump *w = (struct cb_pump *)arg;
    if (get_int(w->p) >= w->value) {
        return 1;
    }
    yoton_process_events(0.01, NULL);
    return 0;
}

/* Process events until *p >= value (bounded). */
static int pump_int(const int *p, int value) {
    struct cb_pump w;
    w.p = p;
    w.value = value;
    return yt_wait_until(cb_reached_or_pump, &w, YT_WAIT);
}

/* Process whatever is queued (for "still exactly once" checks). */
static void pump_a_bit(void) {
    int i;
    for (i = 0; i < 5; i++) {
        yoton_process_events(0.01, NULL);
    }
}

static void test_detached_futures(void) {
    yoton_future *f = NULL;
    yoton_value *v = NULL;
    yoton_value *x = NULL;
    bool out = false;
    char buf[64];

    YT_SECTION("detached futures: executor-side setters");
    /* new -> running -> success */
    CHECK_OK(yoton_future_new(&f));
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK_RC(yoton_future_result(f, 0.0, &v), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_future_result(f, 0.05, &v), YOTON_ERR_TIMEOUT);
    CHECK_OK(yoton_future_set_running_or_notify_cancel(f, &out));
    CHECK(out);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_RUNNING);
    CHECK_EQ_INT(flag_of(yoton_future_is_running, f), 1);
    /* running: cannot be cancelled, cannot be set running again */
    CHECK_OK(yoton_future_cancel(f, &out));
    CHECK(!out);
    CHECK_RC(yoton_future_set_running_or_notify_cancel(f, &out), YOTON_ERR_INVALID_ARGUMENT);
    x = v_tuple2(v_str("r"), yoton_value_new_int(2));
    CHECK_OK(yoton_future_set_result(f, x));
    yoton_value_free(x); /* a copy was taken */
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_SUCCESS);
    CHECK_OK(yoton_future_result(f, -1.0, &v));
    CHECK_STREQ(v_repr(v, buf, sizeof buf), "('r', 2)");
    yoton_value_free(v);
    v = NULL;
    /* Setting a done future again: refused, the result stays. */
    x = yoton_value_new_int(3);
    CHECK_RC(yoton_future_set_result(f, x), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_exception(f, "late"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_running_or_notify_cancel(f, &out), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(x);
    CHECK_OK(yoton_future_result(f, 0.0, &v));
    CHECK_STREQ(v_repr(v, buf, sizeof buf), "('r', 2)");
    yoton_value_free(v);
    v = NULL;
    yoton_future_free(f);
    f = NULL;

    /* new -> success directly (no running step) */
    CHECK_OK(yoton_future_new(&f));
    x = yoton_value_new_none();
    CHECK_OK(yoton_future_set_result(f, x));
    yoton_value_free(x);
    CHECK_OK(yoton_future_result(f, 0.0, &v));
    CHECK_STREQ(v_repr(v, buf, sizeof buf), "None");
    yoton_value_free(v);
    v = NULL;
    yoton_future_free(f);
    f = NULL;

    /* new -> exception */
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_set_exception(f, "it broke"));
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_ERROR);
    CHECK_RC(yoton_future_result(f, 0.0, &v), YOTON_ERR_REMOTE);
    CHECK_STREQ(yoton_last_error(), "it broke");
    CHECK_OK(yoton_future_exception(f, 0.0, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "it broke");
    CHECK_RC(yoton_future_set_exception(f, "again"), YOTON_ERR_INVALID_ARGUMENT);
    x = yoton_value_new_int(1);
    CHECK_RC(yoton_future_set_result(f, x), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(x);
    CHECK_OK(yoton_future_exception(f, 0.0, buf, sizeof buf, NULL));
    CHECK_STREQ(buf, "it broke");
    yoton_future_free(f);
    f = NULL;

    /* new -> cancelled -> the executor is told; setters refused */
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_cancel(f, &out));
    CHECK(out);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_CANCELLED);
    out = true;
    CHECK_OK(yoton_future_set_running_or_notify_cancel(f, &out));
    CHECK(!out);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_CANCELLED);
    x = yoton_value_new_int(1);
    CHECK_RC(yoton_future_set_result(f, x), YOTON_ERR_INVALID_ARGUMENT);
    yoton_value_free(x);
    CHECK_RC(yoton_future_set_exception(f, "no"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_result(f, 0.0, &v), YOTON_ERR_CANCELLED);
    /* auto-cancel of a detached future: accepted, no effect without a requester */
    yoton_future_free(f);
    f = NULL;
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_set_auto_cancel_timeout(f, 0.0));
    CHECK_RC(yoton_future_result(f, 0.2, &v), YOTON_ERR_TIMEOUT);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    /* result_or_cancel on a detached future: cancels it */
    CHECK_RC(yoton_future_result_or_cancel(f, 0.05, &v), YOTON_ERR_CANCELLED);
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_CANCELLED);
    yoton_future_free(f);
    f = NULL;
}

struct setter_job {
    const yoton_future *f;
    double delay;
};

static void *setter_thread(void *arg) {
    struct setter_job *job = (struct setter_job *)arg;
    yoton_value *v = yoton_value_new_int(77);
    bool ok = false;
    yt_sleep(job->delay);
    yoton_future_set_running_or_notify_cancel(job->f, &ok);
    yoton_future_set_result(job->f, v);
    yoton_value_free(v);
    return NULL;
}

static void test_done_callbacks(void) {
    yoton_future *f = NULL;
    yoton_value *x;
    struct cbdata c1, c2, c3, c4;
    int sequence = 0;
    pthread_t main_thread = pthread_self();

    YT_SECTION("done callbacks: run by yoton_process_events, exactly once");
    /* Added before completion, two of them: run in order, on this thread, only when events
     * are processed. */
    cbdata_init(&c1);
    cbdata_init(&c2);
    c1.sequence = c2.sequence = &sequence;
    pump_a_bit(); /* start from an empty event queue */
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c1, cb_free));
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c2, cb_free));
    x = yoton_value_new_int(5);
    CHECK_OK(yoton_future_set_result(f, x));
    yoton_value_free(x);
    CHECK_EQ_INT(get_int(&c1.calls), 0); /* not before events are processed */
    CHECK(pump_int(&c2.calls, 1));
    pump_a_bit();
    CHECK_EQ_INT(get_int(&c1.calls), 1);
    CHECK_EQ_INT(get_int(&c2.calls), 1);
    CHECK_EQ_INT(c1.order, 1);
    CHECK_EQ_INT(c2.order, 2);
    CHECK_EQ_INT(c1.status, YOTON_FUTURE_SUCCESS);
    CHECK_EQ_INT(c1.result_rc, YOTON_OK);
    CHECK_STREQ(c1.repr, "5");
    CHECK(pthread_equal(c1.thread, main_thread));
    CHECK_EQ_INT(get_int(&c1.freed), 1);
    CHECK_EQ_INT(get_int(&c2.freed), 1);

    /* Added after completion: queued at once, run at the next processing. */
    cbdata_init(&c3);
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c3, cb_free));
    CHECK_EQ_INT(get_int(&c3.calls), 0);
    CHECK(pump_int(&c3.calls, 1));
    pump_a_bit();
    CHECK_EQ_INT(get_int(&c3.calls), 1);
    CHECK_EQ_INT(get_int(&c3.freed), 1);
    CHECK_EQ_INT(get_int(&c1.calls), 1); /* the earlier ones do not run again */
    yoton_future_free(f);
    f = NULL;

    /* Cancellation and exceptions complete too. */
    cbdata_init(&c1);
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c1, cb_free));
    CHECK_OK(yoton_future_cancel(f, NULL));
    CHECK(pump_int(&c1.calls, 1));
    CHECK_EQ_INT(c1.status, YOTON_FUTURE_CANCELLED);
    CHECK_EQ_INT(c1.result_rc, YOTON_ERR_CANCELLED);
    yoton_future_free(f);
    f = NULL;
    cbdata_init(&c1);
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c1, cb_free));
    CHECK_OK(yoton_future_set_exception(f, "nope"));
    CHECK(pump_int(&c1.calls, 1));
    CHECK_EQ_INT(c1.status, YOTON_FUTURE_ERROR);
    CHECK_EQ_INT(c1.result_rc, YOTON_ERR_REMOTE);
    yoton_future_free(f);
    f = NULL;

    /* Completed from another thread: still run on the processing thread. */
    {
        struct setter_job job;
        pthread_t t;
        yoton_value *v = NULL;
        cbdata_init(&c1);
        CHECK_OK(yoton_future_new(&f));
        CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c1, cb_free));
        job.f = f;
        job.delay = 0.05;
        CHECK(pthread_create(&t, NULL, setter_thread, &job) == 0);
        CHECK_OK(yoton_future_result(f, YT_WAIT, &v)); /* wakes when set */
        yoton_value_free(v);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK(pump_int(&c1.calls, 1));
        CHECK(pthread_equal(c1.thread, main_thread));
        CHECK_STREQ(c1.repr, "77");
        yoton_future_free(f);
        f = NULL;
    }

    /* Freed handle first: the callback does not run, its user data is released once. */
    cbdata_init(&c1);
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c1, cb_free));
    yoton_future_free(f); /* the only handle: the future is gone with it */
    f = NULL;
    pump_a_bit();
    CHECK_EQ_INT(get_int(&c1.calls), 0);
    CHECK_EQ_INT(get_int(&c1.freed), 1);
    /* Done but not yet processed when the handle is freed: not run either. */
    cbdata_init(&c1);
    CHECK_OK(yoton_future_new(&f));
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c1, cb_free));
    CHECK_OK(yoton_future_cancel(f, NULL));
    yoton_future_free(f);
    f = NULL;
    pump_a_bit();
    CHECK_EQ_INT(get_int(&c1.calls), 0);
    CHECK_EQ_INT(get_int(&c1.freed), 1);

    /* A callback may free the future handle it was added through. */
    cbdata_init(&c4);
    CHECK_OK(yoton_future_new(&f));
    c4.free_me = f;
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c4, cb_free));
    x = yoton_value_new_int(8);
    CHECK_OK(yoton_future_set_result(f, x));
    yoton_value_free(x);
    f = NULL; /* owned by the callback now */
    CHECK(pump_int(&c4.calls, 1));
    CHECK(c4.free_me == NULL);
    CHECK_STREQ(c4.repr, "8");
    CHECK_EQ_INT(get_int(&c4.freed), 1);

    /* A NULL callback is refused, the user data released once. */
    cbdata_init(&c1);
    CHECK_OK(yoton_future_new(&f));
    CHECK_RC(yoton_future_add_done_callback(f, NULL, &c1, cb_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&c1.freed), 1);
    CHECK_RC(yoton_future_add_done_callback(NULL, cb_done, &c1, cb_free),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&c1.freed), 2);
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, NULL, NULL)); /* no user data */
    yoton_future_free(f);
    f = NULL;
}

static void test_done_callbacks_of_requests(void) {
    struct pair p;
    struct hdata hw, hg;
    struct cbdata c1, c2, c3;
    yoton_future *f, *g, *k;
    pthread_t main_thread = pthread_self();

    YT_SECTION("done callbacks of requests (result, error, cancel, freed handle)");
    pair_open(&p, "cb");
    hdata_init(&hw, "w");
    hdata_init(&hg, "gate");
    CHECK_OK(reg(p.rep, "whoami", h_whoami, &hw));
    CHECK_OK(reg(p.rep, "gate", h_gate, &hg));
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_THREAD));

    cbdata_init(&c1);
    cbdata_init(&c2);
    cbdata_init(&c3);
    f = call_take(p.req, "whoami", NULL, NULL);
    CHECK_OK(yoton_future_add_done_callback(f, cb_done, &c1, cb_free));
    g = call_take(p.req, "nothing", NULL, NULL);
    CHECK_OK(yoton_future_add_done_callback(g, cb_done, &c2, cb_free));
    CHECK(pump_int(&c1.calls, 1));
    CHECK(pump_int(&c2.calls, 1));
    pump_a_bit();
    CHECK_EQ_INT(get_int(&c1.calls), 1);
    CHECK_EQ_INT(c1.status, YOTON_FUTURE_SUCCESS);
    CHECK_STREQ(c1.repr, "'w'");
    CHECK(pthread_equal(c1.thread, main_thread));
    CHECK_EQ_INT(c2.status, YOTON_FUTURE_ERROR);
    CHECK_EQ_INT(c2.result_rc, YOTON_ERR_REMOTE);
    CHECK_EQ_INT(get_int(&c1.freed), 1);
    CHECK_EQ_INT(get_int(&c2.freed), 1);
    yoton_future_free(f);
    yoton_future_free(g);

    /* Freed before the reply: not run; released once the request is over. */
    cbdata_init(&c1);
    k = call_take(p.req, "gate", NULL, NULL);
    CHECK_OK(yoton_future_add_done_callback(k, cb_done, &c1, cb_free));
    CHECK(wait_future_status(k, YOTON_FUTURE_RUNNING));
    yoton_future_free(k);
    set_int(&hg.open, 1);
    CHECK(pump_int(&c1.freed, 1));
    pump_a_bit();
    CHECK_EQ_INT(get_int(&c1.calls), 0);
    CHECK_EQ_INT(get_int(&c1.freed), 1);

    /* Cancelled by auto-cancel: the callback runs with CANCELLED. */
    CHECK_OK(yoton_rep_set_mode(p.rep, YOTON_REP_OFF));
    yt_sleep(0.05);
    cbdata_init(&c3);
    k = call_take(p.req, "whoami", NULL, NULL);
    CHECK_OK(yoton_future_set_auto_cancel_timeout(k, 0.1));
    CHECK_OK(yoton_future_add_done_callback(k, cb_done, &c3, cb_free));
    CHECK(pump_int(&c3.calls, 1));
    CHECK_EQ_INT(c3.status, YOTON_FUTURE_CANCELLED);
    yoton_future_free(k);
    pair_close(&p);
    CHECK(wait_int(&hw.freed, 1));
}

/* --- bad input -------------------------------------------------------------------------- */

static void test_bad_input(void) {
    yoton_context *a = yt_context();
    yoton_channel *req = NULL, *rep = NULL, *sub = NULL, *pub = NULL, *ch = NULL;
    yoton_future *f = NULL;
    yoton_value *v = NULL;
    yoton_value *tuple = yoton_value_new_tuple();
    yoton_value *dict = yoton_value_new_dict();
    yoton_value *list = yoton_value_new_list();
    yoton_value *num = yoton_value_new_int(1);
    struct hdata h;
    bool b = false;
    int s = 0;
    size_t n = 0;
    char buf[64];

    YT_SECTION("bad input: NULL, wrong kinds, bad args/kwargs, closed channels");
    hdata_init(&h, "bad");
    CHECK_OK(yoton_req_new(a, "bad", &req));
    CHECK_OK(yoton_rep_new(a, "bad", &rep)); /* req and rep on one base in one context */
    CHECK_OK(yoton_sub_new(a, "bad", NULL, &sub));
    CHECK_OK(yoton_pub_new(a, "bad", "obj", &pub));

    /* creation */
    CHECK_RC(yoton_req_new(NULL, "x", &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_new(a, NULL, &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_new(a, "x", NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_new(a, "", &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_new(a, "bad", &ch), YOTON_ERR_INVALID_ARGUMENT); /* slot not free */
    CHECK_RC(yoton_rep_new(NULL, "x", &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_new(a, NULL, &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_new(a, "x", NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_new(a, "  ", &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_new(a, "bad", &ch), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(ch == NULL);

    /* yoton_req_call */
    CHECK_RC(yoton_req_call(NULL, "m", NULL, NULL, &f), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_call(req, NULL, NULL, NULL, &f), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_call(req, "m", NULL, NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_call(req, "bad" "\xff", NULL, NULL, &f), YOTON_ERR_ENCODING);
    CHECK_RC(yoton_req_call(req, "m", num, NULL, &f), YOTON_ERR_INVALID_ARGUMENT);  /* args */
    CHECK_RC(yoton_req_call(req, "m", dict, NULL, &f), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_call(req, "m", NULL, list, &f), YOTON_ERR_INVALID_ARGUMENT); /* kwargs */
    CHECK_RC(yoton_req_call(req, "m", NULL, tuple, &f), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_call(req, "m", NULL, num, &f), YOTON_ERR_INVALID_ARGUMENT);
    {
        yoton_value *intkey = v_set(yoton_value_new_dict(), yoton_value_new_int(1), v_str("x"));
        CHECK_RC(yoton_req_call(req, "m", NULL, intkey, &f), YOTON_ERR_INVALID_ARGUMENT);
        yoton_value_free(intkey);
    }
    CHECK_RC(yoton_req_call(sub, "m", NULL, NULL, &f), YOTON_ERR_INVALID_ARGUMENT); /* kinds */
    CHECK_RC(yoton_req_call(rep, "m", NULL, NULL, &f), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_call(pub, "m", NULL, NULL, &f), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(f == NULL);
    /* valid: a list for args, an empty dict for kwargs (no network: the future waits) */
    CHECK_OK(yoton_req_call(req, "m", list, dict, &f));
    CHECK_OK(yoton_future_cancel(f, NULL));
    yoton_future_free(f);
    f = NULL;

    CHECK_RC(yoton_req_set_default_timeout(NULL, 1.0), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_set_default_timeout(rep, 1.0), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_set_default_timeout(sub, 1.0), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_req_set_default_timeout(req, NAN), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_req_set_default_timeout(req, INFINITY)); /* infinity: never */

    /* yoton_rep_register: every refusal releases the user data exactly once */
    CHECK_RC(yoton_rep_register(NULL, "m", h_ret, &h, hdata_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&h.freed), 1);
    CHECK_RC(yoton_rep_register(rep, NULL, h_ret, &h, hdata_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&h.freed), 2);
    CHECK_RC(yoton_rep_register(rep, "m", NULL, &h, hdata_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&h.freed), 3);
    CHECK_RC(yoton_rep_register(rep, "", h_ret, &h, hdata_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&h.freed), 4);
    CHECK_RC(yoton_rep_register(req, "m", h_ret, &h, hdata_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&h.freed), 5);
    CHECK_RC(yoton_rep_register(sub, "m", h_ret, &h, hdata_free), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(get_int(&h.freed), 6);
    CHECK_RC(yoton_rep_register(rep, "m" "\xff", h_ret, &h, hdata_free), YOTON_ERR_ENCODING);
    CHECK_EQ_INT(get_int(&h.freed), 7);
    CHECK_RC(yoton_rep_register(NULL, "m", h_ret, NULL, NULL), YOTON_ERR_INVALID_ARGUMENT);

    CHECK_RC(yoton_rep_unregister(NULL, "m"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_unregister(rep, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_unregister(rep, "never"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_unregister(rep, "echo"), YOTON_ERR_INVALID_ARGUMENT); /* built-in */
    CHECK_RC(yoton_rep_unregister(req, "m"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_set_mode(NULL, YOTON_REP_THREAD), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_set_mode(req, YOTON_REP_THREAD), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_set_mode(sub, YOTON_REP_OFF), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_set_mode(rep, 99), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_handle_pending(NULL, &n), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_handle_pending(req, &n), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_rep_handle_pending(pub, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_rep_handle_pending(rep, NULL));
    CHECK_RC(yoton_reply_set_result(NULL, num), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_reply_set_error(NULL, "x"), YOTON_ERR_INVALID_ARGUMENT);

    /* Bad calls on a reply inside a handler (the reply stays usable). */
    {
        yoton_context *c = yt_context();
        yoton_channel *creq = NULL;
        struct hdata hb;
        hdata_init(&hb, "badreply");
        CHECK(yt_link(a, c, NULL, NULL));
        CHECK_OK(yoton_req_new(c, "bad", &creq));
        CHECK_OK(reg(rep, "badreply", h_badreply, &hb));
        CHECK_OK(yoton_rep_set_mode(rep, YOTON_REP_THREAD));
        f = call_take(creq, "badreply", NULL, NULL);
        CHECK_RESULT_REPR(f, "'ok'");
        f = NULL;
        CHECK_EQ_INT(hb.rc[0], YOTON_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(hb.rc[1], YOTON_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(hb.rc[2], YOTON_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(hb.rc[3], YOTON_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(hb.rc[4], YOTON_ERR_ENCODING);
        CHECK_EQ_INT(hb.rc[5], YOTON_OK);
        CHECK_OK(yoton_rep_unregister(rep, "badreply"));
        CHECK_EQ_INT(get_int(&hb.freed), 1);
        CHECK_OK(yoton_rep_set_mode(rep, YOTON_REP_OFF));
        yoton_channel_free(creq);
        yoton_context_free(c);
    }

    /* futures */
    CHECK_RC(yoton_future_new(NULL), YOTON_ERR_INVALID_ARGUMENT);
    yoton_future_free(NULL);
    CHECK_OK(yoton_future_new(&f));
    CHECK_RC(yoton_future_get_status(NULL, &s), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_get_status(f, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_is_done(NULL, &b), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_is_done(f, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_is_running(NULL, &b), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_is_running(f, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_is_cancelled(NULL, &b), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_is_cancelled(f, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_cancel(NULL, &b), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_result(NULL, 0.0, &v), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_result(f, 0.0, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_result(f, NAN, &v), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_exception(NULL, 0.0, buf, sizeof buf, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_exception(f, NAN, buf, sizeof buf, NULL),
             YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_result_or_cancel(NULL, 0.0, &v), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_result_or_cancel(f, 0.0, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_result_or_cancel(f, NAN, &v), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_auto_cancel_timeout(NULL, 1.0), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_auto_cancel_timeout(f, NAN), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_running_or_notify_cancel(NULL, &b), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_running_or_notify_cancel(f, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_result(NULL, num), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_result(f, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_exception(NULL, "x"), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_exception(f, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_future_set_exception(f, "x" "\xff"), YOTON_ERR_ENCODING);
    /* none of the refused calls changed it */
    CHECK_EQ_INT(status_of(f), YOTON_FUTURE_WAITING);
    CHECK(v == NULL);
    yoton_future_free(f);
    f = NULL;

    /* Closed channels. */
    CHECK_OK(yoton_channel_close(req));
    CHECK_RC(yoton_req_call(req, "m", NULL, NULL, &f), YOTON_ERR_CLOSED);
    CHECK(f == NULL);
    CHECK_OK(yoton_channel_close(rep));
    CHECK_RC(yoton_rep_set_mode(rep, YOTON_REP_THREAD), YOTON_ERR_CLOSED);
    CHECK_OK(yoton_rep_handle_pending(rep, NULL)); /* what was queued before the close */
    CHECK_OK(yoton_rep_handle_pending(rep, &n));   /* nothing is queued after it */
    CHECK_EQ_INT(n, 0);
    /* After the context is gone, its channels are closed. */
    {
        yoton_context *c = yt_context();
        yoton_channel *creq = NULL, *crep = NULL;
        CHECK_OK(yoton_req_new(c, "late", &creq));
        CHECK_OK(yoton_rep_new(c, "late", &crep));
        yoton_context_free(c);
        CHECK_RC(yoton_req_call(creq, "m", NULL, NULL, &f), YOTON_ERR_CLOSED);
        CHECK_RC(yoton_rep_set_mode(crep, YOTON_REP_EVENT), YOTON_ERR_CLOSED);
        yoton_channel_free(creq);
        yoton_channel_free(crep);
    }

    yoton_value_free(tuple);
    yoton_value_free(dict);
    yoton_value_free(list);
    yoton_value_free(num);
    yoton_channel_free(req);
    yoton_channel_free(rep);
    yoton_channel_free(sub);
    yoton_channel_free(pub);
    yoton_context_free(a);
    CHECK_EQ_INT(get_int(&h.freed), 7);
}

/* A requester closed or freed while its requests wait: what happens to their futures? */
static void test_requester_closed_with_waiting_futures(void) {
    yoton_context *a = yt_context();
    yoton_channel *req = NULL;
    yoton_future *f = NULL, *g = NULL;
    yoton_value *v = NULL;

    YT_SECTION("a requester closed while its futures wait");
    CHECK_OK(yoton_req_new(a, "orphan", &req));
    CHECK_OK(yoton_req_set_default_timeout(req, 0.2));
    f = call_take(req, "m", NULL, NULL);
    g = call_take(req, "m", NULL, NULL);
    CHECK_OK(yoton_channel_close(req));
    /* Closing a requester cancels its waiting requests (nothing is left waiting forever). */
    CHECK_RC(yoton_future_result(f, 2.0, &v), YOTON_ERR_CANCELLED);
    yoton_future_free(f);
    /* Freed requester handle: the same. */
    yoton_channel_free(req);
    req = NULL;
    CHECK_RC(yoton_future_result(g, 2.0, &v), YOTON_ERR_CANCELLED);
    /* Cancelling by hand still works. */
    CHECK_OK(yoton_future_cancel(g, NULL));
    CHECK_EQ_INT(status_of(g), YOTON_FUTURE_CANCELLED);
    yoton_future_free(g);
    yoton_context_free(a);
}

int main(void) {
    test_calls_and_values();
    test_registration_and_echo();
    test_modes();
    test_one_at_a_time();
    test_load_balancing();
    test_rpc_spin();
    test_future_states();
    test_future_freed_while_pending();
    test_replier_freed_while_handling();
    test_replier_disconnects();
    test_detached_futures();
    test_done_callbacks();
    test_done_callbacks_of_requests();
    test_bad_input();
    test_requester_closed_with_waiting_futures();
    return yt_summary("test_reqrep");
}
