"""Sync mode (docs/protocol.md §9.2.3) between the original Python yoton and our C library: a slow subscriber
in sync mode throttles a fast publisher of the other implementation (the subscriber's backlog
stays near the high-water mark of 32 instead of growing with the burst), nothing is lost, and
leaving sync mode from the full state unlocks the publisher."""

import threading
import time

import pytest

import interop_util as iu
from interop_util import yoton

ROLES = ["host", "client"]  # the role of OUR (C) side

N = 400            # burst size
PUB_PACE = 0.001   # the publisher sleeps this long after each send (fast)
READ_PACE = 0.005  # the subscriber sleeps this long after each message (slow)
MAX_BACKLOG = 100  # HWM 32 plus what is in flight; without sync mode it would be ~300


@pytest.mark.parametrize("c_role", ROLES)
def test_python_slow_sub_throttles_c_pub(peer, pyctx, c_role):
    peer.ok("pub p flow txt")
    sub = yoton.SubChannel(pyctx, "flow", yoton.TEXT)
    sub.set_sync_mode(True)
    iu.connect_pair(peer, pyctx, c_role)
    done = {}

    def publish():
        t0 = time.monotonic()
        done["reply"] = peer.cmd("send_many p %d m %s" % (N, PUB_PACE), timeout=90)
        done["elapsed"] = time.monotonic() - t0

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    got, max_backlog = [], 0
    deadline = time.monotonic() + 60
    while len(got) < N and time.monotonic() < deadline:
        yoton.process_events()  # the original runs its sync check on `received` too
        max_backlog = max(max_backlog, sub.pending)
        m = sub.recv(False)
        if m:
            got.append(m)
        time.sleep(READ_PACE)
    thread.join(90)
    assert done.get("reply") == "ok %d" % N, done
    assert got == ["m%d" % i for i in range(N)], "lost or reordered: %d received" % len(got)
    assert max_backlog < MAX_BACKLOG, "our publisher was not throttled (backlog %d)" % max_backlog
    # Unthrottled the burst takes about N * PUB_PACE = 0.4 s.
    assert done["elapsed"] > 1.0, "our publisher was not slowed down (%.2f s)" % done["elapsed"]


@pytest.mark.parametrize("c_role", ROLES)
def test_c_slow_sub_throttles_python_pub(peer, pyctx, c_role):
    peer.ok("sub s flow txt")
    peer.ok("sync s on")
    pub = yoton.PubChannel(pyctx, "flow", yoton.TEXT)
    iu.connect_pair(peer, pyctx, c_role)
    stats = {"locked": 0}

    def publish():
        t0 = time.monotonic()
        for i in range(N):
            if pub._is_send_locked:
                stats["locked"] += 1
            pub.send("m%d" % i)
            time.sleep(PUB_PACE)
        stats["elapsed"] = time.monotonic() - t0

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    reply = peer.cmd("recv_slow s %d %s 60" % (N, READ_PACE), timeout=90)
    thread.join(60)
    assert reply.startswith("ok "), reply
    _, n, max_pending, payload = reply.split(" ", 3)
    got = [] if payload == "-" else [bytes.fromhex(h).decode() for h in payload.split(",")]
    assert int(n) == N and got == ["m%d" % i for i in range(N)], "lost or reordered: %s" % n
    assert int(max_pending) < MAX_BACKLOG, "Python was not throttled (our backlog %s)" % max_pending
    assert stats["locked"] > 0, "the Python publisher was never send-locked"
    assert stats["elapsed"] > 1.0, "the Python publisher was not slowed (%.2f s)" % stats["elapsed"]


@pytest.mark.parametrize("c_role", ROLES)
def test_c_sub_full_then_sync_off_unlocks_python_pub(peer, pyctx, c_role):
    """Our subscriber above the high-water mark says "full" (the Python publisher locks);
    turning sync mode off from the full state says "ok" (it unlocks)."""
    peer.ok("sub s flow txt")
    peer.ok("sync s on")
    pub = yoton.PubChannel(pyctx, "flow", yoton.TEXT)
    iu.connect_pair(peer, pyctx, c_role)
    for i in range(40):
        pub.send("m%d" % i)
    deadline = time.monotonic() + 5
    while int(peer.ok("pending s")) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = peer.recv("s", 0)  # runs our sync check: 39 pending > 32
    assert isinstance(r, tuple), r
    assert iu.wait_until(lambda: pub._is_send_locked, 5), "our 'full' did not lock the publisher"
    peer.ok("sync s off")
    assert iu.wait_until(lambda: not pub._is_send_locked, 5), "our 'ok' did not unlock it"
    assert len(peer.recv_many("s", 39, 5)) == 39
