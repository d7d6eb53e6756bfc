/* network: the "abstract network" of the original yoton documentation, in one program.
 *
 *   network [messages]        (default 5)
 *
 * Contexts are the nodes of a network; connections are its edges; a message published in one
 * context reaches every subscriber anywhere in the network, hop by hop, exactly once. A
 * context without any channel is a pure router. Here:
 *
 *                  +--------------+
 *   [publisher] ---|    router    |--- [subscriber 1]
 *                  | (no channel) |
 *                  +--------------+--- [relay] --- [subscriber 2]
 *
 * The publisher's messages cross two hops to subscriber 1 and three hops to subscriber 2
 * (through the router and the relay, which has no channel either). The program checks that
 * each subscriber gets each message exactly once, in order, with the publisher's id as the
 * source, then exits. Everything runs over loopback on free ports ("localhost:0").
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yoton.h>

static void die(const char *what, int rc) {
    fprintf(stderr, "network: %s failed: %s (%s)\n", what, yoton_strerror(rc), yoton_last_error());
    exit(1);
}

/* Link two contexts: `host` binds a free loopback port, `client` connects to it. */
static void link_contexts(const yoton_context *host, const yoton_context *client,
                          const char *label) {
    yoton_connection *hc = NULL, *cc = NULL;
    uint16_t port = 0;
    char address[64];
    int rc, status = 0, tries;

    if ((rc = yoton_context_bind(host, "localhost:0", 1, label, &hc)) != YOTON_OK)
        die("yoton_context_bind", rc);
    yoton_connection_port1(hc, &port);
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    if ((rc = yoton_context_connect(client, address, 5.0, label, &cc)) != YOTON_OK)
        die("yoton_context_connect", rc);
    /* connect() returns once the client side is connected; the host side follows a moment
     * later. Wait for it (bounded), so that the whole network is up before we publish. */
    for (tries = 0; tries < 500; tries++) {
        yoton_connection_get_status(hc, &status);
        if (status == YOTON_STATUS_HOSTING) break;
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL); /* up to 500 x 10 ms */
    }
    if (status != YOTON_STATUS_HOSTING) {
        fprintf(stderr, "network: %s did not come up\n", label);
        exit(1);
    }
    printf("  linked %-18s (port %u)\n", label, (unsigned)port);
    /* The context owns the connection; our handles are just references. */
    yoton_connection_free(hc);
    yoton_connection_free(cc);
}

/* Receive everything one subscriber gets and check it: `count` messages, in order, from
 * `source`, then nothing more. Returns the number of problems. */
static int check_subscriber(const char *name, const yoton_channel *sub, int count,
                            uint64_t source) {
    int i, problems = 0;
    yoton_message *msg = NULL;
    for (i = 0; i < count; i++) {
        const void *data = NULL;
        size_t len = 0;
        uint64_t from = 0;
        char want[32];
        int rc = yoton_sub_recv(sub, 5.0, &msg);
        if (rc != YOTON_OK) {
            printf("  %s: message %d missing (%s)\n", name, i, yoton_strerror(rc));
            return problems + count - i;
        }
        yoton_message_data(msg, &data, &len);
        yoton_message_source_id(msg, &from);
        snprintf(want, sizeof want, "news %d", i);
        printf("  %s received \"%s\" from %016llx\n", name, (const char *)data,
               (unsigned long long)from);
        if (strcmp((const char *)data, want) != 0 || from != source) problems++;
        yoton_message_free(msg);
    }
    /* Exactly once: no duplicate arrives later. */
    if (yoton_sub_recv(sub, 0.3, &msg) == YOTON_OK) {
        printf("  %s: unexpected extra message\n", name);
        yoton_message_free(msg);
        problems++;
    }
    return problems;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 5;
    yoton_context *publisher = NULL, *router = NULL, *relay = NULL, *sub1 = NULL, *sub2 = NULL;
    yoton_channel *pub = NULL, *s1 = NULL, *s2 = NULL;
    uint64_t publisher_id = 0;
    int rc, i, problems = 0;

    if (count <= 0 || count > 100000) {
        fprintf(stderr, "usage: %s [messages]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Five nodes. */
    yoton_context **nodes[] = {&publisher, &router, &relay, &sub1, &sub2};
    for (i = 0; i < 5; i++) {
        if ((rc = yoton_context_new(nodes[i])) != YOTON_OK) die("yoton_context_new", rc);
    }
    yoton_context_id(publisher, &publisher_id);

    /* Channels only at the edges: the router and the relay have none. */
    if ((rc = yoton_pub_new(publisher, "news", "txt", &pub)) != YOTON_OK) die("yoton_pub_new", rc);
    if ((rc = yoton_sub_new(sub1, "news", "txt", &s1)) != YOTON_OK) die("yoton_sub_new", rc);
    if ((rc = yoton_sub_new(sub2, "news", "txt", &s2)) != YOTON_OK) die("yoton_sub_new", rc);

    /* The edges. A bind accepts one peer, so the router binds once per neighbour. */
    printf("building the network:\n");
    link_contexts(router, publisher, "publisher-router");
    link_contexts(router, sub1, "router-sub1");
    link_contexts(router, relay, "router-relay");
    link_contexts(relay, sub2, "relay-sub2");
    {
        size_t n = 0;
        yoton_context_connection_count(router, &n);
        printf("  the router has %zu connections and no channel\n", n);
    }

    printf("publishing %d messages from %016llx:\n", count, (unsigned long long)publisher_id);
    for (i = 0; i < count; i++) {
        char text[32];
        snprintf(text, sizeof text, "news %d", i);
        if ((rc = yoton_pub_send(pub, text, strlen(text))) != YOTON_OK) die("yoton_pub_send", rc);
    }

    printf("subscriber 1 (two hops away):\n");
    problems += check_subscriber("sub1", s1, count, publisher_id);
    printf("subscriber 2 (three hops away):\n");
    problems += check_subscriber("sub2", s2, count, publisher_id);

    /* Freeing a context closes its connections; the others notice and clean up. */
    yoton_channel_free(pub);
    yoton_channel_free(s1);
    yoton_channel_free(s2);
    for (i = 0; i < 5; i++) yoton_context_free(*nodes[i]);

    if (problems == 0) {
        printf("ok: every subscriber got every message exactly once\n");
        return 0;
    }
    printf("FAILED: %d problem(s)\n", problems);
    return 1;
}
