/* glib_embed: yoton inside a GLib main loop, the way a GTK (or, with QSocketNotifier, a Qt)
 * IDE plugin integrates it. All yoton callbacks run on the GLib main thread, between the
 * host's own events; the plugin never blocks and starts no thread of its own.
 *
 *   glib_embed [N] [--embed]     (default N = 10; exits after receiving N messages)
 *
 * Two ways to integrate, both shown here:
 *   - default: watch yoton's wakeup fd with g_unix_fd_add(). It is level-triggered (readable
 *     exactly while yoton events are pending), so the watch fires as long as there is work and
 *     no wakeup is ever lost. Never read from it or close it.
 *   - --embed: yoton_embed_event_loop(). Yoton calls our callback, from whichever thread posts
 *     an event, for the first event after each processing round; the callback only posts an
 *     idle job to the GLib context (thread-safe), and the job processes the events on the
 *     GLib thread. Use this where a loop cannot watch file descriptors.
 *
 * As in poll_embed: a "publisher" context publishes "news #k" from a 100 ms yoton timer; a
 * "host" context prints them from its `received` callback; a GLib timeout prints a status
 * line every 250 ms. Built only when GLib's development files are found (pkg-config
 * glib-2.0; Debian: libglib2.0-dev).
 */
#include <glib.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yoton.h>

static void die(const char *what, int rc) {
    fprintf(stderr, "glib_embed: %s failed: %s (%s)\n", what, yoton_strerror(rc),
            yoton_last_error());
    exit(1);
}

struct app {
    GMainLoop *loop;
    yoton_channel *pub, *sub;
    int sent, received, wanted, rounds;
};

/* --- the yoton side: callbacks run on the GLib thread ----------------------------------- */

static void publish_next(void *user_data) {
    struct app *a = (struct app *)user_data;
    char text[64];
    int n = snprintf(text, sizeof text, "news #%d", ++a->sent);
    int rc = yoton_pub_send(a->pub, text, (size_t)n);
    if (rc != YOTON_OK) die("yoton_pub_send", rc);
}

static void on_news(void *user_data) {
    struct app *a = (struct app *)user_data;
    yoton_message *msg = NULL;
    while (yoton_sub_recv(a->sub, 0.0, &msg) == YOTON_OK) {
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(msg, &data, &len);
        printf("received: %s\n", (const char *)data);
        a->received++;
        yoton_message_free(msg);
    }
    if (a->received >= a->wanted) g_main_loop_quit(a->loop);
}

/* Run yoton's pending events (the GLib thread only). */
static void run_yoton(struct app *a) {
    int rc = yoton_process_events(0.0, NULL);
    if (rc != YOTON_OK) die("yoton_process_events", rc);
    a->rounds++;
}

/* --- integration 1: an fd watch ----------------------------------------------------------- */

static gboolean on_wakeup_fd(gint fd, GIOCondition condition, gpointer user_data) {
    (void)fd;
    (void)condition;
    run_yoton((struct app *)user_data);
    return G_SOURCE_CONTINUE;
}

/* --- integration 2: yoton_embed_event_loop ------------------------------------------------- */

struct embed {
    GMainContext *context;
    struct app *app;
};

static gboolean embed_job(gpointer user_data) {
    run_yoton((struct app *)user_data);
    return G_SOURCE_REMOVE;
}

/* Called by yoton from ANY thread: only post a job to the GLib context. (An idle source, not
 * g_main_context_invoke: that would run the job at once when called on the GLib thread, i.e.
 * re-entrantly from inside a yoton callback, which yoton refuses.) */
static void embed_wakeup(void *user_data) {
    struct embed *e = (struct embed *)user_data;
    GSource *idle = g_idle_source_new();
    g_source_set_callback(idle, embed_job, e->app, NULL);
    g_source_attach(idle, e->context);
    g_source_unref(idle);
}

/* Yoton releases the embed user data once, after the last call of embed_wakeup (which can
 * still be under way on another thread when embedding is switched off). */
static void embed_release(void *user_data) {
    struct embed *e = (struct embed *)user_data;
    g_main_context_unref(e->context);
    g_free(e);
}

/* --- the host side ------------------------------------------------------------------------- */

static gboolean on_status(gpointer user_data) {
    struct app *a = (struct app *)user_data;
    printf("host: %d sent, %d received, %d yoton rounds so far\n", a->sent, a->received,
           a->rounds);
    return G_SOURCE_CONTINUE;
}

static gboolean on_deadline(gpointer user_data) {
    struct app *a = (struct app *)user_data;
    fprintf(stderr, "glib_embed: giving up after 30 s\n");
    g_main_loop_quit(a->loop);
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
    struct app a;
    yoton_context *publisher = NULL, *host = NULL;
    yoton_connection *bound = NULL, *conn = NULL;
    yoton_timer *ticker = NULL;
    char address[64];
    uint16_t port = 0;
    int fd = -1, rc, i, use_embed = 0;
    guint fd_watch = 0;

    memset(&a, 0, sizeof a);
    a.wanted = 10;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--embed") == 0) use_embed = 1;
        else a.wanted = atoi(argv[i]);
    }
    if (a.wanted <= 0) {
        fprintf(stderr, "usage: %s [N] [--embed]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    a.loop = g_main_loop_new(NULL, FALSE);

    if ((rc = yoton_context_new(&publisher)) != YOTON_OK) die("yoton_context_new", rc);
    if ((rc = yoton_context_new(&host)) != YOTON_OK) die("yoton_context_new", rc);
    if ((rc = yoton_pub_new(publisher, "news", "txt", &a.pub)) != YOTON_OK) die("yoton_pub_new", rc);
    if ((rc = yoton_sub_new(host, "news", "txt", &a.sub)) != YOTON_OK) die("yoton_sub_new", rc);
    if ((rc = yoton_context_bind(host, "localhost:0", 1, NULL, &bound)) != YOTON_OK)
        die("yoton_context_bind", rc);
    yoton_connection_port1(bound, &port);
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    if ((rc = yoton_context_connect(publisher, address, 5.0, NULL, &conn)) != YOTON_OK)
        die("yoton_context_connect", rc);
    printf("host context listening on %s, publisher connected\n", address);

    if ((rc = yoton_channel_on_received(a.sub, on_news, &a, NULL, NULL)) != YOTON_OK)
        die("yoton_channel_on_received", rc);
    if ((rc = yoton_timer_new(0.1, false, &ticker)) != YOTON_OK) die("yoton_timer_new", rc);
    yoton_timer_bind(ticker, publish_next, &a, NULL, NULL);
    yoton_timer_start(ticker, -1.0, -1);

    if (use_embed) {
        struct embed *e = g_new0(struct embed, 1);
        e->context = g_main_context_ref(g_main_context_default());
        e->app = &a;
        if ((rc = yoton_embed_event_loop(embed_wakeup, e, embed_release)) != YOTON_OK)
            die("yoton_embed_event_loop", rc);
        printf("integration: yoton_embed_event_loop + idle jobs\n");
    } else {
        if ((rc = yoton_wakeup_fd(&fd)) != YOTON_OK) die("yoton_wakeup_fd", rc);
        fd_watch = g_unix_fd_add(fd, G_IO_IN, on_wakeup_fd, &a);
        printf("integration: g_unix_fd_add on yoton's wakeup fd %d\n", fd);
    }
    g_timeout_add(250, on_status, &a);
    g_timeout_add_seconds(30, on_deadline, &a);

    g_main_loop_run(a.loop);
    printf("host: done after %d messages (%s)\n", a.received,
           a.received >= a.wanted ? "ok" : "TIMED OUT");

    /* Tear down: stop yoton's wakeups first, then free the handles (ends their callbacks). */
    if (use_embed) yoton_embed_event_loop(NULL, NULL, NULL);
    else g_source_remove(fd_watch);
    yoton_timer_free(ticker);
    yoton_channel_free(a.sub);
    yoton_channel_free(a.pub);
    yoton_connection_free(conn);
    yoton_connection_free(bound);
    yoton_context_free(publisher);
    yoton_context_free(host);
    /* Idle jobs still queued would process an empty yoton queue: harmless; drop them. */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_main_loop_unref(a.loop);
    return a.received >= a.wanted ? 0 : 1;
}
