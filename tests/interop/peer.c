/*
 * yoton_interop_peer: a scriptable C peer for the interop tests with the original Python yoton
 * (the tests/interop test_*.py files). It uses ONLY the public C API (yoton.h).
 *
 * It reads one command per line from stdin and writes exactly one reply line per command to
 * stdout (flushed). Every command is bounded in time. Replies start with a word:
 *   ok ...          success (details follow)
 *   error C MSG     a yoton call failed: status code C, then yoton_last_error() (or a usage text)
 *   timeout ...     nothing happened within the given time
 *   closed          (recv) the channel is closed and empty
 *   msg ... / msgs ...  received messages (see recv / recv_many)
 *
 * Commands (IDX is a connection index returned by bind/connect; NAME a channel name of ours):
 *   id                                 ok <context id, 16 hex>
 *   bind ADDR [MAX_TRIES]              ok <IDX> <port1>
 *   connect ADDR TIMEOUT               ok <IDX>
 *   wait_connected IDX SECONDS         ok <status> | timeout <status>
 *   status IDX                         ok <status> <timedout 0|1>
 *   info IDX                           ok <id2 hex> <pid2> <port1> <port2> <hostname2>
 *   timedout IDX                       ok 0|1
 *   wait_timedout IDX 0|1 SECONDS      ok <seconds waited> | timeout
 *   wait_closed IDX SECONDS            ok <close reason> | timeout <status>
 *   close_reason IDX                   ok <reason> | error ...
 *   close IDX [REASON...]              ok          (REASON: rest of the line; none: NULL)
 *   close_on_problem IDX [REASON...]   ok
 *   flush IDX TIMEOUT                  ok | error
 *   ctx_flush TIMEOUT                  ok | error
 *   ctx_close                          ok
 *   conn_count                         ok <connection_count> <connection_count_all>
 *   startup_queued                     ok <n>
 *   discarded                          ok <n>   (yoton_context_discarded)
 *   pub NAME BASE TYPE                 ok          (TYPE: txt | bin | obj | any custom name)
 *   sub NAME BASE TYPE                 ok
 *   close_channel NAME                 ok
 *   pending NAME                       ok <n>
 *   send NAME HEX                      ok          (raw body bytes; for obj an OBJECT encoding)
 *   send_text NAME TEXT...             ok          (rest of the line, raw UTF-8)
 *   send_sample NAME                   ok <repr>   (a fixed OBJECT value built with yoton_value_*)
 *   send_big NAME NBYTES [SEED]        ok <n> <crc32 8 hex>   body[i] = (i + SEED) % 251
 *   send_many NAME COUNT PREFIX [INTERVAL]
 *                                      ok <sent>   bodies PREFIX0, PREFIX1, ... (text), sleeping
 *                                      INTERVAL s after each; stops after 60 s in total
 *   recv NAME TIMEOUT                  msg <len> <payload> | timeout | closed | error C MSG
 *        payload: `crc <crc32>` when len > 65536; else `obj <hex> <repr>` on obj channels,
 *        `text <hex>` on txt channels, `hex <hex>` otherwise
 *   recv_many NAME COUNT TIMEOUT       msgs <n> <hex,hex,...> (or `msgs 0 -`); stops at COUNT
 *                                      messages or at the TIMEOUT deadline (total)
 *   recv_slow NAME COUNT INTERVAL TIMEOUT
 *                                      ok <n> <max pending> <hex,...|->: a slow reader, sleeping
 *                                      INTERVAL s after each message; max pending is sampled
 *                                      before each recv; stops at COUNT or TIMEOUT (total)
 *   sync NAME on|off                   ok          (yoton_sub_set_sync_mode)
 *   select NAME NAME...                ok <index> <name> | timeout   (yoton_sub_select)
 *   recv_selected NAME                 msgs <n> <hex,...> (yoton_sub_recv_selected)
 *
 *   Request/reply (FUT is a future id returned by call):
 *   req NAME BASE                      ok          (yoton_req_new)
 *   req_default_timeout NAME SECONDS   ok          (negative: never)
 *   rep NAME BASE                      ok          (yoton_rep_new; mode off)
 *   register NAME METHOD KIND [TAG]    ok          a built-in handler (see handle_call):
 *        ident -> args[0]; args -> the args tuple; kwargs -> the kwargs dict;
 *        add -> args[0] + args[1] (ints, else floats); concat -> two strings or two lists/tuples;
 *        fail -> error text args[0] (or "failed") via yoton_reply_set_error;
 *        sleep -> sleeps args[0] s (<= 60), returns args[1] if given, else args[0];
 *        tag -> sleeps args[0] s, returns (TAG, args[1] or None) (TAG default: NAME);
 *        count -> how many handler calls this replier ran (including this one)
 *   unregister NAME METHOD             ok
 *   rep_mode NAME off|event|thread     ok
 *   rep_handle NAME                    ok <packages handled>  (yoton_rep_handle_pending)
 *   calls NAME                         ok <handler calls run by this replier so far>
 *   call NAME METHOD ARGS_HEX|- KWARGS_HEX|-   ok <FUT>   (OBJECT-encoded tuple/list and dict)
 *   result FUT TIMEOUT                 ok <hex> <repr> | error C MSG  (TIMEOUT clamped to 0..60)
 *   exception FUT TIMEOUT              ok <hex of the error text> | error C MSG
 *   cancel FUT                         ok 0|1
 *   future_status FUT                  ok <status>  (0 waiting .. 4 success)
 *   set_auto_cancel FUT SECONDS        ok          (negative: never)
 *
 *   State:
 *   state NAME BASE TYPE               ok          (yoton_state_new)
 *   state_send NAME HEX                ok
 *   state_send_text NAME TEXT...       ok
 *   state_recv NAME                    msg <len> ... as recv, or `msg 0 empty`
 *   state_send_last NAME               ok
 *
 *   SimpleSocket (one per peer, with its own context):
 *   ss_new                             ok
 *   ss_bind ADDR [MAX_TRIES]           ok <IDX> <port1>
 *   ss_connect ADDR TIMEOUT            ok <IDX>
 *   ss_send TEXT...                    ok
 *   ss_recv TIMEOUT                    msg <len> text <hex> | timeout | closed | error
 *
 *   sleep SECONDS                      ok
 *   quit                               ok, then exits
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yoton.h"

#define MAX_CONNS 64
#define MAX_CHANNELS 64

typedef struct {
    char name[64];
    char type[64];
    int kind; /* yoton_channel_kind */
    yoton_channel *ch;
    atomic_ulong calls; /* repliers: handler calls run so far */
} named_channel;

static yoton_context *g_ctx;
static yoton_connection *g_conns[MAX_CONNS];
static size_t g_nconns;
static named_channel g_chans[MAX_CHANNELS];
static size_t g_nchans;
static yoton_future **g_futs;
static size_t g_nfuts, g_capfuts;
static yoton_simple_socket *g_ss;
static yoton_context *g_ss_ctx;

/* ---------------------------------------------------------------- output helpers */

static void reply(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Prints `error <code> <last error>` on one line (newlines in the message become spaces). */
static void reply_error(int code) {
    const char *msg = yoton_last_error();
    fprintf(stdout, "error %d %s: ", code, yoton_strerror(code));
    for (const char *p = msg; p && *p; p++) fputc((*p == '\n' || *p == '\r') ? ' ' : *p, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

static void reply_usage(const char *what) { reply("error -1 usage: %s", what); }

static void put_hex(FILE *f, const unsigned char *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        fputc(digits[p[i] >> 4], f);
        fputc(digits[p[i] & 15], f);
    }
}

/* ---------------------------------------------------------------- small utilities */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t crc_table[256];
static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}
/* zlib-compatible CRC-32 (Python: zlib.crc32). */
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex text into a malloc'ed buffer; returns false on bad input. */
static bool from_hex(const char *text, unsigned char **out, size_t *n) {
    size_t len = strlen(text);
    if (len % 2) return false;
    unsigned char *buf = malloc(len / 2 + 1);
    if (!buf) return false;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return false;
        }
        buf[i] = (unsigned char)(hi * 16 + lo);
    }
    *out = buf;
    *n = len / 2;
    return true;
}

/* Splits off the next space-separated word of *s (modifies the line). NULL when none. */
static char *next_word(char **s) {
    char *p = *s;
    while (*p == ' ') p++;
    if (!*p) {
        *s = p;
        return NULL;
    }
    char *start = p;
    while (*p && *p != ' ') p++;
    if (*p) *p++ = '\0';
    *s = p;
    return start;
}

static yoton_connection *conn_arg(char **rest) {
    char *w = next_word(rest);
    if (!w) return NULL;
    char *end;
    unsigned long idx = strtoul(w, &end, 10);
    if (*end || idx >= g_nconns) return NULL;
    return g_conns[idx];
}

static named_channel *chan_arg(char **rest) {
    char *w = next_word(rest);
    if (!w) return NULL;
    for (size_t i = 0; i < g_nchans; i++)
        if (strcmp(g_chans[i].name, w) == 0) return &g_chans[i];
    return NULL;
}

static bool double_arg(char **rest, double *out) {
    char *w = next_word(rest);
    if (!w) return false;
    char *end;
    *out = strtod(w, &end);
    return *end == '\0';
}

/* A string from one of the "buffer convention" getters, malloc'ed; NULL on error (code set). */
typedef int (*conn_str_fn)(const yoton_connection *, char *, size_t, size_t *);
static char *conn_string(conn_str_fn fn, const yoton_connection *c, int *code) {
    char small[8];
    size_t len = 0;
    int rc = fn(c, small, sizeof small, &len);
    if (rc != YOTON_OK && rc != YOTON_ERR_TOO_LARGE) {
        *code = rc;
        return NULL;
    }
    char *buf = malloc(len + 1);
    if (!buf) {
        *code = YOTON_ERR_INTERNAL;
        return NULL;
    }
    rc = fn(c, buf, len + 1, &len);
    if (rc != YOTON_OK) {
        free(buf);
        *code = rc;
        return NULL;
    }
    return buf;
}

static char *value_repr(const yoton_value *v, int *code) {
    char small[8];
    size_t len = 0;
    int rc = yoton_value_repr(v, small, sizeof small, &len);
    if (rc != YOTON_OK && rc != YOTON_ERR_TOO_LARGE) {
        *code = rc;
        return NULL;
    }
    char *buf = malloc(len + 1);
    if (!buf) {
        *code = YOTON_ERR_INTERNAL;
        return NULL;
    }
    rc = yoton_value_repr(v, buf, len + 1, &len);
    if (rc != YOTON_OK) {
        free(buf);
        *code = rc;
        return NULL;
    }
    return buf;
}

/* ---------------------------------------------------------------- the sample value */

/* Appends `item` (consumed) to `container`. */
static void add(yoton_value *container, yoton_value *item) {
    if (yoton_value_append(container, item) != YOTON_OK) {
        fprintf(stderr, "peer: append failed: %s\n", yoton_last_error());
        exit(3);
    }
    yoton_value_free(item);
}
/* dict[key] = item, both consumed. */
static void put(yoton_value *dict, yoton_value *key, yoton_value *item) {
    if (yoton_value_dict_set(dict, key, item) != YOTON_OK) {
        fprintf(stderr, "peer: dict_set failed: %s\n", yoton_last_error());
        exit(3);
    }
    yoton_value_free(key);
    yoton_value_free(item);
}
static yoton_value *str(const char *s) {
    yoton_value *v = NULL;
    if (yoton_value_new_string(s, &v) != YOTON_OK) {
        fprintf(stderr, "peer: string failed: %s\n", yoton_last_error());
        exit(3);
    }
    return v;
}
static yoton_value *i64(int64_t i) { return yoton_value_new_int(i); }
static yoton_value *f64(double f) { return yoton_value_new_float(f); }

/* Keep in sync with SAMPLE in tests/interop/values.py. */
static yoton_value *build_sample(void) {
    yoton_value *d = yoton_value_new_dict();

    yoton_value *ints = yoton_value_new_list();
    add(ints, i64(0));
    add(ints, i64(1));
    add(ints, i64(-1));
    add(ints, i64(255));
    add(ints, i64(INT64_MAX));
    add(ints, i64(INT64_MIN));
    add(ints, i64(INT64_MAX - 1));
    add(ints, i64(INT64_MIN + 1));
    add(ints, i64(4294967296LL));
    put(d, str("ints"), ints);

    yoton_value *floats = yoton_value_new_tuple();
    add(floats, f64(1.5));
    add(floats, f64(-0.0));
    add(floats, f64(1.0 / 0.0));
    add(floats, f64(-1.0 / 0.0));
    add(floats, f64(0.1));
    add(floats, f64(1e300));
    add(floats, f64(5e-324));
    add(floats, f64(-2.5e-05));
    add(floats, f64(1e16));
    add(floats, f64(123456789.125));
    put(d, str("floats"), floats);

    put(d, str("text"),
        str("h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
            "\xf0\x9f\x98\x80 \"dq\" 'sq' back\\slash tab\t nl\n cr\r nul-free"));

    yoton_value *nested = yoton_value_new_list();
    add(nested, yoton_value_new_tuple());
    add(nested, yoton_value_new_list());
    add(nested, yoton_value_new_dict());
    {
        yoton_value *bools = yoton_value_new_tuple();
        add(bools, yoton_value_new_bool(true));
        add(bools, yoton_value_new_bool(false));
        yoton_value *t = yoton_value_new_tuple();
        add(t, bools);
        add(t, yoton_value_new_none());
        add(nested, t);
    }
    {
        /* {"k": [None, ("deep", [1, (2, [3])])]} */
        yoton_value *in3 = yoton_value_new_list();
        add(in3, i64(3));
        yoton_value *t2 = yoton_value_new_tuple();
        add(t2, i64(2));
        add(t2, in3);
        yoton_value *l1 = yoton_value_new_list();
        add(l1, i64(1));
        add(l1, t2);
        yoton_value *deep = yoton_value_new_tuple();
        add(deep, str("deep"));
        add(deep, l1);
        yoton_value *lst = yoton_value_new_list();
        add(lst, yoton_value_new_none());
        add(lst, deep);
        yoton_value *dk = yoton_value_new_dict();
        put(dk, str("k"), lst);
        add(nested, dk);
    }
    put(d, str("nested"), nested);

    yoton_value *bools = yoton_value_new_tuple();
    add(bools, yoton_value_new_bool(true));
    add(bools, yoton_value_new_bool(false));
    put(d, str("bools"), bools);

    put(d, str("none"), yoton_value_new_none());
    put(d, str("empty"), str(""));
    put(d, i64(7), str("int key"));
    {
        yoton_value *one = yoton_value_new_tuple();
        add(one, i64(1));
        put(d, i64(-3), one);
    }
    {
        yoton_value *key = yoton_value_new_tuple();
        add(key, i64(1));
        add(key, str("a"));
        yoton_value *val = yoton_value_new_list();
        add(val, yoton_value_new_list());
        put(d, key, val);
    }
    put(d, yoton_value_new_none(), str("none key"));
    put(d, f64(2.5), str("float key"));
    {
        char longs[301];
        memset(longs, 'x', 300);
        longs[300] = '\0';
        put(d, str("long"), str(longs));
    }
    {
        yoton_value *many = yoton_value_new_list();
        for (int i = 0; i < 300; i++) add(many, i64(i));
        put(d, str("many"), many);
    }
    return d;
}

/* ---------------------------------------------------------------- commands */

static void cmd_bind(char *rest) {
    char *addr = next_word(&rest);
    char *tries = next_word(&rest);
    if (!addr) return reply_usage("bind ADDR [MAX_TRIES]");
    uint32_t max_tries = tries ? (uint32_t)strtoul(tries, NULL, 10) : 1;
    yoton_connection *c = NULL;
    int rc = yoton_context_bind(g_ctx, addr, max_tries, NULL, &c);
    if (rc != YOTON_OK) return reply_error(rc);
    uint16_t port = 0;
    yoton_connection_port1(c, &port);
    if (g_nconns >= MAX_CONNS) {
        yoton_connection_free(c);
        return reply_usage("too many connections");
    }
    g_conns[g_nconns++] = c;
    reply("ok %zu %u", g_nconns - 1, (unsigned)port);
}

static void cmd_connect(char *rest) {
    char *addr = next_word(&rest);
    double timeout = 1.0;
    if (!addr) return reply_usage("connect ADDR TIMEOUT");
    if (*rest && !double_arg(&rest, &timeout)) return reply_usage("connect ADDR TIMEOUT");
    yoton_connection *c = NULL;
    int rc = yoton_context_connect(g_ctx, addr, timeout, NULL, &c);
    if (rc != YOTON_OK) return reply_error(rc);
    if (g_nconns >= MAX_CONNS) {
        yoton_connection_free(c);
        return reply_usage("too many connections");
    }
    g_conns[g_nconns++] = c;
    reply("ok %zu", g_nconns - 1);
}

static void cmd_wait_connected(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    double secs;
    if (!c || !double_arg(&rest, &secs)) return reply_usage("wait_connected IDX SECONDS");
    double deadline = now_s() + secs;
    int status = 0;
    for (;;) {
        int rc = yoton_connection_get_status(c, &status);
        if (rc != YOTON_OK) return reply_error(rc);
        if (status == YOTON_STATUS_HOSTING || status == YOTON_STATUS_CONNECTED)
            return reply("ok %d", status);
        if (status == YOTON_STATUS_CLOSED || now_s() >= deadline)
            return reply("timeout %d", status);
        sleep_s(0.005);
    }
}

static void cmd_status(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    if (!c) return reply_usage("status IDX");
    int status = 0;
    bool t = false;
    int rc = yoton_connection_get_status(c, &status);
    if (rc != YOTON_OK) return reply_error(rc);
    rc = yoton_connection_is_timedout(c, &t);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok %d %d", status, t ? 1 : 0);
}

static void cmd_info(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    if (!c) return reply_usage("info IDX");
    uint64_t id2 = 0, pid2 = 0;
    uint16_t p1 = 0, p2 = 0;
    int rc;
    if ((rc = yoton_connection_id2(c, &id2)) != YOTON_OK) return reply_error(rc);
    if ((rc = yoton_connection_pid2(c, &pid2)) != YOTON_OK) return reply_error(rc);
    if ((rc = yoton_connection_port1(c, &p1)) != YOTON_OK) return reply_error(rc);
    if ((rc = yoton_connection_port2(c, &p2)) != YOTON_OK) return reply_error(rc);
    int code = 0;
    char *host2 = conn_string(yoton_connection_hostname2, c, &code);
    if (!host2) return reply_error(code);
    reply("ok %016" PRIx64 " %" PRIu64 " %u %u %s", id2, pid2, (unsigned)p1, (unsigned)p2,
          host2[0] ? host2 : "-");
    free(host2);
}

static void cmd_timedout(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    if (!c) return reply_usage("timedout IDX");
    bool t = false;
    int rc = yoton_connection_is_timedout(c, &t);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok %d", t ? 1 : 0);
}

static void cmd_wait_timedout(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    char *want_w = next_word(&rest);
    double secs;
    if (!c || !want_w || !double_arg(&rest, &secs))
        return reply_usage("wait_timedout IDX 0|1 SECONDS");
    bool want = strcmp(want_w, "1") == 0;
    double start = now_s();
    for (;;) {
        bool t = false;
        int rc = yoton_connection_is_timedout(c, &t);
        if (rc != YOTON_OK) return reply_error(rc);
        if (t == want) return reply("ok %.3f", now_s() - start);
        if (now_s() - start >= secs) return reply("timeout");
        sleep_s(0.01);
    }
}

static void cmd_close_reason(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    if (!c) return reply_usage("close_reason IDX");
    int code = 0;
    char *reason = conn_string(yoton_connection_close_reason, c, &code);
    if (!reason) return reply_error(code);
    reply("ok %s", reason);
    free(reason);
}

static void cmd_wait_closed(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    double secs;
    if (!c || !double_arg(&rest, &secs)) return reply_usage("wait_closed IDX SECONDS");
    double deadline = now_s() + secs;
    int status = 0;
    for (;;) {
        int rc = yoton_connection_get_status(c, &status);
        if (rc != YOTON_OK) return reply_error(rc);
        if (status == YOTON_STATUS_CLOSED) {
            int code = 0;
            char *reason = conn_string(yoton_connection_close_reason, c, &code);
            if (!reason) return reply_error(code);
            reply("ok %s", reason);
            free(reason);
            return;
        }
        if (now_s() >= deadline) return reply("timeout %d", status);
        sleep_s(0.01);
    }
}

static void cmd_close(char *rest, bool on_problem) {
    yoton_connection *c = conn_arg(&rest);
    if (!c) return reply_usage("close IDX [REASON]");
    while (*rest == ' ') rest++;
    const char *reason = *rest ? rest : NULL;
    int rc = on_problem ? yoton_connection_close_on_problem(c, reason)
                        : yoton_connection_close(c, reason);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_flush(char *rest) {
    yoton_connection *c = conn_arg(&rest);
    double secs;
    if (!c || !double_arg(&rest, &secs)) return reply_usage("flush IDX TIMEOUT");
    int rc = yoton_connection_flush(c, secs);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_ctx_flush(char *rest) {
    double secs;
    if (!double_arg(&rest, &secs)) return reply_usage("ctx_flush TIMEOUT");
    int rc = yoton_context_flush(g_ctx, secs);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

/* Checks a new channel name; false (after replying) when it cannot be used. */
static bool channel_name_ok(const char *name, const char *type) {
    if (strlen(name) >= 64 || (type && strlen(type) >= 64)) {
        reply_usage("name or type too long");
        return false;
    }
    if (g_nchans >= MAX_CHANNELS) {
        reply_usage("too many channels");
        return false;
    }
    for (size_t i = 0; i < g_nchans; i++)
        if (strcmp(g_chans[i].name, name) == 0) {
            reply_usage("channel name in use");
            return false;
        }
    return true;
}

static void add_channel(const char *name, const char *type, int kind, yoton_channel *ch) {
    named_channel *nc = &g_chans[g_nchans++];
    snprintf(nc->name, sizeof nc->name, "%s", name);
    snprintf(nc->type, sizeof nc->type, "%s", type);
    nc->kind = kind;
    nc->ch = ch;
    atomic_init(&nc->calls, 0);
}

/* pub|sub|state NAME BASE TYPE */
static void cmd_channel_new(char *rest, int kind) {
    char *name = next_word(&rest);
    char *base = next_word(&rest);
    char *type = next_word(&rest);
    if (!name || !base || !type) return reply_usage("pub|sub|state NAME BASE TYPE");
    if (!channel_name_ok(name, type)) return;
    yoton_channel *ch = NULL;
    int rc;
    if (kind == YOTON_PUB)
        rc = yoton_pub_new(g_ctx, base, type, &ch);
    else if (kind == YOTON_SUB)
        rc = yoton_sub_new(g_ctx, base, type, &ch);
    else
        rc = yoton_state_new(g_ctx, base, type, &ch);
    if (rc != YOTON_OK) return reply_error(rc);
    add_channel(name, type, kind, ch);
    reply("ok");
}

/* req|rep NAME BASE */
static void cmd_reqrep_new(char *rest, int kind) {
    char *name = next_word(&rest);
    char *base = next_word(&rest);
    if (!name || !base) return reply_usage("req|rep NAME BASE");
    if (!channel_name_ok(name, NULL)) return;
    yoton_channel *ch = NULL;
    int rc = kind == YOTON_REQ ? yoton_req_new(g_ctx, base, &ch) : yoton_rep_new(g_ctx, base, &ch);
    if (rc != YOTON_OK) return reply_error(rc);
    add_channel(name, "obj", kind, ch);
    reply("ok");
}

static void cmd_send(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *hex = next_word(&rest);
    if (!nc || !hex) return reply_usage("send NAME HEX");
    unsigned char *data = NULL;
    size_t n = 0;
    if (!from_hex(hex, &data, &n)) return reply_usage("bad hex");
    int rc = yoton_pub_send(nc->ch, data, n);
    free(data);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_send_text(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("send_text NAME TEXT");
    if (*rest == ' ') rest++;
    int rc = yoton_pub_send(nc->ch, rest, strlen(rest));
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_send_sample(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("send_sample NAME");
    yoton_value *v = build_sample();
    int code = 0;
    char *repr = value_repr(v, &code);
    if (!repr) {
        yoton_value_free(v);
        return reply_error(code);
    }
    int rc = yoton_pub_send_value(nc->ch, v);
    yoton_value_free(v);
    if (rc != YOTON_OK) {
        free(repr);
        return reply_error(rc);
    }
    reply("ok %s", repr);
    free(repr);
}

static void cmd_send_big(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *nw = next_word(&rest);
    char *sw = next_word(&rest);
    if (!nc || !nw) return reply_usage("send_big NAME NBYTES [SEED]");
    size_t n = (size_t)strtoull(nw, NULL, 10);
    unsigned seed = sw ? (unsigned)strtoul(sw, NULL, 10) : 0;
    unsigned char *data = malloc(n ? n : 1);
    if (!data) return reply_usage("out of memory");
    for (size_t i = 0; i < n; i++) data[i] = (unsigned char)((i + seed) % 251);
    uint32_t crc = crc32_of(data, n);
    int rc = yoton_pub_send(nc->ch, data, n);
    free(data);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok %zu %08" PRIx32, n, crc);
}

static void cmd_send_many(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *cw = next_word(&rest);
    char *prefix = next_word(&rest);
    double interval = 0;
    if (!nc || !cw || !prefix || (*rest && !double_arg(&rest, &interval)))
        return reply_usage("send_many NAME COUNT PREFIX [INTERVAL]");
    unsigned long count = strtoul(cw, NULL, 10);
    double deadline = now_s() + 60.0; /* bounded, even against a publisher lock */
    char buf[256];
    unsigned long i;
    for (i = 0; i < count && now_s() < deadline; i++) {
        int n = snprintf(buf, sizeof buf, "%s%lu", prefix, i);
        if (n < 0 || (size_t)n >= sizeof buf) return reply_usage("prefix too long");
        int rc = yoton_pub_send(nc->ch, buf, (size_t)n);
        if (rc != YOTON_OK) return reply_error(rc);
        if (interval > 0) sleep_s(interval);
    }
    reply("ok %lu", i);
}

/* Growable text buffer for `msgs` lines. */
typedef struct {
    char *p;
    size_t used, cap;
} textbuf;

static bool tb_reserve(textbuf *tb, size_t extra) {
    if (tb->used + extra + 1 <= tb->cap) return true;
    size_t cap = tb->cap ? tb->cap : 4096;
    while (tb->used + extra + 1 > cap) cap *= 2;
    char *bigger = realloc(tb->p, cap);
    if (!bigger) return false;
    tb->p = bigger;
    tb->cap = cap;
    return true;
}

/* Appends `,`(if not first) and the hex of a message body. */
static bool tb_add_message(textbuf *tb, const yoton_message *m, bool first) {
    static const char digits[] = "0123456789abcdef";
    const void *data = NULL;
    size_t len = 0;
    if (yoton_message_data(m, &data, &len) != YOTON_OK) return false;
    if (!tb_reserve(tb, 2 * len + 1)) return false;
    if (!first) tb->p[tb->used++] = ',';
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        tb->p[tb->used++] = digits[p[i] >> 4];
        tb->p[tb->used++] = digits[p[i] & 15];
    }
    return true;
}

/* Replies `msgs <n> <hex,...>` (or `msgs 0 -`) for an array from recv_all/recv_selected, and
 * frees the array. */
static void reply_message_array(yoton_message **msgs, size_t count) {
    textbuf tb = {0};
    for (size_t i = 0; i < count; i++)
        if (!tb_add_message(&tb, msgs[i], i == 0)) {
            yoton_message_array_free(msgs, count);
            free(tb.p);
            return reply_usage("out of memory");
        }
    yoton_message_array_free(msgs, count);
    if (count && tb.p) {
        tb.p[tb.used] = '\0';
        reply("msgs %zu %s", count, tb.p);
    } else {
        reply("msgs 0 -");
    }
    free(tb.p);
}

/* Prints the `msg ...` line for one received message. */
static void print_message(const named_channel *nc, const yoton_message *m) {
    const void *data = NULL;
    size_t len = 0;
    int rc = yoton_message_data(m, &data, &len);
    if (rc != YOTON_OK) return reply_error(rc);
    const unsigned char *p = data;
    if (len > 65536) return reply("msg %zu crc %08" PRIx32, len, crc32_of(p, len));
    if (strcmp(nc->type, "obj") == 0) {
        yoton_value *v = NULL;
        rc = yoton_message_value(m, &v);
        if (rc != YOTON_OK) return reply_error(rc);
        int code = 0;
        char *repr = value_repr(v, &code);
        yoton_value_free(v);
        if (!repr) return reply_error(code);
        fprintf(stdout, "msg %zu obj ", len);
        put_hex(stdout, p, len);
        fprintf(stdout, " %s\n", repr);
        fflush(stdout);
        free(repr);
        return;
    }
    fprintf(stdout, "msg %zu %s ", len, strcmp(nc->type, "txt") == 0 ? "text" : "hex");
    put_hex(stdout, p, len);
    fputc('\n', stdout);
    fflush(stdout);
}

static void cmd_recv(char *rest) {
    named_channel *nc = chan_arg(&rest);
    double secs;
    if (!nc || !double_arg(&rest, &secs)) return reply_usage("recv NAME TIMEOUT");
    if (secs < 0) secs = 0; /* never block forever */
    yoton_message *m = NULL;
    int rc = yoton_sub_recv(nc->ch, secs, &m);
    if (rc == YOTON_ERR_TIMEOUT) return reply("timeout");
    if (rc == YOTON_ERR_CLOSED) return reply("closed");
    if (rc != YOTON_OK) return reply_error(rc);
    print_message(nc, m);
    yoton_message_free(m);
}

static void cmd_recv_many(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *cw = next_word(&rest);
    double secs;
    if (!nc || !cw || !double_arg(&rest, &secs)) return reply_usage("recv_many NAME COUNT TIMEOUT");
    unsigned long want = strtoul(cw, NULL, 10);
    double deadline = now_s() + secs;
    unsigned long got = 0;
    fputs("msgs ", stdout);
    /* The count is not known before the loop ends: collect into a temporary file-less buffer. */
    size_t cap = 4096, used = 0;
    char *out = malloc(cap);
    if (!out) return reply_usage("out of memory");
    static const char digits[] = "0123456789abcdef";
    while (got < want) {
        double left = deadline - now_s();
        if (left <= 0) break;
        yoton_message *m = NULL;
        int rc = yoton_sub_recv(nc->ch, left, &m);
        if (rc != YOTON_OK) break;
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(m, &data, &len);
        if (used + 2 * len + 2 > cap) {
            while (used + 2 * len + 2 > cap) cap *= 2;
            char *bigger = realloc(out, cap);
            if (!bigger) {
                yoton_message_free(m);
                break;
            }
            out = bigger;
        }
        if (got) out[used++] = ',';
        const unsigned char *p = data;
        for (size_t i = 0; i < len; i++) {
            out[used++] = digits[p[i] >> 4];
            out[used++] = digits[p[i] & 15];
        }
        got++;
        yoton_message_free(m);
    }
    fprintf(stdout, "%lu ", got);
    if (got)
        fwrite(out, 1, used, stdout);
    else
        fputc('-', stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(out);
}

static void cmd_pending(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("pending NAME");
    size_t n = 0;
    int rc = yoton_channel_pending(nc->ch, &n);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok %zu", n);
}

static void cmd_close_channel(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("close_channel NAME");
    int rc = yoton_channel_close(nc->ch);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

/* ---------------------------------------------------------------- sync mode, ordered reading */

static void cmd_recv_slow(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *cw = next_word(&rest);
    double interval, secs;
    if (!nc || !cw || !double_arg(&rest, &interval) || !double_arg(&rest, &secs))
        return reply_usage("recv_slow NAME COUNT INTERVAL TIMEOUT");
    unsigned long want = strtoul(cw, NULL, 10);
    double deadline = now_s() + (secs > 120 ? 120 : secs);
    unsigned long got = 0;
    size_t max_pending = 0;
    textbuf tb = {0};
    while (got < want) {
        double left = deadline - now_s();
        if (left <= 0) break;
        size_t pending = 0;
        if (yoton_channel_pending(nc->ch, &pending) == YOTON_OK && pending > max_pending)
            max_pending = pending;
        yoton_message *m = NULL;
        int rc = yoton_sub_recv(nc->ch, left, &m);
        if (rc != YOTON_OK) break;
        bool ok = tb_add_message(&tb, m, got == 0);
        yoton_message_free(m);
        if (!ok) break;
        got++;
        if (interval > 0) sleep_s(interval);
    }
    if (got && tb.p) {
        tb.p[tb.used] = '\0';
        reply("ok %lu %zu %s", got, max_pending, tb.p);
    } else {
        reply("ok 0 %zu -", max_pending);
    }
    free(tb.p);
}

static void cmd_sync(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *w = next_word(&rest);
    if (!nc || !w || (strcmp(w, "on") != 0 && strcmp(w, "off") != 0))
        return reply_usage("sync NAME on|off");
    int rc = yoton_sub_set_sync_mode(nc->ch, strcmp(w, "on") == 0);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static named_channel *find_channel(const char *name) {
    for (size_t i = 0; i < g_nchans; i++)
        if (strcmp(g_chans[i].name, name) == 0) return &g_chans[i];
    return NULL;
}

static void cmd_select(char *rest) {
    yoton_channel *chans[MAX_CHANNELS];
    named_channel *named[MAX_CHANNELS];
    size_t n = 0;
    for (char *w = next_word(&rest); w; w = next_word(&rest)) {
        named_channel *nc = find_channel(w);
        if (!nc) return reply_usage("select NAME NAME... (unknown channel)");
        if (n >= MAX_CHANNELS) return reply_usage("too many channels");
        named[n] = nc;
        chans[n++] = nc->ch;
    }
    if (!n) return reply_usage("select NAME NAME...");
    size_t index = 0;
    int rc = yoton_sub_select_wait(chans, n, 0, &index);
    if (rc == YOTON_ERR_TIMEOUT) return reply("timeout");
    if (rc != YOTON_OK) return reply_error(rc);
    if (index >= n) return reply("error -1 select returned index %zu of %zu", index, n);
    reply("ok %zu %s", index, named[index]->name);
}

static void cmd_recv_selected(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("recv_selected NAME");
    yoton_message **msgs = NULL;
    size_t count = 0;
    int rc = yoton_sub_recv_selected(nc->ch, &msgs, &count);
    if (rc != YOTON_OK) return reply_error(rc);
    reply_message_array(msgs, count);
}

/* ---------------------------------------------------------------- request/reply */

enum handler_kind { H_IDENT, H_ARGS, H_KWARGS, H_ADD, H_CONCAT, H_FAIL, H_SLEEP, H_TAG, H_COUNT };

typedef struct {
    named_channel *nc;
    enum handler_kind kind;
    char tag[64];
} handler_data;

static void handler_data_free(void *p) { free(p); }

static const yoton_value *arg_at(const yoton_value *args, size_t i) {
    size_t n = 0;
    const yoton_value *v = NULL;
    if (yoton_value_len(args, &n) != YOTON_OK || i >= n) return NULL;
    if (yoton_value_item(args, i, &v) != YOTON_OK) return NULL;
    return v;
}

static int kind_of(const yoton_value *v) {
    int k = -1;
    if (v) yoton_value_get_kind(v, &k);
    return k;
}

static void set_result_consumed(yoton_reply *reply, yoton_value *v) {
    yoton_reply_set_result(reply, v);
    yoton_value_free(v);
}

/* For the `sleep`/`tag` handlers: sleeps args[0] seconds (a number, at most 60). */
static void sleep_arg(const yoton_value *args) {
    double s = 0;
    const yoton_value *v = arg_at(args, 0);
    if (v && yoton_value_get_float(v, &s) == YOTON_OK && s > 0) sleep_s(s > 60 ? 60 : s);
}

/* The built-in handlers of `register` (run on the replier's thread). */
static void handle_call(void *user, const yoton_value *args, const yoton_value *kwargs,
                        yoton_reply *reply) {
    handler_data *hd = user;
    unsigned long calls = atomic_fetch_add(&hd->nc->calls, 1) + 1;
    const yoton_value *a0 = arg_at(args, 0), *a1 = arg_at(args, 1);
    switch (hd->kind) {
    case H_IDENT:
        if (a0)
            yoton_reply_set_result(reply, a0);
        else
            set_result_consumed(reply, yoton_value_new_none());
        return;
    case H_ARGS:
        yoton_reply_set_result(reply, args);
        return;
    case H_KWARGS:
        yoton_reply_set_result(reply, kwargs);
        return;
    case H_ADD: {
        int k0 = kind_of(a0), k1 = kind_of(a1);
        if (k0 == YOTON_VALUE_INT && k1 == YOTON_VALUE_INT) {
            int64_t x = 0, y = 0;
            yoton_value_get_int(a0, &x);
            yoton_value_get_int(a1, &y);
            if ((y > 0 && x > INT64_MAX - y) || (y < 0 && x < INT64_MIN - y)) {
                yoton_reply_set_error(reply, "add: integer overflow");
                return;
            }
            set_result_consumed(reply, yoton_value_new_int(x + y));
            return;
        }
        if ((k0 == YOTON_VALUE_INT || k0 == YOTON_VALUE_FLOAT) &&
            (k1 == YOTON_VALUE_INT || k1 == YOTON_VALUE_FLOAT)) {
            double x = 0, y = 0;
            yoton_value_get_float(a0, &x);
            yoton_value_get_float(a1, &y);
            set_result_consumed(reply, yoton_value_new_float(x + y));
            return;
        }
        yoton_reply_set_error(reply, "add: expected two numbers");
        return;
    }
    case H_CONCAT: {
        int k0 = kind_of(a0), k1 = kind_of(a1);
        if (k0 == YOTON_VALUE_STRING && k1 == YOTON_VALUE_STRING) {
            const char *x = NULL, *y = NULL;
            size_t nx = 0, ny = 0;
            yoton_value_get_string(a0, &x, &nx);
            yoton_value_get_string(a1, &y, &ny);
            char *buf = malloc(nx + ny + 1);
            if (!buf) {
                yoton_reply_set_error(reply, "concat: out of memory");
                return;
            }
            memcpy(buf, x, nx);
            memcpy(buf + nx, y, ny);
            yoton_value *v = NULL;
            if (yoton_value_new_string_len(buf, nx + ny, &v) == YOTON_OK)
                set_result_consumed(reply, v);
            else
                yoton_reply_set_error(reply, "concat: bad string");
            free(buf);
            return;
        }
        if ((k0 == YOTON_VALUE_LIST || k0 == YOTON_VALUE_TUPLE) && k1 == k0) {
            yoton_value *v = NULL;
            if (yoton_value_clone(a0, &v) != YOTON_OK) {
                yoton_reply_set_error(reply, "concat: clone failed");
                return;
            }
            size_t n = 0;
            yoton_value_len(a1, &n);
            for (size_t i = 0; i < n; i++) {
                const yoton_value *item = NULL;
                yoton_value_item(a1, i, &item);
                yoton_value_append(v, item);
            }
            set_result_consumed(reply, v);
            return;
        }
        yoton_reply_set_error(reply, "concat: expected two strings or two sequences of one kind");
        return;
    }
    case H_FAIL: {
        if (kind_of(a0) == YOTON_VALUE_STRING) {
            char small[8];
            size_t len = 0;
            int rc = yoton_value_copy_string(a0, small, sizeof small, &len);
            if (rc == YOTON_OK || rc == YOTON_ERR_TOO_LARGE) {
                char *buf = malloc(len + 1);
                if (buf && yoton_value_copy_string(a0, buf, len + 1, &len) == YOTON_OK) {
                    yoton_reply_set_error(reply, buf);
                    free(buf);
                    return;
                }
                free(buf);
            }
        }
        yoton_reply_set_error(reply, "failed");
        return;
    }
    case H_SLEEP:
        sleep_arg(args);
        if (a1)
            yoton_reply_set_result(reply, a1);
        else if (a0)
            yoton_reply_set_result(reply, a0);
        else
            set_result_consumed(reply, yoton_value_new_none());
        return;
    case H_TAG: {
        sleep_arg(args);
        yoton_value *t = yoton_value_new_tuple();
        yoton_value *tag = str(hd->tag);
        yoton_value_append(t, tag);
        yoton_value_free(tag);
        if (a1) {
            yoton_value_append(t, a1);
        } else {
            yoton_value *none = yoton_value_new_none();
            yoton_value_append(t, none);
            yoton_value_free(none);
        }
        set_result_consumed(reply, t);
        return;
    }
    case H_COUNT:
        set_result_consumed(reply, yoton_value_new_int((int64_t)calls));
        return;
    }
}

static void cmd_register(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *method = next_word(&rest);
    char *kw = next_word(&rest);
    char *tag = next_word(&rest);
    if (!nc || !method || !kw) return reply_usage("register NAME METHOD KIND [TAG]");
    static const struct {
        const char *name;
        enum handler_kind kind;
    } kinds[] = {{"ident", H_IDENT},   {"args", H_ARGS}, {"kwargs", H_KWARGS},
                 {"add", H_ADD},       {"concat", H_CONCAT}, {"fail", H_FAIL},
                 {"sleep", H_SLEEP},   {"tag", H_TAG},   {"count", H_COUNT}};
    int found = -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, kw) == 0) found = (int)i;
    if (found < 0) return reply_usage("unknown handler kind");
    handler_data *hd = calloc(1, sizeof *hd);
    if (!hd) return reply_usage("out of memory");
    hd->nc = nc;
    hd->kind = kinds[found].kind;
    snprintf(hd->tag, sizeof hd->tag, "%s", tag ? tag : nc->name);
    /* The library releases hd through handler_data_free, also when it refuses the call. */
    int rc = yoton_rep_register(nc->ch, method, handle_call, hd, handler_data_free);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_unregister(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *method = next_word(&rest);
    if (!nc || !method) return reply_usage("unregister NAME METHOD");
    int rc = yoton_rep_unregister(nc->ch, method);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_rep_mode(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *w = next_word(&rest);
    if (!nc || !w) return reply_usage("rep_mode NAME off|event|thread");
    int mode;
    if (strcmp(w, "off") == 0)
        mode = YOTON_REP_OFF;
    else if (strcmp(w, "event") == 0)
        mode = YOTON_REP_EVENT;
    else if (strcmp(w, "thread") == 0)
        mode = YOTON_REP_THREAD;
    else
        return reply_usage("rep_mode NAME off|event|thread");
    int rc = yoton_rep_set_mode(nc->ch, mode);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_rep_handle(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("rep_handle NAME");
    size_t n = 0;
    int rc = yoton_rep_handle_pending(nc->ch, &n);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok %zu", n);
}

/* Decodes an OBJECT hex argument; `-` gives NULL. false (after replying) on bad input. */
static bool value_hex_arg(const char *w, yoton_value **out) {
    *out = NULL;
    if (strcmp(w, "-") == 0) return true;
    unsigned char *data = NULL;
    size_t n = 0;
    if (!from_hex(w, &data, &n)) {
        reply_usage("bad hex");
        return false;
    }
    int rc = yoton_value_decode(data, n, out);
    free(data);
    if (rc != YOTON_OK) {
        reply_error(rc);
        return false;
    }
    return true;
}

static void cmd_call(char *rest) {
    named_channel *nc = chan_arg(&rest);
    char *method = next_word(&rest);
    char *aw = next_word(&rest);
    char *kw = next_word(&rest);
    if (!nc || !method || !aw || !kw) return reply_usage("call NAME METHOD ARGS_HEX|- KWARGS_HEX|-");
    yoton_value *args = NULL, *kwargs = NULL;
    if (!value_hex_arg(aw, &args)) return;
    if (!value_hex_arg(kw, &kwargs)) {
        yoton_value_free(args);
        return;
    }
    if (g_nfuts == g_capfuts) {
        size_t cap = g_capfuts ? 2 * g_capfuts : 64;
        yoton_future **bigger = realloc(g_futs, cap * sizeof *bigger);
        if (!bigger) {
            yoton_value_free(args);
            yoton_value_free(kwargs);
            return reply_usage("out of memory");
        }
        g_futs = bigger;
        g_capfuts = cap;
    }
    yoton_future *f = NULL;
    int rc = yoton_req_call(nc->ch, method, args, kwargs, &f);
    yoton_value_free(args);
    yoton_value_free(kwargs);
    if (rc != YOTON_OK) return reply_error(rc);
    g_futs[g_nfuts++] = f;
    reply("ok %zu", g_nfuts - 1);
}

static yoton_future *future_arg(char **rest) {
    char *w = next_word(rest);
    if (!w) return NULL;
    char *end;
    unsigned long idx = strtoul(w, &end, 10);
    if (*end || idx >= g_nfuts) return NULL;
    return g_futs[idx];
}

/* Timeouts of result/exception: never forever (bounded commands). */
static double clamp_timeout(double s) { return s < 0 ? 0 : (s > 60 ? 60 : s); }

static void cmd_result(char *rest) {
    yoton_future *f = future_arg(&rest);
    double secs;
    if (!f || !double_arg(&rest, &secs)) return reply_usage("result FUT TIMEOUT");
    yoton_value *v = NULL;
    int rc = yoton_future_result(f, clamp_timeout(secs), &v);
    if (rc != YOTON_OK) return reply_error(rc);
    size_t len = 0;
    unsigned char small[8];
    rc = yoton_value_encode(v, small, sizeof small, &len);
    unsigned char *buf = NULL;
    if (rc == YOTON_ERR_TOO_LARGE) {
        buf = malloc(len ? len : 1);
        if (!buf) {
            yoton_value_free(v);
            return reply_usage("out of memory");
        }
        rc = yoton_value_encode(v, buf, len, &len);
    }
    if (rc != YOTON_OK) {
        free(buf);
        yoton_value_free(v);
        return reply_error(rc);
    }
    int code = 0;
    char *repr = value_repr(v, &code);
    yoton_value_free(v);
    if (!repr) {
        free(buf);
        return reply_error(code);
    }
    fputs("ok ", stdout);
    put_hex(stdout, buf ? buf : small, len);
    fprintf(stdout, " %s\n", repr);
    fflush(stdout);
    free(buf);
    free(repr);
}

static void cmd_exception(char *rest) {
    yoton_future *f = future_arg(&rest);
    double secs;
    if (!f || !double_arg(&rest, &secs)) return reply_usage("exception FUT TIMEOUT");
    char small[8];
    size_t len = 0;
    int rc = yoton_future_exception(f, clamp_timeout(secs), small, sizeof small, &len);
    if (rc != YOTON_OK && rc != YOTON_ERR_TOO_LARGE) return reply_error(rc);
    char *buf = malloc(len + 1);
    if (!buf) return reply_usage("out of memory");
    rc = yoton_future_exception(f, 0, buf, len + 1, &len);
    if (rc != YOTON_OK) {
        free(buf);
        return reply_error(rc);
    }
    fputs("ok ", stdout);
    put_hex(stdout, (const unsigned char *)buf, len);
    fputc('\n', stdout);
    fflush(stdout);
    free(buf);
}

static void cmd_cancel(char *rest) {
    yoton_future *f = future_arg(&rest);
    if (!f) return reply_usage("cancel FUT");
    bool out = false;
    int rc = yoton_future_cancel(f, &out);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok %d", out ? 1 : 0);
}

static void cmd_future_status(char *rest) {
    yoton_future *f = future_arg(&rest);
    if (!f) return reply_usage("future_status FUT");
    int status = -1;
    int rc = yoton_future_get_status(f, &status);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok %d", status);
}

static void cmd_set_auto_cancel(char *rest) {
    yoton_future *f = future_arg(&rest);
    double secs;
    if (!f || !double_arg(&rest, &secs)) return reply_usage("set_auto_cancel FUT SECONDS");
    int rc = yoton_future_set_auto_cancel_timeout(f, secs);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_req_default_timeout(char *rest) {
    named_channel *nc = chan_arg(&rest);
    double secs;
    if (!nc || !double_arg(&rest, &secs)) return reply_usage("req_default_timeout NAME SECONDS");
    int rc = yoton_req_set_default_timeout(nc->ch, secs);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

/* ---------------------------------------------------------------- state */

static void cmd_state_send(char *rest, bool text) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("state_send NAME HEX | state_send_text NAME TEXT");
    int rc;
    if (text) {
        if (*rest == ' ') rest++;
        rc = yoton_state_send(nc->ch, rest, strlen(rest));
    } else {
        char *hex = next_word(&rest);
        unsigned char *data = NULL;
        size_t n = 0;
        if (!hex || !from_hex(hex, &data, &n)) return reply_usage("state_send NAME HEX");
        rc = yoton_state_send(nc->ch, data, n);
        free(data);
    }
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_state_recv(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("state_recv NAME");
    yoton_message *m = NULL;
    int rc = yoton_state_recv(nc->ch, &m);
    if (rc != YOTON_OK) return reply_error(rc);
    const void *data = NULL;
    size_t len = 0;
    if ((rc = yoton_message_data(m, &data, &len)) != YOTON_OK) {
        yoton_message_free(m);
        return reply_error(rc);
    }
    if (len == 0)
        reply("msg 0 empty");
    else
        print_message(nc, m);
    yoton_message_free(m);
}

static void cmd_state_send_last(char *rest) {
    named_channel *nc = chan_arg(&rest);
    if (!nc) return reply_usage("state_send_last NAME");
    int rc = yoton_state_send_last(nc->ch);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

/* ---------------------------------------------------------------- simple socket */

static void cmd_ss_new(void) {
    if (g_ss) return reply_usage("one simple socket per peer");
    int rc = yoton_simple_socket_new(&g_ss);
    if (rc != YOTON_OK) return reply_error(rc);
    rc = yoton_simple_socket_context(g_ss, &g_ss_ctx);
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_ss_bind_connect(char *rest, bool bind) {
    if (!g_ss_ctx) return reply_usage("ss_new first");
    if (g_nconns >= MAX_CONNS) return reply_usage("too many connections");
    char *addr = next_word(&rest);
    if (!addr) return reply_usage("ss_bind ADDR [MAX_TRIES] | ss_connect ADDR TIMEOUT");
    yoton_connection *c = NULL;
    int rc;
    if (bind) {
        char *tries = next_word(&rest);
        rc = yoton_context_bind(g_ss_ctx, addr, tries ? (uint32_t)strtoul(tries, NULL, 10) : 1,
                                NULL, &c);
    } else {
        double timeout = 1.0;
        if (*rest && !double_arg(&rest, &timeout)) return reply_usage("ss_connect ADDR TIMEOUT");
        rc = yoton_context_connect(g_ss_ctx, addr, timeout, NULL, &c);
    }
    if (rc != YOTON_OK) return reply_error(rc);
    g_conns[g_nconns++] = c;
    if (bind) {
        uint16_t port = 0;
        yoton_connection_port1(c, &port);
        reply("ok %zu %u", g_nconns - 1, (unsigned)port);
    } else {
        reply("ok %zu", g_nconns - 1);
    }
}

static void cmd_ss_send(char *rest) {
    if (!g_ss) return reply_usage("ss_new first");
    if (*rest == ' ') rest++;
    int rc = yoton_simple_socket_send(g_ss, rest, strlen(rest));
    if (rc != YOTON_OK) return reply_error(rc);
    reply("ok");
}

static void cmd_ss_recv(char *rest) {
    double secs;
    if (!g_ss || !double_arg(&rest, &secs)) return reply_usage("ss_recv TIMEOUT (after ss_new)");
    yoton_message *m = NULL;
    int rc = yoton_simple_socket_recv(g_ss, clamp_timeout(secs), &m);
    if (rc == YOTON_ERR_TIMEOUT) return reply("timeout");
    if (rc == YOTON_ERR_CLOSED) return reply("closed");
    if (rc != YOTON_OK) return reply_error(rc);
    static const named_channel text_channel = {.type = "txt"};
    print_message(&text_channel, m);
    yoton_message_free(m);
}

static void dispatch(char *line) {
    char *rest = line;
    char *cmd = next_word(&rest);
    if (!cmd) return reply_usage("empty line");
    int rc;
    if (strcmp(cmd, "id") == 0) {
        uint64_t id = 0;
        if ((rc = yoton_context_id(g_ctx, &id)) != YOTON_OK) return reply_error(rc);
        reply("ok %016" PRIx64, id);
    } else if (strcmp(cmd, "bind") == 0) {
        cmd_bind(rest);
    } else if (strcmp(cmd, "connect") == 0) {
        cmd_connect(rest);
    } else if (strcmp(cmd, "wait_connected") == 0) {
        cmd_wait_connected(rest);
    } else if (strcmp(cmd, "status") == 0) {
        cmd_status(rest);
    } else if (strcmp(cmd, "info") == 0) {
        cmd_info(rest);
    } else if (strcmp(cmd, "timedout") == 0) {
        cmd_timedout(rest);
    } else if (strcmp(cmd, "wait_timedout") == 0) {
        cmd_wait_timedout(rest);
    } else if (strcmp(cmd, "wait_closed") == 0) {
        cmd_wait_closed(rest);
    } else if (strcmp(cmd, "close_reason") == 0) {
        cmd_close_reason(rest);
    } else if (strcmp(cmd, "close") == 0) {
        cmd_close(rest, false);
    } else if (strcmp(cmd, "close_on_problem") == 0) {
        cmd_close(rest, true);
    } else if (strcmp(cmd, "flush") == 0) {
        cmd_flush(rest);
    } else if (strcmp(cmd, "ctx_flush") == 0) {
        cmd_ctx_flush(rest);
    } else if (strcmp(cmd, "ctx_close") == 0) {
        if ((rc = yoton_context_close(g_ctx)) != YOTON_OK) return reply_error(rc);
        reply("ok");
    } else if (strcmp(cmd, "conn_count") == 0) {
        size_t a = 0, b = 0;
        if ((rc = yoton_context_connection_count(g_ctx, &a)) != YOTON_OK) return reply_error(rc);
        if ((rc = yoton_context_connection_count_all(g_ctx, &b)) != YOTON_OK)
            return reply_error(rc);
        reply("ok %zu %zu", a, b);
    } else if (strcmp(cmd, "startup_queued") == 0) {
        size_t n = 0;
        if ((rc = yoton_context_startup_queued(g_ctx, &n)) != YOTON_OK) return reply_error(rc);
        reply("ok %zu", n);
    } else if (strcmp(cmd, "discarded") == 0) {
        uint64_t n = 0;
        if ((rc = yoton_context_discarded(g_ctx, &n)) != YOTON_OK) return reply_error(rc);
        reply("ok %" PRIu64, n);
    } else if (strcmp(cmd, "pub") == 0) {
        cmd_channel_new(rest, YOTON_PUB);
    } else if (strcmp(cmd, "sub") == 0) {
        cmd_channel_new(rest, YOTON_SUB);
    } else if (strcmp(cmd, "state") == 0) {
        cmd_channel_new(rest, YOTON_STATE);
    } else if (strcmp(cmd, "req") == 0) {
        cmd_reqrep_new(rest, YOTON_REQ);
    } else if (strcmp(cmd, "rep") == 0) {
        cmd_reqrep_new(rest, YOTON_REP);
    } else if (strcmp(cmd, "close_channel") == 0) {
        cmd_close_channel(rest);
    } else if (strcmp(cmd, "pending") == 0) {
        cmd_pending(rest);
    } else if (strcmp(cmd, "send") == 0) {
        cmd_send(rest);
    } else if (strcmp(cmd, "send_text") == 0) {
        cmd_send_text(rest);
    } else if (strcmp(cmd, "send_sample") == 0) {
        cmd_send_sample(rest);
    } else if (strcmp(cmd, "send_big") == 0) {
        cmd_send_big(rest);
    } else if (strcmp(cmd, "send_many") == 0) {
        cmd_send_many(rest);
    } else if (strcmp(cmd, "recv") == 0) {
        cmd_recv(rest);
    } else if (strcmp(cmd, "recv_many") == 0) {
        cmd_recv_many(rest);
    } else if (strcmp(cmd, "recv_slow") == 0) {
        cmd_recv_slow(rest);
    } else if (strcmp(cmd, "sync") == 0) {
        cmd_sync(rest);
    } else if (strcmp(cmd, "select") == 0) {
        cmd_select(rest);
    } else if (strcmp(cmd, "recv_selected") == 0) {
        cmd_recv_selected(rest);
    } else if (strcmp(cmd, "register") == 0) {
        cmd_register(rest);
    } else if (strcmp(cmd, "unregister") == 0) {
        cmd_unregister(rest);
    } else if (strcmp(cmd, "rep_mode") == 0) {
        cmd_rep_mode(rest);
    } else if (strcmp(cmd, "rep_handle") == 0) {
        cmd_rep_handle(rest);
    } else if (strcmp(cmd, "calls") == 0) {
        named_channel *nc = chan_arg(&rest);
        if (!nc) return reply_usage("calls NAME");
        reply("ok %lu", (unsigned long)atomic_load(&nc->calls));
    } else if (strcmp(cmd, "req_default_timeout") == 0) {
        cmd_req_default_timeout(rest);
    } else if (strcmp(cmd, "call") == 0) {
        cmd_call(rest);
    } else if (strcmp(cmd, "result") == 0) {
        cmd_result(rest);
    } else if (strcmp(cmd, "exception") == 0) {
        cmd_exception(rest);
    } else if (strcmp(cmd, "cancel") == 0) {
        cmd_cancel(rest);
    } else if (strcmp(cmd, "future_status") == 0) {
        cmd_future_status(rest);
    } else if (strcmp(cmd, "set_auto_cancel") == 0) {
        cmd_set_auto_cancel(rest);
    } else if (strcmp(cmd, "state_send") == 0) {
        cmd_state_send(rest, false);
    } else if (strcmp(cmd, "state_send_text") == 0) {
        cmd_state_send(rest, true);
    } else if (strcmp(cmd, "state_recv") == 0) {
        cmd_state_recv(rest);
    } else if (strcmp(cmd, "state_send_last") == 0) {
        cmd_state_send_last(rest);
    } else if (strcmp(cmd, "ss_new") == 0) {
        cmd_ss_new();
    } else if (strcmp(cmd, "ss_bind") == 0) {
        cmd_ss_bind_connect(rest, true);
    } else if (strcmp(cmd, "ss_connect") == 0) {
        cmd_ss_bind_connect(rest, false);
    } else if (strcmp(cmd, "ss_send") == 0) {
        cmd_ss_send(rest);
    } else if (strcmp(cmd, "ss_recv") == 0) {
        cmd_ss_recv(rest);
    } else if (strcmp(cmd, "sleep") == 0) {
        double s;
        if (!double_arg(&rest, &s) || s > 60) return reply_usage("sleep SECONDS (<= 60)");
        sleep_s(s);
        reply("ok");
    } else {
        reply("error -1 unknown command: %s", cmd);
    }
}

int main(void) {
    crc_init();
    int rc = yoton_context_new(&g_ctx);
    if (rc != YOTON_OK) {
        fprintf(stderr, "peer: yoton_context_new failed: %s\n", yoton_last_error());
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (strcmp(line, "quit") == 0) {
            reply("ok");
            break;
        }
        dispatch(line);
    }
    free(line);
    for (size_t i = 0; i < g_nfuts; i++) yoton_future_free(g_futs[i]);
    free(g_futs);
    for (size_t i = 0; i < g_nchans; i++) yoton_channel_free(g_chans[i].ch);
    for (size_t i = 0; i < g_nconns; i++) yoton_connection_free(g_conns[i]);
    yoton_context_free(g_ss_ctx);
    yoton_simple_socket_free(g_ss);
    yoton_context_free(g_ctx);
    return 0;
}
