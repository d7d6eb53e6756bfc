"""Interop with the original yoton (pyzo==4.22.0) in a subprocess, in both roles, for every
pattern: pub/sub (TEXT, BINARY, OBJECT), state, req/rep both ways, client/server both ways,
SimpleSocket, and the closed signal."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import yoton
from conftest import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))

pytest.importorskip("pyzo", reason="the original yoton comes with pyzo==4.22.0")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_peer(*args, stdin=None):
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "orig_peer.py")] + [str(a) for a in args],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        cwd=HERE,
    )
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise AssertionError("peer did not start: %r" % line)
    return proc


def finish(proc):
    try:
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0


class Calc(yoton.RepChannel):
    def add(self, x, y):
        return [x, y, x + y]


@pytest.fixture(params=["original-binds", "original-connects"])
def mirrored(request):
    for ctx, conn, cmd, _proc in _mirrored(request):
        yield ctx, conn, cmd


@pytest.fixture(params=["original-binds"])
def mirrored_proc(request):
    yield from _mirrored(request)


def _mirrored(request):
    """Our context linked to the original's mirror peer, with the original in either role."""
    ctx = yoton.Context()
    port = free_port()
    if request.param == "original-binds":
        proc = start_peer("mirror", "bind", port)
        conn = ctx.connect("127.0.0.1:%i" % port, timeout=5)
    else:
        conn = ctx.bind("127.0.0.1:%i" % port)
        proc = start_peer("mirror", "connect", port)
    assert wait_until(lambda: conn.is_connected, 10)
    cmd = yoton.PubChannel(ctx, "cmd")
    yield ctx, conn, cmd, proc
    cmd.send("quit")
    finish(proc)
    ctx.close()


MESSAGES = {
    ("t", yoton.TEXT): ["hello", "ünïcödé ✓", "x" * 100000],
    ("b", yoton.BINARY): [b"\x00\xff" * 3, bytes(range(256)) * 400],
    ("o", yoton.OBJECT): [
        None,
        True,
        -(2**63),
        1.5,
        "s",
        [1, [2, (3, "4")]],
        {"k": {"n": None}, 7: 8.25},
        ("x" * 300,),
    ],
}


def test_pubsub_both_directions_every_type(mirrored):
    ctx, _, _ = mirrored
    for (name, mtype), messages in MESSAGES.items():
        pub = yoton.PubChannel(ctx, name, mtype)
        back = yoton.SubChannel(ctx, name + "-back", mtype)
        for m in messages:
            pub.send(m)
        got = []
        assert wait_until(lambda: got.extend(back.recv_all()) or len(got) >= len(messages), 10)
        assert got == messages, name


def test_state_both_directions(mirrored):
    ctx, _, _ = mirrored
    st = yoton.StateChannel(ctx, "st", yoton.OBJECT)
    back = yoton.StateChannel(ctx, "st-back", yoton.OBJECT)
    st.send({"mode": "on", "n": [1, 2]})
    assert wait_until(lambda: back.recv() == {"mode": "on", "n": [1, 2]}, 10)
    st.send("second")
    assert wait_until(lambda: back.recv() == "second", 10)


def test_our_requester_original_replier(mirrored):
    ctx, _, _ = mirrored
    req = yoton.ReqChannel(ctx, "calc")
    assert req.add(3, 4).result(10) == 7
    assert req.add("a", "b").result(10) == "ab"
    value, ident = req.echo("hi").result(10)
    assert value == "hi" and ident.startswith("0x")
    with pytest.raises(Exception, match="original failed"):
        req.fail().result(10)
    with pytest.raises(Exception, match="not implemented"):
        req.missing().result(10)


@pytest.mark.parametrize("mode", ["thread", "event"])
def test_original_requester_our_replier(mirrored, mode):
    ctx, _, cmd = mirrored
    rep = Calc(ctx, "ours")
    rep.set_mode(mode)
    back = yoton.SubChannel(ctx, "cmd-back")
    cmd.send("call " + json.dumps([2, 40]))
    cmd.send("call " + json.dumps([[1], [2]]))
    cmd.send("call " + json.dumps([1]))  # wrong arity: the error travels back
    got = []
    assert wait_until(lambda: got.extend(back.recv_all()) or len(got) >= 3, 30)
    replies = [json.loads(g) for g in got]
    assert replies[0] == ["ok", [2, 40, 42]]
    assert replies[1] == ["ok", [[1], [2], [1, 2]]]
    assert replies[2][0] == "error" and "argument" in replies[2][1]


def test_closed_signal_when_original_closes(mirrored):
    ctx, conn, cmd = mirrored
    reasons = []
    conn.closed.bind(lambda c, reason: reasons.append(reason))
    cmd.send("quit")  # the peer closes its connection
    assert wait_until(lambda: reasons, 10)
    # The original's close() just closes its socket (no close package: tests/interop).
    assert reasons == ["Other end dropped the connection."]
    assert not conn.is_alive


def test_timedout_signal_when_original_stalls(mirrored_proc):
    ctx, conn, cmd, proc = mirrored_proc
    states = []
    conn.timedout.bind(lambda c, value: states.append(value))
    os.kill(proc.pid, signal.SIGSTOP)  # the original goes silent (no heartbeats)
    try:
        assert wait_until(lambda: states == [True], 10), states
        assert conn.is_alive  # timing out does not close the connection
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    assert wait_until(lambda: states == [True, False], 10), states


def test_our_request_original_server():
    port = free_port()
    proc = start_peer("server", port)
    try:
        assert yoton.do_request("127.0.0.1:%i" % port, "hello", 10) == "ORIG HELLO\r\n"
    finally:
        finish(proc)  # closes the peer's stdin: it stops


def test_original_request_our_server():
    class Server(yoton.RequestServer):
        def handle_request(self, request):
            return "OURS " + request.strip()

    server = Server("127.0.0.1:0")
    server.start()
    try:
        out = subprocess.run(
            [sys.executable, os.path.join(HERE, "orig_peer.py"), "request", str(server.port), "q"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=HERE,
        )
        assert json.loads(out.stdout) == "OURS q\r\n", out.stderr
    finally:
        server.stop()


@pytest.mark.parametrize("role", ["bind", "connect"])
def test_simple_socket(role):
    s = yoton.SimpleSocket()
    port = free_port()
    if role == "bind":
        proc = start_peer("simple", "bind", port)
        s.connect("127.0.0.1:%i" % port, timeout=5)
    else:
        s.bind("127.0.0.1:%i" % port)
        proc = start_peer("simple", "connect", port)
    assert wait_until(lambda: s.connection_count == 1, 10)
    s.send("shout")
    assert s.recv(10) == "SHOUT"
    s.send("quit")
    s.flush()
    finish(proc)
    s.close()
