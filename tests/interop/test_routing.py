"""Three-hop chains: a router context with no channels forwards between two others.
Each message must arrive exactly once, in order."""

import time

import pytest

import interop_util as iu
from interop_util import yoton

N = 50


def _py_sub_messages(sub, count, timeout=10.0):
    iu.wait_until(lambda: sub.pending >= count, timeout)
    got = sub.recv_all()
    time.sleep(0.3)
    got += sub.recv_all()  # anything extra would be a duplicate
    return got


@pytest.mark.parametrize("sink", ["c", "python"])
def test_c_pub_via_python_router(make_peer, make_ctx, sink):
    """C pub -> Python router (context with no channels) -> C sub or Python sub."""
    router = make_ctx()
    up = router.bind("localhost:0")
    down = router.bind("localhost:0")

    source = make_peer("source")
    source.ok("pub p chain txt")
    src_idx = source.connect("localhost:%d" % up.port1)

    if sink == "c":
        dest = make_peer("sink")
        dest.ok("sub s chain txt")
        dest_idx = dest.connect("localhost:%d" % down.port1)
        dest.wait_connected(dest_idx)
    else:
        dest_ctx = make_ctx()
        sub = yoton.SubChannel(dest_ctx, "chain", yoton.TEXT)
        dest_ctx.connect("localhost:%d" % down.port1, timeout=5)
    source.wait_connected(src_idx)
    assert iu.wait_until(lambda: up.is_connected and down.is_connected, 5)

    source.ok("send_many p %d hop" % N)
    expected = ["hop%d" % i for i in range(N)]
    if sink == "c":
        got = dest.recv_many("s", N, 10)
        assert [g.decode() for g in got] == expected
        assert dest.recv("s", 0.3) == "timeout", "duplicate delivered"
    else:
        assert _py_sub_messages(sub, N) == expected


def test_python_pub_to_c_sub_via_python_router(make_peer, make_ctx):
    """Python pub -> Python router -> C sub (our side only receives forwarded packages)."""
    router = make_ctx()
    up = router.bind("localhost:0")
    down = router.bind("localhost:0")
    src_ctx = make_ctx()
    pub = yoton.PubChannel(src_ctx, "chain", yoton.TEXT)
    src_ctx.connect("localhost:%d" % up.port1, timeout=5)
    dest = make_peer("sink")
    dest.ok("sub s chain txt")
    dest.wait_connected(dest.connect("localhost:%d" % down.port1))
    assert iu.wait_until(lambda: up.is_connected and down.is_connected, 5)
    for i in range(N):
        pub.send("hop%d" % i)
    got = dest.recv_many("s", N, 10)
    assert [g.decode() for g in got] == ["hop%d" % i for i in range(N)]
    assert dest.recv("s", 0.3) == "timeout", "duplicate delivered"


@pytest.mark.parametrize("sink", ["python", "c"])
@pytest.mark.parametrize("router_role", ["host", "client"])
def test_python_pub_via_our_router(make_peer, make_ctx, sink, router_role):
    """Python pub -> our router (C context with no channels) -> Python sub or another C sub.

    router_role "host": our router binds twice and both ends connect to it;
    "client": both ends bind and our router connects to each of them."""
    router = make_peer("router")
    src_ctx = make_ctx()
    pub = yoton.PubChannel(src_ctx, "chain", yoton.TEXT)

    def attach_py(ctx):
        if router_role == "host":
            idx, port = router.bind("localhost:0")
            conn = ctx.connect("localhost:%d" % port, timeout=5)
        else:
            conn = ctx.bind("localhost:0")
            idx = router.connect("localhost:%d" % conn.port1)
        router.wait_connected(idx)
        assert iu.wait_until(lambda: conn.is_connected, 5)

    attach_py(src_ctx)
    if sink == "python":
        dest_ctx = make_ctx()
        sub = yoton.SubChannel(dest_ctx, "chain", yoton.TEXT)
        attach_py(dest_ctx)
    else:
        dest = make_peer("sink")
        dest.ok("sub s chain txt")
        if router_role == "host":
            idx, port = router.bind("localhost:0")
            dest.wait_connected(dest.connect("localhost:%d" % port))
        else:
            didx, port = dest.bind("localhost:0")
            idx = router.connect("localhost:%d" % port)
            dest.wait_connected(didx)
        router.wait_connected(idx)
    assert router.ok("conn_count").split()[0] == "2"

    for i in range(N):
        pub.send("hop%d ✓" % i)
    expected = ["hop%d ✓" % i for i in range(N)]
    if sink == "python":
        assert _py_sub_messages(sub, N) == expected
    else:
        got = dest.recv_many("s", N, 10)
        assert [g.decode() for g in got] == expected
        assert dest.recv("s", 0.3) == "timeout", "duplicate delivered"
