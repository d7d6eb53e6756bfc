/* event_chat: the chat of the original yoton documentation, written event-driven. Nothing
 * polls in a loop of its own: the program sets up callbacks and hands control to yoton's
 * event loop (yoton_start_event_loop), which calls them on this one thread.
 *
 *   event_chat NAME BIND-ADDRESS [CONNECT-ADDRESS] [--seconds N]
 *
 * Same network as the chat example: every node binds BIND-ADDRESS (one peer per bind) and may
 * connect to the previous node, so nodes form a chain and everyone hears everyone:
 *
 *   terminal 1:  event_chat alice localhost:chat_alice
 *   terminal 2:  event_chat bob   localhost:chat_bob   localhost:chat_alice
 *
 * Non-interactive (exits by itself):
 *
 *   (sleep 1; echo 'hi bob')   | event_chat alice localhost:chat_alice --seconds 2 &
 *   (sleep 1; echo 'hi alice') | event_chat bob localhost:chat_bob localhost:chat_alice --seconds 2
 *
 * The callbacks:
 *   - `received` on the subscriber prints what the others say (a burst of messages gives one
 *     call, so it takes everything pending);
 *   - stdin is read by a callback that re-schedules itself with yoton_call_later every 50 ms
 *     and looks at stdin with poll(timeout 0), so it never blocks the loop;
 *   - `closed` on our connections tells when a neighbour leaves;
 *   - a repeating 1 s timer prints how many neighbours are connected when that changes;
 *   - at end of input a oneshot timer of N seconds (--seconds, default 2) ends the loop with
 *     yoton_stop_event_loop. A watchdog timer ends it after 10 minutes anyway.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yoton.h>

static void die(const char *what, int rc) {
    fprintf(stderr, "event_chat: %s failed: %s (%s)\n", what, yoton_strerror(rc),
            yoton_last_error());
    exit(1);
}

/* Everything the callbacks need, handed to them as user data. */
struct chat {
    const char *name;
    yoton_context *ctx;
    yoton_channel *pub, *sub;
    yoton_timer *linger; /* oneshot: started at end of input */
    char buf[4096];      /* partial stdin line */
    size_t used;
    size_t neighbours;
};

/* received: print every pending message ("name: text", a C string). */
static void on_received(void *user_data) {
    struct chat *c = (struct chat *)user_data;
    yoton_message **msgs = NULL;
    size_t n = 0, i;
    if (yoton_sub_recv_all(c->sub, &msgs, &n) != YOTON_OK) return;
    for (i = 0; i < n; i++) {
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(msgs[i], &data, &len);
        printf("%s\n", (const char *)data);
    }
    fflush(stdout);
    yoton_message_array_free(msgs, n);
}

static void say(struct chat *c, const char *line, size_t len) {
    char text[1200];
    int n = snprintf(text, sizeof text, "%s: %.*s", c->name, (int)(len > 1024 ? 1024 : len), line);
    int rc = yoton_pub_send(c->pub, text, (size_t)n);
    if (rc == YOTON_ERR_ENCODING) fprintf(stderr, "event_chat: line is not UTF-8, not sent\n");
    else if (rc != YOTON_OK) die("yoton_pub_send", rc);
}

/* stdin: read what is there without blocking, publish complete lines, reschedule. */
static void read_stdin(void *user_data) {
    struct chat *c = (struct chat *)user_data;
    struct pollfd p;
    p.fd = 0;
    p.events = POLLIN;
    p.revents = 0;
    while (poll(&p, 1, 0) > 0) {
        ssize_t n = read(0, c->buf + c->used, sizeof c->buf - 1 - c->used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { /* end of input */
            if (c->used > 0) say(c, c->buf, c->used);
            yoton_context_flush(c->ctx, 5.0);
            fprintf(stderr, "event_chat: %s: end of input, listening a little longer\n", c->name);
            yoton_timer_start(c->linger, -1.0, -1);
            return; /* not rescheduled */
        }
        c->used += (size_t)n;
        char *start = c->buf, *nl;
        while ((nl = (char *)memchr(start, '\n', c->used - (size_t)(start - c->buf))) != NULL) {
            say(c, start, (size_t)(nl - start));
            start = nl + 1;
        }
        c->used -= (size_t)(start - c->buf);
        memmove(c->buf, start, c->used);
        if (c->used == sizeof c->buf - 1) { /* an over-long line: send what we have */
            say(c, c->buf, c->used);
            c->used = 0;
        }
    }
    yoton_call_later(0.05, read_stdin, c, NULL);
}

/* closed: a neighbour left (or our connection went away). */
static void on_closed(void *user_data, const char *reason) {
    fprintf(stderr, "event_chat: %s: a connection closed: %s\n", (const char *)user_data, reason);
}

/* Every second: report the number of neighbours when it changed. */
static void on_tick(void *user_data) {
    struct chat *c = (struct chat *)user_data;
    size_t n = 0;
    yoton_context_connection_count(c->ctx, &n);
    if (n != c->neighbours) {
        fprintf(stderr, "event_chat: %s: %zu neighbour(s) connected\n", c->name, n);
        c->neighbours = n;
    }
}

static void stop_loop(void *user_data) {
    (void)user_data;
    yoton_stop_event_loop();
}

int main(int argc, char **argv) {
    const char *positional[3] = {NULL, NULL, NULL};
    int npos = 0, rc, i;
    double linger = 2.0;
    struct chat c;
    yoton_connection *bound = NULL, *connected = NULL;
    yoton_timer *tick = NULL, *watchdog = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) linger = atof(argv[++i]);
        else if (npos < 3 && argv[i][0] != '-') positional[npos++] = argv[i];
        else { npos = -1; break; }
    }
    if (npos < 2 || !(linger > 0)) {
        fprintf(stderr, "usage: %s NAME BIND-ADDRESS [CONNECT-ADDRESS] [--seconds N]\n", argv[0]);
        return 2;
    }
    memset(&c, 0, sizeof c);
    c.name = positional[0];

    if ((rc = yoton_context_new(&c.ctx)) != YOTON_OK) die("yoton_context_new", rc);
    if ((rc = yoton_pub_new(c.ctx, "chat", "txt", &c.pub)) != YOTON_OK) die("yoton_pub_new", rc);
    if ((rc = yoton_sub_new(c.ctx, "chat", "txt", &c.sub)) != YOTON_OK) die("yoton_sub_new", rc);
    if ((rc = yoton_channel_on_received(c.sub, on_received, &c, NULL, NULL)) != YOTON_OK)
        die("yoton_channel_on_received", rc);

    if ((rc = yoton_context_bind(c.ctx, positional[1], 1, NULL, &bound)) != YOTON_OK)
        die("yoton_context_bind", rc);
    yoton_connection_on_closed(bound, on_closed, (void *)c.name, NULL, NULL);
    fprintf(stderr, "event_chat: %s listening on %s\n", c.name, positional[1]);
    if (positional[2] != NULL) {
        if ((rc = yoton_context_connect(c.ctx, positional[2], 5.0, NULL, &connected)) != YOTON_OK)
            die("yoton_context_connect", rc);
        yoton_connection_on_closed(connected, on_closed, (void *)c.name, NULL, NULL);
        fprintf(stderr, "event_chat: %s connected to %s\n", c.name, positional[2]);
    }

    /* Timers: neighbour count, the linger after end of input, a watchdog. */
    if ((rc = yoton_timer_new(1.0, false, &tick)) != YOTON_OK) die("yoton_timer_new", rc);
    yoton_timer_bind(tick, on_tick, &c, NULL, NULL);
    yoton_timer_start(tick, -1.0, -1);
    if ((rc = yoton_timer_new(linger, true, &c.linger)) != YOTON_OK) die("yoton_timer_new", rc);
    yoton_timer_bind(c.linger, stop_loop, NULL, NULL, NULL);
    if ((rc = yoton_timer_new(600.0, true, &watchdog)) != YOTON_OK) die("yoton_timer_new", rc);
    yoton_timer_bind(watchdog, stop_loop, NULL, NULL, NULL);
    yoton_timer_start(watchdog, -1.0, -1);

    /* Start reading stdin, then let yoton run everything until a callback stops it. */
    yoton_call_later(0.0, read_stdin, &c, NULL);
    if ((rc = yoton_start_event_loop()) != YOTON_OK) die("yoton_start_event_loop", rc);

    /* A peer may have connected while we listened: deliver what waited for it. */
    yoton_context_flush(c.ctx, 5.0);
    fprintf(stderr, "event_chat: %s: bye\n", c.name);

    /* Freeing handles ends their bindings (no callback can come after this). */
    yoton_timer_free(tick);
    yoton_timer_free(c.linger);
    yoton_timer_free(watchdog);
    yoton_connection_free(bound);
    yoton_connection_free(connected);
    yoton_channel_free(c.pub);
    yoton_channel_free(c.sub);
    yoton_context_free(c.ctx);
    return 0;
}
