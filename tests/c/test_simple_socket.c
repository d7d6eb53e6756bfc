/* Simple sockets (the original's SimpleSocket: a context with a TEXT publisher and subscriber
 * on slot base "text") over loopback: two sockets connected through their contexts exchange
 * texts both ways, ordinary channels on "text" interoperate with them, the context handle and
 * the socket have independent lifetimes, and bad input is refused. */
#include "ytest.h"

#include <math.h>

static yoton_simple_socket *make_socket(void) {
    yoton_simple_socket *s = NULL;
    CHECK_OK(yoton_simple_socket_new(&s));
    return s;
}

static yoton_context *socket_context(const yoton_simple_socket *s) {
    yoton_context *ctx = NULL;
    CHECK_OK(yoton_simple_socket_context(s, &ctx));
    return ctx;
}

static int sock_send(const yoton_simple_socket *s, const char *text) {
    return yoton_simple_socket_send(s, text, strlen(text));
}

/* The next text on `s` (within YT_WAIT) must be `text`. */
static int sock_recv_is(const yoton_simple_socket *s, const char *text, const char *file,
                        int line) {
    yoton_message *m = NULL;
    const void *data = NULL;
    size_t len = 0;
    int ok;
    int rc = yoton_simple_socket_recv(s, YT_WAIT, &m);
    if (rc != YOTON_OK) {
        return yt_check_rc(rc, YOTON_OK, "yoton_simple_socket_recv", file, line);
    }
    yoton_message_data(m, &data, &len);
    ok = yt_check_streq((const char *)data, text, "received", text, file, line);
    ok = ok && yt_check_eq_ll((long long)len, (long long)strlen(text), "len", "strlen", file, line);
    yoton_message_free(m);
    return ok;
}
#define CHECK_SOCK_RECV(s, text) sock_recv_is((s), (text), __FILE__, __LINE__)

static void test_exchange(void) {
    yoton_simple_socket *s1 = make_socket();
    yoton_simple_socket *s2 = make_socket();
    yoton_context *c1 = socket_context(s1);
    yoton_context *c2 = socket_context(s2);
    yoton_message *m = NULL;
    uint64_t id = 0, source = 0;
    int i;

    YT_SECTION("two simple sockets exchange texts both ways");
    CHECK(yt_link(c1, c2, NULL, NULL));
    CHECK_OK(sock_send(s1, "hello from 1"));
    CHECK_SOCK_RECV(s2, "hello from 1");
    CHECK_OK(sock_send(s2, "hello from 2"));
    CHECK_SOCK_RECV(s1, "hello from 2");
    /* Order is kept, texts may be any UTF-8. */
    for (i = 0; i < 50; i++) {
        char text[32];
        snprintf(text, sizeof text, "line %d \xc3\xa9", i);
        CHECK_OK(sock_send(s2, text));
    }
    for (i = 0; i < 50; i++) {
        char text[32];
        snprintf(text, sizeof text, "line %d \xc3\xa9", i);
        CHECK_SOCK_RECV(s1, text);
    }
    /* The message knows its sender (the other socket's context). */
    CHECK_OK(sock_send(s1, "who"));
    CHECK_OK(yoton_simple_socket_recv(s2, YT_WAIT, &m));
    CHECK_OK(yoton_context_id(c1, &id));
    CHECK_OK(yoton_message_source_id(m, &source));
    CHECK_EQ_U64(source, id);
    yoton_message_free(m);
    m = NULL;
    /* Nothing more: a zero timeout gives TIMEOUT at once; a socket does not hear itself. */
    CHECK_RC(yoton_simple_socket_recv(s1, 0.0, &m), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_simple_socket_recv(s2, 0.05, &m), YOTON_ERR_TIMEOUT);
    CHECK(m == NULL);
    /* An empty text is skipped (nothing is sent). */
    CHECK_OK(yoton_simple_socket_send(s1, "", 0));
    CHECK_OK(sock_send(s1, "after empty"));
    CHECK_SOCK_RECV(s2, "after empty");

    /* Freeing a context handle from yoton_simple_socket_context does not close the socket. */
    yoton_context_free(c1);
    c1 = NULL;
    CHECK_OK(sock_send(s1, "still here"));
    CHECK_SOCK_RECV(s2, "still here");
    CHECK_OK(sock_send(s2, "and back"));
    CHECK_SOCK_RECV(s1, "and back");

    yoton_simple_socket_free(s1);
    yoton_simple_socket_free(s2);
    yoton_context_free(c2);
}

static void test_interop_with_channels(void) {
    yoton_simple_socket *s = make_socket();
    yoton_context *sc = socket_context(s);
    yoton_context *other = yt_context();
    yoton_channel *pub = NULL, *sub = NULL;
    char slot[64];

    YT_SECTION("a simple socket talks to ordinary TEXT channels on base \"text\"");
    CHECK_OK(yoton_pub_new(other, "text", "txt", &pub));
    CHECK_OK(yoton_sub_new(other, "text", NULL, &sub));
    CHECK_OK(yoton_channel_slot_outgoing(pub, slot, sizeof slot, NULL));
    CHECK_STREQ(slot, "text.txt.pub-sub");
    CHECK(yt_link(other, sc, NULL, NULL));
    CHECK_OK(sock_send(s, "to a channel"));
    CHECK_RECV(sub, "to a channel");
    CHECK_OK(yoton_pub_send(pub, "from a channel", 14));
    CHECK_SOCK_RECV(s, "from a channel");
    yoton_channel_free(pub);
    yoton_channel_free(sub);
    yoton_simple_socket_free(s);
    yoton_context_free(sc);
    yoton_context_free(other);
}

static void test_lifetimes(void) {
    yoton_simple_socket *s1 = make_socket();
    yoton_simple_socket *s2 = make_socket();
    yoton_context *c1 = socket_context(s1);
    yoton_context *c2 = socket_context(s2);
    yoton_connection *h = NULL;
    yoton_connection *peer = NULL;
    size_t n = 0;

    YT_SECTION("a simple socket freed while its context handle lives; the context freed last");
    CHECK(yt_link(c1, c2, &h, &peer));
    CHECK_OK(sock_send(s1, "ping"));
    CHECK_SOCK_RECV(s2, "ping");
    /* The socket goes, the context stays (another handle exists): still connected. */
    yoton_simple_socket_free(s1);
    s1 = NULL;
    CHECK_OK(yoton_context_connection_count(c1, &n));
    CHECK_EQ_INT(n, 1);
    /* Its subscriber is gone: texts from s2 are simply not received by anyone there. */
    CHECK_OK(sock_send(s2, "into the void"));
    /* The last handle closes the context: the peer sees the connection close. */
    yoton_context_free(c1);
    c1 = NULL;
    CHECK(yt_wait_status(h, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(yt_wait_status(peer, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK_OK(yoton_context_connection_count_all(c2, &n));
    CHECK_EQ_INT(n, 0);
    yoton_connection_free(h);
    yoton_connection_free(peer);
    yoton_simple_socket_free(s2);
    yoton_context_free(c2);
}

static void test_bad_input(void) {
    yoton_simple_socket *s = make_socket();
    yoton_context *ctx = NULL;
    yoton_message *m = NULL;

    YT_SECTION("simple socket: bad input");
    CHECK_RC(yoton_simple_socket_new(NULL), YOTON_ERR_INVALID_ARGUMENT);
    yoton_simple_socket_free(NULL);
    CHECK_RC(yoton_simple_socket_context(NULL, &ctx), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_simple_socket_context(s, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(ctx == NULL);
    CHECK_RC(yoton_simple_socket_send(NULL, "x", 1), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_simple_socket_send(s, NULL, 3), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_OK(yoton_simple_socket_send(s, NULL, 0)); /* empty: skipped */
    CHECK_RC(yoton_simple_socket_send(s, "a" "\xff" "b", 3), YOTON_ERR_ENCODING);
    CHECK_RC(yoton_simple_socket_recv(NULL, 0.0, &m), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_simple_socket_recv(s, 0.0, NULL), YOTON_ERR_INVALID_ARGUMENT);
    CHECK_RC(yoton_simple_socket_recv(s, NAN, &m), YOTON_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
    /* Without any connection, sends go to the startup queue: fine. */
    CHECK_OK(yoton_simple_socket_send(s, "queued", 6));
    /* The socket's context closed through a handle: sends refused, receiving says CLOSED. */
    CHECK_OK(yoton_simple_socket_context(s, &ctx));
    CHECK_OK(yoton_context_close(ctx));
    CHECK_RC(yoton_simple_socket_send(s, "late", 4), YOTON_ERR_CLOSED);
    CHECK_RC(yoton_simple_socket_recv(s, 0.0, &m), YOTON_ERR_CLOSED);
    CHECK_RC(yoton_simple_socket_recv(s, -1.0, &m), YOTON_ERR_CLOSED); /* does not block */
    yoton_context_free(ctx);
    yoton_simple_socket_free(s);
}

int main(void) {
    test_exchange();
    test_interop_with_channels();
    test_lifetimes();
    test_bad_input();
    return yt_summary("test_simple_socket");
}
