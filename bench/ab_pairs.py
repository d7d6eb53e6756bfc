#!/usr/bin/env python3
"""ab_pairs: compare builds of the library (or systems) in interleaved pub/sub pairs.

    python3 bench/ab_pairs.py ROUNDS SIZE COUNT VARIANT [VARIANT ...]

    VARIANT = name:libdir:program:arg,arg,...
      libdir   a directory holding libyoton.so.0 (put first on LD_LIBRARY_PATH), or '-' for
               the one the program was built against;
      program  a bench program in $BENCH_BIN (default /tmp/build-bench/bench, as run.py builds
               them): yoton_bench, zmq_bench, nng_bench or rawtcp_bench;
      args     extra arguments of the program (mode=block, n=64, ...).

Each round runs every variant once, in order (subscriber first, then publisher, loopback), so
the variants of a round are measured moments apart. Prints each round's msgs/s at the
subscriber, then per variant the median, its ratio to the first variant's median, the range of
the per-round ratios (paired) and the median CPU of both processes per message (ns): on a
shared VM whose speed swings from run to run, CPU per message is often the steadier figure.

How the figures in bench/ANALYSIS.md ("measured in A/B pairs") were taken, e.g. a change to
the library against the build before it:

    cargo build --release && mkdir -p /tmp/libB && cp target/release/libyoton.so /tmp/libB/libyoton.so.0
    (the same for the other build into /tmp/libA)
    python3 bench/ab_pairs.py 6 65536 30000 A:/tmp/libA:yoton_bench:mode=block \\
        B:/tmp/libB:yoton_bench:mode=block raw:-:rawtcp_bench:

The bench programs' RUNPATH gives way to LD_LIBRARY_PATH, so one set of programs drives every
build. Counts are not calibrated (run.py does that): pick COUNT so that a measurement lasts
about a second.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from py_bench import free_port  # (this directory is first on sys.path)

BIN = os.environ.get("BENCH_BIN", "/tmp/build-bench/bench")


def parse_variant(text):
    name, lib, prog, extra = (text.split(":", 3) + ["", "", ""])[:4]
    return name, lib, prog or "yoton_bench", [a for a in extra.split(",") if a]


def run_pair(lib, prog, extra, size, count):
    """One measurement: (msgs/s at the subscriber, CPU ns per message of both processes)."""
    env = dict(os.environ)
    if lib and lib != "-":
        env["LD_LIBRARY_PATH"] = lib
    endpoint = "127.0.0.1:%d" % free_port()
    args = [str(size), str(count)] + extra + ["timeout=20", "idle=1.0"]
    exe = os.path.join(BIN, prog)
    procs = [subprocess.Popen([exe, "sub", endpoint] + args, stdout=subprocess.PIPE, text=True, env=env)]
    try:
        time.sleep(0.06)  # let it bind; publishers retry anyway
        procs.append(subprocess.Popen([exe, "pub", endpoint] + args, stdout=subprocess.PIPE, text=True, env=env))
        sub, pub = procs
        pub_out, _ = pub.communicate(timeout=60)
        sub_out, _ = sub.communicate(timeout=60)
    finally:
        for p in procs:  # only ours, by their handles
            if p.poll() is None:
                p.kill()
                p.wait()
    sj = json.loads(sub_out.strip().splitlines()[-1])
    pj = json.loads(pub_out.strip().splitlines()[-1])
    cpu = (sj.get("cpu_s", 0.0) + pj.get("cpu_s", 0.0)) / max(1, sj.get("received", 1)) * 1e9
    return sj["msgs_per_s"], cpu


def main(argv):
    if len(argv) < 5:
        sys.exit(__doc__)
    rounds, size, count = int(argv[1]), int(argv[2]), int(argv[3])
    variants = [parse_variant(v) for v in argv[4:]]
    rates = {v[0]: [] for v in variants}
    cpus = {v[0]: [] for v in variants}
    for r in range(rounds):
        line = []
        for name, lib, prog, extra in variants:
            try:
                rate, cpu = run_pair(lib, prog, extra, size, count)
            except (ValueError, KeyError, IndexError, subprocess.TimeoutExpired) as e:
                line.append("%s=failed (%s)" % (name, e))
                rates[name].append(None)
                continue
            rates[name].append(rate)
            cpus[name].append(cpu)
            line.append("%s=%.0f" % (name, rate))
        print("round %d: %s" % (r, "  ".join(line)), flush=True)
    base = variants[0][0]
    base_median = statistics.median([x for x in rates[base] if x] or [0]) or 1.0
    for name, _, _, _ in variants:
        ok = [x for x in rates[name] if x]
        if not ok:
            print("%-12s no measurement" % name)
            continue
        paired = [a / b for a, b in zip(rates[name], rates[base]) if a and b]
        print("%-12s median %12.0f  ratio to %s %.3f  paired %.2f-%.2f  CPU ns/msg %.0f" % (
            name, statistics.median(ok), base, statistics.median(ok) / base_median,
            min(paired or [0]), max(paired or [0]), statistics.median(cpus[name] or [0])))


if __name__ == "__main__":
    main(sys.argv)
