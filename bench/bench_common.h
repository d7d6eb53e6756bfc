/* bench_common.h: what every benchmark program shares (command line, clocks, JSON output,
 * peak RSS, sequence numbers, latency statistics, the hard self-deadline).
 *
 * Every program has the same command line:
 *
 *   <prog> pub|sub|req|rep HOST:PORT SIZE COUNT [key=value ...]
 *
 * Keys (all optional):
 *   n=N          fan-out: the subscriber binds N ports PORT..PORT+N-1 (one receiver each),
 *                the publisher connects to all N. Default 1.
 *   mode=M       system specific: yoton "block" (loss-free), "sync", "zc" / "block-zc"
 *                (zero-copy send); nng "pub" (pub0/sub0, lossy) or "push" (push0/pull0);
 *                rawtcp "single" (one writev() per message) or "batched" (64 KiB writes).
 *   timeout=S    hard self-deadline in seconds (default 60): past it the program prints a
 *                JSON line with "ok": false and exits with status 3.
 *   idle=S       subscriber: stop after S seconds without a message once the first one came
 *                (default 2; lossy transports may never deliver the last one).
 *   warmup=W     req: untimed calls before the COUNT timed ones (default min(1000, COUNT/10),
 *                at least 5); rep: the same number, so that the replier measures its CPU
 *                from the first timed call on.
 *
 * Topology (the same for every system): receivers bind (sub, rep), senders connect (pub,
 * req). The publisher does not send before every subscriber is known to be there.
 * Payload: the first 8 bytes of every pub/sub message are its sequence number 0..COUNT-1
 * (little endian), the rest is filler; so SIZE must be at least 8.
 *
 * Output: the last stdout line is one JSON object. Units: seconds, bytes, KiB for RSS
 * (VmHWM, see bench_peak_rss_kib), MB = 10^6 bytes. The subscriber's line also carries its
 * first and last arrival times on CLOCK_MONOTONIC ("t_first", "t_last", system-wide, so the
 * runner can combine subscribers in separate processes) and "counted", the number of arrival
 * intervals its rate covers. CPU use ("cpu_util") is CPU seconds of the whole process (all
 * threads) per wall second over the measured interval:
 *   sub: from its first message to a late one;  pub: from its first send until the
 *   subscribers hung up;  req: the COUNT timed calls (not start-up, not warm-up);
 *   rep: from the arrival of the first timed call (the one after `warmup` calls: the runner
 *   passes the requester's warmup=W to the replier too) to the stop request.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_args {
    const char *prog;   /* system name for the JSON output */
    const char *role;   /* pub | sub | req | rep */
    char host[128];
    int port;
    size_t size;
    long count;
    int n;
    char mode[32];
    double timeout;
    double idle;
    long warmup;
} bench_args;

static const char *bench_system_name = "?";
static const char *bench_role_name = "?";

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void bench_sleep(double s) {
    struct timespec ts;
    if (s <= 0) return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Peak resident set size of this process, KiB: VmHWM from /proc/self/status. Not
 * getrusage's ru_maxrss, which Linux carries over fork + execve: every child of a 16 MiB
 * Python runner would report at least 16 MiB. */
static inline long bench_peak_rss_kib(void) {
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) {
                v = atol(line + 6);
                break;
            }
        fclose(f);
    }
    if (v < 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0) v = ru.ru_maxrss;
    }
    return v;
}

/* getrusage's ru_maxrss (KiB), for reference (see above). */
static inline long bench_ru_maxrss_kib(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* Process CPU time (user + system, all threads), seconds. */
static inline double bench_cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static inline void bench_put_seq(unsigned char *buf, uint64_t seq) {
    int i;
    for (i = 0; i < 8; i++) buf[i] = (unsigned char)(seq >> (8 * i));
}

static inline uint64_t bench_get_seq(const unsigned char *buf) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v |= (uint64_t)buf[i] << (8 * i);
    return v;
}

/* A failure: one JSON line, exit status 1. */
static inline void bench_fail(const char *what) {
    char esc[512];
    size_t j = 0;
    const char *p;
    for (p = what; *p && j + 2 < sizeof esc; p++) {
        if (*p == '"' || *p == '\\') esc[j++] = '\\';
        esc[j++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
    }
    esc[j] = 0;
    fflush(stdout);
    printf("{\"system\": \"%s\", \"role\": \"%s\", \"ok\": false, \"error\": \"%s\"}\n",
           bench_system_name, bench_role_name, esc);
    fflush(stdout);
    exit(1);
}

static inline void bench_on_alarm(int sig) {
    static const char msg[] = "{\"ok\": false, \"error\": \"hard timeout (self-deadline)\"}\n";
    ssize_t w;
    (void)sig;
    w = write(1, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

static inline void bench_usage(const char *prog) {
    fprintf(stderr,
            "usage: %s pub|sub|req|rep HOST:PORT SIZE COUNT [n=N] [mode=M] [timeout=S] "
            "[idle=S] [warmup=W]\n",
            prog);
    exit(2);
}

/* Parse the command line; arms the hard self-deadline (SIGALRM). */
static inline void bench_parse(int argc, char **argv, const char *system, bench_args *a) {
    char *colon;
    int i;
    memset(a, 0, sizeof *a);
    bench_system_name = system;
    a->prog = system;
    a->n = 1;
    a->timeout = 60;
    a->idle = 2.0;
    a->warmup = -1;
    if (argc < 5) bench_usage(argv[0]);
    a->role = argv[1];
    bench_role_name = a->role;
    if (strcmp(a->role, "pub") && strcmp(a->role, "sub") && strcmp(a->role, "req") &&
        strcmp(a->role, "rep"))
        bench_usage(argv[0]);
    snprintf(a->host, sizeof a->host, "%s", argv[2]);
    colon = strrchr(a->host, ':');
    if (!colon) bench_usage(argv[0]);
    *colon = 0;
    a->port = atoi(colon + 1);
    a->size = (size_t)strtoull(argv[3], NULL, 10);
    a->count = strtol(argv[4], NULL, 10);
    if (a->port <= 0 || a->port > 65535 || a->count <= 0) bench_usage(argv[0]);
    for (i = 5; i < argc; i++) {
        const char *kv = argv[i];
        if (!strncmp(kv, "n=", 2)) a->n = atoi(kv + 2);
        else if (!strncmp(kv, "mode=", 5)) snprintf(a->mode, sizeof a->mode, "%s", kv + 5);
        else if (!strncmp(kv, "timeout=", 8)) a->timeout = atof(kv + 8);
        else if (!strncmp(kv, "idle=", 5)) a->idle = atof(kv + 5);
        else if (!strncmp(kv, "warmup=", 7)) a->warmup = atol(kv + 7);
        else bench_usage(argv[0]);
    }
    if (a->n < 1 || a->n > 256) bench_usage(argv[0]);
    if ((!strcmp(a->role, "pub") || !strcmp(a->role, "sub")) && a->size < 8) {
        fprintf(stderr, "pub/sub messages carry an 8-byte sequence number: SIZE >= 8\n");
        exit(2);
    }
    if (a->warmup < 0) {
        a->warmup = a->count / 10;
        if (a->warmup > 1000) a->warmup = 1000;
        if (a->warmup < 5) a->warmup = 5;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, bench_on_alarm);
    alarm((unsigned)(a->timeout + 0.999));
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* --- subscriber bookkeeping (one per receiving endpoint) ------------------------------------ */
typedef struct bench_rx {
    long received;
    uint64_t bytes;
    double t_first;      /* arrival of the first message */
    double t_last;       /* a recent arrival time (sampled, see bench_rx_add) */
    long n_at_last;      /* messages received at t_last */
    long next_seq;       /* expected next sequence number */
    long gaps;           /* messages skipped according to sequence numbers */
    int saw_last;
    double cpu_first;            /* process CPU time at the first message */
    double t_sample, cpu_sample; /* a later (time, CPU time) sample */
} bench_rx;

/* Account one message; returns 1 when this receiver is done (all COUNT, or the last seq).
 * The clock is read for the first message, the last one, every 64th and every message of
 * 16 KiB or more: reading it for every 64-byte message would cost the harness ~10% of a
 * subscriber's CPU. The rate is computed over [t_first, t_last] with n_at_last messages, so
 * it stays exact whatever the sampling; only the idle detection sees a slightly older time. */
static inline int bench_rx_add(bench_rx *rx, const void *data, size_t len, long count) {
    uint64_t seq = len >= 8 ? bench_get_seq((const unsigned char *)data) : 0;
    int done;
    rx->received++;
    rx->bytes += len;
    if ((long)seq > rx->next_seq) rx->gaps += (long)seq - rx->next_seq;
    rx->next_seq = (long)seq + 1;
    if ((long)seq >= count - 1) rx->saw_last = 1;
    done = rx->received >= count || rx->saw_last;
    if (rx->received == 1) {
        rx->t_first = rx->t_last = bench_now();
        rx->n_at_last = 1;
        rx->cpu_first = bench_cpu_seconds();
    } else if (done || (rx->received & 63) == 0 || len >= 16384) {
        rx->t_last = bench_now();
        rx->n_at_last = rx->received;
        if ((rx->received & 1023) == 0 || len >= 16384) {
            rx->t_sample = rx->t_last;
            rx->cpu_sample = bench_cpu_seconds();
        }
    }
    return done;
}

static inline void bench_print_sub(const bench_args *a, const bench_rx *rx, int nrx, int ok,
                                   const char *note) {
    long received = 0, expected = a->count * (long)nrx, gaps = 0, counted = 0, i;
    uint64_t bytes = 0;
    double t0 = 0, t1 = 0, el, rate, mbs, util = -1;
    int any = 0;
    for (i = 0; i < nrx; i++) {
        received += rx[i].received;
        bytes += rx[i].bytes;
        gaps += rx[i].gaps;
        if (rx[i].received) {
            counted += rx[i].n_at_last - 1;
            if (!any || rx[i].t_first < t0) t0 = rx[i].t_first;
            if (!any || rx[i].t_last > t1) t1 = rx[i].t_last;
            any = 1;
        }
    }
    el = t1 - t0;
    /* CPU use (all threads of this process) per wall second while receiving. */
    for (i = 0; i < nrx; i++)
        if (rx[i].t_sample > rx[i].t_first + 0.05) {
            util = (rx[i].cpu_sample - rx[i].cpu_first) / (rx[i].t_sample - rx[i].t_first);
            break;
        }
    /* First to last arrival: n - 1 intervals per receiver; for N receivers the aggregate. */
    rate = el > 0 ? (double)counted / el : 0;
    mbs = el > 0 && received ? rate * (double)bytes / (double)received / 1e6 : 0;
    printf("{\"system\": \"%s\", \"role\": \"sub\", \"ok\": %s, \"size\": %zu, \"count\": %ld, "
           "\"n\": %d, \"received\": %ld, \"bytes\": %llu, \"elapsed\": %.6f, "
           "\"t_first\": %.6f, \"t_last\": %.6f, \"counted\": %ld, "
           "\"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, \"lost\": %ld, \"gaps\": %ld, "
           "\"rss_kib\": %ld, \"ru_maxrss_kib\": %ld, \"cpu_s\": %.3f, \"cpu_util\": %.3f, "
           "\"note\": \"%s\", \"per_sub\": [",
           a->prog, ok ? "true" : "false", a->size, a->count, nrx, received,
           (unsigned long long)bytes, el, t0, t1, counted, rate, mbs, expected - received, gaps,
           bench_peak_rss_kib(), bench_ru_maxrss_kib(), bench_cpu_seconds(), util, note ? note : "");
    for (i = 0; i < nrx; i++) printf("%s%ld", i ? ", " : "", rx[i].received);
    printf("]}\n");
}

/* t_start/t_end: the send loop; cpu_start: CPU time at t_start. cpu_util covers t_start until
 * now (after the flush and the wait for the subscribers to hang up). */
static inline void bench_print_pub(const bench_args *a, long sent, double t_start, double t_end,
                                   double cpu_start, int ok, const char *note) {
    double el = t_end - t_start, now = bench_now(), cpu = bench_cpu_seconds();
    printf("{\"system\": \"%s\", \"role\": \"pub\", \"ok\": %s, \"size\": %zu, \"count\": %ld, "
           "\"n\": %d, \"sent\": %ld, \"send_elapsed\": %.6f, \"send_msgs_per_s\": %.1f, "
           "\"rss_kib\": %ld, \"ru_maxrss_kib\": %ld, \"cpu_s\": %.3f, \"cpu_util\": %.3f, "
           "\"note\": \"%s\"}\n",
           a->prog, ok ? "true" : "false", a->size, a->count, a->n, sent, el,
           el > 0 ? (double)sent / el : 0, bench_peak_rss_kib(), bench_ru_maxrss_kib(), cpu,
           now > t_start ? (cpu - cpu_start) / (now - t_start) : -1.0, note ? note : "");
}

static inline int bench_cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* lat: COUNT round trips in seconds (sorted in place). Prints microseconds. wall, loop_cpu:
 * wall time and process CPU time of the timed calls. */
static inline void bench_print_req(const bench_args *a, double *lat, long n, double wall,
                                   double loop_cpu, int ok, const char *note) {
    double sum = 0, med = 0, p99 = 0, mn = 0, mx = 0;
    long i;
    if (n > 0) {
        qsort(lat, (size_t)n, sizeof *lat, bench_cmp_double);
        for (i = 0; i < n; i++) sum += lat[i];
        med = (n % 2) ? lat[n / 2] : 0.5 * (lat[n / 2 - 1] + lat[n / 2]);
        p99 = lat[(long)((double)(n - 1) * 0.99 + 0.5)];
        mn = lat[0];
        mx = lat[n - 1];
    }
    printf("{\"system\": \"%s\", \"role\": \"req\", \"ok\": %s, \"size\": %zu, \"count\": %ld, "
           "\"calls\": %ld, \"median_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f, "
           "\"min_us\": %.2f, \"max_us\": %.2f, \"wall_s\": %.4f, \"calls_per_s\": %.1f, "
           "\"rss_kib\": %ld, \"cpu_s\": %.3f, \"loop_cpu_s\": %.4f, \"cpu_util\": %.3f, "
           "\"note\": \"%s\"}\n",
           a->prog, ok ? "true" : "false", a->size, a->count, n, med * 1e6, p99 * 1e6,
           n ? sum / (double)n * 1e6 : 0, mn * 1e6, mx * 1e6, wall,
           wall > 0 ? (double)n / wall : 0, bench_peak_rss_kib(), bench_cpu_seconds(), loop_cpu,
           wall > 0 ? loop_cpu / wall : -1.0, note ? note : "");
}

/* Replier: the window of the timed calls. Call bench_rep_window_start() when the call that
 * follows the `warmup` warm-up calls arrives (served == warmup), bench_rep_window_end() when
 * the stop request arrives. Thread-safe enough: each is called once, by one thread, and the
 * values are read after the serving thread has been joined or has reported stop. */
static double bench_rep_t0 = -1, bench_rep_cpu0, bench_rep_t1 = -1, bench_rep_cpu1;
static inline void bench_rep_window_start(void) {
    bench_rep_cpu0 = bench_cpu_seconds();
    bench_rep_t0 = bench_now();
}
static inline void bench_rep_window_end(void) {
    bench_rep_cpu1 = bench_cpu_seconds();
    bench_rep_t1 = bench_now();
}

static inline void bench_print_rep(const bench_args *a, long served, int ok, const char *note) {
    double w = bench_rep_t0 >= 0 && bench_rep_t1 > bench_rep_t0 ? bench_rep_t1 - bench_rep_t0 : 0;
    double c = w > 0 ? bench_rep_cpu1 - bench_rep_cpu0 : 0;
    printf("{\"system\": \"%s\", \"role\": \"rep\", \"ok\": %s, \"size\": %zu, \"served\": %ld, "
           "\"rss_kib\": %ld, \"cpu_s\": %.3f, \"loop_wall_s\": %.4f, \"loop_cpu_s\": %.4f, "
           "\"cpu_util\": %.3f, \"note\": \"%s\"}\n",
           a->prog, ok ? "true" : "false", a->size, served, bench_peak_rss_kib(),
           bench_cpu_seconds(), w, c, w > 0 ? c / w : -1.0, note ? note : "");
}

/* Seconds left before the self-deadline, minus a margin for reporting. */
static double bench_deadline;
static inline void bench_set_deadline(const bench_args *a) { bench_deadline = bench_now() + a->timeout - 1.0; }
static inline double bench_left(void) { return bench_deadline - bench_now(); }
/* The self-deadline check of a loop that runs once per received message: the clock is read
 * on every 1024th call only (for 64-byte messages, a read per message cost the harness ~8% of
 * a subscriber's CPU, in every system alike). */
static inline int bench_rx_time_left(unsigned *calls) {
    return ((++*calls) & 1023) != 0 || bench_left() > 0;
}

#endif
