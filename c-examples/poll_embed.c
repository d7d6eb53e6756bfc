/* poll_embed: yoton inside a host's own poll() loop, with no extra thread in the host. This is
 * how a native IDE plugin or any program with its own event loop integrates yoton: watch
 * yoton's wakeup fd next to its own fds, and run yoton's events when it is readable. All yoton
 * callbacks then run on the host's thread, inside its loop.
 *
 *   poll_embed [N]        (default 10; exits after receiving N messages)
 *
 * The program holds two contexts connected over loopback:
 *   - a "publisher" context whose yoton timer (100 ms, repeating) publishes "news #k";
 *   - a "host" context whose subscriber prints each message from its `received` callback.
 * The host loop also has a timer of its own (every 250 ms, it prints a status line), to show
 * how yoton's deadlines and the host's are merged into one poll timeout.
 *
 * The wakeup fd is level-triggered: readable exactly while yoton events are pending. Never
 * read from it or close it; just call yoton_process_events(0, NULL) when it is readable.
 * Yoton's timers are run by a yoton thread that makes the fd readable when they are due, so
 * the fd alone is enough; yoton_time_until_next_timer only tells when that will happen next,
 * which a host can use to size its poll timeout (here: min of yoton's and the host's own).
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yoton.h>

static void die(const char *what, int rc) {
    fprintf(stderr, "poll_embed: %s failed: %s (%s)\n", what, yoton_strerror(rc),
            yoton_last_error());
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct app {
    yoton_channel *pub, *sub;
    int sent, received, wanted;
};

/* yoton timer callback (runs in the host loop): publish the next message. */
static void publish_next(void *user_data) {
    struct app *a = (struct app *)user_data;
    char text[64];
    int n = snprintf(text, sizeof text, "news #%d", ++a->sent);
    int rc = yoton_pub_send(a->pub, text, (size_t)n);
    if (rc != YOTON_OK) die("yoton_pub_send", rc);
}

/* received callback (runs in the host loop): print what arrived. */
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
}

int main(int argc, char **argv) {
    struct app a;
    yoton_context *publisher = NULL, *host = NULL;
    yoton_connection *bound = NULL, *conn = NULL;
    yoton_timer *ticker = NULL;
    char address[64];
    uint16_t port = 0;
    int fd = -1, rc, rounds = 0;
    double next_status, deadline;

    memset(&a, 0, sizeof a);
    a.wanted = argc > 1 ? atoi(argv[1]) : 10;
    if (a.wanted <= 0) {
        fprintf(stderr, "usage: %s [N]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Two contexts on loopback: the host binds a free port, the publisher connects. */
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

    /* Callbacks: they will run inside the loop below, on this thread. */
    if ((rc = yoton_channel_on_received(a.sub, on_news, &a, NULL, NULL)) != YOTON_OK)
        die("yoton_channel_on_received", rc);
    if ((rc = yoton_timer_new(0.1, false, &ticker)) != YOTON_OK) die("yoton_timer_new", rc);
    yoton_timer_bind(ticker, publish_next, &a, NULL, NULL);
    yoton_timer_start(ticker, -1.0, -1);

    if ((rc = yoton_wakeup_fd(&fd)) != YOTON_OK) die("yoton_wakeup_fd", rc);

    /* The host's loop. */
    next_status = now() + 0.25;
    deadline = now() + 30.0; /* a bound, in case something goes wrong */
    while (a.received < a.wanted && now() < deadline) {
        struct pollfd fds[1];
        double yoton_next = -1.0, host_next = next_status - now(), wait;
        int n;

        /* One poll timeout for both: the host's next status line and yoton's next timer. */
        yoton_time_until_next_timer(&yoton_next);
        wait = host_next;
        if (yoton_next >= 0.0 && yoton_next < wait) wait = yoton_next;
        if (wait < 0.0) wait = 0.0;

        fds[0].fd = fd; /* a real host would have its own fds here too */
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        n = poll(fds, 1, (int)(wait * 1000.0) + 1);
        if (n > 0 && (fds[0].revents & POLLIN)) {
            size_t ran = 0;
            /* Runs every pending yoton event: received and timer callbacks. */
            if ((rc = yoton_process_events(0.0, &ran)) != YOTON_OK) die("yoton_process_events", rc);
            rounds++;
        }
        if (now() >= next_status) { /* the host's own timer */
            printf("host: %d sent, %d received, %d yoton rounds so far\n", a.sent, a.received,
                   rounds);
            next_status += 0.25;
        }
    }
    printf("host: done after %d messages (%s)\n", a.received,
           a.received >= a.wanted ? "ok" : "TIMED OUT");

    /* Free the timer and the channel first: that ends their callbacks. */
    yoton_timer_free(ticker);
    yoton_channel_free(a.sub);
    yoton_channel_free(a.pub);
    yoton_connection_free(conn);
    yoton_connection_free(bound);
    yoton_context_free(publisher);
    yoton_context_free(host);
    return a.received >= a.wanted ? 0 : 1;
}
