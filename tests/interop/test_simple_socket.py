"""SimpleSocket (docs/protocol.md §9.5): the original's yoton.SimpleSocket and our yoton_simple_socket exchange
text both ways (slots text.txt.pub-sub), with either side binding."""

import pytest

import interop_util as iu
from interop_util import yoton

ROLES = ["host", "client"]  # the role of OUR (C) side

TEXTS = ["hello", "héllo wörld ✓ 日本語 😀", "tab\there 'q' \"dq\" back\\slash", "y" * 5000]


@pytest.fixture
def py_socket():
    s = yoton.SimpleSocket()
    yield s
    s.close()
    yoton.process_events()


@pytest.mark.parametrize("c_role", ROLES)
def test_simple_socket_both_ways(peer, py_socket, c_role):
    peer.ok("ss_new")
    if c_role == "host":
        idx, port = peer.ok("ss_bind localhost:0").split()
        conn = py_socket.connect("localhost:%s" % port, timeout=5)
        peer.wait_connected(int(idx))
    else:
        conn = py_socket.bind("localhost:0")
        idx = int(peer.ok("ss_connect localhost:%d 5" % conn.port1))
        peer.wait_connected(idx)
        assert iu.wait_until(lambda: conn.is_connected, 5)
    assert conn.is_connected

    for t in TEXTS:  # Python -> ours
        py_socket.send(t)
    for t in TEXTS:
        reply = peer.cmd("ss_recv 5")
        assert reply.startswith("msg "), reply
        _, length, kind, payload = reply.split(" ", 3)
        assert kind == "text" and bytes.fromhex(payload).decode("utf-8") == t
        assert int(length) == len(t.encode("utf-8"))
    assert peer.cmd("ss_recv 0.2") == "timeout"

    for t in TEXTS:  # ours -> Python
        peer.ok("ss_send %s" % t)
    got = [py_socket.recv(5.0) for _ in TEXTS]
    assert got == TEXTS
    assert py_socket.recv(False) == ""
