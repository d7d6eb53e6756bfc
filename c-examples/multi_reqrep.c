/* multi_reqrep: "multiple request/reply" from the original yoton documentation, in one program.
 *
 *   multi_reqrep [repliers] [requesters] [jobs]      (defaults: 3 2 6)
 *
 * The network holds only requesters and repliers (plus a hub context without channels that
 * links them, over loopback on free ports):
 *
 *     [requester A] --+                +-- [replier 1]
 *     [requester B] --+----- hub ------+-- [replier 2]
 *                                      +-- [replier 3]
 *
 * Every requester posts `jobs` requests at once. Yoton's load balancing: a request is first
 * announced to every replier ("who can take it?"); each free replier answers, and the request
 * goes to the first one that did. A replier busy with a job does not answer, so work flows to
 * the free ones, and when all are busy the first to come back takes the next job. Each job
 * here takes 0.2 s, so the output shows the jobs spread over all repliers, and the total time
 * is close to (jobs x requesters / repliers) x 0.2 s rather than the serial sum.
 *
 * Everything runs in one process: each replier handles its requests in its channel's own
 * thread (YOTON_REP_THREAD), each requester waits for its futures in a thread of its own.
 * Exits with status 0 if every job was done and every replier got some.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yoton.h>

#define MAX_REPLIERS 8
#define MAX_REQUESTERS 8
#define MAX_JOBS 32
#define JOB_SECONDS 0.2

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *what, int rc) {
    fprintf(stderr, "multi_reqrep: %s failed: %s (%s)\n", what, yoton_strerror(rc),
            yoton_last_error());
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s) {
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

static double t0;

/* Link `client` to `host`: the host binds a free port, the client connects. */
static void link_contexts(const yoton_context *host, const yoton_context *client) {
    yoton_connection *hc = NULL, *cc = NULL;
    uint16_t port = 0;
    char address[64];
    int rc, status = 0, tries;
    if ((rc = yoton_context_bind(host, "localhost:0", 1, NULL, &hc)) != YOTON_OK)
        die("yoton_context_bind", rc);
    yoton_connection_port1(hc, &port);
    snprintf(address, sizeof address, "127.0.0.1:%u", (unsigned)port);
    if ((rc = yoton_context_connect(client, address, 5.0, NULL, &cc)) != YOTON_OK)
        die("yoton_context_connect", rc);
    for (tries = 0; tries < 500 && status != YOTON_STATUS_HOSTING; tries++) {
        yoton_connection_get_status(hc, &status);
        if (status != YOTON_STATUS_HOSTING) sleep_seconds(0.01); /* up to 5 s */
    }
    if (status != YOTON_STATUS_HOSTING) {
        fprintf(stderr, "multi_reqrep: a link did not come up\n");
        exit(1);
    }
    yoton_connection_free(hc); /* the contexts own the connections */
    yoton_connection_free(cc);
}

/* --- repliers ---------------------------------------------------------------------------- */

struct replier {
    int number;
    int jobs_done;     /* guarded by print_lock */
    yoton_context *ctx;
    yoton_channel *rep;
};

/* work(requester, job) -> "replier N did job <requester><job>" after JOB_SECONDS.
 * Runs in the replier channel's own thread (thread mode). */
static void method_work(void *user_data, const yoton_value *args, const yoton_value *kwargs,
                        yoton_reply *reply) {
    struct replier *r = (struct replier *)user_data;
    const yoton_value *who = NULL, *job = NULL;
    char name[16] = "?", text[64];
    int64_t n = -1;
    yoton_value *result = NULL;
    (void)kwargs;
    if (yoton_value_item(args, 0, &who) == YOTON_OK)
        yoton_value_copy_string(who, name, sizeof name, NULL);
    if (yoton_value_item(args, 1, &job) == YOTON_OK) yoton_value_get_int(job, &n);
    pthread_mutex_lock(&print_lock);
    printf("%5.2f s  replier %d: working on job %s%lld\n", now() - t0, r->number, name,
           (long long)n);
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
    sleep_seconds(JOB_SECONDS); /* the "work" (a busy replier does not take new requests) */
    pthread_mutex_lock(&print_lock);
    r->jobs_done++;
    pthread_mutex_unlock(&print_lock);
    snprintf(text, sizeof text, "replier %d did job %s%lld", r->number, name, (long long)n);
    if (yoton_value_new_string(text, &result) == YOTON_OK) yoton_reply_set_result(reply, result);
    yoton_value_free(result);
}

/* --- requesters -------------------------------------------------------------------------- */

struct requester {
    char name[4];      /* "A", "B", ... */
    int jobs;
    int ok;            /* jobs answered */
    yoton_context *ctx;
    yoton_channel *req;
};

static void *requester_thread(void *arg) {
    struct requester *q = (struct requester *)arg;
    yoton_future *futures[MAX_JOBS];
    int i, rc;
    /* Post every job at once: each call returns a future immediately. */
    for (i = 0; i < q->jobs; i++) {
        yoton_value *args = yoton_value_new_tuple();
        yoton_value *who = NULL, *job = yoton_value_new_int(i + 1);
        yoton_value_new_string(q->name, &who);
        yoton_value_append(args, who);
        yoton_value_append(args, job);
        yoton_value_free(who);
        yoton_value_free(job);
        futures[i] = NULL;
        if ((rc = yoton_req_call(q->req, "work", args, NULL, &futures[i])) != YOTON_OK)
            die("yoton_req_call", rc);
        yoton_value_free(args);
    }
    /* Then collect the results, in the order posted. */
    for (i = 0; i < q->jobs; i++) {
        yoton_value *v = NULL;
        char text[64] = "";
        rc = yoton_future_result(futures[i], 30.0, &v);
        pthread_mutex_lock(&print_lock);
        if (rc == YOTON_OK) {
            yoton_value_copy_string(v, text, sizeof text, NULL);
            printf("%5.2f s  requester %s: job %s%d -> %s\n", now() - t0, q->name, q->name, i + 1,
                   text);
            q->ok++;
        } else {
            printf("%5.2f s  requester %s: job %s%d failed: %s (%s)\n", now() - t0, q->name,
                   q->name, i + 1, yoton_strerror(rc), yoton_last_error());
        }
        fflush(stdout);
        pthread_mutex_unlock(&print_lock);
        yoton_value_free(v);
        yoton_future_free(futures[i]);
    }
    return NULL;
}

static int arg_int(int argc, char **argv, int i, int def, int max) {
    int v = argc > i ? atoi(argv[i]) : def;
    return v < 1 ? 1 : v > max ? max : v;
}

int main(int argc, char **argv) {
    int n_rep = arg_int(argc, argv, 1, 3, MAX_REPLIERS);
    int n_req = arg_int(argc, argv, 2, 2, MAX_REQUESTERS);
    int jobs = arg_int(argc, argv, 3, 6, MAX_JOBS);
    struct replier repliers[MAX_REPLIERS];
    struct requester requesters[MAX_REQUESTERS];
    pthread_t threads[MAX_REQUESTERS];
    yoton_context *hub = NULL;
    int i, rc, total = 0, idle = 0, failed = 0;
    double elapsed;

    printf("%d repliers, %d requesters with %d jobs each, %.1f s per job\n", n_rep, n_req, jobs,
           JOB_SECONDS);
    if ((rc = yoton_context_new(&hub)) != YOTON_OK) die("yoton_context_new", rc);

    for (i = 0; i < n_rep; i++) {
        struct replier *r = &repliers[i];
        memset(r, 0, sizeof *r);
        r->number = i + 1;
        if ((rc = yoton_context_new(&r->ctx)) != YOTON_OK) die("yoton_context_new", rc);
        if ((rc = yoton_rep_new(r->ctx, "jobs", &r->rep)) != YOTON_OK) die("yoton_rep_new", rc);
        if ((rc = yoton_rep_register(r->rep, "work", method_work, r, NULL)) != YOTON_OK)
            die("yoton_rep_register", rc);
        if ((rc = yoton_rep_set_mode(r->rep, YOTON_REP_THREAD)) != YOTON_OK)
            die("yoton_rep_set_mode", rc);
        link_contexts(hub, r->ctx);
    }
    for (i = 0; i < n_req; i++) {
        struct requester *q = &requesters[i];
        memset(q, 0, sizeof *q);
        q->name[0] = (char)('A' + i);
        q->jobs = jobs;
        if ((rc = yoton_context_new(&q->ctx)) != YOTON_OK) die("yoton_context_new", rc);
        if ((rc = yoton_req_new(q->ctx, "jobs", &q->req)) != YOTON_OK) die("yoton_req_new", rc);
        link_contexts(hub, q->ctx);
    }
    printf("network up: every context linked to the hub\n");
    fflush(stdout);

    t0 = now();
    for (i = 0; i < n_req; i++) {
        if (pthread_create(&threads[i], NULL, requester_thread, &requesters[i]) != 0) {
            fprintf(stderr, "multi_reqrep: cannot start a thread\n");
            return 1;
        }
    }
    for (i = 0; i < n_req; i++) {
        pthread_join(threads[i], NULL);
        failed += requesters[i].jobs - requesters[i].ok;
    }
    elapsed = now() - t0;

    printf("\njobs per replier (requests spread over free repliers):\n");
    for (i = 0; i < n_rep; i++) {
        int done;
        pthread_mutex_lock(&print_lock);
        done = repliers[i].jobs_done;
        pthread_mutex_unlock(&print_lock);
        printf("  replier %d: %d\n", repliers[i].number, done);
        total += done;
        if (done == 0) idle++;
    }
    printf("%d jobs in %.2f s (one replier alone would need %.1f s)\n", total, elapsed,
           total * JOB_SECONDS);

    for (i = 0; i < n_req; i++) {
        yoton_channel_free(requesters[i].req);
        yoton_context_free(requesters[i].ctx);
    }
    for (i = 0; i < n_rep; i++) {
        yoton_channel_free(repliers[i].rep);
        yoton_context_free(repliers[i].ctx);
    }
    yoton_context_free(hub);

    if (failed > 0 || total != n_req * jobs || (idle > 0 && n_req * jobs >= n_rep)) {
        printf("FAILED: %d failed jobs, %d idle repliers\n", failed, idle);
        return 1;
    }
    printf("all jobs done, every replier took part\n");
    return 0;
}
