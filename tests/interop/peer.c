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
 *   pub NAME BASE TYPE                 ok          (TYPE: txt | bin | obj | any custom name)
 *   sub NAME BASE TYPE                 ok
 *   close_channel NAME                 ok
 *   pending NAME                       ok <n>
 *   send NAME HEX                      ok          (raw body bytes; for obj an OBJECT encoding)
 *   send_text NAME TEXT...             ok          (rest of the line, raw UTF-8)
 *   send_sample NAME                   ok <repr>   (a fixed OBJECT value built with yoton_value_*)
 *   send_big NAME NBYTES [SEED]        ok <n> <crc32 8 hex>   body[i] = (i + SEED) % 251
 *   send_many NAME COUNT PREFIX        ok <count>  bodies PREFIX0, PREFIX1, ... (text)
 *   recv NAME TIMEOUT                  msg <len> <payload> | timeout | closed | error C MSG
 *        payload: `crc <crc32>` when len > 65536; else `obj <hex> <repr>` on obj channels,
 *        `text <hex>` on txt channels, `hex <hex>` otherwise
 *   recv_many NAME COUNT TIMEOUT       msgs <n> <hex,hex,...> (or `msgs 0 -`); stops at COUNT
 *                                      messages or at the TIMEOUT deadline (total)
 *   sleep SECONDS                      ok
 *   quit                               ok, then exits
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
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
    int kind; /* YOTON_PUB / YOTON_SUB */
    yoton_channel *ch;
} named_channel;

static yoton_context *g_ctx;
static yoton_connection *g_conns[MAX_CONNS];
static size_t g_nconns;
static named_channel g_chans[MAX_CHANNELS];
static size_t g_nchans;

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

static void cmd_channel_new(char *rest, bool is_pub) {
    char *name = next_word(&rest);
    char *base = next_word(&rest);
    char *type = next_word(&rest);
    if (!name || !base || !type || strlen(name) >= 64 || strlen(type) >= 64)
        return reply_usage("pub|sub NAME BASE TYPE");
    if (g_nchans >= MAX_CHANNELS) return reply_usage("too many channels");
    for (size_t i = 0; i < g_nchans; i++)
        if (strcmp(g_chans[i].name, name) == 0) return reply_usage("channel name in use");
    yoton_channel *ch = NULL;
    int rc = is_pub ? yoton_pub_new(g_ctx, base, type, &ch) : yoton_sub_new(g_ctx, base, type, &ch);
    if (rc != YOTON_OK) return reply_error(rc);
    named_channel *nc = &g_chans[g_nchans++];
    snprintf(nc->name, sizeof nc->name, "%s", name);
    snprintf(nc->type, sizeof nc->type, "%s", type);
    nc->kind = is_pub ? YOTON_PUB : YOTON_SUB;
    nc->ch = ch;
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
    if (!nc || !cw || !prefix) return reply_usage("send_many NAME COUNT PREFIX");
    unsigned long count = strtoul(cw, NULL, 10);
    char buf[256];
    for (unsigned long i = 0; i < count; i++) {
        int n = snprintf(buf, sizeof buf, "%s%lu", prefix, i);
        if (n < 0 || (size_t)n >= sizeof buf) return reply_usage("prefix too long");
        int rc = yoton_pub_send(nc->ch, buf, (size_t)n);
        if (rc != YOTON_OK) return reply_error(rc);
    }
    reply("ok %lu", count);
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
    } else if (strcmp(cmd, "pub") == 0) {
        cmd_channel_new(rest, true);
    } else if (strcmp(cmd, "sub") == 0) {
        cmd_channel_new(rest, false);
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
    for (size_t i = 0; i < g_nchans; i++) yoton_channel_free(g_chans[i].ch);
    for (size_t i = 0; i < g_nconns; i++) yoton_connection_free(g_conns[i]);
    yoton_context_free(g_ctx);
    return 0;
}
