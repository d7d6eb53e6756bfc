/* chat: every node runs the same program. It publishes the lines it reads from stdin on the
 * slot "chat" and prints what the others say.
 *
 *   chat NAME BIND-ADDRESS [CONNECT-ADDRESS] [--seconds N]
 *
 * Each node binds BIND-ADDRESS, so that one more node can connect to it, and optionally
 * connects to another node's address. One bind accepts one peer, so build a chain: every new
 * node connects to the address of the previous one. Messages travel along the chain (yoton
 * routes through every context, without duplicates), so everyone hears everyone:
 *
 *   terminal 1:  chat alice localhost:chat_alice
 *   terminal 2:  chat bob   localhost:chat_bob   localhost:chat_alice
 *   terminal 3:  chat carol localhost:chat_carol localhost:chat_bob
 *
 * At end of input (Ctrl-D, or the end of a pipe) a node flushes what it said, keeps listening
 * for N more seconds (--seconds, default 2) and exits. Non-interactive use:
 *
 *   printf 'hi bob\n'   | chat alice localhost:chat_alice --seconds 3 &
 *   printf 'hi alice\n' | chat bob localhost:chat_bob localhost:chat_alice --seconds 2
 *
 * Lines said before anyone is connected are not lost: they wait in the bound connection and
 * go out when a peer connects (within the --seconds window).
 *
 * This example uses one thread: poll(2) on stdin with a short timeout, and non-blocking
 * receives (timeout 0) in between. (yoton_sub_recv may equally be called from another
 * thread: every function of the API is thread-safe.)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yoton.h>

static void die(const char *what, int rc) {
    fprintf(stderr, "chat: %s failed: %s (%s)\n", what, yoton_strerror(rc), yoton_last_error());
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Print every message waiting on the subscriber. */
static void print_incoming(const yoton_channel *sub) {
    yoton_message *msg = NULL;
    while (yoton_sub_recv(sub, 0.0, &msg) == YOTON_OK) {
        const void *data = NULL;
        size_t len = 0;
        yoton_message_data(msg, &data, &len);
        printf("%s\n", (const char *)data); /* "name: text", NUL-terminated */
        yoton_message_free(msg);
    }
    fflush(stdout);
}

/* Publish one line as "name: line". */
static void say(const yoton_channel *pub, const char *name, const char *line, size_t len) {
    char text[1200];
    int n = snprintf(text, sizeof text, "%s: %.*s", name, (int)(len > 1024 ? 1024 : len), line);
    int rc = yoton_pub_send(pub, text, (size_t)n);
    if (rc == YOTON_ERR_ENCODING) {
        fprintf(stderr, "chat: line is not UTF-8, not sent\n");
    } else if (rc != YOTON_OK) {
        die("yoton_pub_send", rc);
    }
}

int main(int argc, char **argv) {
    const char *positional[3] = {NULL, NULL, NULL};
    int npos = 0;
    double linger = 2.0;
    yoton_context *ctx = NULL;
    yoton_channel *pub = NULL, *sub = NULL;
    yoton_connection *bound = NULL, *connected = NULL;
    char buf[4096];
    size_t used = 0;
    int eof = 0;
    int rc, i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            linger = atof(argv[++i]);
        } else if (npos < 3 && argv[i][0] != '-') {
            positional[npos++] = argv[i];
        } else {
            npos = -1;
            break;
        }
    }
    if (npos < 2 || linger < 0) {
        fprintf(stderr, "usage: %s NAME BIND-ADDRESS [CONNECT-ADDRESS] [--seconds N]\n", argv[0]);
        return 2;
    }
    const char *name = positional[0];

    if ((rc = yoton_context_new(&ctx)) != YOTON_OK) die("yoton_context_new", rc);
    /* A publisher and a subscriber on the same slot do not collide (mirror slots), and a
     * context never receives its own messages, so we do not hear ourselves. */
    if ((rc = yoton_pub_new(ctx, "chat", "txt", &pub)) != YOTON_OK) die("yoton_pub_new", rc);
    if ((rc = yoton_sub_new(ctx, "chat", "txt", &sub)) != YOTON_OK) die("yoton_sub_new", rc);
    if ((rc = yoton_context_bind(ctx, positional[1], 1, NULL, &bound)) != YOTON_OK)
        die("yoton_context_bind", rc);
    fprintf(stderr, "chat: %s listening on %s\n", name, positional[1]);
    if (positional[2] != NULL) {
        if ((rc = yoton_context_connect(ctx, positional[2], 5.0, NULL, &connected)) != YOTON_OK)
            die("yoton_context_connect", rc);
        fprintf(stderr, "chat: %s connected to %s\n", name, positional[2]);
    }

    /* Read stdin line by line without blocking the receiving side. */
    while (!eof) {
        struct pollfd p;
        p.fd = 0;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = read(0, buf + used, sizeof buf - 1 - used);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                eof = 1;
            } else {
                char *start = buf, *nl;
                used += (size_t)n;
                while ((nl = memchr(start, '\n', used - (size_t)(start - buf))) != NULL) {
                    say(pub, name, start, (size_t)(nl - start));
                    start = nl + 1;
                }
                used -= (size_t)(start - buf);
                memmove(buf, start, used);
                if (used == sizeof buf - 1) { /* an over-long line: send what we have */
                    say(pub, name, buf, used);
                    used = 0;
                }
            }
        }
        print_incoming(sub);
    }
    if (used > 0) say(pub, name, buf, used); /* a last line without newline */

    /* End of input: make sure what we said is written, then keep listening a little. */
    yoton_context_flush(ctx, 5.0);
    fprintf(stderr, "chat: %s: end of input, listening for %.1f s more\n", name, linger);
    {
        double until = now() + linger;
        while (now() < until) {
            yoton_message *msg = NULL;
            rc = yoton_sub_recv(sub, 0.05, &msg);
            if (rc == YOTON_OK) {
                const void *data = NULL;
                size_t len = 0;
                yoton_message_data(msg, &data, &len);
                printf("%s\n", (const char *)data);
                fflush(stdout);
                yoton_message_free(msg);
            }
        }
    }
    /* A peer may have connected while we listened: deliver what waited for it. */
    yoton_context_flush(ctx, 5.0);

    yoton_connection_free(bound);
    yoton_connection_free(connected);
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_context_free(ctx);
    return 0;
}
