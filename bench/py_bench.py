"""py_bench: the Python package (python/, on libyoton) against the original Python yoton,
same run, same benchmark code (bench/pyyoton_bench.py, whose YOTON_PY_IMPL=engine switch
imports our package). Python to Python, two processes, loopback:

  - pub/sub, 64 B and 1 KiB BINARY messages: messages/s at the subscriber;
  - RPC round trip (ReqChannel -> RepChannel in thread mode, 16-byte string): median and p99.

    python bench/py_bench.py [--quick] [--json FILE]

Needs pyzo==4.22.0 (the original) and this package installed in the running Python.
Targets (issue 12): pub/sub >= 50x the original, RPC median <= 0.3 ms.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "pyyoton_bench.py")
IMPLS = {"original": {}, "engine": {"YOTON_PY_IMPL": "engine"}}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_pair(impl, server_args, client_args, timeout):
    """Start the server side (sub / rep), then the client (pub / req); both JSON results."""
    env = dict(os.environ, **IMPLS[impl])
    port = free_port()
    addr = "127.0.0.1:%i" % port
    opts = ["timeout=%i" % timeout]
    server = subprocess.Popen(
        [sys.executable, BENCH, server_args[0], addr] + server_args[1:] + opts,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(0.5)  # let the server bind (the client retries its connect for up to 10 s too)
    client = subprocess.run(
        [sys.executable, BENCH, client_args[0], addr] + client_args[1:] + opts,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        timeout=timeout + 10,
    )
    out, _ = server.communicate(timeout=timeout + 10)
    return json.loads(out.strip().splitlines()[-1]), json.loads(client.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny counts (smoke run)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    counts = {"original": 2000, "engine": 20000} if args.quick else {"original": 20000, "engine": 400000}
    # The original's round trip takes about 0.2 s (its futures poll every 10 ms, its replier
    # runs on timers): a few hundred calls are plenty there.
    calls = {"original": 10, "engine": 200} if args.quick else {"original": 200, "engine": 5000}
    results = {}
    for size in (64, 1024):
        for impl in IMPLS:
            n = counts[impl]
            sub, pub = run_pair(impl, ["sub", str(size), str(n)], ["pub", str(size), str(n)], 120)
            results["pubsub_%i_%s" % (size, impl)] = {
                "msgs_per_s": sub["msgs_per_s"],
                "received": sub["received"],
                "sent": pub["sent"],
            }
    for impl in IMPLS:
        n = calls[impl]
        rep, req = run_pair(impl, ["rep", "16", str(n)], ["req", "16", str(n)], 180)
        results["rpc_%s" % impl] = {
            "median_us": req["median_us"],
            "p99_us": req["p99_us"],
            "calls": req["calls"],
            "ok": req["ok"] and rep["ok"],
        }
    print("| measure | original | this package | ratio |")
    print("|---|---:|---:|---:|")
    for size in (64, 1024):
        o = results["pubsub_%i_original" % size]["msgs_per_s"]
        e = results["pubsub_%i_engine" % size]["msgs_per_s"]
        print("| pub/sub %i B, msgs/s | %.0f | %.0f | %.1fx |" % (size, o, e, e / o if o else 0))
    for q in ("median_us", "p99_us"):
        o, e = results["rpc_original"][q], results["rpc_engine"][q]
        print("| RPC round trip %s | %.0f | %.0f | %.1fx faster |" % (q, o, e, o / e if e else 0))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
