/* A host program must not die because a peer went away while yoton was writing.
 *
 * A C program has the default SIGPIPE disposition (terminate), unlike a Rust program whose
 * runtime ignores SIGPIPE. Every socket write of yoton must therefore avoid raising SIGPIPE
 * (MSG_NOSIGNAL, or SO_NOSIGPIPE elsewhere). Each scenario runs in a child process with the
 * default disposition: it makes yoton's sending thread block in a big write to a peer that
 * does not read (or keeps publishing to a peer that left) and breaks the socket under it in
 * the ways that happen in practice. The parent checks that every child exited normally; a
 * child killed by SIGPIPE is reported as such. */
#include "ytest.h"
#include "rawpeer.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#define RAW_ID 0x0123456789abcdefull

/* A raw peer on a fresh bind of ctx, handshake done; its fd (or -1). */
static int raw_peer_of(const yoton_context *ctx, yoton_connection **conn) {
    char line[128];
    int fd;
    int small = 4096;
    *conn = NULL;
    if (!CHECK_OK(yoton_context_bind(ctx, "localhost:0", 1, NULL, conn))) {
        return -1;
    }
    fd = raw_connect(yt_port(*conn));
    if (!CHECK(fd >= 0)) {
        return -1;
    }
    /* A small receive buffer so that yoton's writes block soon. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    CHECK(raw_client_handshake(fd, RAW_ID, 1, line, sizeof line) == 0);
    CHECK(yt_wait_status(*conn, YOTON_STATUS_HOSTING, YT_WAIT));
    return fd;
}

/* Queue a few big messages that cannot all be written (the peer does not read). */
static void flood(const yoton_channel *pub) {
    const size_t size = (size_t)4 << 20;
    unsigned char *payload = (unsigned char *)calloc(size, 1);
    int i;
    for (i = 0; i < 4; i++) {
        CHECK_OK(yoton_pub_send(pub, payload, size));
    }
    free(payload);
    yt_sleep(0.1); /* let the sending thread get stuck in its write (no assertion on it) */
}

/* --- the scenarios, each run in its own child process ---------------------------------- */

static int scenario_close_on_problem(const yoton_context *ctx, const yoton_channel *pub) {
    yoton_connection *conn = NULL;
    int fd = raw_peer_of(ctx, &conn);
    flood(pub);
    CHECK_OK(yoton_connection_close_on_problem(conn, "stop"));
    yt_sleep(0.2); /* a SIGPIPE, if raised, kills us here */
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    close(fd);
    yoton_connection_free(conn);
    return 0;
}

static int scenario_close(const yoton_context *ctx, const yoton_channel *pub) {
    yoton_connection *conn = NULL;
    int fd = raw_peer_of(ctx, &conn);
    flood(pub);
    CHECK_OK(yoton_connection_close(conn, NULL)); /* waits up to 1 s for the sender */
    yt_sleep(0.2);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    close(fd);
    yoton_connection_free(conn);
    return 0;
}

static int scenario_peer_reset(const yoton_context *ctx, const yoton_channel *pub) {
    yoton_connection *conn = NULL;
    int fd = raw_peer_of(ctx, &conn);
    struct linger lg;
    flood(pub);
    lg.l_onoff = 1;
    lg.l_linger = 0; /* close() sends RST */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    yt_sleep(0.2);
    yoton_connection_free(conn);
    return 0;
}

static int scenario_peer_closes(const yoton_context *ctx, const yoton_channel *pub) {
    yoton_connection *conn = NULL;
    int fd = raw_peer_of(ctx, &conn);
    unsigned char small[1000];
    int i;
    close(fd);
    memset(small, 1, sizeof small);
    for (i = 0; i < 2000; i++) {
        yoton_pub_send(pub, small, sizeof small); /* the status does not matter here */
    }
    CHECK(yt_wait_status(conn, YOTON_STATUS_CLOSED, YT_WAIT));
    yt_sleep(0.2);
    yoton_connection_free(conn);
    return 0;
}

typedef int (*scenario_fn)(const yoton_context *, const yoton_channel *);

/* Run one scenario in a child (default SIGPIPE disposition); the parent reports how the child
 * ended. Bounded: a child still running after 30 s is killed and counted as a failure. */
static void run_scenario(const char *title, scenario_fn fn) {
    pid_t pid;
    int status = 0;
    double deadline;
    YT_SECTION(title);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid == 0) {
        yoton_context *ctx = yt_context();
        yoton_channel *pub = NULL;
        yt_passed = 0; /* the child's own counts */
        yt_failed = 0;
        signal(SIGPIPE, SIG_DFL); /* what a C program has unless it changes it */
        CHECK_OK(yoton_pub_new(ctx, "flood", "bin", &pub));
        fn(ctx, pub);
        yoton_channel_free(pub);
        yoton_context_free(ctx);
        fflush(stdout);
        _exit(yt_failed == 0 ? 0 : 1);
    }
    if (!CHECK(pid > 0)) {
        return;
    }
    deadline = yt_now() + 30.0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (yt_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        yt_sleep(0.01);
    }
    if (WIFSIGNALED(status)) {
        printf("   child killed by signal %d%s\n", WTERMSIG(status),
               WTERMSIG(status) == SIGPIPE ? " (SIGPIPE)" : "");
    }
    /* yoton writes with MSG_NOSIGNAL: a C host with the default SIGPIPE disposition lives. */
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    /* No yoton object exists before the forks: each child starts clean. */
    run_scenario("close_on_problem while the sending thread is blocked in a write",
                 scenario_close_on_problem);
    run_scenario("close while the sending thread is blocked in a write", scenario_close);
    run_scenario("the peer resets the connection while yoton writes", scenario_peer_reset);
    run_scenario("the peer closes while yoton keeps publishing", scenario_peer_closes);
    return yt_summary("test_sigpipe");
}
