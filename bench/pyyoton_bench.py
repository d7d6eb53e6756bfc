"""pyyoton_bench: the original Python yoton (bundled in pyzo==4.22.0), same command line and
output as the C benchmark programs (see bench_common.h):

    python pyyoton_bench.py pub|sub|req|rep HOST:PORT SIZE COUNT [n=N] [timeout=S] [idle=S]
                            [warmup=W]

pub/sub: BINARY ("bin") channels on slot base "bench"; each subscriber context binds one port
and publishes "ready" on the TEXT slot base "bench_ready"; the publisher connects to all, waits
for N ready messages, then sends COUNT messages (8-byte little-endian sequence number + filler).
req/rep: ReqChannel/RepChannel on slot base "bench" (the RepChannel in 'thread' mode); bench(s)
returns s (a str of SIZE characters); stop() ends the replier.
The slot names and types are those of bench/yoton_bench.c, so either side can be the other
implementation (the mixed runs).

The original is imported as the top-level package ``yoton`` from pyzo's directory (without
importing pyzo itself, which would need Qt). With YOTON_PY_IMPL=engine the same code runs on
this project's Python package instead (python/, installed with pip; system "pyengine"), for
the same-run comparison of bench/py_bench.py.
"""

import importlib.util
import json
import os
import resource
import signal
import struct
import sys
import threading
import time


def _import_original_yoton():
    spec = importlib.util.find_spec("pyzo")
    if spec is None or spec.origin is None:
        raise SystemExit("pyzo is not installed in this Python (pip install pyzo==4.22.0)")
    pyzo_dir = os.path.dirname(spec.origin)
    if pyzo_dir not in sys.path:
        sys.path.insert(0, pyzo_dir)
    import yoton  # noqa: E402  (the original)

    return yoton


if os.environ.get("YOTON_PY_IMPL") == "engine":
    import yoton  # this project's package (python/)

    assert hasattr(yoton, "engine_version"), "YOTON_PY_IMPL=engine needs pip install ./python"
    SYSTEM = "pyengine"
else:
    yoton = _import_original_yoton()
    SYSTEM = "pyyoton"
ARGS = {}


def now():
    return time.monotonic()


def peak_rss_kib():
    """VmHWM (KiB): ru_maxrss is carried over fork + execve from the runner."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return ru_maxrss_kib()


def ru_maxrss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(what):
    emit({"system": SYSTEM, "role": ARGS.get("role", "?"), "ok": False, "error": what})
    os._exit(1)


def on_alarm(signum, frame):
    sys.stdout.write('{"ok": false, "error": "hard timeout (self-deadline)"}\n')
    sys.stdout.flush()
    os._exit(3)


def parse(argv):
    if len(argv) < 5 or argv[1] not in ("pub", "sub", "req", "rep"):
        sys.stderr.write(__doc__)
        raise SystemExit(2)
    host, _, port = argv[2].rpartition(":")
    a = {
        "role": argv[1],
        "host": host,
        "port": int(port),
        "size": int(argv[3]),
        "count": int(argv[4]),
        "n": 1,
        "timeout": 60.0,
        "idle": 2.0,
        "warmup": -1,
    }
    for kv in argv[5:]:
        k, _, v = kv.partition("=")
        if k in ("n", "warmup"):
            a[k] = int(v)
        elif k in ("timeout", "idle"):
            a[k] = float(v)
        elif k == "mode":
            pass
        else:
            raise SystemExit("unknown option " + kv)
    if a["role"] in ("pub", "sub") and a["size"] < 8:
        raise SystemExit("SIZE >= 8 for pub/sub")
    if a["warmup"] < 0:
        a["warmup"] = max(5, min(1000, a["count"] // 10))
    a["deadline"] = now() + a["timeout"] - 1.0
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(a["timeout"] + 0.999))
    return a


def left():
    return ARGS["deadline"] - now()


def addr(i=0):
    return "%s:%d" % (ARGS["host"], ARGS["port"] + i)


# ------------------------------------------------------------------------------- pub/sub --
class Rx:
    def __init__(self):
        self.received = 0
        self.bytes = 0
        self.t_first = 0.0
        self.t_last = 0.0
        self.n_at_last = 0
        self.next_seq = 0
        self.gaps = 0
        self.saw_last = False
        self.error = None
        self.cpu_first = 0.0
        self.t_sample = 0.0
        self.cpu_sample = 0.0


def sub_loop(sub, rx, count, idle):
    """Same accounting as bench_rx_add in bench_common.h (sampled clock reads)."""
    unpack = struct.unpack_from
    while left() > 0:
        m = sub.recv(0.5)
        if m:
            rx.received += 1
            rx.bytes += len(m)
            seq = unpack("<Q", m, 0)[0]
            if seq > rx.next_seq:
                rx.gaps += seq - rx.next_seq
            rx.next_seq = seq + 1
            if seq >= count - 1:
                rx.saw_last = True
            done = rx.received >= count or rx.saw_last
            if rx.received == 1:
                rx.t_first = rx.t_last = now()
                rx.n_at_last = 1
                rx.cpu_first = cpu_seconds()
            elif done or (rx.received & 63) == 0 or len(m) >= 16384:
                rx.t_last = now()
                rx.n_at_last = rx.received
                if (rx.received & 1023) == 0 or len(m) >= 16384:
                    rx.t_sample = rx.t_last
                    rx.cpu_sample = cpu_seconds()
            if done:
                break
        elif rx.received and now() - rx.t_last > idle:
            break


def run_sub():
    n, count = ARGS["n"], ARGS["count"]
    ctxs, subs, rxs, threads = [], [], [], []
    for i in range(n):
        ctx = yoton.Context()
        sub = yoton.SubChannel(ctx, "bench", yoton.BINARY)
        ready = yoton.PubChannel(ctx, "bench_ready", yoton.TEXT)
        ctx.bind(addr(i))
        ready.send("ready %d %d" % (os.getpid(), i))
        ctxs.append(ctx)
        subs.append(sub)
        rxs.append(Rx())
    for i in range(n):
        t = threading.Thread(target=sub_loop, args=(subs[i], rxs[i], count, ARGS["idle"]))
        t.daemon = True
        t.start()
        threads.append(t)
    for t in threads:
        t.join(max(0.0, left()))
    received = sum(r.received for r in rxs)
    nbytes = sum(r.bytes for r in rxs)
    got = [r for r in rxs if r.received]
    t0 = min((r.t_first for r in got), default=0.0)
    t1 = max((r.t_last for r in got), default=0.0)
    el = t1 - t0
    rate = sum(r.n_at_last - 1 for r in got) / el if el > 0 else 0.0
    mbs = rate * nbytes / received / 1e6 if el > 0 and received else 0.0
    rss, cpu = peak_rss_kib(), cpu_seconds()
    util = -1.0
    for r in rxs:
        if r.t_sample > r.t_first + 0.05:
            util = (r.cpu_sample - r.cpu_first) / (r.t_sample - r.t_first)
            break
    for ctx in ctxs:
        ctx.close()  # hangs up: the publisher may leave
    emit(
        {
            "system": SYSTEM,
            "role": "sub",
            "ok": received > 0,
            "size": ARGS["size"],
            "count": count,
            "n": n,
            "received": received,
            "bytes": nbytes,
            "elapsed": el,
            "t_first": t0,
            "t_last": t1,
            "counted": sum(r.n_at_last - 1 for r in got),
            "msgs_per_s": rate,
            "mb_per_s": mbs,
            "lost": count * n - received,
            "gaps": sum(r.gaps for r in rxs),
            "rss_kib": rss,
            "ru_maxrss_kib": ru_maxrss_kib(),
            "cpu_s": cpu,
            "cpu_util": util,
            "note": "" if received else "nothing received",
            "per_sub": [r.received for r in rxs],
        }
    )
    return 0 if received else 1


def run_pub():
    n, count, size = ARGS["n"], ARGS["count"], ARGS["size"]
    ctx = yoton.Context()
    pub = yoton.PubChannel(ctx, "bench", yoton.BINARY)
    ready = yoton.SubChannel(ctx, "bench_ready", yoton.TEXT)
    for i in range(n):
        ctx.connect(addr(i), timeout=min(10.0, max(0.5, left())))
    readies = 0
    while readies < n and left() > 0:
        if ready.recv(0.2):
            readies += 1
    if readies < n:
        fail("subscribers did not report ready")
    filler = b"x" * (size - 8)
    pack = struct.pack
    send = pub.send
    ok, note = True, ""
    t0 = now()
    cpu0 = cpu_seconds()
    sent = 0
    for sent in range(count):
        send(pack("<Q", sent) + filler)
        if (sent & 1023) == 0 and left() < 0:
            ok, note = False, "deadline while sending"
            break
    else:
        sent = count
    t1 = now()
    try:
        ctx.flush(max(0.5, min(30.0, left())))
    except Exception as e:  # the original raises on a flush timeout
        note = note or "flush: %s" % e
    while left() > 0 and ctx.connection_count > 0:
        time.sleep(0.005)
    el = t1 - t0
    t_done, cpu_done = now(), cpu_seconds()
    emit(
        {
            "system": SYSTEM,
            "role": "pub",
            "ok": ok,
            "size": size,
            "count": count,
            "n": n,
            "sent": sent,
            "send_elapsed": el,
            "send_msgs_per_s": sent / el if el > 0 else 0.0,
            "rss_kib": peak_rss_kib(),
            "ru_maxrss_kib": ru_maxrss_kib(),
            "cpu_s": cpu_done,
            "cpu_util": (cpu_done - cpu0) / (t_done - t0) if t_done > t0 else -1.0,
            "note": note,
        }
    )
    ctx.close()
    return 0 if ok else 1


# ------------------------------------------------------------------------------- req/rep --
def run_rep():
    stop = threading.Event()
    served = [0]
    window = {}  # CPU over the timed calls: from the first call after the warm-up to stop()

    class BenchRep(yoton.RepChannel):
        def bench(self, s):
            if served[0] == ARGS["warmup"]:
                window["t0"], window["cpu0"] = now(), cpu_seconds()
            served[0] += 1
            return s

        def stop(self):
            window["t1"], window["cpu1"] = now(), cpu_seconds()
            stop.set()
            return None

    ctx = yoton.Context()
    rep = BenchRep(ctx, "bench")
    rep.set_mode("thread")
    ctx.bind(addr())
    while not stop.is_set() and left() > 0:
        stop.wait(0.05)
    ok = stop.is_set()
    try:
        ctx.flush(2.0)
    except Exception:
        pass
    t = now()
    while now() - t < 3.0 and left() > 0 and ctx.connection_count > 0:
        time.sleep(0.005)
    w = window["t1"] - window["t0"] if "t0" in window and "t1" in window else 0.0
    c = window["cpu1"] - window["cpu0"] if w > 0 else 0.0
    emit(
        {
            "system": SYSTEM,
            "role": "rep",
            "ok": ok,
            "size": ARGS["size"],
            "served": served[0],
            "rss_kib": peak_rss_kib(),
            "cpu_s": cpu_seconds(),
            "loop_wall_s": w,
            "loop_cpu_s": c,
            "cpu_util": c / w if w > 0 else -1.0,
            "note": "" if ok else "no stop request",
        }
    )
    ctx.close()
    return 0 if ok else 1


def run_req():
    size, count = ARGS["size"], ARGS["count"]
    ctx = yoton.Context()
    req = yoton.ReqChannel(ctx, "bench")
    ctx.connect(addr(), timeout=min(10.0, max(0.5, left())))
    payload = "x" * size
    for _ in range(ARGS["warmup"]):
        r = req.bench(payload).result(10.0)
        if len(r) != size:
            fail("warmup: wrong reply")
    lat = []
    ok, note = True, ""
    w0 = now()
    cpu0 = cpu_seconds()
    for _ in range(count):
        if left() < 0:
            ok, note = False, "deadline after %d calls" % len(lat)
            break
        t0 = now()
        try:
            r = req.bench(payload).result(10.0)
        except Exception as e:
            ok, note = False, "call: %r" % e
            break
        lat.append(now() - t0)
        if len(r) != size:
            ok, note = False, "wrong reply"
            break
    w1 = now()
    cpu1 = cpu_seconds()
    try:
        req.stop().result(5.0)
    except Exception:
        pass
    lat.sort()
    n = len(lat)
    med = (lat[n // 2] if n % 2 else 0.5 * (lat[n // 2 - 1] + lat[n // 2])) if n else 0.0
    p99 = lat[int((n - 1) * 0.99 + 0.5)] if n else 0.0
    emit(
        {
            "system": SYSTEM,
            "role": "req",
            "ok": ok,
            "size": size,
            "count": count,
            "calls": n,
            "median_us": med * 1e6,
            "p99_us": p99 * 1e6,
            "mean_us": (sum(lat) / n * 1e6) if n else 0.0,
            "min_us": lat[0] * 1e6 if n else 0.0,
            "max_us": lat[-1] * 1e6 if n else 0.0,
            "wall_s": w1 - w0,
            "calls_per_s": n / (w1 - w0) if w1 > w0 else 0.0,
            "rss_kib": peak_rss_kib(),
            "cpu_s": cpu_seconds(),
            "loop_cpu_s": cpu1 - cpu0,
            "cpu_util": (cpu1 - cpu0) / (w1 - w0) if w1 > w0 else -1.0,
            "note": note,
        }
    )
    ctx.close()
    return 0 if ok else 1


def main(argv):
    global ARGS
    ARGS = parse(argv)
    role = ARGS["role"]
    try:
        rc = {"sub": run_sub, "pub": run_pub, "rep": run_rep, "req": run_req}[role]()
    except SystemExit:
        raise
    except Exception as e:  # report, do not hang
        fail("%s: %r" % (role, e))
    sys.stdout.flush()
    os._exit(rc)  # do not wait for the original's daemon threads


if __name__ == "__main__":
    main(sys.argv)
