"""Interop of this package with a C program on libyoton: the scriptable C peer of the
interop tests (tests/interop/peer.c, built by CMake as yoton_interop_peer; its path in
YOTON_INTEROP_PEER). Both roles; pub/sub, state and req/rep both ways."""

import os
import queue
import subprocess
import threading

import pytest
import yoton
from conftest import wait_until

PEER = os.environ.get("YOTON_INTEROP_PEER", "")
if not os.path.isfile(PEER):
    pytest.skip("no C peer: set YOTON_INTEROP_PEER to build/yoton_interop_peer", allow_module_level=True)


class CPeer:
    """The C peer driven line by line (one reply line per command, bounded waits)."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [PEER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def cmd(self, line, timeout=20):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.lines.get(timeout=timeout)
        assert reply is not None, "the C peer exited on %r" % line
        return reply

    def ok(self, line):
        reply = self.cmd(line)
        assert reply == "ok" or reply.startswith("ok "), (line, reply)
        return reply[3:]

    def close(self):
        try:
            self.cmd("quit")
            self.proc.wait(10)
        finally:
            self.proc.kill()


@pytest.fixture(params=["c-binds", "c-connects"])
def linked(request):
    peer = CPeer()
    ctx = yoton.Context()
    if request.param == "c-binds":
        _, port = peer.ok("bind 127.0.0.1:0").split()
        conn = ctx.connect("127.0.0.1:%s" % port, timeout=5)
    else:
        conn = ctx.bind("127.0.0.1:0")
        peer.ok("connect 127.0.0.1:%i 5" % conn.port1)
    assert wait_until(lambda: conn.is_connected, 10)
    yield peer, ctx
    ctx.close()
    peer.close()


def test_pubsub_text_and_object(linked):
    peer, ctx = linked
    peer.ok("sub s t txt")
    peer.ok("pub p back txt")
    pub = yoton.PubChannel(ctx, "t")
    sub = yoton.SubChannel(ctx, "back")
    pub.send("from python ✓")
    reply = peer.cmd("recv s 5")
    assert reply.startswith("msg ") and bytes.fromhex(reply.split()[3]).decode() == "from python ✓"
    peer.ok("send_text p from C")
    assert sub.recv(5.0) == "from C"
    peer.ok("pub o obj obj")
    osub = yoton.SubChannel(ctx, "obj", yoton.OBJECT)
    sample = peer.ok("send_sample o")  # a value built with the C value API
    got = osub.recv(5.0)
    assert repr(got) == sample


def test_state_both_ways(linked):
    peer, ctx = linked
    peer.ok("state st st txt")
    st = yoton.StateChannel(ctx, "st")
    st.send("python state")
    assert wait_until(lambda: "70797468" in peer.cmd("state_recv st"), 10)
    peer.ok("state_send_text st C state")
    assert wait_until(lambda: st.recv() == "C state", 10)


def test_python_requester_c_replier(linked):
    peer, ctx = linked
    peer.ok("rep r calc")
    peer.ok("register r add add")
    peer.ok("register r fail fail")
    peer.ok("rep_mode r thread")
    req = yoton.ReqChannel(ctx, "calc")
    assert req.add(20, 22).result(10) == 42
    with pytest.raises(Exception, match="^boom$"):
        req.fail("boom").result(10)


def test_c_requester_python_replier(linked):
    peer, ctx = linked

    class Rep(yoton.RepChannel):
        def mul(self, x, y):
            return x * y

    rep = Rep(ctx, "py")
    rep.set_mode("thread")
    peer.ok("req q py")
    from yoton.message_types import OBJECT

    fut = peer.ok("call q mul %s -" % OBJECT.message_to_bytes((6, 7)).hex())
    reply = peer.cmd("result %s 10" % fut)
    assert reply.startswith("ok ") and reply.split()[2] == "42", reply
