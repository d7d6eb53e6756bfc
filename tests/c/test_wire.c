/* The wire seen from C: a hand-written peer (rawpeer.h) talks to yoton byte for byte.
 * Handshake lines both ways, the docs/protocol.md §2.5 package vectors, heartbeats and the timedout state,
 * deduplication, seq 0, zero-length packages, directed packages, invalid UTF-8 on a TEXT
 * slot, close packages, bad streams (lost track, huge lengths, EOF mid-package), non-yoton
 * clients, and the handshake failures a connecting context can meet. */
#include "ytest.h"
#include "rawpeer.h"

#include <pthread.h>
#include <signal.h>

#define RAW_ID 0x0123456789abcdefull

static int reason_is(const yoton_connection *conn, const char *prefix) {
    char reason[512];
    reason[0] = '\0';
    if (!CHECK_OK(yoton_connection_close_reason(conn, reason, sizeof reason, NULL))) {
        return 0;
    }
    if (strncmp(reason, prefix, strlen(prefix)) != 0) {
        printf("   close reason: \"%s\" (expected \"%s...\")\n", reason, prefix);
        return 0;
    }
    return 1;
}

/* Bind `ctx` on loopback and connect a raw client with a completed handshake. Returns the fd
 * (or -1); *conn gets the yoton side. */
static int raw_peer_of(const yoton_context *ctx, yoton_connection **conn) {
    char line[128];
    int fd;
    *conn = NULL;
    if (!CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, conn))) {
        return -1;
    }
    fd = raw_connect(yt_port(*conn));
    if (!CHECK(fd >= 0)) {
        return -1;
    }
    CHECK(raw_client_handshake(fd, RAW_ID, 4242, line, sizeof line) == 0);
    CHECK(yt_wait_status(*conn, YOTON_STATUS_HOSTING, YT_WAIT));
    return fd;
}

struct timedout_wait {
    const yoton_connection *conn;
    bool want;
};

static int timedout_is(void *arg) {
    struct timedout_wait *w = (struct timedout_wait *)arg;
    bool v = !w->want;
    return yoton_connection_is_timedout(w->conn, &v) == YOTON_OK && v == w->want;
}

static void test_raw_client(void) {
    yoton_context *ctx = yt_context();
    yoton_channel *sub = NULL;
    yoton_channel *pub = NULL;
    yoton_connection *conn = NULL;
    yoton_message *msg = NULL;
    yoton_message **all = NULL;
    char line[128];
    char want[128];
    unsigned char body[64];
    unsigned char raw56[RAW_HEADER];
    struct raw_header h;
    struct timedout_wait tw;
    uint64_t u = 0;
    size_t n = 0;
    int fd;
    int heartbeats = 0;
    uint64_t seq = 0;

    YT_SECTION("raw client -> yoton host");
    CHECK_OK(yoton_sub_new(ctx, "chat", "txt", &sub));
    CHECK_OK(yoton_pub_new(ctx, "chat", "txt", &pub));
    CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, &conn));
    fd = raw_connect(yt_port(conn));
    CHECK(fd >= 0);

    /* Handshake: we speak first, the host answers with its id and pid. */
    CHECK(raw_client_handshake(fd, RAW_ID, 4242, line, sizeof line) == 0);
    snprintf(want, sizeof want, "YOTON!%016llx.%u\r\n", (unsigned long long)yt_ctx_id(ctx),
             (unsigned)getpid());
    CHECK_STREQ(line, want);
    CHECK(yt_wait_status(conn, YOTON_STATUS_HOSTING, YT_WAIT));
    CHECK_OK(yoton_connection_id2(conn, &u));
    CHECK_EQ_U64(u, RAW_ID);
    CHECK_OK(yoton_connection_pid2(conn, &u));
    CHECK_EQ_U64(u, 4242);

    /* The docs/protocol.md §2.5 vector: chat.txt.pub-sub, seq 1, broadcast, "hello". */
    {
        static const unsigned char vec[] = {
            0x59, 0x4f, 0x54, 0x4f, 0x4e, 0x20, 0x20, 0x20, 0x8f, 0x16, 0x08, 0x54, 0xe1, 0x0f,
            0x00, 0x00, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x68, 0x65, 0x6c, 0x6c, 0x6f};
        CHECK(raw_write(fd, vec, sizeof vec) == 0);
    }
    CHECK_OK(yoton_sub_recv(sub, YT_WAIT, &msg));
    if (msg != NULL) {
        const void *data = NULL;
        CHECK_OK(yoton_message_data(msg, &data, &n));
        CHECK_STREQ((const char *)data, "hello");
        CHECK_OK(yoton_message_source_id(msg, &u));
        CHECK_EQ_U64(u, RAW_ID);
        CHECK_OK(yoton_message_source_seq(msg, &u));
        CHECK_EQ_U64(u, 1);
        yoton_message_free(msg);
        msg = NULL;
    }

    /* A duplicate seq is dropped; invalid UTF-8 on a TEXT slot is an ENCODING error on
     * recv (and that message is gone); seq 0 is never accepted. */
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 1, 0, "dup", 3) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 2, 0, "\xff\xfe", 2) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 0, 0, "zero", 4) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 3, 0, "three", 5) == 0);
    CHECK_RC(yoton_sub_recv(sub, YT_WAIT, &msg), YOTON_ERR_ENCODING);
    CHECK(msg == NULL);
    CHECK_RECV(sub, "three");

    /* A zero-length package with another seq is ignored; the connection stays up. */
    CHECK(raw_send_signal(fd, 7) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 4, 0, "four", 4) == 0);
    CHECK_RECV(sub, "four");

    /* recv_all skips invalid TEXT messages. */
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 5, 0, "\xc3", 1) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 6, 0, "six", 3) == 0);
    CHECK(yt_wait_pending(sub, 2, YT_WAIT));
    CHECK_OK(yoton_sub_recv_all(sub, &all, &n));
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        const void *data = NULL;
        size_t len = 0;
        CHECK_OK(yoton_message_data(all[0], &data, &len));
        CHECK_STREQ((const char *)data, "six");
    }
    yoton_message_array_free(all, n);

    /* Directed packages: to us is delivered, to someone else is not. */
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 7, 0x1111, "not mine", 8) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 8, yt_ctx_id(ctx), "mine", 4) == 0);
    CHECK_RECV(sub, "mine");

    /* A package in pieces (header, half the body, the rest later) arrives whole. */
    {
        unsigned char pkg[RAW_HEADER + 10];
        struct raw_header ph;
        ph.slot = SLOT_CHAT_PUB_SUB;
        ph.source_id = RAW_ID;
        ph.source_seq = 9;
        ph.dest_id = 0;
        ph.dest_seq = 0;
        ph.length = 10;
        raw_encode_header(pkg, &ph);
        memcpy(pkg + RAW_HEADER, "0123456789", 10);
        CHECK(raw_write(fd, pkg, 30) == 0);
        yt_sleep(0.02);
        CHECK(raw_write(fd, pkg + 30, RAW_HEADER + 10 - 30) == 0);
        CHECK_RECV(sub, "0123456789");
    }

    /* yoton_sub_recv_batch drops invalid TEXT messages too, and returns the valid ones
     * around them in order. */
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 10, 0, "ten", 3) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 11, 0, "\xff", 1) == 0);
    CHECK(raw_send_package(fd, SLOT_CHAT_PUB_SUB, RAW_ID, 12, 0, "twelve", 6) == 0);
    CHECK(yt_wait_pending(sub, 3, YT_WAIT));
    {
        char buf[64];
        size_t lens[4] = {0, 0, 0, 0};
        size_t count = 0;
        size_t used = 0;
        CHECK_OK(yoton_sub_recv_batch(sub, 0, buf, sizeof buf, lens, NULL, 4, &count, &used));
        CHECK_EQ_INT(count, 2);
        CHECK_EQ_INT(used, 9);
        CHECK_EQ_INT(lens[0], 3);
        CHECK_EQ_INT(lens[1], 6);
        CHECK_MEMEQ(buf, "tentwelve", 9);
    }

    /* yoton -> raw: one data package with the right header fields. */
    CHECK_OK(yoton_pub_send(pub, "hi", 2));
    memset(body, 0, sizeof body);
    CHECK(raw_read_data(fd, &h, body, sizeof body, YT_WAIT, &heartbeats) == 0);
    CHECK_EQ_U64(h.slot, SLOT_CHAT_PUB_SUB);
    CHECK_EQ_U64(h.source_id, yt_ctx_id(ctx));
    CHECK(h.source_seq > 0);
    CHECK_EQ_U64(h.dest_id, 0);
    CHECK_EQ_U64(h.dest_seq, 0);
    CHECK_EQ_U64(h.length, 2);
    CHECK_MEMEQ(body, "hi", 2);
    seq = h.source_seq;
    CHECK_OK(yoton_pub_send(pub, "ho", 2));
    CHECK(raw_read_data(fd, &h, body, sizeof body, YT_WAIT, &heartbeats) == 0);
    CHECK_EQ_U64(h.source_seq, seq + 1);

    /* While idle yoton sends canonical heartbeats (well under 0.5 s apart). */
    {
        static const unsigned char heartbeat[RAW_HEADER] = {
            'Y', 'O', 'T', 'O', 'N', ' ', ' ', ' ', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0,   0,   0,   0,   0,   0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0,   0,   0,   0,   0,   0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        CHECK(raw_read_package(fd, &h, raw56, body, sizeof body, 3.0) == 0);
        CHECK_MEMEQ(raw56, heartbeat, RAW_HEADER);
    }

    /* We stay silent: yoton reports timedout (the connection stays open); one heartbeat
     * from us clears it. */
    tw.conn = conn;
    tw.want = true;
    CHECK(yt_wait_until(timedout_is, &tw, YT_WAIT));
    CHECK(yt_wait_status(conn, YOTON_STATUS_HOSTING, 0.0));
    CHECK(raw_send_signal(fd, 0) == 0);
    tw.want = false;
    CHECK(yt_wait_until(timedout_is, &tw, YT_WAIT));

    /* The close package: "Closed from other end." */
    CHECK(raw_send_signal(fd, 1) == 0);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(reason_is(conn, "Closed from other end."));
    close(fd);

    yoton_channel_free(sub);
    yoton_channel_free(pub);
    yoton_connection_free(conn);
    yoton_context_free(ctx);
}

/* yoton closing with a reason sends the canonical close package, then the socket closes. */
static void test_close_package_on_wire(void) {
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    struct raw_header h;
    unsigned char raw56[RAW_HEADER];
    unsigned char body[8];
    int fd = raw_peer_of(ctx, &conn);
    int rc;
    int got_close = 0;
    YT_SECTION("yoton's close package on the wire");
    CHECK_OK(yoton_connection_close(conn, "done"));
    /* Skip heartbeats until the close package (seq 1, length 0). */
    for (;;) {
        rc = raw_read_package(fd, &h, raw56, body, sizeof body, YT_WAIT);
        if (rc != 0) {
            break;
        }
        if (h.length == 0 && h.source_seq == 1) {
            got_close = 1;
            break;
        }
    }
    CHECK(got_close);
    CHECK_EQ_U64(h.slot, 1);
    CHECK_EQ_U64(h.source_id, 0);
    /* Then EOF. */
    CHECK(raw_read(fd, body, 1, YT_WAIT) != 0);
    close(fd);
    yoton_connection_free(conn);
    yoton_context_free(ctx);
}

static void test_bad_streams(void) {
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    unsigned char hdr[RAW_HEADER];
    struct raw_header h;
    int fd;

    YT_SECTION("bad streams close the connection with a reason");
    h.slot = SLOT_CHAT_PUB_SUB;
    h.source_id = RAW_ID;
    h.source_seq = 1;
    h.dest_id = 0;
    h.dest_seq = 0;

    /* Wrong control bytes. */
    fd = raw_peer_of(ctx, &conn);
    h.length = 4;
    raw_encode_header(hdr, &h);
    memcpy(hdr, "NOTYOTON", 8);
    CHECK(raw_write(fd, hdr, sizeof hdr) == 0);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(reason_is(conn, "Lost track of the stream."));
    close(fd);
    yoton_connection_free(conn);

    /* A huge announced length: refused without allocating it. */
    fd = raw_peer_of(ctx, &conn);
    h.length = (uint64_t)1 << 63;
    raw_encode_header(hdr, &h);
    CHECK(raw_write(fd, hdr, sizeof hdr) == 0);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(reason_is(conn, "Lost track of the stream"));
    close(fd);
    yoton_connection_free(conn);

    /* EOF in the middle of a header (the original spins here; we close). */
    fd = raw_peer_of(ctx, &conn);
    h.length = 4;
    raw_encode_header(hdr, &h);
    CHECK(raw_write(fd, hdr, 20) == 0);
    shutdown(fd, SHUT_WR);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(reason_is(conn, "Other end dropped the connection."));
    close(fd);
    yoton_connection_free(conn);

    /* EOF in the middle of a body. */
    fd = raw_peer_of(ctx, &conn);
    h.length = 100;
    raw_encode_header(hdr, &h);
    CHECK(raw_write(fd, hdr, sizeof hdr) == 0);
    CHECK(raw_write(fd, "0123456789", 10) == 0);
    shutdown(fd, SHUT_WR);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(reason_is(conn, "Other end dropped the connection."));
    close(fd);
    yoton_connection_free(conn);

    /* EOF in the middle of a big body (read in place, not in the receive buffer). */
    fd = raw_peer_of(ctx, &conn);
    h.length = 3 << 20;
    raw_encode_header(hdr, &h);
    CHECK(raw_write(fd, hdr, sizeof hdr) == 0);
    CHECK(raw_write(fd, "0123456789", 10) == 0);
    shutdown(fd, SHUT_WR);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(reason_is(conn, "Other end dropped the connection."));
    close(fd);
    yoton_connection_free(conn);

    yoton_context_free(ctx);
}

static void test_non_yoton_clients(void) {
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    char line[128];
    int fd;
    int status = -1;

    YT_SECTION("non-yoton clients get an ERROR line; the host keeps waiting");
    CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, &conn));
    fd = raw_connect(yt_port(conn));
    CHECK(raw_write(fd, "GET / HTTP/1.1\r\n", 16) == 0);
    CHECK(raw_read_line(fd, line, sizeof line, YT_WAIT) > 0);
    CHECK_STREQ(line, "ERROR: this is Yoton.\r\n");
    close(fd);
    fd = raw_connect(yt_port(conn));
    CHECK(raw_write(fd, "YOTON!zz.1\r\n", 12) == 0);
    CHECK(raw_read_line(fd, line, sizeof line, YT_WAIT) > 0);
    CHECK_STREQ(line, "ERROR: could not parse id.\r\n");
    close(fd);
    CHECK_OK(yoton_connection_get_status(conn, &status));
    CHECK_EQ_INT(status, YOTON_STATUS_WAITING);
    /* A real peer is still accepted afterwards. */
    fd = raw_connect(yt_port(conn));
    CHECK(raw_client_handshake(fd, RAW_ID, 1, line, sizeof line) == 0);
    CHECK(yt_wait_status(conn, YOTON_STATUS_HOSTING, YT_WAIT));
    close(fd);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    CHECK(reason_is(conn, "Other end dropped the connection."));
    yoton_connection_free(conn);
    yoton_context_free(ctx);
}

/* --- yoton connecting to a raw host ---------------------------------------------------- */

struct connect_job {
    const yoton_context *ctx;
    char address[64];
    int rc;
    char error[256];
    yoton_connection *conn;
    double seconds;
};

static void *connect_thread(void *arg) {
    struct connect_job *job = (struct connect_job *)arg;
    double t0 = yt_now();
    job->conn = NULL;
    job->rc = yoton_context_connect(job->ctx, job->address, 5.0, "to-raw", &job->conn);
    snprintf(job->error, sizeof job->error, "%s", yoton_last_error());
    job->seconds = yt_now() - t0;
    return NULL;
}

/* Start a yoton connect to a raw host in a thread and accept it; the accepted fd or -1.
 * The client's handshake line goes into `line`. */
static int start_raw_host(const yoton_context *ctx, struct connect_job *job, pthread_t *thread,
                          int *lfd, char *line, size_t cap) {
    uint16_t port = 0;
    int fd;
    *lfd = raw_listen(&port);
    if (!CHECK(*lfd >= 0)) {
        return -1;
    }
    job->ctx = ctx;
    snprintf(job->address, sizeof job->address, "127.0.0.1:%u", (unsigned)port);
    CHECK(pthread_create(thread, NULL, connect_thread, job) == 0);
    fd = raw_accept(*lfd, YT_WAIT);
    CHECK(fd >= 0);
    CHECK(raw_read_line(fd, line, cap, YT_WAIT) > 0);
    return fd;
}

static void test_raw_host(void) {
    yoton_context *ctx = yt_context();
    struct connect_job job;
    pthread_t thread;
    char line[128];
    char want[128];
    unsigned char body[64];
    struct raw_header h;
    int lfd = -1;
    int fd;
    uint64_t u = 0;
    int status = -1;

    YT_SECTION("yoton client -> raw host");
    fd = start_raw_host(ctx, &job, &thread, &lfd, line, sizeof line);
    snprintf(want, sizeof want, "YOTON!%016llx.%u\r\n", (unsigned long long)yt_ctx_id(ctx),
             (unsigned)getpid());
    CHECK_STREQ(line, want);
    CHECK(raw_write(fd, "YOTON!0123456789abcdef.99\r\n", 27) == 0);
    /* The first package of a new client: NEW_CONNECTION on slot 2, seq 1, broadcast. */
    memset(body, 0, sizeof body);
    CHECK(raw_read_data(fd, &h, body, sizeof body, YT_WAIT, NULL) == 0);
    CHECK_EQ_U64(h.slot, SLOT_CONTEXT);
    CHECK_EQ_U64(h.source_id, yt_ctx_id(ctx));
    CHECK_EQ_U64(h.source_seq, 1);
    CHECK_EQ_U64(h.dest_id, 0);
    CHECK_EQ_U64(h.length, 14);
    CHECK_MEMEQ(body, "NEW_CONNECTION", 14);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_OK(job.rc);
    if (job.conn != NULL) {
        CHECK_OK(yoton_connection_get_status(job.conn, &status));
        CHECK_EQ_INT(status, YOTON_STATUS_CONNECTED);
        CHECK_OK(yoton_connection_id2(job.conn, &u));
        CHECK_EQ_U64(u, RAW_ID);
        CHECK_OK(yoton_connection_pid2(job.conn, &u));
        CHECK_EQ_U64(u, 99);
        /* The raw host goes away: EOF. */
        close(fd);
        CHECK(yt_wait_status(job.conn, YOTON_STATUS_CLOSED, YT_WAIT));
        CHECK(reason_is(job.conn, "Other end dropped the connection."));
        yoton_connection_free(job.conn);
    } else {
        close(fd);
    }
    close(lfd);

    /* The host answers something else: handshake failed. */
    fd = start_raw_host(ctx, &job, &thread, &lfd, line, sizeof line);
    CHECK(raw_write(fd, "HTTP/1.0 400 Bad Request\r\n", 26) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_RC(job.rc, YOTON_ERR_HANDSHAKE);
    CHECK(job.conn == NULL);
    close(fd);
    close(lfd);

    /* The host presents our own id. */
    fd = start_raw_host(ctx, &job, &thread, &lfd, line, sizeof line);
    snprintf(want, sizeof want, "YOTON!%016llx.1\r\n", (unsigned long long)yt_ctx_id(ctx));
    CHECK(raw_write(fd, want, strlen(want)) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_RC(job.rc, YOTON_ERR_HANDSHAKE);
    CHECK(strstr(job.error, "self") != NULL);
    close(fd);
    close(lfd);

    /* The host says nothing: the handshake times out (2 s), bounded. */
    fd = start_raw_host(ctx, &job, &thread, &lfd, line, sizeof line);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_RC(job.rc, YOTON_ERR_HANDSHAKE);
    CHECK(strstr(job.error, "timed out") != NULL);
    CHECK(job.seconds < 8.0);
    close(fd);
    close(lfd);

    /* The host closes at once. */
    fd = start_raw_host(ctx, &job, &thread, &lfd, line, sizeof line);
    close(fd);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(job.rc != YOTON_OK);
    CHECK(job.conn == NULL);
    close(lfd);

    {
        /* Failed connects leave nothing behind. */
        size_t n = 99;
        CHECK_OK(yoton_context_connection_count_all(ctx, &n));
        CHECK_EQ_INT(n, 0);
    }
    yoton_context_free(ctx);
}

/* Slot hashes of non-ASCII and mixed-case names (docs/protocol.md §5.2, §5.5 vectors), both ways. */
static void test_slot_hashes(void) {
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    yoton_channel *upper = NULL;
    yoton_channel *japanese = NULL;
    yoton_channel *pub = NULL;
    unsigned char body[64];
    struct raw_header h;
    int fd;

    YT_SECTION("slot hashes: case, whitespace and Unicode names");
    /* "\x1c H\xc3\x89LLO" (leading U+001C and space, upper-case E acute) normalises to
     * "h\xc3\xa9llo": slot 0x0000156272ffd8b4. */
    CHECK_OK(yoton_sub_new(ctx, "\x1c H\xc3\x89LLO", NULL, &upper));
    CHECK_OK(yoton_sub_new(ctx, "\xe6\x97\xa5\xe6\x9c\xac", NULL, &japanese));
    CHECK_OK(yoton_pub_new(ctx, "\xe6\x97\xa5\xe6\x9c\xac", NULL, &pub));
    fd = raw_peer_of(ctx, &conn);
    CHECK(raw_send_package(fd, 0x0000156272ffd8b4ull, RAW_ID, 1, 0, "accent", 6) == 0);
    CHECK(raw_send_package(fd, 0x000345e1c7e8bc3full, RAW_ID, 2, 0, "nihon", 5) == 0);
    CHECK_RECV(upper, "accent");
    CHECK_RECV(japanese, "nihon");
    CHECK_OK(yoton_pub_send(pub, "out", 3));
    CHECK(raw_read_data(fd, &h, body, sizeof body, YT_WAIT, NULL) == 0);
    CHECK_EQ_U64(h.slot, 0x000345e1c7e8bc3full);
    close(fd);
    yoton_channel_free(upper);
    yoton_channel_free(japanese);
    yoton_channel_free(pub);
    yoton_connection_free(conn);
    yoton_context_free(ctx);
}

/* A peer that does not read: flush times out (connection and context). */
static void test_flush_timeout(void) {
    yoton_context *ctx = yt_context();
    yoton_connection *conn = NULL;
    yoton_channel *pub = NULL;
    const size_t size = (size_t)4 << 20;
    unsigned char *payload = (unsigned char *)calloc(size, 1);
    int fd;
    int small = 4096;
    int i;

    YT_SECTION("flush times out when the peer does not read");
    CHECK_OK(yoton_pub_new(ctx, "stuck", "bin", &pub));
    fd = raw_peer_of(ctx, &conn);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    for (i = 0; i < 4; i++) {
        CHECK_OK(yoton_pub_send(pub, payload, size));
    }
    CHECK_RC(yoton_connection_flush(conn, 0.2), YOTON_ERR_TIMEOUT);
    CHECK_RC(yoton_context_flush(ctx, 0.2), YOTON_ERR_TIMEOUT);
    CHECK(strstr(yoton_last_error(), "timed out") != NULL);
    CHECK_OK(yoton_connection_close_on_problem(conn, NULL));
    close(fd);
    free(payload);
    yoton_channel_free(pub);
    yoton_connection_free(conn);
    yoton_context_free(ctx);
}

int main(void) {
    /* test_sigpipe.c checks yoton under the default SIGPIPE disposition; here a peer that
     * goes away mid-write must not end the other checks. */
    signal(SIGPIPE, SIG_IGN);
    test_raw_client();
    test_slot_hashes();
    test_flush_timeout();
    test_close_package_on_wire();
    test_bad_streams();
    test_non_yoton_clients();
    test_raw_host();
    return yt_summary("test_wire");
}
