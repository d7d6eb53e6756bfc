"""Pub/sub between the original Python yoton and our C library, both directions, both roles
(our side hosting = bind, our side client = connect), for every message type."""

import time

import pytest

import interop_util as iu
from interop_util import yoton
from values import PY_VALUES, REPR_EDGE_STRINGS, SAMPLE

ROLES = ["host", "client"]  # the role of OUR (C) side


class NumMessageType(yoton.MessageType):
    """The custom type of the original's tests: a float as its decimal text, type name "num"."""

    def message_type_name(self):
        return "num"

    def message_to_bytes(self, message):
        return repr(float(message)).encode("utf-8")

    def message_from_bytes(self, bb):
        return float(bb.decode("utf-8"))


MESSAGE_TYPES = {"txt": yoton.TEXT, "bin": yoton.BINARY, "obj": yoton.OBJECT,
                 "num": NumMessageType()}

MESSAGES = {
    "txt": ["hello", "héllo wörld ✓ 日本語 😀", "line1\nline2\ttab\r\nend", "\x01",
            "y" * 5000],
    "bin": [b"\x00", bytes(range(256)), b"\xff" * 1000, b"YOTON   "],
    "obj": PY_VALUES,
    "num": [3.25, -0.001, 1e100, -0.0],
}


def body_of(mtype, message):
    return MESSAGE_TYPES[mtype].message_to_bytes(message)


def recv_all_py(sub, count, timeout=10.0):
    """Waits until `count` messages are pending on a Python SubChannel, returns recv_all()."""
    iu.wait_until(lambda: sub.pending >= count, timeout)
    return sub.recv_all()


def assert_no_more_py(sub, wait=0.3):
    time.sleep(wait)
    extra = sub.recv_all()
    assert extra == [], "unexpected extra messages: %r" % (extra[:5],)


@pytest.mark.parametrize("c_role", ROLES)
@pytest.mark.parametrize("mtype", list(MESSAGE_TYPES))
def test_python_pub_to_c_sub(peer, pyctx, mtype, c_role):
    peer.ok("sub s interop %s" % mtype)
    pub = yoton.PubChannel(pyctx, "interop", MESSAGE_TYPES[mtype])
    iu.connect_pair(peer, pyctx, c_role)
    for m in MESSAGES[mtype]:
        pub.send(m)
    for m in MESSAGES[mtype]:
        body = body_of(mtype, m)
        r = peer.recv("s", 5)
        assert isinstance(r, tuple), "expected %r, got %r" % (m, r)
        length, kind, payload = r
        assert length == len(body)
        if mtype == "obj":
            hexpart, repr_text = payload.split(" ", 1)
            assert bytes.fromhex(hexpart) == body, "wire bytes differ for %r" % (m,)
            assert repr_text == repr(m), "yoton_value_repr differs from Python repr"
        else:
            assert kind == ("text" if mtype == "txt" else "hex")
            assert bytes.fromhex(payload) == body
    assert peer.recv("s", 0.3) == "timeout"


@pytest.mark.parametrize("c_role", ROLES)
@pytest.mark.parametrize("mtype", list(MESSAGE_TYPES))
def test_c_pub_to_python_sub(peer, pyctx, mtype, c_role):
    peer.ok("pub p interop %s" % mtype)
    sub = yoton.SubChannel(pyctx, "interop", MESSAGE_TYPES[mtype])
    iu.connect_pair(peer, pyctx, c_role)
    expected = list(MESSAGES[mtype])
    if mtype == "obj":
        # A value built with the yoton_value_* constructors, then raw encodings of PY_VALUES.
        our_repr = peer.ok("send_sample p")
        assert our_repr == repr(SAMPLE), "yoton_value_repr of the sample differs"
        expected = [SAMPLE] + expected
        for m in MESSAGES[mtype]:
            peer.ok("send p %s" % body_of(mtype, m).hex())
    else:
        for m in expected:
            peer.ok("send p %s" % body_of(mtype, m).hex())
    got = recv_all_py(sub, len(expected))
    if mtype == "obj":
        # repr keeps tuple vs list, -0.0, dict order and types (1 vs 1.0 vs True).
        assert [repr(g) for g in got] == [repr(e) for e in expected]
    else:
        assert got == expected
        assert [type(g) for g in got] == [type(e) for e in expected]
    assert_no_more_py(sub)


def test_python_obj_repr_edge_strings(peer, pyctx):
    """Our yoton_value_repr of strings needing Python's escaping (received from Python)."""
    peer.ok("sub s edge obj")
    pub = yoton.PubChannel(pyctx, "edge", yoton.OBJECT)
    iu.connect_pair(peer, pyctx, "host")
    for s in REPR_EDGE_STRINGS:
        pub.send(s)
    mismatches = []
    for s in REPR_EDGE_STRINGS:
        r = peer.recv("s", 5)
        assert isinstance(r, tuple), r
        hexpart, repr_text = r[2].split(" ", 1)
        assert bytes.fromhex(hexpart) == iu.obj_encode(s)
        if repr_text != repr(s):
            mismatches.append((repr(s), repr_text))
    assert not mismatches, "repr differs (python, ours): %r" % mismatches


SIZES = {"1B": 1, "10MiB": 10 * 1024 * 1024}


@pytest.mark.parametrize("c_role", ROLES)
@pytest.mark.parametrize("size", list(SIZES))
def test_size_python_to_c(peer, pyctx, size, c_role):
    n = SIZES[size]
    data = iu.pattern(n, 7)
    peer.ok("sub s big bin")
    pub = yoton.PubChannel(pyctx, "big", yoton.BINARY)
    iu.connect_pair(peer, pyctx, c_role)
    pub.send(data)
    pub.send(b"after")
    r = peer.recv("s", 30)
    assert isinstance(r, tuple), r
    length, kind, payload = r
    assert length == n
    if kind == "crc":
        assert payload == iu.crc(data)
    else:
        assert bytes.fromhex(payload) == data
    r = peer.recv("s", 10)
    assert isinstance(r, tuple) and bytes.fromhex(r[2]) == b"after", r


@pytest.mark.parametrize("c_role", ROLES)
@pytest.mark.parametrize("size", list(SIZES))
def test_size_c_to_python(peer, pyctx, size, c_role):
    n = SIZES[size]
    peer.ok("pub p big bin")
    sub = yoton.SubChannel(pyctx, "big", yoton.BINARY)
    iu.connect_pair(peer, pyctx, c_role)
    length, crc = peer.ok("send_big p %d 5" % n).split()
    assert int(length) == n
    peer.ok("send p %s" % b"after".hex())
    got = recv_all_py(sub, 2, timeout=30)
    assert len(got) == 2, "received %d messages" % len(got)
    assert len(got[0]) == n
    assert iu.crc(got[0]) == crc
    assert got[0] == iu.pattern(n, 5)
    assert got[1] == b"after"


N_MANY = 2000


@pytest.mark.parametrize("c_role", ROLES)
def test_many_in_order_python_to_c(peer, pyctx, c_role):
    peer.ok("sub s many txt")
    pub = yoton.PubChannel(pyctx, "many", yoton.TEXT)
    iu.connect_pair(peer, pyctx, c_role)
    for i in range(N_MANY):
        pub.send("m%d" % i)
    got = peer.recv_many("s", N_MANY, 30)
    assert len(got) == N_MANY, "received %d of %d" % (len(got), N_MANY)
    assert got == [("m%d" % i).encode() for i in range(N_MANY)]
    assert peer.recv("s", 0.3) == "timeout"


@pytest.mark.parametrize("c_role", ROLES)
def test_many_in_order_c_to_python(peer, pyctx, c_role):
    peer.ok("pub p many txt")
    sub = yoton.SubChannel(pyctx, "many", yoton.TEXT)
    iu.connect_pair(peer, pyctx, c_role)
    peer.ok("send_many p %d m" % N_MANY, timeout=60)
    got = recv_all_py(sub, N_MANY, timeout=30)
    assert len(got) == N_MANY, "received %d of %d" % (len(got), N_MANY)
    assert got == ["m%d" % i for i in range(N_MANY)]
    assert_no_more_py(sub)


@pytest.mark.parametrize("c_role", ROLES)
def test_startup_queue_c_to_python(peer, pyctx, c_role):
    """Messages our side publishes before any connection exists reach Python once connected."""
    peer.ok("pub p early txt")
    for i in range(3):
        peer.ok("send_text p early%d ✓" % i)
    assert peer.ok("startup_queued") == "3"
    sub = yoton.SubChannel(pyctx, "early", yoton.TEXT)
    iu.connect_pair(peer, pyctx, c_role)
    peer.ok("send_text p late")
    got = recv_all_py(sub, 4)
    assert got == ["early0 ✓", "early1 ✓", "early2 ✓", "late"]
    assert_no_more_py(sub)


@pytest.mark.parametrize("c_role", ROLES)
def test_startup_queue_python_to_c(peer, pyctx, c_role):
    """Messages Python publishes before any connection exists reach our side once connected."""
    peer.ok("sub s early txt")
    pub = yoton.PubChannel(pyctx, "early", yoton.TEXT)
    for i in range(3):
        pub.send("early%d ✓" % i)
    assert len(pyctx._startupQueue) == 3  # the original queued them
    iu.connect_pair(peer, pyctx, c_role)
    pub.send("late")
    got = peer.recv_many("s", 4, 10)
    assert got == [("early%d ✓" % i).encode() for i in range(3)] + [b"late"]
    assert peer.recv("s", 0.3) == "timeout"


def test_queued_on_waiting_connection_c_to_python(peer, pyctx):
    """Messages we publish while our bind waits for a peer are queued on that connection."""
    peer.ok("pub p early txt")
    idx, port = peer.bind("localhost:0")
    for i in range(3):
        peer.ok("send_text p waiting%d" % i)
    assert peer.ok("startup_queued") == "0"  # they went to the waiting connection
    sub = yoton.SubChannel(pyctx, "early", yoton.TEXT)
    pyctx.connect("localhost:%d" % port, timeout=5)
    peer.wait_connected(idx)
    got = recv_all_py(sub, 3)
    assert got == ["waiting0", "waiting1", "waiting2"]
    assert_no_more_py(sub)


def test_queued_on_waiting_connection_python_to_c(peer, pyctx):
    """Messages the original publishes while its bind waits are delivered when we connect."""
    peer.ok("sub s early txt")
    pub = yoton.PubChannel(pyctx, "early", yoton.TEXT)
    pyconn = pyctx.bind("localhost:0")
    for i in range(3):
        pub.send("waiting%d" % i)
    peer.wait_connected(peer.connect("localhost:%d" % pyconn.port1))
    got = peer.recv_many("s", 3, 10)
    assert got == [b"waiting0", b"waiting1", b"waiting2"]
    assert peer.recv("s", 0.3) == "timeout"
