"""Request/reply (docs/protocol.md §9.3) between the original Python yoton and our C library: values, kwargs,
error replies, unknown methods, the built-in echo, load balancing over mixed repliers behind
one router, cancel / auto-cancel against a replier that is off, and a replier killed while
it runs a request."""

import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

import interop_util as iu
from interop_util import yoton
from values import INF, SAMPLE

ROLES = ["host", "client"]  # the role of OUR (C) side
REQREP_SEQ_REF = 2**63

# Values sent as the argument of `ident` (and returned unchanged) in both directions.
RPC_VALUES = [
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1.5,
    -0.0,
    INF,
    0.1,
    1e-7,
    "",
    "héllo wörld ✓ 日本語 😀",
    "x" * 300,
    None,
    True,
    False,
    [],
    (),
    {},
    (1,),
    [1, (2, [3, (4,)])],
    ([], {}, ((),)),
    {"b": [1, 2.5, None], "a": (True, "z")},
    {1: None, (1, 2): [True], "k": {"nested": {}}, None: -0.0, 2.5: "f"},
    list(range(255)),
    SAMPLE,
]

# Calls with their expected result: (method, args, kwargs, expected).
RPC_CALLS = [
    ("add", (3, 4), {}, 7),
    ("add", (-(2**62), -(2**62)), {}, -(2**63)),
    ("add", (1.5, 2), {}, 3.5),
    ("add", (0.1, 0.2), {}, 0.1 + 0.2),
    ("concat", ("ab", "✓ 😀"), {}, "ab✓ 😀"),
    ("concat", ([1], [2, (3,)]), {}, [1, 2, (3,)]),
    ("concat", ((1,), ("a", None)), {}, (1, "a", None)),
    ("args", (1, "two", [3.0], (4,), {5: 6}), {}, (1, "two", [3.0], (4,), {5: 6})),
    ("args", (), {}, ()),
    ("kwargs", (1,), {"a": 1, "b": [2, (3,)], "c": {"d": None}, "é✓": "u"},
     {"a": 1, "b": [2, (3,)], "c": {"d": None}, "é✓": "u"}),
    ("kwargs", (), {}, {}),
]


class PyReplier(yoton.RepChannel):
    """The Python replier of these tests (the original's way: a subclass with methods)."""

    def __init__(self, *args, **kwargs):
        yoton.RepChannel.__init__(self, *args, **kwargs)
        self.log = []

    def ident(self, x):
        return x

    def args(self, *args):
        return args

    def kwargs(self, *args, **kwargs):
        return kwargs

    def add(self, a, b):
        return a + b

    def concat(self, a, b):
        return a + b

    def fail(self, text):
        raise RuntimeError(text)

    def fail_value(self, text):
        raise ValueError(text)

    def record(self, x):
        self.log.append(x)
        return x

    def slow(self, seconds, x=None):
        time.sleep(seconds)
        return ("py", x)


def _setup_c_replier(peer, base="rpc"):
    peer.ok("rep r %s" % base)
    for method in ("ident", "args", "kwargs", "add", "concat", "fail", "count"):
        peer.ok("register r %s %s" % (method, method))
    peer.ok("rep_mode r thread")


def _same(got, expected):
    """Equal as OBJECT values: repr keeps tuple vs list, -0.0, int vs float vs bool, order."""
    return repr(got) == repr(expected)


# --------------------------------------------------------------------------- Python req -> C rep


@pytest.mark.parametrize("c_role", ROLES)
def test_python_req_to_c_rep_values(peer, pyctx, c_role):
    _setup_c_replier(peer)
    req = yoton.ReqChannel(pyctx, "rpc")
    iu.connect_pair(peer, pyctx, c_role)
    # All requests in flight at once, then the results.
    futures = [req.ident(v) for v in RPC_VALUES]
    calls = [(getattr(req, m)(*a, **k), e) for m, a, k, e in RPC_CALLS]
    bad = []
    for f, v in zip(futures, RPC_VALUES):
        got = f.result(10)
        if not _same(got, v):
            bad.append((v, got))
    for (f, expected), call in zip(calls, RPC_CALLS):
        got = f.result(10)
        if not _same(got, expected):
            bad.append((call, got))
    assert not bad, "mismatches (sent/expected, got): %r" % bad[:5]
    n = len(RPC_VALUES) + len(RPC_CALLS)
    assert peer.ok("calls r") == str(n)
    assert req.count().result(5) == n + 1


@pytest.mark.parametrize("c_role", ROLES)
def test_python_req_to_c_rep_errors(peer, pyctx, c_role):
    _setup_c_replier(peer)
    req = yoton.ReqChannel(pyctx, "rpc")
    iu.connect_pair(peer, pyctx, c_role)
    text = "boom ✓ 😀 \"q\" line1\nline2"
    with pytest.raises(Exception) as ei:
        req.fail(text).result(5)
    assert type(ei.value) is Exception, "expected the original's remote-error Exception"
    assert str(ei.value) == text
    # An error from our own dispatch of a handler (add of a string).
    with pytest.raises(Exception) as ei:
        req.add("a", 1).result(5)
    assert type(ei.value) is Exception and "add" in str(ei.value)
    # A method that is not registered.
    with pytest.raises(Exception) as ei:
        req.nonexist(1, k=2).result(5)
    assert type(ei.value) is Exception
    assert "Method 'nonexist' not implemented." in str(ei.value)
    # The replier still works afterwards.
    assert req.add(20, 22).result(5) == 42


@pytest.mark.parametrize("c_role", ROLES)
def test_python_req_to_c_rep_echo(peer, pyctx, c_role):
    """The built-in echo(arg, sleep=...) replies (arg, hex(our context id)), as a tuple."""
    peer.ok("rep r rpc")
    peer.ok("rep_mode r thread")
    req = yoton.ReqChannel(pyctx, "rpc")
    _, pyconn = iu.connect_pair(peer, pyctx, c_role)
    our_hex = hex(pyconn.id2)  # the id announced in our handshake
    assert our_hex == hex(peer.id())
    t0 = time.monotonic()
    got = req.echo("hi ✓", sleep=0.3).result(5)
    assert time.monotonic() - t0 >= 0.29
    assert type(got) is tuple and got == ("hi ✓", our_hex)
    assert req.echo([1, (2,)], 0.05).result(5) == ([1, (2,)], our_hex)  # sleep positional
    assert req.echo({"k": None}).result(5) == ({"k": None}, our_hex)
    assert req.echo(None).result(5) == (None, our_hex)


# --------------------------------------------------------------------------- C req -> Python rep


def _py_replier(ctx, base="rpc", mode="thread"):
    rep = PyReplier(ctx, base)
    if mode != "off":
        rep.set_mode(mode)
    return rep


@pytest.mark.parametrize("c_role", ROLES)
def test_c_req_to_python_rep_values(peer, pyctx, c_role):
    _py_replier(pyctx)
    peer.ok("req q rpc")
    iu.connect_pair(peer, pyctx, c_role)
    futs = [peer.call("q", "ident", (v,)) for v in RPC_VALUES]
    calls = [(peer.call("q", m, a, k), e) for m, a, k, e in RPC_CALLS]
    bad = []
    for f, v in zip(futs, RPC_VALUES):
        r = peer.result(f, 10)
        if not (r.ok and _same(r.value, v) and r.repr == repr(v)):
            bad.append((v, r))
    for (f, expected), call in zip(calls, RPC_CALLS):
        r = peer.result(f, 10)
        if not (r.ok and _same(r.value, expected) and r.repr == repr(expected)):
            bad.append((call, r))
    assert not bad, "mismatches (sent/expected, got): %r" % bad[:5]
    assert peer.future_status(futs[0]) == iu.FUTURE_SUCCESS


@pytest.mark.parametrize("c_role", ROLES)
def test_c_req_to_python_rep_errors(peer, pyctx, c_role):
    _py_replier(pyctx)
    peer.ok("req q rpc")
    iu.connect_pair(peer, pyctx, c_role)
    text = "boom ✓ 😀"
    f = peer.call("q", "fail", (text,))
    r = peer.result(f, 5)
    assert not r.ok and r.code == iu.YOTON_ERR_REMOTE, r
    exc = peer.exception_text(f)
    # The original's text: str(exception) + "\n" + "line <n> of <file>." (docs/protocol.md §9.3.5).
    assert re.fullmatch(r"boom ✓ 😀\nline \d+ of .*test_reqrep\.py\.", exc), repr(exc)
    assert peer.future_status(f) == iu.FUTURE_ERROR
    # ValueError: no location part.
    f = peer.call("q", "fail_value", ("bad value",))
    r = peer.result(f, 5)
    assert not r.ok and r.code == iu.YOTON_ERR_REMOTE, r
    assert peer.exception_text(f) == "bad value\n"
    # A Python TypeError from wrong arguments, and an unknown method.
    f = peer.call("q", "add", (1,))
    r = peer.result(f, 5)
    assert not r.ok and r.code == iu.YOTON_ERR_REMOTE and "add()" in peer.exception_text(f), r
    f = peer.call("q", "nonexist", (1,), {"k": 2})
    r = peer.result(f, 5)
    assert not r.ok and r.code == iu.YOTON_ERR_REMOTE, r
    assert peer.exception_text(f).startswith("Method 'nonexist' not implemented.\n")
    # Still working afterwards.
    r = peer.result(peer.call("q", "add", (20, 22)), 5)
    assert r.ok and r.value == 42


@pytest.mark.parametrize("c_role", ROLES)
def test_c_req_to_python_rep_echo(peer, pyctx, c_role):
    _py_replier(pyctx)
    peer.ok("req q rpc")
    iu.connect_pair(peer, pyctx, c_role)
    py_hex = hex(pyctx.id)
    t0 = time.monotonic()
    r = peer.result(peer.call("q", "echo", ("hi ✓",), {"sleep": 0.3}), 5)
    assert time.monotonic() - t0 >= 0.29
    assert r.ok and type(r.value) is tuple and r.value == ("hi ✓", py_hex), r
    assert r.repr == repr(("hi ✓", py_hex))
    r = peer.result(peer.call("q", "echo", ([1, (2,)], 0.05)), 5)
    assert r.ok and r.value == ([1, (2,)], py_hex), r
    # A running request cannot be cancelled (cancel gives false); a done one gives true.
    f = peer.call("q", "echo", ("late",), {"sleep": 0.5})
    assert peer.wait_future_status(f, iu.FUTURE_RUNNING, 3) == iu.FUTURE_RUNNING
    assert peer.ok("cancel %d" % f) == "0"
    r = peer.result(f, 5)
    assert r.ok and r.value == ("late", py_hex), r
    assert peer.ok("cancel %d" % f) == "1"
    assert peer.future_status(f) == iu.FUTURE_SUCCESS


class MarkerReplier(yoton.RepChannel):
    def ident(self, x):
        return x

    def unencodable(self):
        return {1, 2}  # a set: the original prints a warning and sends no reply


@pytest.mark.parametrize("direction", ["python_req", "c_req"])
def test_error_marker_results(peer, pyctx, direction):
    """docs/protocol.md §9.3.5: a result that is the tuple (marker, text) is an error, the list form is not."""
    marker = "yoton_ERROR_HANDLING_REQUEST"
    if direction == "python_req":
        _setup_c_replier(peer)
        req = yoton.ReqChannel(pyctx, "rpc")
        iu.connect_pair(peer, pyctx, "host")
        with pytest.raises(Exception) as ei:
            req.ident((marker, "fake ✓")).result(5)
        assert type(ei.value) is Exception and str(ei.value) == "fake ✓"
        assert req.ident([marker, "fake"]).result(5) == [marker, "fake"]
        assert req.ident((marker, "a", "b")).result(5) == (marker, "a", "b")
    else:
        MarkerReplier(pyctx, "rpc").set_mode("thread")
        peer.ok("req q rpc")
        iu.connect_pair(peer, pyctx, "host")
        f = peer.call("q", "ident", ((marker, "fake ✓"),))
        r = peer.result(f, 5)
        assert not r.ok and r.code == iu.YOTON_ERR_REMOTE, r
        assert peer.exception_text(f) == "fake ✓"
        r = peer.result(peer.call("q", "ident", ([marker, "fake"],)), 5)
        assert r.ok and r.value == [marker, "fake"], r
        r = peer.result(peer.call("q", "ident", ((marker, "a", "b"),)), 5)
        assert r.ok and r.value == (marker, "a", "b"), r


def test_c_req_python_reply_not_encodable(peer, pyctx):
    """The original sends nothing when it cannot encode a result: our future stays running
    (as the original's would, docs/protocol.md §13 #17) and later calls still work."""
    MarkerReplier(pyctx, "rpc").set_mode("thread")
    peer.ok("req q rpc")
    iu.connect_pair(peer, pyctx, "host")
    f = peer.call("q", "unencodable")
    r = peer.result(f, 1.0)
    assert not r.ok and r.code == iu.YOTON_ERR_TIMEOUT, r
    assert peer.future_status(f) == iu.FUTURE_RUNNING
    r = peer.result(peer.call("q", "ident", ("after",)), 5)
    assert r.ok and r.value == "after", r


def test_python_req_c_rep_handled_manually(peer, pyctx):
    """Our replier in mode off, driven by yoton_rep_handle_pending: the first call acknowledges
    the pre-request, the second runs the request."""
    peer.ok("rep r rpc")
    peer.ok("register r add add")
    req = yoton.ReqChannel(pyctx, "rpc")
    iu.connect_pair(peer, pyctx, "host")
    f = req.add(2, 3)
    assert iu.wait_until(lambda: int(peer.ok("pending r")) >= 1, 3)
    assert int(peer.ok("rep_handle r")) >= 1  # req? -> req!
    assert iu.wait_until(f.running, 3), "the acknowledgement did not arrive"
    assert iu.wait_until(lambda: int(peer.ok("pending r")) >= 2, 3)  # request, req-
    assert int(peer.ok("rep_handle r")) >= 1
    assert f.result(5) == 5
    assert peer.ok("calls r") == "1"


# --------------------------------------------------------------------------- load balancing


N_CALLS = 6
CALL_SLEEP = 0.5  # per call; two repliers need about N_CALLS / 2 * CALL_SLEEP in all


@pytest.mark.parametrize("method", ["echo", "slow"])
@pytest.mark.parametrize("requester", ["python", "c"])
@pytest.mark.parametrize("router_kind", ["python", "c"])
def test_mixed_repliers_load_balanced(make_peer, make_ctx, router_kind, requester, method):
    """A Python and a C replier behind one router (Python or C) both offer `method` with a
    sleep; N_CALLS calls made at once are spread over both (a busy replier does not
    acknowledge, so the free one takes the next request)."""
    router = make_ctx() if router_kind == "python" else make_peer("router")

    py_ctx = make_ctx()
    _py_replier(py_ctx)
    iu.attach_to_router(router_kind, router, py_ctx, "python")

    c_rep = make_peer("c-replier")
    c_rep.ok("rep r rpc")
    c_rep.ok("register r slow tag c")  # slow(seconds, x) -> ("c", x)
    c_rep.ok("rep_mode r thread")
    iu.attach_to_router(router_kind, router, c_rep, "c")

    tags = {"py": hex(py_ctx.id), "c": hex(c_rep.id())}
    if method == "echo":
        expected_tag = {v: k for k, v in tags.items()}  # echo gives (i, hex id)
    else:
        expected_tag = {"py": "py", "c": "c"}

    if requester == "python":
        req_ctx = make_ctx()
        req = yoton.ReqChannel(req_ctx, "rpc")
        iu.attach_to_router(router_kind, router, req_ctx, "python")
        t0 = time.monotonic()
        if method == "echo":
            futures = [req.echo(i, sleep=CALL_SLEEP) for i in range(N_CALLS)]
        else:
            futures = [req.slow(CALL_SLEEP, i) for i in range(N_CALLS)]
        results = [f.result(10) for f in futures]
    else:
        req_peer = make_peer("requester")
        req_peer.ok("req q rpc")
        iu.attach_to_router(router_kind, router, req_peer, "c")
        t0 = time.monotonic()
        if method == "echo":
            futs = [req_peer.call("q", "echo", (i,), {"sleep": CALL_SLEEP}) for i in range(N_CALLS)]
        else:
            futs = [req_peer.call("q", "slow", (CALL_SLEEP, i)) for i in range(N_CALLS)]
        results = []
        for f in futs:
            r = req_peer.result(f, 10)
            assert r.ok, r
            results.append(r.value)
    elapsed = time.monotonic() - t0

    if method == "echo":
        assert [r[0] for r in results] == list(range(N_CALLS))
        who = [expected_tag.get(r[1], r[1]) for r in results]
    else:
        assert [r[1] for r in results] == list(range(N_CALLS))
        who = [r[0] for r in results]
    assert set(who) == {"py", "c"}, "not both repliers were used: %r" % who
    assert min(who.count("py"), who.count("c")) >= 2, "unbalanced: %r" % who
    serial = N_CALLS * CALL_SLEEP  # one replier doing everything
    assert elapsed < serial - CALL_SLEEP / 2, "calls did not run in parallel (%.2f s): %r" % (
        elapsed, who)


# --------------------------------------------------------------------------- cancel / auto-cancel


def _queued_pre_requests(rep):
    """(request id, body) of the packages waiting in a Python replier's queue (mode off)."""
    with rep._q_in._condition:
        packages = list(rep._q_in._q)
    out = []
    for p in packages:
        if p._dest_seq > REQREP_SEQ_REF:
            out.append((p._dest_seq - REQREP_SEQ_REF, bytes(p._data)))
        else:
            out.append((p._dest_seq, b"<request>"))
    return out


@pytest.mark.parametrize("c_role", ROLES)
def test_c_req_cancel_against_python_rep_off(peer, pyctx, c_role):
    """Our requester cancels (by hand and by auto-cancel) requests that a Python replier in
    mode off has not acknowledged: the futures are cancelled, `req-` reaches the replier, and
    once the replier is switched on it runs none of them but a new call works."""
    rep = _py_replier(pyctx, mode="off")
    peer.ok("req q rpc")
    iu.connect_pair(peer, pyctx, c_role)

    f1 = peer.call("q", "record", ("c1",))
    time.sleep(1.3)  # req? at once, then resent every 0.5 s while waiting
    assert peer.ok("cancel %d" % f1) == "1"
    assert peer.future_status(f1) == iu.FUTURE_CANCELLED
    r = peer.result(f1, 0)
    assert not r.ok and r.code == iu.YOTON_ERR_CANCELLED, r

    f2 = peer.call("q", "record", ("c2",))
    peer.ok("set_auto_cancel %d 0.5" % f2)
    assert peer.wait_future_status(f2, iu.FUTURE_CANCELLED, 5) == iu.FUTURE_CANCELLED
    r = peer.result(f2, 0)
    assert not r.ok and r.code == iu.YOTON_ERR_CANCELLED, r

    # The requester's default auto-cancel timeout applies to later calls.
    peer.ok("req_default_timeout q 0.3")
    f3 = peer.call("q", "record", ("c3",))
    assert peer.wait_future_status(f3, iu.FUTURE_CANCELLED, 5) == iu.FUTURE_CANCELLED

    # On the wire (the replier's queue): req? (maybe resent) then req- for each; no request.
    def seen():
        q = _queued_pre_requests(rep)
        return all((i, b"req-") in q for i in (1, 2, 3)) and q

    queued = iu.wait_until(seen, 3)
    assert queued, "req- not received: %r" % _queued_pre_requests(rep)
    for i in (1, 2, 3):
        bodies = [b for j, b in queued if j == i]
        assert bodies[0] == b"req?" and bodies[-1] == b"req-", (i, bodies)
        assert set(bodies[:-1]) == {b"req?"}, (i, bodies)
    resends = sum(1 for j, b in queued if j == 1 and b == b"req?")
    assert 2 <= resends <= 3, "req? for a request waiting 1.3 s: %d times" % resends
    assert all(j > 0 and b != b"<request>" for j, b in queued), queued

    rep.set_mode("thread")
    peer.ok("req_default_timeout q 10")
    f4 = peer.call("q", "record", ("new",))
    r = peer.result(f4, 5)
    assert r.ok and r.value == "new", r
    time.sleep(0.3)
    assert rep.log == ["new"], "the replier ran cancelled requests: %r" % rep.log
    for f in (f1, f2, f3):
        assert peer.future_status(f) == iu.FUTURE_CANCELLED


@pytest.mark.parametrize("c_role", ROLES)
def test_python_req_cancel_against_c_rep_off(peer, pyctx, c_role):
    """A Python requester cancels (by hand and by auto-cancel) while our replier is off; when
    our replier is switched to thread mode it acknowledges the stale pre-requests in queue
    order (as the original does), Python ignores those acks, and a new call works."""
    peer.ok("rep r rpc")
    peer.ok("register r add add")
    req = yoton.ReqChannel(pyctx, "rpc")
    iu.connect_pair(peer, pyctx, c_role)
    received = []
    original_recv = req._recv

    def logging_recv(block):
        p = original_recv(block)
        if p is not None:
            received.append((p._dest_seq, bytes(p._data)))
        return p

    req._recv = logging_recv

    f1 = req.add(1, 2)
    iu.wait_until(lambda: False, 0.2)
    assert f1.cancel() is True and f1.cancelled()
    f2 = req.add(3, 4)
    f2.set_auto_cancel_timeout(0.5)
    assert iu.wait_until(f2.cancelled, 5), "auto-cancel did not happen"
    assert iu.wait_until(lambda: int(peer.ok("pending r")) >= 4, 3), peer.ok("pending r")

    peer.ok("rep_mode r thread")
    assert iu.wait_until(lambda: any(b == b"req!" for _, b in received), 3), "no stale ack"
    f3 = req.add(5, 6)
    assert f3.result(5) == 11
    assert f1.cancelled() and f2.cancelled()
    assert peer.ok("calls r") == "1", "our replier ran a cancelled request"
    # Our replier worked through its backlog in order: acks for 1 and 2 (stale), then 3.
    acks = [d - REQREP_SEQ_REF for d, b in received if b == b"req!"]
    assert acks == [1, 2, 3], received


# --------------------------------------------------------------------------- killed replier

KILLED_REPLIER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import yoton

class Replier(yoton.RepChannel):
    def slow(self, seconds):
        print("started", flush=True)
        time.sleep(seconds)
        return seconds

ctx = yoton.Context()
rep = Replier(ctx, "rpc")
rep.set_mode("thread")
if sys.argv[2] == "connect":
    conn = ctx.connect(sys.argv[3], timeout=5)
else:
    conn = ctx.bind("localhost:0")
    print("port %d" % conn.port1, flush=True)
    deadline = time.time() + 10
    while not conn.is_connected and time.time() < deadline:
        time.sleep(0.01)
print("connected" if conn.is_connected else "failed", flush=True)
deadline = time.time() + 60  # never outlive the test run for long
while time.time() < deadline:
    time.sleep(0.05)
"""


@pytest.mark.parametrize("c_role", ROLES)
def test_replier_killed_mid_request(peer, c_role):
    """Our requester calls a Python replier (subprocess) method that sleeps 30 s; SIGKILL the
    replier: the future fails with an error (not a timeout) within the connection timeout plus
    a few seconds."""
    peer.ok("req q rpc")
    if c_role == "host":
        idx, port = peer.bind("localhost:0")
        args = ["connect", "localhost:%d" % port]
    else:
        args = ["bind"]
    proc = subprocess.Popen([sys.executable, "-c", KILLED_REPLIER, iu.PYZO_DIR] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def read_line(timeout=10.0):
            r, _, _ = select.select([proc.stdout], [], [], timeout)
            assert r, "the Python replier said nothing within %.0f s" % timeout
            return proc.stdout.readline().strip()

        if c_role == "client":
            word, port = read_line().split()
            assert word == "port"
            idx = peer.connect("localhost:%s" % port)
        assert read_line() == "connected"
        peer.wait_connected(idx)
        f = peer.call("q", "slow", (30,))
        assert read_line() == "started"
        assert peer.wait_future_status(f, iu.FUTURE_RUNNING, 3) == iu.FUTURE_RUNNING

        os.kill(proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        r = peer.result(f, 15)
        elapsed = time.monotonic() - t0
        assert not r.ok, r
        assert r.code != iu.YOTON_ERR_TIMEOUT, "the future timed out instead of failing: %r" % r
        assert r.code == iu.YOTON_ERR_IO, r
        assert elapsed < 0.5 + 3.0, "the failure took %.1f s" % elapsed
        assert peer.future_status(f) == iu.FUTURE_ERROR
    finally:
        proc.kill()
        proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
