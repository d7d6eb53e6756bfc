"""State channels (docs/protocol.md §9.4) between the original Python yoton and our C library: both directions,
last writer wins, send_last, and a late joiner that learns the state over two hops (through a
Python or a C router) thanks to NEW_CONNECTION."""

import time

import pytest

import interop_util as iu
from interop_util import yoton

ROLES = ["host", "client"]  # the role of OUR (C) side

TYPES = {"txt": yoton.TEXT, "obj": yoton.OBJECT}
STATES = {
    "txt": ["S1 ✓", "S2 😀", "S3"],
    "obj": [{"a": [1, (2,)], None: -0.0}, (None, True, "x"), [1.5, "S3"]],
}


def encode(mtype, message):
    return TYPES[mtype].message_to_bytes(message)


def peer_state(peer, name):
    """Our current state as body bytes (b"" while there is none)."""
    reply = peer.cmd("state_recv %s" % name)
    if reply == "msg 0 empty":
        return b""
    assert reply.startswith("msg "), reply
    _, length, kind, payload = reply.split(" ", 3)
    hexpart = payload.split(" ", 1)[0] if kind == "obj" else payload
    data = bytes.fromhex(hexpart)
    assert len(data) == int(length)
    return data


def wait_peer_state(peer, name, expected, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = peer_state(peer, name)
        if got == expected or time.monotonic() >= deadline:
            return got
        time.sleep(0.02)


def wait_py_state(channel, expected, timeout=5.0):
    """Waits until a Python StateChannel's state equals `expected` (compared by repr)."""
    iu.wait_until(lambda: repr(channel.recv()) == repr(expected), timeout)
    return channel.recv()


def record_arrivals(channel):
    """Records the states a Python StateChannel receives (from its IO thread)."""
    arrivals = []
    original = channel._recv_package

    def recording(package):
        arrivals.append(bytes(package._data))
        return original(package)

    channel._recv_package = recording
    return arrivals


@pytest.mark.parametrize("c_role", ROLES)
@pytest.mark.parametrize("mtype", list(TYPES))
def test_state_both_directions(peer, pyctx, mtype, c_role):
    s1, s2, s3 = STATES[mtype]
    peer.ok("state st shared %s" % mtype)
    st = yoton.StateChannel(pyctx, "shared", TYPES[mtype])
    arrivals = record_arrivals(st)
    iu.connect_pair(peer, pyctx, c_role)
    assert peer_state(peer, "st") == b""
    if mtype == "obj":
        # None equals the initial OBJECT state: sending it is a no-op on both sides.
        peer.ok("state_send st %s" % encode(mtype, None).hex())
        st.send(None)
        time.sleep(0.3)
        assert arrivals == [] and peer_state(peer, "st") == b""

    st.send(s1)  # Python -> ours
    assert wait_peer_state(peer, "st", encode(mtype, s1)) == encode(mtype, s1)

    peer.ok("state_send st %s" % encode(mtype, s2).hex())  # ours -> Python
    assert repr(wait_py_state(st, s2)) == repr(s2)
    assert arrivals == [encode(mtype, s2)]

    # Last writer wins, both ways.
    st.send(s3)
    assert wait_peer_state(peer, "st", encode(mtype, s3)) == encode(mtype, s3)
    peer.ok("state_send st %s" % encode(mtype, s1).hex())
    assert repr(wait_py_state(st, s1)) == repr(s1)
    assert peer_state(peer, "st") == encode(mtype, s1)

    # Sending the current state again sends nothing; send_last re-broadcasts it.
    peer.ok("state_send st %s" % encode(mtype, s1).hex())
    time.sleep(0.3)
    assert arrivals == [encode(mtype, s2), encode(mtype, s1)]
    peer.ok("state_send_last st")
    assert iu.wait_until(lambda: len(arrivals) == 3, 5), arrivals
    assert arrivals[2] == encode(mtype, s1)


@pytest.mark.parametrize("router_kind", ["python", "c"])
@pytest.mark.parametrize("direction", ["python_to_c", "c_to_python"])
def test_state_late_joiner_two_hops(make_peer, make_ctx, direction, router_kind):
    """A context that joins later learns the state from a source two hops away (source ->
    router -> joiner); then the last writer wins in both directions."""
    router = make_ctx() if router_kind == "python" else make_peer("router")
    if direction == "python_to_c":
        src_ctx = make_ctx()
        st = yoton.StateChannel(src_ctx, "late", yoton.TEXT)
        iu.attach_to_router(router_kind, router, src_ctx, "python")
        st.send("S1 ✓")
        time.sleep(0.3)  # it went out while nobody listened
        joiner = make_peer("joiner")
        joiner.ok("state st late txt")
        iu.attach_to_router(router_kind, router, joiner, "c")
        assert wait_peer_state(joiner, "st", "S1 ✓".encode()) == "S1 ✓".encode()
        joiner.ok("state_send_text st S2")
        assert wait_py_state(st, "S2") == "S2"
        st.send("S3")
        assert wait_peer_state(joiner, "st", b"S3") == b"S3"
    else:
        src = make_peer("source")
        src.ok("state st late txt")
        iu.attach_to_router(router_kind, router, src, "c")
        src.ok("state_send_text st S1 ✓")
        time.sleep(0.3)
        joiner_ctx = make_ctx()
        js = yoton.StateChannel(joiner_ctx, "late", yoton.TEXT)
        iu.attach_to_router(router_kind, router, joiner_ctx, "python")
        assert wait_py_state(js, "S1 ✓") == "S1 ✓"
        js.send("S2")
        assert wait_peer_state(src, "st", b"S2") == b"S2"
        src.ok("state_send_text st S3")
        assert wait_py_state(js, "S3") == "S3"
