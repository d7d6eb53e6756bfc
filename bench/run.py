#!/usr/bin/env python3
"""yoton benchmark harness: yoton (C library) vs libzmq, nng, raw TCP and the original
Python yoton, side by side, interleaved, in one run.

    /work/venv/bin/python bench/run.py                 # full run, writes bench/RESULTS.md,
                                                       # bench/results.json, bench/throughput.png
    /work/venv/bin/python bench/run.py --quick --no-write   # smoke run (< 60 s), exit 1 on failure

Run it with a Python that has pyzo==4.22.0 installed (the original yoton). It builds
  - the yoton C library with CMake in its own build directory (--build-dir, default
    /tmp/build-bench; only the library target is built),
  - the benchmark programs (bench/Makefile: cc against that library, libzmq via pkg-config,
    nng via pkg-config or -lnng),
then runs every workload with all systems interleaved: for each workload and size, the
systems are rotated within each repeat, so slow drifts of this shared machine hit all of them
alike. Ratios are computed from medians, and also per repeat (systems measured moments apart),
whose min-max is shown as the "paired range". The headline table holds the targets of issue 9:
the yoton systems `yoton` / `yoton-block` send with the plain, copying yoton_pub_send at every
size (the zero-copy yoton_pub_send_zc is measured beside them as `yoton-zc` / `yoton-block-zc`
at 64 KiB and 1 MiB); RPC reports the CPU of the requester and of the replier over the timed
calls; fan-out runs in two layouts (one subscriber process holding N receivers, and one process
per subscriber).

Every process gets a self-deadline (timeout=S) and a hard timeout in this runner, which kills
it by PID on expiry; the measurement is then recorded as failed.

Debian packages: libzmq3-dev libnng-dev (and python3-matplotlib, or matplotlib in the venv,
for the plot); cmake, cargo and a C compiler for the build. Without libzmq or nng, a --quick
run skips the systems that need them (saying so on one line); a full run refuses to start.
"""

import argparse
import ctypes
import datetime
import importlib.util
import json
import os
import platform
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

KiB = 1024
MiB = 1024 * 1024
SIZES = [64, KiB, 64 * KiB, MiB]
QUICK_SIZES = [64, 64 * KiB]

# Pub/sub systems: name -> (publisher, subscriber, extra args, lossy?)
# A side is "c:<prog>" (bench program) or "py" (bench/pyyoton_bench.py, the original).
# The headline yoton systems (`yoton`, `yoton-block`) send with the plain, copying
# yoton_pub_send at every size; `yoton-zc` / `yoton-block-zc` are the same with the zero-copy
# yoton_pub_send_zc, measured at 64 KiB and 1 MiB only (ZC_SIZES) and shown beside them.
PUBSUB = {
    "yoton": ("c:yoton_bench", "c:yoton_bench", [], True),
    "yoton-block": ("c:yoton_bench", "c:yoton_bench", ["mode=block"], False),
    "yoton-zc": ("c:yoton_bench", "c:yoton_bench", ["mode=zc"], True),
    "yoton-block-zc": ("c:yoton_bench", "c:yoton_bench", ["mode=block-zc"], False),
    "zmq": ("c:zmq_bench", "c:zmq_bench", [], False),
    "nng-pub": ("c:nng_bench", "c:nng_bench", ["mode=pub"], True),
    "nng-push": ("c:nng_bench", "c:nng_bench", ["mode=push"], False),
    "rawtcp": ("c:rawtcp_bench", "c:rawtcp_bench", ["mode=single"], False),
    "rawtcp-batched": ("c:rawtcp_bench", "c:rawtcp_bench", ["mode=batched"], False),
    "pyyoton": ("py", "py", [], False),
    "mixed C->py": ("c:yoton_bench", "py", [], False),
    "mixed py->C": ("py", "c:yoton_bench", [], False),
    # Opt-in (--systems yoton-sync,...): the original's sync mode on our subscriber.
    "yoton-sync": ("c:yoton_bench", "c:yoton_bench", ["mode=sync"], True),
}
OPT_IN = {"yoton-sync"}
ZC_SIZES = {64 * KiB, MiB}
# Systems measured only at some sizes (others: every size).
ONLY_SIZES = {"yoton-zc": ZC_SIZES, "yoton-block-zc": ZC_SIZES}
# RPC systems: name -> (requester, replier)
RPC = {
    "yoton": ("c:yoton_bench", "c:yoton_bench"),
    "zmq": ("c:zmq_bench", "c:zmq_bench"),
    "nng": ("c:nng_bench", "c:nng_bench"),
    "rawtcp": ("c:rawtcp_bench", "c:rawtcp_bench"),
    "pyyoton": ("py", "py"),
    "mixed C req->py rep": ("c:yoton_bench", "py"),
    "mixed py req->C rep": ("py", "c:yoton_bench"),
}
# Fan-out systems, measured in two layouts: "inproc" = one subscriber process holding N
# receivers; "procs" = N subscriber processes with one receiver each.
FANOUT = ["yoton", "yoton-block", "zmq"]
LAYOUTS = {"inproc": "one subscriber process holding N receivers",
           "procs": "one process per subscriber (N processes, one receiver each)"}

# Bench programs that need a library of the system: program -> (library, probe program, pkg-config
# name, link flags without pkg-config (as in bench/Makefile), Debian package).
OPTIONAL_PROGS = {
    "zmq_bench": ("libzmq", "#include <zmq.h>\nint main(void) { int a, b, c; zmq_version(&a, &b, &c); return 0; }\n",
                  "libzmq", ["-lzmq"], "libzmq3-dev"),
    "nng_bench": ("nng", "#include <nng/nng.h>\nint main(void) { return nng_version() == NULL; }\n",
                  "nng", ["-lnng"], "libnng-dev"),
}

# First guesses (messages or calls per second) for the first calibration probe only.
PRIOR_RATE = {
    "c": {64: 300e3, KiB: 200e3, 64 * KiB: 10e3, MiB: 700},
    "py": {64: 6e3, KiB: 6e3, 64 * KiB: 2e3, MiB: 200},
    "nng-push": {64: 20e3, KiB: 20e3, 64 * KiB: 10e3, MiB: 700},
}
RPC_PRIOR = {"c": 3000, "py": 5}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- build --
def library_found(probe, pc_name, fallback_libs):
    """Whether the C program `probe` (a call into the library) compiles and links (flags from
    pkg-config, else `fallback_libs`, as bench/Makefile does)."""
    flags = fallback_libs
    try:
        r = subprocess.run(["pkg-config", "--cflags", "--libs", pc_name], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, timeout=60)
        if r.returncode == 0:
            flags = shlex.split(r.stdout)
    except (OSError, subprocess.TimeoutExpired):
        pass
    with tempfile.TemporaryDirectory(prefix="yoton-bench-probe.") as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(probe)
        try:
            r = subprocess.run([os.environ.get("CC", "cc"), src, "-o", os.path.join(tmp, "probe")] + flags,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0


def build(args):
    """Build the library and the bench programs; returns the set of optional programs
    (OPTIONAL_PROGS) that are skipped because their library is missing (--quick only)."""
    bdir = args.build_dir
    out = os.path.join(bdir, "bench")
    if args.no_build:
        skipped = {p for p in OPTIONAL_PROGS if not os.path.exists(os.path.join(out, p))}
    else:
        skipped = {p for p, (_, probe, pc, libs, _) in OPTIONAL_PROGS.items() if not library_found(probe, pc, libs)}
    if skipped:
        libs = " and ".join(OPTIONAL_PROGS[p][0] for p in OPTIONAL_PROGS if p in skipped)
        debs = " ".join(OPTIONAL_PROGS[p][4] for p in OPTIONAL_PROGS if p in skipped)
        if not args.quick:
            raise SystemExit("%s not found: a full run needs %s (install %s)"
                             % (libs, "it" if len(skipped) == 1 else "them", debs))
        log("[bench] %s not found: skipping %s in this smoke run (install %s to include %s)"
            % (libs, "its comparison" if len(skipped) == 1 else "their comparisons", debs,
               "it" if len(skipped) == 1 else "them"))
    progs = [p for p in ["yoton_bench", "zmq_bench", "nng_bench", "rawtcp_bench"] if p not in skipped]
    if not args.no_build:
        # Configure every time (cheap): an old build directory may predate a target rename.
        run_checked(["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"], "configure")
        # Only the library: the tests and examples of the main build are not needed here.
        run_checked(["cmake", "--build", bdir, "--target", "yoton_stage", "-j2"], "build yoton")
        run_checked(
            ["make", "-s", "-C", HERE, "YOTON_BUILD=" + bdir, "OUT=" + out] + [os.path.join(out, p) for p in progs],
            "build bench programs",
        )
    lib = os.path.join(bdir, "lib", "libyoton.so")
    for p in progs:
        if not os.path.exists(os.path.join(out, p)):
            raise SystemExit("missing %s (build failed?)" % p)
    if not os.path.exists(lib):
        raise SystemExit("missing " + lib)
    return skipped


def run_checked(cmd, what):
    log("[build] " + " ".join(shlex.quote(c) for c in cmd))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        raise SystemExit("%s failed (exit %d)" % (what, r.returncode))


# ---------------------------------------------------------------------------- processes --
def free_ports(n):
    """A base port with n consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - n)
        socks = []
        try:
            for i in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


class Runner:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.join(args.build_dir, "bench")
        self.py = sys.executable
        self.failures = []
        self.nprocs = 0

    def cmd(self, side, role, endpoint, size, count, extra):
        if side == "py":
            base = [self.py, os.path.join(HERE, "pyyoton_bench.py")]
        else:
            base = [os.path.join(self.bin, side[2:])]
        return base + [role, endpoint, str(size), str(count)] + extra

    def pair(self, label, server_cmd, client_cmd, server_is_py, limit):
        """Start the receiving/serving side, then the sending/requesting side; wait for both
        (hard limit: kill by PID). Returns (ok, server_json, client_json, error)."""
        ok, servers, client, err = self.group(label, [server_cmd], client_cmd, server_is_py, limit)
        return ok, servers[0], client, err

    def group(self, label, server_cmds, client_cmd, server_is_py, limit, listen_ports=None):
        """Start the receiving/serving processes, then the sending/requesting one; wait for all
        (one hard limit for all: kill by PID). With listen_ports, the client starts as soon as
        all these ports listen (else after a short pause: senders retry anyway).
        Returns (ok, [server_json...], client_json, error)."""
        procs = []
        out = {}
        err = None
        t_end = time.monotonic() + limit
        names = ["server" if len(server_cmds) == 1 else "server %d" % i for i in range(len(server_cmds))]
        try:
            for name, cmd in zip(names, server_cmds):
                procs.append((name, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
            self.nprocs += len(server_cmds)
            if listen_ports:
                wait_listening(listen_ports, min(t_end, time.monotonic() + 15), [p for _, p in procs])
            time.sleep(0.35 if server_is_py else 0.06)  # let it bind; senders retry anyway
            c = subprocess.Popen(client_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(("client", c))
            self.nprocs += 1
            for name, p in [procs[-1]] + procs[:-1]:
                try:
                    so, se = p.communicate(timeout=max(0.1, t_end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    msg = "%s: hard timeout (%.0f s), killed pid %d" % (name, limit, p.pid)
                    err = msg if err is None else err + "; " + msg
                    p.kill()
                    so, se = p.communicate()
                out[name] = (p.returncode, so, se)
        finally:
            for _, p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        res = {}
        for name in names + ["client"]:
            if name not in out:
                err = err or "%s did not start" % name
                continue
            rc, so, se = out[name]
            js = None
            for line in reversed(so.strip().splitlines()):
                if line.startswith("{"):
                    try:
                        js = json.loads(line)
                    except ValueError:
                        pass
                    break
            res[name] = js
            if rc != 0 or js is None or not js.get("ok", False):
                why = (js or {}).get("error") or (js or {}).get("note") or se.strip()[-300:] or "no output"
                err = err or "%s exit %s: %s" % (name, rc, why)
        ok = err is None
        if not ok:
            server = " ".join(server_cmds[0]) + (" (and %d more like it)" % (len(server_cmds) - 1) if len(server_cmds) > 1 else "")
            self.failures.append({"what": label, "error": err, "server": server, "client": " ".join(client_cmd)})
            log("  FAILED %s: %s" % (label, err))
        return ok, [res.get(nm) for nm in names], res.get("client"), err

    # -- workloads --
    def pubsub(self, system, size, count, n=1):
        pub_side, sub_side, extra, _ = PUBSUB[system]
        port = free_ports(n)
        ep = "127.0.0.1:%d" % port
        limit = self.args.proc_timeout + (20 if n > 8 else 0)
        common = extra + ["timeout=%d" % limit, "idle=1.0"] + (["n=%d" % n] if n > 1 else [])
        sub = self.cmd(sub_side, "sub", ep, size, count, common)
        pub = self.cmd(pub_side, "pub", ep, size, count, common)
        label = "pubsub %s size=%d count=%d n=%d" % (system, size, count, n)
        ok, sj, pj, err = self.pair(label, sub, pub, sub_side == "py", limit + 5)
        return {"ok": ok, "sub": sj, "pub": pj, "error": err, "count": count, "cmd": [sub, pub]}

    def pubsub_procs(self, system, size, count, n):
        """Fan-out, process-per-subscriber layout: N subscriber processes (one receiver each, on
        ports PORT..PORT+N-1) and one publisher connected to all. The subscribers' lines are
        combined into one: aggregate rate over [earliest first arrival, latest last arrival]
        (CLOCK_MONOTONIC is system-wide), CPU summed over the processes, RSS max and sum."""
        pub_side, sub_side, extra, _ = PUBSUB[system]
        port = free_ports(n)
        limit = self.args.proc_timeout + (20 if n > 8 else 0)
        common = extra + ["timeout=%d" % limit, "idle=1.0"]
        subs = [self.cmd(sub_side, "sub", "127.0.0.1:%d" % (port + i), size, count, common) for i in range(n)]
        pub = self.cmd(pub_side, "pub", "127.0.0.1:%d" % port, size, count, common + ["n=%d" % n])
        label = "fanout-procs %s size=%d count=%d n=%d" % (system, size, count, n)
        ok, sjs, pj, err = self.group(label, subs, pub, sub_side == "py", limit + 5,
                                      listen_ports=[port + i for i in range(n)])
        return {"ok": ok, "sub": combine_subs(sjs) if ok else None, "subs": sjs, "pub": pj, "error": err,
                "count": count, "cmd": [subs[0], pub], "layout": "procs"}

    def rpc(self, system, size, count):
        req_side, rep_side = RPC[system]
        port = free_ports(1)
        ep = "127.0.0.1:%d" % port
        limit = self.args.proc_timeout
        warm = max(2, min(1000, count // 10))
        # The replier gets the same warmup=W: it measures its CPU from the first timed call.
        rep = self.cmd(rep_side, "rep", ep, size, count, ["timeout=%d" % limit, "warmup=%d" % warm])
        req = self.cmd(req_side, "req", ep, size, count, ["timeout=%d" % limit, "warmup=%d" % warm])
        label = "rpc %s size=%d count=%d" % (system, size, count)
        ok, rj, qj, err = self.pair(label, rep, req, rep_side == "py", limit + 5)
        return {"ok": ok, "rep": rj, "req": qj, "error": err, "count": count, "cmd": [rep, req]}


def wait_listening(ports, until, procs=()):
    """Wait (at most until `until`, monotonic) until every port in `ports` has a listening TCP
    socket on 127.0.0.1, read from /proc/net/tcp (no probe connection: a yoton bind accepts one
    peer). Gives up at once if one of `procs` has exited (it failed: the caller reports it)."""
    want = set(ports)
    while time.monotonic() < until and not any(p.poll() is not None for p in procs):
        seen = set()
        try:
            with open("/proc/net/tcp") as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                        seen.add(int(parts[1].rsplit(":", 1)[1], 16))
        except (OSError, ValueError, StopIteration):
            return
        if want <= seen:
            return
        time.sleep(0.02)


def combine_subs(sjs):
    """One subscriber line from N one-receiver subscriber processes."""
    sjs = [j for j in sjs if j]
    got = [j for j in sjs if j.get("received")]
    out = {"ok": all(j.get("ok") for j in sjs), "processes": len(sjs)}
    out["received"] = sum(j.get("received", 0) for j in sjs)
    out["lost"] = sum(j.get("lost", 0) for j in sjs)
    out["bytes"] = sum(j.get("bytes", 0) for j in sjs)
    counted = sum(j.get("counted", 0) for j in got)
    t0 = min((j["t_first"] for j in got), default=0.0)
    t1 = max((j["t_last"] for j in got), default=0.0)
    el = t1 - t0
    out["elapsed"] = el
    out["msgs_per_s"] = counted / el if el > 0 else 0.0
    out["mb_per_s"] = out["msgs_per_s"] * out["bytes"] / out["received"] / 1e6 if el > 0 and out["received"] else 0.0
    out["rss_kib"] = max((j.get("rss_kib", 0) for j in sjs), default=0)
    out["rss_sum_kib"] = sum(j.get("rss_kib", 0) for j in sjs)
    utils = [j.get("cpu_util", -1) for j in sjs]
    # CPU of all subscriber processes together (each over its own receiving interval); -1 if
    # any interval was too short to measure (tiny --quick counts).
    out["cpu_util"] = sum(utils) if utils and min(utils) >= 0 else -1.0
    out["per_sub"] = [j.get("received", 0) for j in sjs]
    return out


def prior_rate(system, size):
    if system == "nng-push":
        return PRIOR_RATE["nng-push"].get(size, 1000)
    py = "py" in PUBSUB[system][:2] if system in PUBSUB else False
    table = PRIOR_RATE["py" if py else "c"]
    return table.get(size, 1000)


def clamp(v, lo, hi):
    return max(lo, min(hi, v))


def calibrate(runner, measure, prior, target, lo, hi):
    """Probe until a run lasts >= 0.1 s, then scale the count to `target` seconds.
    measure(count) -> (ok, elapsed). Returns (count, probe results)."""
    count = int(clamp(prior * 0.2, lo, hi))
    probes = []
    for _ in range(3):
        ok, el, res = measure(count)
        probes.append(res)
        if not ok:
            return None, probes
        if el >= 0.1 or count >= hi:
            break
        count = int(clamp(count * min(20.0, 0.3 / max(el, 1e-3)), lo, hi))
    return int(clamp(count * target / max(el, 1e-3), lo, hi)), probes


# ------------------------------------------------------------------------------- stats --
def med(xs):
    return statistics.median(xs) if xs else None


def spread(xs):
    return (min(xs), max(xs)) if xs else (None, None)


def fmt(v, digits=None):
    if v is None:
        return "–"
    if digits is not None:
        return "%.*f" % (digits, v)
    a = abs(v)
    if a >= 1e6:
        return "%.2fM" % (v / 1e6)
    if a >= 1e4:
        return "%.0fk" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def size_label(n):
    if n >= MiB:
        return "%d MiB" % (n // MiB)
    if n >= KiB:
        return "%d KiB" % (n // KiB)
    return "%d B" % n


def ok_runs(runs):
    return [r for r in runs if r["ok"] and r.get("sub") and r["sub"].get("received")]


# ------------------------------------------------------------------------------- main --
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny counts, 1 repeat, 64 B and 64 KiB, fan-out 1 and 4 "
                    "(process per subscriber: 4); proves every program works (< 60 s); writes nothing unless --out is given")
    ap.add_argument("--no-write", action="store_true", help="write no files (RESULTS.md, results.json, throughput.png)")
    ap.add_argument("--repeats", type=int, default=5, help="measurements per system, workload and size (default 5: on a shared VM whose speed swings by +-30 %% between minutes, 3 left single medians far off)")
    ap.add_argument("--target-seconds", type=float, default=1.0, help="aim of each measurement's duration (default 1.0)")
    ap.add_argument("--sizes", default=None, help="comma-separated pub/sub sizes in bytes (default 64,1024,65536,1048576)")
    ap.add_argument("--workloads", default="pubsub,rpc,fanout", help="subset of pubsub,rpc,fanout")
    ap.add_argument("--systems", default=None, help="comma-separated subset of systems (names as in the tables)")
    ap.add_argument("--fanout", default="1,16,64", help="fan-out subscriber counts, one subscriber process holding N "
                    "receivers (default 1,16,64)")
    ap.add_argument("--fanout-procs", default="16,64", help="fan-out subscriber counts, one process per subscriber "
                    "(default 16,64; 'none' to skip)")
    ap.add_argument("--fanout-size", type=int, default=64, help="fan-out message size (default 64)")
    ap.add_argument("--rpc-size", type=int, default=64, help="RPC payload size (default 64)")
    ap.add_argument("--proc-timeout", type=int, default=30, help="hard timeout of each process, s (default 30)")
    ap.add_argument("--build-dir", default="/tmp/build-bench", help="CMake build directory of its own (default /tmp/build-bench)")
    ap.add_argument("--no-build", action="store_true", help="use what is in --build-dir")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: write RESULTS.md again from bench/results.json (after editing "
                         "ANALYSIS.md, which it includes); the run's own options must be the defaults")
    ap.add_argument("--out", default=None, help="results file (default bench/RESULTS.md; with --quick: none)")
    args = ap.parse_args()
    # make -C bench runs elsewhere: the build dir must not be relative.
    args.build_dir = os.path.abspath(args.build_dir)

    t_start = time.monotonic()
    if args.quick:
        args.repeats = 1
        args.proc_timeout = min(args.proc_timeout, 20)
        if args.fanout == "1,16,64":
            args.fanout = "1,4"
        if args.fanout_procs == "16,64":
            args.fanout_procs = "4"
    write = not args.no_write and (not args.quick or args.out)
    out_md = args.out or os.path.join(HERE, "RESULTS.md")
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (QUICK_SIZES if args.quick else SIZES)
    workloads = args.workloads.split(",")
    only = set(args.systems.split(",")) if args.systems else None
    fanouts = [int(x) for x in args.fanout.split(",")] if args.fanout not in ("", "none") else []
    fanouts_procs = [int(x) for x in args.fanout_procs.split(",")] if args.fanout_procs not in ("", "none") else []

    if args.render_only:
        with open(os.path.join(HERE, "results.json")) as f:
            data = json.load(f)
        with open(out_md, "w") as f:
            f.write(render(data, sizes, fanouts, fanouts_procs, args))
        log("wrote %s from results.json (%s)" % (out_md, data["meta"].get("date", "?")))
        return 0

    source_state = tree_state()  # what the library was built from (others may be editing src/)
    skipped = build(args)
    runner = Runner(args)
    load_before = open("/proc/loadavg").read().split()[:3]
    data = {"pubsub": {}, "rpc": {}, "fanout": {}, "fanout_procs": {}, "calibration": {}}

    def runnable(sides):
        return not any(side.startswith("c:") and side[2:] in skipped for side in sides)

    def systems_of(table):
        return [s for s in table if ((only is None and s not in OPT_IN) or (only is not None and s in only))
                and runnable(table[s][:2])]

    # -------- pub/sub throughput
    if "pubsub" in workloads:
        all_syss = systems_of(PUBSUB)
        for size in sizes:
            syss = [s for s in all_syss if size in ONLY_SIZES.get(s, {size})]
            counts = {}
            for s in syss:
                if args.quick:
                    counts[s] = quick_count(s, size)
                    continue

                def measure(c, s=s):
                    r = runner.pubsub(s, size, c)
                    el = (r["sub"] or {}).get("elapsed", 0) if r["ok"] else 0
                    return r["ok"], el, r

                c, probes = calibrate(runner, measure, prior_rate(s, size), args.target_seconds, 10, 5_000_000)
                data["calibration"]["pubsub %s %d" % (s, size)] = [p["count"] for p in probes]
                counts[s] = c
            log("[pubsub %s] counts: %s" % (size_label(size), counts))
            for rep in range(args.repeats):
                order = syss[rep % len(syss):] + syss[: rep % len(syss)]
                for s in order:
                    if counts[s] is None:
                        continue
                    r = runner.pubsub(s, size, counts[s])
                    data["pubsub"].setdefault(s, {}).setdefault(str(size), []).append(r)
                    if r["ok"]:
                        log("  %-15s %8s rep %d: %10.0f msg/s %9.1f MB/s lost %d" % (
                            s, size_label(size), rep, r["sub"]["msgs_per_s"], r["sub"]["mb_per_s"], r["sub"]["lost"]))

    # -------- RPC latency
    if "rpc" in workloads:
        syss = systems_of(RPC)
        counts = {}
        for s in syss:
            pyside = "py" in RPC[s]
            if args.quick:
                counts[s] = 3 if RPC[s] == ("py", "py") else (20 if pyside else 300)
                continue

            def measure(c, s=s):
                r = runner.rpc(s, args.rpc_size, c)
                el = (r["req"] or {}).get("wall_s", 0) if r["ok"] else 0
                return r["ok"], el, r

            prior = RPC_PRIOR["py" if RPC[s][0] == "py" or RPC[s] == ("py", "py") else "c"]
            c, probes = calibrate(runner, measure, prior, args.target_seconds, 20, 200_000)
            data["calibration"]["rpc %s" % s] = [p["count"] for p in probes]
            counts[s] = c
        log("[rpc] counts: %s" % counts)
        for rep in range(args.repeats):
            order = syss[rep % len(syss):] + syss[: rep % len(syss)]
            for s in order:
                if counts[s] is None:
                    continue
                r = runner.rpc(s, args.rpc_size, counts[s])
                data["rpc"].setdefault(s, []).append(r)
                if r["ok"]:
                    log("  %-22s rep %d: median %8.1f us p99 %8.1f us" % (s, rep, r["req"]["median_us"], r["req"]["p99_us"]))

    # -------- fan-out, in both layouts
    if "fanout" in workloads:
        syss = [s for s in FANOUT if (only is None or s in only) and runnable(PUBSUB[s][:2])]
        for layout, ns in (("inproc", fanouts), ("procs", fanouts_procs)):
            key = "fanout" if layout == "inproc" else "fanout_procs"
            for n in ns:
                counts = {}

                def one(s, c, n=n, layout=layout):
                    if layout == "inproc":
                        return runner.pubsub(s, args.fanout_size, c, n=n)
                    return runner.pubsub_procs(s, args.fanout_size, c, n)

                for s in syss:
                    if args.quick:
                        counts[s] = 500
                        continue

                    def measure(c, s=s):
                        r = one(s, c)
                        el = (r["sub"] or {}).get("elapsed", 0) if r["ok"] else 0
                        return r["ok"], el, r

                    prior = prior_rate(s, args.fanout_size) / n
                    c, probes = calibrate(runner, measure, prior, args.target_seconds, 10, 2_000_000)
                    data["calibration"]["%s %s %d" % (key, s, n)] = [p["count"] for p in probes]
                    counts[s] = c
                log("[fanout %s n=%d] counts: %s" % (layout, n, counts))
                for rep in range(args.repeats):
                    order = syss[rep % len(syss):] + syss[: rep % len(syss)]
                    for s in order:
                        if counts[s] is None:
                            continue
                        r = one(s, counts[s])
                        data[key].setdefault(s, {}).setdefault(str(n), []).append(r)
                        if r["ok"]:
                            log("  %-11s %-6s n=%-3d rep %d: %10.0f msg/s aggregate, lost %d" % (
                                s, layout, n, rep, r["sub"]["msgs_per_s"], r["sub"]["lost"]))

    wall = time.monotonic() - t_start
    load_after = open("/proc/loadavg").read().split()[:3]
    meta = machine_info(args)
    meta["source_state"] = source_state
    meta.update({"load_before": load_before, "load_after": load_after, "wall_s": wall,
                 "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable) if False else sys.executable] + sys.argv),
                 "repeats": args.repeats, "target_seconds": args.target_seconds, "processes": runner.nprocs,
                 "quick": args.quick})
    data["meta"] = meta
    data["failures"] = runner.failures

    md = render(data, sizes, fanouts, fanouts_procs, args)
    if write:
        with open(out_md, "w") as f:
            f.write(md)
        jpath = os.path.join(os.path.dirname(out_md), "results.json")
        with open(jpath, "w") as f:
            json.dump(data, f, indent=1, default=str)
        make_plot(data, sizes, os.path.join(os.path.dirname(out_md), "throughput.png"))
        log("wrote %s, %s" % (out_md, jpath))
    else:
        print(summary_text(data, sizes, args))
    log("done in %.1f s, %d processes, %d failure(s)" % (wall, runner.nprocs, len(runner.failures)))
    for f in runner.failures:
        log("  FAILED: %s: %s" % (f["what"], f["error"]))
    return 1 if runner.failures else 0


def quick_count(system, size):
    py = "py" in PUBSUB[system][:2]
    if size <= KiB:
        return 1500 if py else (3000 if system == "nng-push" else 20000)
    if size <= 64 * KiB:
        return 100 if py else 500
    return 20 if py else 50


# --------------------------------------------------------------------------- machine info --
LIB_PATHS = ["src", "include", "Cargo.toml", "Cargo.lock", "build.rs", "CMakeLists.txt", "cmake"]


def tree_state():
    """Uncommitted changes to what the library is built from (read-only git: no index refresh)."""
    try:
        out = subprocess.run(["git", "--no-optional-locks", "-C", ROOT, "status", "--porcelain=v1", "--untracked-files=no", "--"]
                             + LIB_PATHS, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=20).stdout
    except Exception:
        return "unknown (git failed)"
    files = [line[3:] for line in out.splitlines() if len(line) > 3]
    return "clean" if not files else "uncommitted changes in " + ", ".join(files)



def sh(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def machine_info(args):
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": sh(["sh", "-c", ". /etc/os-release 2>/dev/null && echo $PRETTY_NAME"]),
        "mem": sh(["sh", "-c", "free -h | awk '/Mem:/{print $2}'"]),
        "python": platform.python_version(),
        "cc": sh(["cc", "--version"]).splitlines()[0] if sh(["cc", "--version"]) else "?",
        "rustc": sh(["rustc", "--version"]),
    }
    try:
        lib = ctypes.CDLL(os.path.join(args.build_dir, "lib", "libyoton.so"))
        lib.yoton_version.restype = ctypes.c_char_p
        info["yoton"] = lib.yoton_version().decode()
    except OSError:
        info["yoton"] = "?"
    try:
        z = ctypes.CDLL("libzmq.so.5")
        a, b, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        z.zmq_version(ctypes.byref(a), ctypes.byref(b), ctypes.byref(c))
        info["libzmq"] = "%d.%d.%d" % (a.value, b.value, c.value)
    except OSError:
        info["libzmq"] = "?"
    try:
        nn = ctypes.CDLL("libnng.so.1")
        nn.nng_version.restype = ctypes.c_char_p
        info["nng"] = nn.nng_version().decode()
    except OSError:
        info["nng"] = "?"
    try:
        import importlib.metadata as md

        info["pyzo"] = md.version("pyzo")
    except Exception:
        info["pyzo"] = "?"
    info["debian_packages"] = sh(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "libzmq3-dev", "libnng-dev", "python3-matplotlib"])
    info["git"] = sh(["git", "--no-optional-locks", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    return info


# ------------------------------------------------------------------------------ report --
def stat_cells(st):
    """The cells every pub/sub and fan-out row ends with: lost, count, RSS and CPU of both
    sides (the row's closing bar included), and how many runs failed."""
    cells = [fmt(med(st["lost"]), 0) if st["lost"] else "–",
             fmt(med(st["count"]), 0) if st["count"] else "–",
             fmt(max(st["sub_rss"]) / 1024, 1) if st["sub_rss"] else "–",
             fmt(max(st["pub_rss"]) / 1024, 1) if st["pub_rss"] else "–",
             fmt(med(st["sub_cpu"]), 2) if st["sub_cpu"] else "–",
             fmt(med(st["pub_cpu"]), 2) if st["pub_cpu"] else "–"]
    return " | ".join(cells) + " |" + (" %d of %d runs failed" % (st["failed"], st["runs"]) if st["failed"] else "")


def pubsub_stats(runs):
    good = ok_runs(runs)
    return {
        "rate": [r["sub"]["msgs_per_s"] for r in good],
        "mbs": [r["sub"]["mb_per_s"] for r in good],
        "lost": [r["sub"]["lost"] for r in good],
        "count": [r["count"] for r in good],
        "sub_rss": [r["sub"]["rss_kib"] for r in good],
        "pub_rss": [r["pub"]["rss_kib"] for r in good if r.get("pub")],
        "sub_cpu": [r["sub"]["cpu_util"] for r in good if r["sub"].get("cpu_util", -1) >= 0],
        "pub_cpu": [r["pub"]["cpu_util"] for r in good if r.get("pub") and r["pub"].get("cpu_util", -1) >= 0],
        "failed": len(runs) - len(good),
        "runs": len(runs),
    }


def paired(a_runs, b_runs, key):
    """Per-repeat ratios a/b (the i-th measurements ran moments apart)."""
    out = []
    for ra, rb in zip(a_runs, b_runs):
        va, vb = key(ra), key(rb)
        if va and vb:
            out.append(va / vb)
    return out


def cell(xs, f=fmt):
    if not xs:
        return "failed"
    m = med(xs)
    lo, hi = spread(xs)
    if len(xs) == 1:
        return f(m)
    return "%s (%s–%s)" % (f(m), f(lo), f(hi))


def get_pubsub(data, system, size):
    return data["pubsub"].get(system, {}).get(str(size), [])


def sub_val(k):
    return lambda r: r["sub"][k] if r["ok"] and r.get("sub") else None


def rpc_val(k):
    return lambda r: r["req"][k] if r["ok"] and r.get("req") else None


def loss_tag(d, system, size):
    runs = ok_runs(get_pubsub(d, system, size))
    lost = sum(r["sub"]["lost"] for r in runs)
    total = sum(r["count"] for r in runs)
    if not runs:
        return ""
    return " (lost %.2f%% of messages)" % (100.0 * lost / total) if lost else " (no loss)"


def ratio_row(metric, a_runs, b_runs, key, target, better_high, paired_min=None):
    """One row of the headline table: ratio of the medians of a and b, with the per-repeat
    (paired) ratios' range. target = (text, bound) or None for a reference row (no status);
    paired_min: the smallest paired ratio must also reach this (higher-is-better only)."""
    a = [key(r) for r in a_runs if key(r)]
    b = [key(r) for r in b_runs if key(r)]
    ttext = target[0] if target else "– (reference)"
    if not a or not b:
        return "| %s | n/a | | %s | %s |" % (metric, ttext, "not measured" if target else "reference")
    v = med(a) / med(b)
    p = paired(a_runs, b_runs, key)
    pr = "%.2f–%.2f" % spread(p) if p else ""
    if not target:
        return "| %s | %.2f× | %s | %s | reference |" % (metric, v, pr, ttext)
    ok = v >= target[1] if better_high else v <= target[1]
    if paired_min is not None:
        ok = ok and bool(p) and min(p) >= paired_min
    return "| %s | **%.2f×** | %s | %s | %s |" % (metric, v, pr, ttext, "met" if ok else "**not met**")


def rpc_cpu_both(r):
    """CPU of the requester and the replier process together over the timed calls (cores), or
    None if either side did not report it."""
    if not r["ok"] or not r.get("req") or not r.get("rep"):
        return None
    a, b = r["req"].get("cpu_util", -1), r["rep"].get("cpu_util", -1)
    return a + b if a is not None and b is not None and a >= 0 and b >= 0 else None


def fanout_runs(d, layout, system, n):
    return d["fanout" if layout == "inproc" else "fanout_procs"].get(system, {}).get(str(n), [])


def fanout_loss_tag(runs):
    runs = ok_runs(runs)
    if not runs:
        return ""
    lost = sum(r["sub"]["lost"] for r in runs)
    return " (lost %d messages)" % lost if lost else " (no loss)"


def render(d, sizes, fanouts, fanouts_procs, args):
    m = d["meta"]
    L = []
    A = L.append
    A("# yoton benchmark results")
    A("")
    A("Generated by `bench/run.py` (do not edit by hand; re-run it). %s." % ("QUICK smoke run: counts are tiny, numbers are not meaningful" if m["quick"] else "Full run"))
    A("")
    A("- Date: %s; total wall time %.0f s; %d processes started" % (m["date"], m["wall_s"], m["processes"]))
    A("- Command: `%s`" % m["command"])
    A("- Machine: %s, %d cores, %s RAM, Linux %s (%s); load average before %s, after %s (shared machine: other jobs ran concurrently)"
      % (m["cpu"], m["cores"], m["mem"], m["kernel"], m["os"], " ".join(m["load_before"]), " ".join(m["load_after"])))
    A("- Versions: yoton %s (git %s, Release build, %s), libzmq %s, nng %s, Python %s, pyzo %s (original yoton), %s"
      % (m["yoton"], m["git"], m["rustc"], m["libzmq"], m["nng"], m["python"], m["pyzo"], m["cc"]))
    A("- Library source: the working tree at build time, HEAD %s; %s%s" % (
        m["git"], m.get("source_state", "?"),
        " (work in progress of other engineers: the yoton numbers are of that tree, not of HEAD)"
        if m.get("source_state", "clean") != "clean" else ""))
    A("- Debian packages: %s" % "; ".join(m["debian_packages"].splitlines()))
    A("- Method: %d repeats per system, workload and size, systems rotated within each repeat (interleaved); message counts "
      "calibrated per system and size so that one measurement lasts about %.1f s (calibration probes are not counted). "
      "Cells are `median (min–max)` over the repeats. Throughput is measured at the subscriber from its first to its last "
      "message; MB = 10^6 bytes. RSS is the peak resident set of each process: VmHWM from /proc/self/status, because on Linux getrusage's ru_maxrss is "
      "carried over fork + execve, so every child of this 16 MiB Python runner would report at least 16 MiB (ru_maxrss is kept "
      "in results.json as ru_maxrss_kib). The \"paired range\" of a ratio "
      "is the min–max of the per-repeat ratios (the two systems measured moments apart)." % (m["repeats"], m["target_seconds"]))
    A("- Topology for every system: receivers bind, senders connect, loopback TCP (127.0.0.1), one process per side (fan-out: "
      "also one process per subscriber, see there); the "
      "publisher sends only after every subscriber is known to be there (yoton: a \"ready\" message on slot `bench_ready`; "
      "libzmq: XPUB subscription messages; nng/raw TCP: the connection is up). CPU is counted for every process, as CPU "
      "seconds (all threads) per wall second of its measured interval.")
    A("")

    # Headline ratios
    A("## Headline ratios vs targets")
    A("")
    A("The targets of issue 9 (\"Numbers to reach\"), as ratios within this one interleaved run. `yoton` and `yoton-block` "
      "send with the plain, copying `yoton_pub_send` at every size (what every user gets); the rows that count are the "
      "loss-free ones (`yoton-block`: YOTON_DISCARD_BLOCK on both contexts, comparable with libzmq's XPUB_NODROP) unless "
      "said. Rows marked *reference* are context (the default queue policy, the zero-copy `yoton_pub_send_zc`, the other "
      "systems' CPU) and have no status. Ratio = ratio of the medians over the repeats; paired range = min–max of the "
      "per-repeat ratios.")
    A("")
    A("| metric | value | paired range | target | status |")
    A("|---|---|---|---|---|")
    for size, goal in ((64, 2.0), (KiB, 2.5)):
        if size in sizes and d["pubsub"]:
            A(ratio_row("pub/sub %s msgs/s, yoton-block / libzmq (XPUB_NODROP)%s" % (size_label(size), loss_tag(d, "yoton-block", size)),
                        get_pubsub(d, "yoton-block", size), get_pubsub(d, "zmq", size), sub_val("msgs_per_s"),
                        ("≥ %g×" % goal, goal), True))
            A(ratio_row("pub/sub %s msgs/s, yoton (default policy, YOTON_DISCARD_OLD) / libzmq%s" % (size_label(size), loss_tag(d, "yoton", size)),
                        get_pubsub(d, "yoton", size), get_pubsub(d, "zmq", size), sub_val("msgs_per_s"), None, True))
    for size in (64 * KiB, MiB):
        if size in sizes and d["pubsub"]:
            A(ratio_row("pub/sub %s MB/s, yoton-block (plain send) / raw TCP (one write per message)%s" % (
                size_label(size), loss_tag(d, "yoton-block", size)), get_pubsub(d, "yoton-block", size),
                get_pubsub(d, "rawtcp", size), sub_val("mb_per_s"), ("≥ 1.0×, paired min ≥ 0.9×", 1.0), True, paired_min=0.9))
            A(ratio_row("pub/sub %s MB/s, yoton (plain send, default policy) / raw TCP%s" % (size_label(size), loss_tag(d, "yoton", size)),
                        get_pubsub(d, "yoton", size), get_pubsub(d, "rawtcp", size), sub_val("mb_per_s"), None, True))
            A(ratio_row("pub/sub %s MB/s, yoton-block-zc (zero-copy `yoton_pub_send_zc`) / raw TCP%s" % (
                size_label(size), loss_tag(d, "yoton-block-zc", size)), get_pubsub(d, "yoton-block-zc", size),
                get_pubsub(d, "rawtcp", size), sub_val("mb_per_s"), None, True))
    if d["rpc"]:
        A(ratio_row("RPC %d B median round trip, yoton / libzmq" % args.rpc_size, d["rpc"].get("yoton", []), d["rpc"].get("zmq", []),
                    rpc_val("median_us"), ("≤ 0.75×", 0.75), False))
        # One blocking ping-pong of two single-threaded raw-TCP programs: the time of one round
        # trip on this machine (yoton's protocol, the original's, takes two per call).
        A(ratio_row("RPC %d B median round trip, raw TCP (one blocking ping-pong) / libzmq" % args.rpc_size,
                    d["rpc"].get("rawtcp", []), d["rpc"].get("zmq", []), rpc_val("median_us"), None, False))
        for s_, target in (("yoton", ("≤ 1.2 cores", 1.2)), ("zmq", None)):
            runs = d["rpc"].get(s_, [])
            xs = [rpc_cpu_both(r) for r in runs if rpc_cpu_both(r) is not None]
            metric = ("RPC %d B: CPU of both processes together (requester + replier, CPU s per wall s over the timed "
                      "calls), %s" % (args.rpc_size, "yoton" if s_ == "yoton" else "libzmq"))
            if not xs:
                A("| %s | n/a | | %s | %s |" % (metric, target[0] if target else "– (reference)", "not measured" if target else "reference"))
                continue
            v = med(xs)
            if target:
                A("| %s | **%.2f cores** | %.2f–%.2f | %s | %s |" % (metric, v, min(xs), max(xs), target[0],
                                                                  "met" if v <= target[1] else "**not met**"))
            else:
                A("| %s | %.2f cores | %.2f–%.2f | – (reference) | reference |" % (metric, v, min(xs), max(xs)))
    for layout, ns in (("inproc", fanouts), ("procs", fanouts_procs)):
        for n in ns:
            if n < 2:
                continue
            a, b = fanout_runs(d, layout, "yoton-block", n), fanout_runs(d, layout, "zmq", n)
            if a or b:
                A(ratio_row("fan-out %s to %d subscribers, aggregate msgs/s, yoton-block / libzmq, %s%s" % (
                    size_label(args.fanout_size), n, LAYOUTS[layout], fanout_loss_tag(a)),
                    a, b, sub_val("msgs_per_s"), ("≥ 1.5×", 1.5), True))
    if MiB in sizes and d["pubsub"]:
        for side in ("pub", "sub"):
            xs = []
            for y in ("yoton", "yoton-block"):
                xs += pubsub_stats(get_pubsub(d, y, MiB))[side + "_rss"]
            if xs:
                v = max(xs) / 1024
                A("| peak RSS of the yoton %s at 1 MiB, plain send (max over the repeats of yoton and yoton-block) | **%.1f MiB** "
                  "| %.1f–%.1f MiB | ≤ 32 MiB | %s |" % (side, v, min(xs) / 1024, max(xs) / 1024, "met" if v <= 32 else "**not met**"))
    A("")
    A("The other targets of issue 9 are measured outside this harness: one context with 1000 connected peers "
      "(`tests/core_v2`), the CPU of an idle connected pair (`cargo run --release --example idle_cpu -- --seconds 20`) "
      "and the 10-minute churn soak (`cargo run --release --example churn_soak -- --seconds 600`); see bench/README.md.")
    A("")
    A("yoton vs the original Python yoton (pyzo %s):" % m["pyzo"])
    A("")
    A("| metric | yoton (C both sides) | C pub → original sub | original pub → C sub | original both sides |")
    A("|---|---|---|---|---|")

    def msgs(system, size):
        xs = [sub_val("msgs_per_s")(r) for r in get_pubsub(d, system, size) if sub_val("msgs_per_s")(r)]
        return med(xs) if xs else None

    def lat(system):
        xs = [rpc_val("median_us")(r) for r in d["rpc"].get(system, []) if rpc_val("median_us")(r)]
        return med(xs) if xs else None

    def rel(v, base, lower_better=False):
        if v is None or not base:
            return "–"
        return "%s (%.1f×)" % (fmt(v), (base / v) if lower_better else (v / base))

    for size in sizes:
        base = msgs("pyyoton", size)
        if base:
            A("| pub/sub %s msgs/s (× the original) | %s | %s | %s | %s |" % (
                size_label(size), rel(msgs("yoton", size), base), rel(msgs("mixed C->py", size), base),
                rel(msgs("mixed py->C", size), base), fmt(base)))
    base = lat("pyyoton")
    if base:
        A("| RPC %d B median round trip µs (× faster than the original) | %s | %s | %s | %s |" % (
            args.rpc_size, rel(lat("yoton"), base, True), rel(lat("mixed C req->py rep"), base, True),
            rel(lat("mixed py req->C rep"), base, True), fmt(base)))
    A("")
    A("(RPC mixed columns: \"C pub → original sub\" = our requester → the original's replier; \"original pub → C sub\" = the "
      "original's requester → our replier. The original requester's `Future.result()` polls every 10 ms, which bounds "
      "every run that uses it.)")
    A("")

    # Pub/sub tables
    if d["pubsub"]:
        A("## Pub/sub throughput (one publisher, one subscriber)")
        A("")
        A("Systems: `yoton` = the plain, copying `yoton_pub_send` with the default queue parameters (10000 packages per "
          "queue, YOTON_DISCARD_OLD: like the original, a subscriber that falls behind loses its oldest queued messages); "
          "`yoton-block` = the same send with YOTON_DISCARD_BLOCK on both contexts (loss-free: a full queue pushes back "
          "through TCP), the variant comparable with libzmq XPUB_NODROP; `yoton-zc` / `yoton-block-zc` = the same two with "
          "the zero-copy `yoton_pub_send_zc` (a ring of 16 caller buffers released by a callback once written; 64 KiB and "
          "1 MiB only; not the headline: most callers send with the copying call); `zmq` = XPUB with "
          "ZMQ_XPUB_NODROP=1 / SUB, default HWM; `nng-pub` = pub0/sub0 (drops for slow subscribers); `nng-push` = push0/pull0 "
          "(loss-free); `rawtcp` = 8-byte length + payload, one writev() of header and payload per message, the receiver "
          "parsing small frames in place from 256 KiB reads and reading each payload of 16 KiB or more straight into its "
          "final buffer after its header (no copy); `rawtcp-batched` = the same frames coalesced into 64 KiB writes (same "
          "receiver); `pyyoton` = the original Python yoton both sides; `mixed C->py` = our C publisher, the "
          "original's subscriber; `mixed py->C` = the original's publisher, our C subscriber.")
        A("")
        A("`lost` = messages sent but not received (median over the repeats). "
          "CPU = CPU seconds of the process (all threads) per wall second while it works (subscriber: from its first to a late "
          "message; publisher: from its first send until the subscriber hung up): ≈ 1.0 means one core busy, that side is "
          "CPU-bound if it cannot spread over threads; the machine has 2 cores in total.")
        A("")
        for size in sizes:
            A("### %s messages" % size_label(size))
            A("")
            A("| system | msgs/s | MB/s | lost (median) | count | sub RSS MiB | pub RSS MiB | sub CPU | pub CPU |")
            A("|---|---|---|---|---|---|---|---|---|")
            for s in PUBSUB:
                runs = get_pubsub(d, s, size)
                if not runs:
                    continue
                st = pubsub_stats(runs)
                A("| %s | %s | %s | %s" % (s, cell(st["rate"]), cell(st["mbs"]), stat_cells(st)))
            A("")
        A("![throughput](throughput.png)")
        A("")

    if d["rpc"]:
        A("## RPC round trip (%d B payload, one requester, one replier)" % args.rpc_size)
        A("")
        A("yoton: `yoton_req_call` + `yoton_future_result`, replier in YOTON_REP_THREAD mode with a C handler returning its "
          "argument (an OBJECT string of %d bytes). libzmq: REQ/REP. nng: req0/rep0. raw TCP: a ping-pong of length-prefixed "
          "frames. Original: `ReqChannel` method call + `Future.result()`, `RepChannel` in thread mode. Cells: median (min–max) "
          "over the repeats of each run's statistic, in microseconds." % args.rpc_size)
        A("")
        A("CPU columns: CPU seconds per wall second of each process (all its threads) over the timed calls only — the "
          "requester from its first to its last timed call, the replier from the arrival of the first timed call to the stop "
          "request — and of the two together (1.0 = one of the machine's 2 cores busy).")
        A("")
        A("| system | median µs | p99 µs | mean µs | calls per run | req CPU | rep CPU | both CPU | rep RSS MiB |")
        A("|---|---|---|---|---|---|---|---|---|")
        for s in RPC:
            runs = d["rpc"].get(s, [])
            if not runs:
                continue
            good = [r for r in runs if r["ok"]]
            f = lambda k: [r["req"][k] for r in good]
            ucell = lambda xs: fmt(med(xs), 2) if xs else "–"
            A("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                s, cell(f("median_us")), cell(f("p99_us")), cell(f("mean_us")),
                fmt(med([r["count"] for r in good]), 0) if good else "–",
                ucell([r["req"]["cpu_util"] for r in good if r["req"].get("cpu_util", -1) >= 0]),
                ucell([r["rep"]["cpu_util"] for r in good if r.get("rep") and r["rep"].get("cpu_util", -1) >= 0]),
                ucell([rpc_cpu_both(r) for r in good if rpc_cpu_both(r) is not None]),
                fmt(max(r["rep"]["rss_kib"] for r in good if r.get("rep")) / 1024, 1) if any(r.get("rep") for r in good) else "–")
              + (" %d of %d runs failed" % (len(runs) - len(good), len(runs)) if len(good) < len(runs) else ""))
        A("")

    if d["fanout"] or d["fanout_procs"]:
        A("## Fan-out (%s messages, one publisher, N subscribers)" % size_label(args.fanout_size))
        A("")
        A("One publisher process connected to N subscribers, each binding its own port with its own receiving thread "
          "(yoton: one context per subscriber, since a bind accepts one peer; the publisher context connects to each. "
          "libzmq: SUB sockets; one XPUB connected to all), in two layouts: **one process** = one subscriber process holding "
          "the N receivers (yoton: N contexts; libzmq: N SUB sockets in one context); **process per subscriber** = N "
          "subscriber processes with one receiver each. Aggregate msgs/s = messages received by all subscribers / (last "
          "arrival − first arrival) (process per subscriber: over the earliest first and the latest last arrival of all "
          "processes, CLOCK_MONOTONIC). Sub RSS = peak of the largest subscriber process; sub CPU = CPU s per wall s of the "
          "subscriber process, or of all subscriber processes together (each over its own receiving interval; – when the "
          "intervals were too short to measure).")
        A("")
        for layout, ns in (("inproc", fanouts), ("procs", fanouts_procs)):
            key = "fanout" if layout == "inproc" else "fanout_procs"
            if not d[key]:
                continue
            A("### %s" % ("One subscriber process holding N receivers" if layout == "inproc" else "One process per subscriber"))
            A("")
            A("| system | N | aggregate msgs/s | lost (median) | per-sub count | sub RSS MiB | pub RSS MiB | sub CPU | pub CPU |")
            A("|---|---|---|---|---|---|---|---|---|")
            for n in ns:
                for s in FANOUT:
                    runs = fanout_runs(d, layout, s, n)
                    if not runs:
                        continue
                    st = pubsub_stats(runs)
                    A("| %s | %d | %s | %s" % (s, n, cell(st["rate"]), stat_cells(st)))
            A("")
            for n in ns:
                for y in ("yoton", "yoton-block"):
                    ka = [sub_val("msgs_per_s")(r) for r in fanout_runs(d, layout, y, n) if sub_val("msgs_per_s")(r)]
                    kb = [sub_val("msgs_per_s")(r) for r in fanout_runs(d, layout, "zmq", n) if sub_val("msgs_per_s")(r)]
                    if ka and kb:
                        A("- N=%d: %s / libzmq aggregate msgs/s = %.2f×%s" % (n, y, med(ka) / med(kb),
                                                                        fanout_loss_tag(fanout_runs(d, layout, y, n))))
            A("")

    analysis = os.path.join(HERE, "ANALYSIS.md")
    if os.path.exists(analysis):
        # Hand-written: what was optimised, why the remaining gaps exist, what would close them.
        with open(analysis, encoding="utf-8") as f:
            A(f.read().rstrip())
        A("")

    A("## Failures")
    A("")
    if d["failures"]:
        for f in d["failures"]:
            A("- %s: %s  \n  `%s` / `%s`" % (f["what"], f["error"], f["server"], f["client"]))
    else:
        A("None: every process exited 0 with its JSON line, within its hard timeout.")
    A("")
    A("## Reproduce")
    A("")
    A("```")
    A("apt-get install -y libzmq3-dev libnng-dev python3-matplotlib   # once")
    A("venv/bin/python bench/run.py                 # full run with 5 repeats, ~8 min on 2 cores")
    A("venv/bin/python bench/run.py --quick --no-write   # smoke run, < 60 s, exit 1 on any failure")
    A("cargo run --release --example idle_cpu -- --seconds 20      # CPU of an idle connected pair")
    A("cargo run --release --example churn_soak -- --seconds 600   # 10-minute churn soak, RSS every 10 s")
    A("```")
    A("")
    A("Each program can be run by hand: `<prog> pub|sub|req|rep 127.0.0.1:PORT SIZE COUNT [n=N] [mode=M] [timeout=S]` "
      "(see bench/bench_common.h); start the sub/rep side first. Raw per-run JSON: bench/results.json.")
    A("")
    return "\n".join(L)


def summary_text(d, sizes, args):
    L = ["quick summary (medians):"]
    for size in sizes:
        for s in PUBSUB:
            st = pubsub_stats(get_pubsub(d, s, size))
            if st["runs"]:
                L.append("  pubsub %-15s %7s %12s msg/s %10s MB/s lost %s%s" % (
                    s, size_label(size), fmt(med(st["rate"])), fmt(med(st["mbs"])),
                    fmt(med(st["lost"]), 0) if st["lost"] else "–", "  FAILED" if st["failed"] else ""))
    for s, runs in d["rpc"].items():
        good = [r for r in runs if r["ok"]]
        L.append("  rpc    %-22s median %s us%s" % (s, fmt(med([r["req"]["median_us"] for r in good])) if good else "–",
                                                      "" if good else "  FAILED"))
    for s, runs in d["rpc"].items():
        xs = [rpc_cpu_both(r) for r in runs if rpc_cpu_both(r) is not None]
        if xs:
            L.append("  rpc    %-22s CPU of both processes %.2f cores" % (s, med(xs)))
    for key, layout in (("fanout", "1 proc"), ("fanout_procs", "N procs")):
        for s, byn in d[key].items():
            for n, runs in byn.items():
                st = pubsub_stats(runs)
                L.append("  fanout %-11s %-7s n=%-3s %12s msg/s aggregate lost %s%s" % (
                    s, layout, n, fmt(med(st["rate"])), fmt(med(st["lost"]), 0) if st["lost"] else "–",
                    "  FAILED" if st["failed"] else ""))
    return "\n".join(L)


def make_plot(d, sizes, out):
    series = {}
    for s in PUBSUB:
        pts = []
        for size in sizes:
            xs = [r["sub"]["mb_per_s"] for r in ok_runs(get_pubsub(d, s, size))]
            if xs:
                pts.append([size, med(xs), min(xs), max(xs)])
        if pts:
            series[s] = pts
    spec = {"title": "pub/sub throughput on loopback (%s, %d cores), median and min–max of %d runs"
                     % (d["meta"]["cpu"], d["meta"]["cores"], d["meta"]["repeats"]), "series": series}
    tmp = out + ".json"
    with open(tmp, "w") as f:
        json.dump(spec, f)
    try:
        if importlib.util.find_spec("matplotlib") is not None:
            sys.path.insert(0, HERE)
            import plot_throughput

            plot_throughput.plot(spec, out)
            return
        for py in ("/usr/bin/python3", shutil.which("python3")):
            if py and subprocess.run([py, "-c", "import matplotlib"], stderr=subprocess.DEVNULL).returncode == 0:
                r = subprocess.run([py, os.path.join(HERE, "plot_throughput.py"), tmp, out], timeout=120)
                if r.returncode == 0:
                    return
        log("no matplotlib found (apt-get install python3-matplotlib, or pip install matplotlib): no plot")
    finally:
        os.unlink(tmp)


if __name__ == "__main__":
    sys.exit(main())
