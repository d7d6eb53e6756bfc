"""The `yoton` command-line tool (cli/, docs/cli.md) against the original Python yoton:
a Python publisher seen by `yoton sub`, `yoton pub` feeding a Python subscriber, `yoton req`
calling a Python replier, `yoton rep` answering a Python requester, `yoton state` both ways,
`yoton request` / `yoton serve` with the original's client/server helper, and `yoton monitor`
in the middle of a three-node network of Python nodes.

The tool is found next to the peer (<build>/yoton, built by CMake) or at $YOTON_CLI.
"""

import os
import queue
import signal
import sys
import subprocess
import threading

import pytest

import interop_util as iu
from interop_util import yoton

WAIT = 20.0  # seconds: upper bound of every wait here (a float: the original's recv(block=) wants one)


def cli_path():
    return os.environ.get("YOTON_CLI") or os.path.join(os.path.dirname(iu.peer_path()), "yoton")


@pytest.fixture(scope="module")
def cli():
    path = cli_path()
    if not os.access(path, os.X_OK):
        pytest.fail("yoton CLI not found at %s: build it (CMake builds <build>/yoton) or set YOTON_CLI" % path)
    return path


def run(cli, *args, stdin=b""):
    """Runs `yoton ARGS` to the end (bounded); returns (returncode, stdout, stderr) as text."""
    p = subprocess.run([cli, *args], input=stdin, capture_output=True, timeout=WAIT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class Proc:
    """A running `yoton`, its stdout and stderr read line by line by threads."""

    def __init__(self, cli, *args):
        self.proc = subprocess.Popen([cli, *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err = queue.Queue(), queue.Queue()
        self.err_seen = []
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, q), daemon=True).start()

    @staticmethod
    def _read(stream, q):
        for raw in iter(stream.readline, b""):
            q.put(raw.decode("utf-8", "replace").rstrip("\n"))
        q.put(None)

    def line(self):
        line = self.out.get(timeout=WAIT)
        assert line is not None, "yoton exited: %r" % self.stderr()
        return line

    def lines_until(self, pred, limit=1000):
        seen = []
        while len(seen) < limit:
            line = self.line()
            seen.append(line)
            if pred(line):
                return line, seen
        raise AssertionError("no such line in %r" % seen)

    def stderr_line(self, what):
        while not any(what in l for l in self.err_seen):
            line = self.err.get(timeout=WAIT)
            assert line is not None, "yoton exited: %r" % self.err_seen
            self.err_seen.append(line)
        return [l for l in self.err_seen if what in l]

    def ports(self, n):
        """The ports of `--bind localhost:0 -v` (one per address)."""
        while len(self.stderr_line("hosting at ")) < n:
            self.err_seen.append(self.err.get(timeout=WAIT))
        return [int(l.rsplit(":", 1)[1]) for l in self.stderr_line("hosting at ")][:n]

    def stderr(self):
        while True:
            try:
                line = self.err.get_nowait()
            except queue.Empty:
                return "\n".join(self.err_seen)
            if line is not None:
                self.err_seen.append(line)

    def wait(self):
        return self.proc.wait(timeout=WAIT)

    def interrupt(self):
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)


@pytest.fixture
def procs(cli):
    """Factory of `yoton` processes; those still running at teardown are killed (by PID)."""
    started = []

    def start(*args):
        p = Proc(cli, *args)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


def py_bind(ctx):
    conn = ctx.bind("localhost:%d" % iu.free_port())
    return conn, "localhost:%d" % conn.port1


class Replier(yoton.RepChannel):
    def add(self, a, b):
        return a + b

    def ident(self, x):
        return x

    def fail(self, text):
        raise RuntimeError(text)


# --------------------------------------------------------------------------- pub/sub


@pytest.mark.parametrize("mtype, sent, shown", [
    ("text", "héllo wörld ✓", "héllo wörld ✓"),
    ("binary", b"\x00\xff\x10", "00ff10"),
    ("object", (1, [2.5, None], {"k": float("-inf")}, {1: True}),
     '{"$tuple":[1,[2.5,null],{"k":{"$float":"-inf"}},{"$dict":[[1,true]]}]}'),
])
def test_python_publisher_seen_by_yoton_sub(pyctx, procs, mtype, sent, shown):
    types = {"text": yoton.TEXT, "binary": yoton.BINARY, "object": yoton.OBJECT}
    pub = yoton.PubChannel(pyctx, "news", types[mtype])
    conn, addr = py_bind(pyctx)
    sub = procs("sub", addr, "news", "--type", mtype, "--count", "2")
    assert iu.wait_until(lambda: conn.is_connected, WAIT)
    pub.send(sent)
    pub.send(sent)
    assert sub.line() == shown
    assert sub.line() == shown
    assert sub.wait() == 0


def test_yoton_pub_feeds_python_subscribers(pyctx, make_ctx, cli):
    sub = yoton.SubChannel(pyctx, "news")
    _, addr = py_bind(pyctx)
    rc, _, err = run(cli, "pub", addr, "news", "one", "two ✓", "--count", "2")
    assert rc == 0, err
    got = [sub.recv(block=WAIT) for _ in range(4)]
    assert got == ["one", "two ✓", "one", "two ✓"]

    ctx = make_ctx()
    osub = yoton.SubChannel(ctx, "objs", yoton.OBJECT)
    _, addr = py_bind(ctx)
    lines = b'[1, {"$tuple": [2, "x"]}]\n{"$float": "nan"}\n{"a": {"$dict": [[[], null]]}}\n'
    # (An OBJECT dict key must be hashable in Python: a list key would fail there, so the
    # third line uses a tuple key.)
    lines = lines.replace(b"[[], null]", b'[{"$tuple": []}, null]')
    rc, _, err = run(cli, "pub", addr, "objs", "-", "--type", "object", stdin=lines)
    assert rc == 0, err
    got = [osub.recv(block=WAIT) for _ in range(3)]
    assert repr(got[0]) == repr([1, (2, "x")])
    assert got[1] != got[1], "NaN"
    assert got[2] == {"a": {(): None}}


# --------------------------------------------------------------------------- req/rep


def test_yoton_req_calls_a_python_replier(pyctx, cli):
    rep = Replier(pyctx, "calc")
    rep.set_mode("thread")
    conn, addr = py_bind(pyctx)
    rc, out, err = run(cli, "req", addr, "calc", "add", "[3, 4.5]")
    assert (rc, out) == (0, "7.5\n"), err
    conn, addr = py_bind(pyctx)
    value = '{"$tuple":[[1,{"$tuple":[]}],{"k":{"$float":"inf"}},"é✓",-0.0]}'
    rc, out, err = run(cli, "req", addr, "calc", "ident", value)
    assert (rc, out.strip()) == (0, value), err
    conn, addr = py_bind(pyctx)
    rc, out, err = run(cli, "req", addr, "calc", "fail", '["no luck"]')
    assert rc == 1 and out == ""
    # One line; the original adds where it failed to the text.
    assert err.startswith("yoton: the replier failed: no luck / line ") and err.count("\n") == 1, err


def test_yoton_rep_answers_a_python_requester(pyctx, procs):
    rep = procs("rep", "--bind", "localhost:0", "-v", "calc", "--exec",
                'python3 -c "import json,sys; r=json.load(sys.stdin); print(json.dumps(r[\'args\'][0]*2))"',
                "--method", "double")
    port = rep.ports(1)[0]
    req = yoton.ReqChannel(pyctx, "calc")
    pyctx.connect("localhost:%d" % port, timeout=5)
    assert req.double(21).result(WAIT) == 42
    assert req.double("ab").result(WAIT) == "abab"
    with pytest.raises(Exception) as ei:
        req.triple(1).result(WAIT)
    assert "Method 'triple' not implemented." in str(ei.value)
    assert rep.interrupt() == 0


def test_yoton_rep_echo_to_a_python_requester(pyctx, procs):
    rep = procs("rep", "--bind", "localhost:0", "-v", "calc", "--echo", "--count", "2")
    port = rep.ports(1)[0]
    req = yoton.ReqChannel(pyctx, "calc")
    pyctx.connect("localhost:%d" % port, timeout=5)
    assert req.call((1, [2])).result(WAIT) == (1, [2])
    assert req.echo(1, "x").result(WAIT) == (1, "x")
    assert rep.wait() == 0


# --------------------------------------------------------------------------- state


def test_yoton_state_reads_and_sets_a_python_state(pyctx, make_ctx, cli):
    st = yoton.StateChannel(pyctx, "mode", yoton.OBJECT)
    st.send({"phase": ("run", 3)})
    _, addr = py_bind(pyctx)
    rc, out, err = run(cli, "state", addr, "mode", "--type", "object")
    assert (rc, out) == (0, '{"phase":{"$tuple":["run",3]}}\n'), err

    ctx = make_ctx()
    st2 = yoton.StateChannel(ctx, "mode")
    _, addr = py_bind(ctx)
    rc, _, err = run(cli, "state", addr, "mode", "paused ✓")
    assert rc == 0, err
    assert iu.wait_until(lambda: st2.recv() == "paused ✓", WAIT)


# --------------------------------------------------------------------------- client/server


class Upper(yoton.RequestServer):
    def handle_request(self, request):
        return request.upper()


def test_yoton_request_and_serve_with_the_original_helper(cli, procs):
    port = iu.free_port()
    server = Upper("localhost:%d" % port)
    server.start()
    try:
        # The original listens from inside its thread: retry until it answers (bounded).
        def ask():
            return run(cli, "request", "localhost:%d" % port, "shout", "--timeout", "2")
        assert iu.wait_until(lambda: ask()[0] == 0, WAIT)
        assert ask() == (0, "SHOUT\n", "")
    finally:
        server.stop()
        server.join(timeout=5)

    serve = procs("serve", "localhost:0", "--echo", "--count", "1")
    port = int(serve.stderr_line("serving at port ")[0].rsplit(" ", 1)[1])
    assert yoton.do_request("localhost:%d" % port, "hello ✓", timeout=WAIT).rstrip() == "hello ✓"
    assert serve.wait() == 0


# --------------------------------------------------------------------------- monitor


def test_monitor_in_the_middle_of_three_python_nodes(make_ctx, procs):
    """a - monitor - b, a and b Python: a publishes, sets a state and calls b's replier; the
    monitor prints each package it routes, with names for the slots given with --slot."""
    mon = procs("monitor", "--bind", "localhost:0", "localhost:0", "-v",
                "--slot", "news", "--slot", "mode")
    p1, p2 = mon.ports(2)
    a, b = make_ctx(), make_ctx()
    pub = yoton.PubChannel(a, "news")
    st_a = yoton.StateChannel(a, "mode")
    req = yoton.ReqChannel(a, "calc")
    sub = yoton.SubChannel(b, "news")
    st_b = yoton.StateChannel(b, "mode")
    rep = Replier(b, "calc")
    rep.set_mode("thread")
    a.connect("localhost:%d" % p1, timeout=5)
    b.connect("localhost:%d" % p2, timeout=5)
    a_id, b_id = "src=%016x" % a.id, "src=%016x" % b.id
    # b's NEW_CONNECTION goes through the monitor to a.
    mon.lines_until(lambda l: b_id in l and "name=(context)" in l)
    pub.send("hello")
    assert sub.recv(block=WAIT) == "hello"
    line, _ = mon.lines_until(lambda l: "name=news.txt.pub-sub" in l)
    assert a_id in line and " size=5 type=text" in line
    st_a.send("busy")
    assert iu.wait_until(lambda: st_b.recv() == "busy", WAIT)
    line, _ = mon.lines_until(lambda l: "name=mode.txt.state" in l)
    assert a_id in line and " size=4 " in line
    assert req.add(2, 3).result(WAIT) == 5
    line, seen = mon.lines_until(lambda l: "type=req/rep" in l)
    assert "name=? " in line
    assert mon.interrupt() == 0
    assert mon.stderr().count("\n") < 5, "only the connection notes on stderr"


# --------------------------------------------------------------------------- bench


BENCH_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                        "pyyoton_bench.py")


def bench_pair(receiver, sender):
    """Runs a bench receiver and sender (argv lists) to the end; returns their JSON lines."""
    import json
    r = subprocess.Popen(receiver, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        s = subprocess.run(sender, capture_output=True, timeout=WAIT)
        r_out, r_err = r.communicate(timeout=WAIT)
    finally:
        if r.poll() is None:
            r.kill()
            r.wait(timeout=WAIT)
    assert s.returncode == 0, s.stderr.decode() + s.stdout.decode()
    assert r.returncode == 0, r_err.decode() + r_out.decode()
    last = lambda out: json.loads(out.decode().strip().splitlines()[-1])  # noqa: E731
    return last(r_out), last(s.stdout)


def test_yoton_bench_against_the_original_bench_program(cli):
    """`yoton bench` mixes with bench/pyyoton_bench.py (the original): same slots, same line."""
    py = sys.executable
    addr = "127.0.0.1:%d" % iu.free_port()
    sub, pub = bench_pair([cli, "bench", "sub", addr, "64", "500", "timeout=20"],
                          [py, BENCH_PY, "pub", addr, "64", "500", "timeout=20"])
    assert sub["ok"] and sub["received"] == 500 and sub["gaps"] == 0, sub
    assert pub["system"] == "pyyoton" and pub["sent"] == 500, pub
    addr = "127.0.0.1:%d" % iu.free_port()
    rep, req = bench_pair([py, BENCH_PY, "rep", addr, "64", "30", "warmup=5", "timeout=20"],
                          [cli, "bench", "req", addr, "64", "30", "warmup=5", "timeout=20"])
    assert req["ok"] and req["calls"] == 30 and req["system"] == "yoton-cli", req
    assert rep["ok"] and rep["served"] == 35, rep
