/* hello: a publisher and a subscriber in two processes.
 *
 *   hello sub [address] [count]     # start this first (it binds and waits)
 *   hello pub [address] [count]     # then this (it connects, publishes, flushes, exits)
 *
 * address defaults to "localhost:yoton_hello" (a named port: yoton hashes the name to a port
 * number in 49152..65535, the same in every program), count to 10.
 *
 * Who binds? The subscriber. It is the long-lived side: it binds, creates its subscriber and
 * then waits for a publisher. The publisher connects with retries for up to 5 s, so the two
 * may be started in either order within those 5 s, and every message it publishes after the
 * connection is up reaches the subscriber. (The other way round also works in yoton, because
 * a bound connection queues what is published until a peer connects, but then the publisher
 * would have to wait for the subscriber before it may exit.)
 *
 * Both sides exit by themselves: the publisher after flushing its messages, the subscriber
 * after `count` messages, or after 10 s without a message (exit status 1).
 *
 * Build: part of the CMake build (build/examples/hello), or by hand:
 *   cc -std=c11 hello.c -o hello $(pkg-config --cflags --libs yoton)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yoton.h>

#define DEFAULT_ADDRESS "localhost:yoton_hello"

/* Print the details of a failed call and exit. */
static void die(const char *what, int rc) {
    fprintf(stderr, "hello: %s failed: %s (%s)\n", what, yoton_strerror(rc), yoton_last_error());
    exit(1);
}

static int run_sub(const char *address, int count) {
    yoton_context *ctx = NULL;
    yoton_channel *sub = NULL;
    yoton_connection *conn = NULL;
    int rc, received = 0;

    if ((rc = yoton_context_new(&ctx)) != YOTON_OK) die("yoton_context_new", rc);
    /* Create the subscriber before anyone can connect, so nothing is missed. */
    if ((rc = yoton_sub_new(ctx, "hello", "txt", &sub)) != YOTON_OK) die("yoton_sub_new", rc);
    /* Bind: returns at once with a connection that waits for one peer. max_tries 1: fail if
     * the port is taken rather than silently using another one the publisher won't find. */
    if ((rc = yoton_context_bind(ctx, address, 1, "hello-sub", &conn)) != YOTON_OK)
        die("yoton_context_bind", rc);
    {
        uint16_t port = 0;
        yoton_connection_port1(conn, &port);
        printf("sub: listening on %s (port %u), waiting for %d messages\n", address,
               (unsigned)port, count);
        fflush(stdout);
    }

    while (received < count) {
        yoton_message *msg = NULL;
        const void *data = NULL;
        size_t len = 0;
        /* Wait up to 10 s for the next message; a TEXT body is a NUL-terminated string. */
        rc = yoton_sub_recv(sub, 10.0, &msg);
        if (rc == YOTON_ERR_TIMEOUT) {
            fprintf(stderr, "sub: no message for 10 s, giving up after %d\n", received);
            break;
        }
        if (rc != YOTON_OK) die("yoton_sub_recv", rc);
        yoton_message_data(msg, &data, &len);
        printf("sub: received \"%s\"\n", (const char *)data);
        fflush(stdout);
        yoton_message_free(msg);
        received++;
    }

    /* Release everything; freeing the context closes its connections and channels. */
    yoton_connection_free(conn);
    yoton_channel_free(sub);
    yoton_context_free(ctx);
    printf("sub: done, %d of %d messages\n", received, count);
    return received == count ? 0 : 1;
}

static int run_pub(const char *address, int count) {
    yoton_context *ctx = NULL;
    yoton_channel *pub = NULL;
    yoton_connection *conn = NULL;
    int rc, i;

    if ((rc = yoton_context_new(&ctx)) != YOTON_OK) die("yoton_context_new", rc);
    if ((rc = yoton_pub_new(ctx, "hello", "txt", &pub)) != YOTON_OK) die("yoton_pub_new", rc);
    /* Connect, retrying for up to 5 s while the subscriber is not there yet. */
    if ((rc = yoton_context_connect(ctx, address, 5.0, "hello-pub", &conn)) != YOTON_OK)
        die("yoton_context_connect", rc);
    printf("pub: connected to %s\n", address);

    for (i = 0; i < count; i++) {
        char text[32];
        snprintf(text, sizeof text, "hello %d", i);
        if ((rc = yoton_pub_send(pub, text, strlen(text))) != YOTON_OK) die("yoton_pub_send", rc);
        printf("pub: sent \"%s\"\n", text);
    }

    /* Sends are asynchronous: wait until everything is written before closing, because
     * closing drops what is still queued. */
    if ((rc = yoton_context_flush(ctx, 5.0)) != YOTON_OK) die("yoton_context_flush", rc);
    yoton_connection_close(conn, "publisher done");
    yoton_connection_free(conn);
    yoton_channel_free(pub);
    yoton_context_free(ctx);
    printf("pub: done\n");
    return 0;
}

int main(int argc, char **argv) {
    const char *role = argc > 1 ? argv[1] : "";
    const char *address = argc > 2 ? argv[2] : DEFAULT_ADDRESS;
    int count = argc > 3 ? atoi(argv[3]) : 10;

    if (count <= 0 || (strcmp(role, "pub") != 0 && strcmp(role, "sub") != 0)) {
        fprintf(stderr,
                "usage: %s sub|pub [address] [count]\n"
                "  start 'sub' first (it binds), then 'pub' (it connects within 5 s)\n"
                "  address defaults to %s, count to 10\n",
                argv[0], DEFAULT_ADDRESS);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* line-buffered even into a pipe or file */
    return strcmp(role, "sub") == 0 ? run_sub(address, count) : run_pub(address, count);
}
