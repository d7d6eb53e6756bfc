"""Connection-level interop: handshake (ids, pids, ERROR lines), NEW_CONNECTION, closing with
reasons in both directions, and timeout detection of a frozen Python peer."""

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

import interop_util as iu
from interop_util import yoton

ROLES = ["host", "client"]  # the role of OUR (C) side


# --------------------------------------------------------------------------- handshake


@pytest.mark.parametrize("c_role", ROLES)
def test_handshake_ids_and_pids(peer, pyctx, c_role):
    idx, pyconn = iu.connect_pair(peer, pyctx, c_role)
    our_id = peer.id()
    assert pyconn.id2 == our_id
    assert pyconn.pid2 == peer.pid
    id2, pid2, port1, port2, host2 = peer.ok("info %d" % idx).split()
    assert int(id2, 16) == pyctx.id
    assert int(pid2) == os.getpid()
    assert int(port1) == pyconn.port2 and int(port2) == pyconn.port1
    assert host2 == "127.0.0.1"
    status, timedout = peer.status(idx)
    assert status == (3 if c_role == "host" else 4)  # hosting / connected


def _raw_exchange(port, line, timeout=5.0):
    """Connects a plain socket, sends `line`, returns what comes back up to CRLF or EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(line)
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\r\n") and time.monotonic() < deadline:
            r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            chunk = s.recv(1)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


@pytest.mark.parametrize("bad_line, answer", [
    (b"GET / HTTP/1.1\r\n", b"ERROR: this is Yoton.\r\n"),
    (b"YOTON!zzzz.12\r\n", b"ERROR: could not parse id.\r\n"),
])
def test_host_answers_non_yoton_client_then_keeps_accepting(peer, pyctx, bad_line, answer):
    idx, port = peer.bind("localhost:0")
    assert _raw_exchange(port, bad_line) == answer
    # Still waiting for a real peer:
    status, _ = peer.status(idx)
    assert status == 2
    # A real Python yoton client then connects fine and messages flow.
    peer.ok("sub s after txt")
    pub = yoton.PubChannel(pyctx, "after", yoton.TEXT)
    pyconn = pyctx.connect("localhost:%d" % port, timeout=5)
    peer.wait_connected(idx)
    assert pyconn.is_connected
    pub.send("hello after ERROR")
    r = peer.recv("s", 5)
    assert isinstance(r, tuple) and bytes.fromhex(r[2]) == "hello after ERROR".encode(), r


# --------------------------------------------------------------------------- NEW_CONNECTION


def _record_context_messages(ctx):
    seen = []
    original = ctx._recv_context_package

    def recording(package):
        seen.append((package._source_id, package._source_seq, package._dest_id,
                     bytes(package._data)))
        return original(package)

    ctx._recv_context_package = recording  # the context calls self._recv_context_package
    return seen


def test_new_connection_reaches_python_host(peer, pyctx):
    """Our connecting side sends NEW_CONNECTION; a Python host handles it (its StateChannel
    re-sends the state it had before we connected)."""
    state = yoton.StateChannel(pyctx, "st", yoton.TEXT)
    state.send("S1 ✓")
    seen = _record_context_messages(pyctx)
    resends = []
    original_send_last = state.send_last

    def counting_send_last():
        resends.append(state.recv())
        return original_send_last()

    state.send_last = counting_send_last
    pyconn = pyctx.bind("localhost:0")
    our_id = peer.id()
    idx = peer.connect("localhost:%d" % pyconn.port1)
    assert iu.wait_until(lambda: seen, 5), "no context message received from our side"
    assert seen == [(our_id, 1, 0, b"NEW_CONNECTION")]
    assert iu.wait_until(lambda: resends, 2) == ["S1 ✓"]
    status, _ = peer.status(idx)
    assert status == 4


def test_our_host_does_not_send_new_connection(peer, pyctx):
    """The hosting side never sends NEW_CONNECTION (only the connecting side does)."""
    seen = _record_context_messages(pyctx)
    idx, pyconn = iu.connect_pair(peer, pyctx, "host")
    peer.ok("flush %d 3" % idx)
    time.sleep(0.5)
    assert seen == []


# --------------------------------------------------------------------------- closing


@pytest.mark.parametrize("how", ["close", "ctx_close"])
@pytest.mark.parametrize("c_role", ROLES)
def test_our_close_seen_by_python(peer, pyctx, c_role, how):
    peer.ok("pub p bye txt")
    sub = yoton.SubChannel(pyctx, "bye", yoton.TEXT)
    idx, pyconn = iu.connect_pair(peer, pyctx, c_role)
    watcher = iu.ClosedWatcher(pyconn)
    peer.ok("send_text p last words")
    peer.ok("flush %d 3" % idx)
    if how == "close":
        peer.ok("close %d bye" % idx)
        ours = "bye"
    else:
        peer.ok("ctx_close")
        ours = "Closed by the context."
    assert iu.wait_until(lambda: watcher.reasons, 5), "Python never saw the close"
    assert watcher.reasons == ["Closed from other end."]
    assert not pyconn.is_alive
    assert sub.recv(False) == "last words"
    assert peer.ok("close_reason %d" % idx) == ours


@pytest.mark.parametrize("when", ["idle", "while_we_send"])
@pytest.mark.parametrize("c_role", ROLES)
def test_python_close_seen_by_us(peer, pyctx, c_role, when):
    """The original never sends the close package: its close() just closes the socket.

    Linux turns that close into a RST instead of a FIN whenever bytes we sent (heartbeats
    every 0.25 s, or data) are still unread in the Python socket, so "idle" sees FIN or RST
    depending on timing and "while_we_send" (a 2 MB message in flight) sees RST almost
    always. Either way the other end has dropped the connection."""
    idx, pyconn = iu.connect_pair(peer, pyctx, c_role)
    if when == "while_we_send":
        peer.ok("pub p flood bin")
        peer.ok("send_big p 2000000")
    pyconn.close()
    assert peer.ok("wait_closed %d 5" % idx) == "Other end dropped the connection."
    assert peer.ok("close_reason %d" % idx) == "Other end dropped the connection."
    status, _ = peer.status(idx)
    assert status == 0


# --------------------------------------------------------------------------- frozen peer

FROZEN_PEER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import yoton
ctx = yoton.Context()
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
def test_frozen_python_peer_times_out(peer, c_role):
    """SIGSTOP a Python peer: its heartbeats stop, our connection reports timedout; SIGCONT:
    timedout clears again."""
    if c_role == "host":
        idx, port = peer.bind("localhost:0")
        args = ["connect", "localhost:%d" % port]
    else:
        args = ["bind"]
    proc = subprocess.Popen([sys.executable, "-c", FROZEN_PEER, iu.PYZO_DIR] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def read_line(timeout=10.0):
            r, _, _ = select.select([proc.stdout], [], [], timeout)
            assert r, "the Python peer said nothing within %.0f s" % timeout
            return proc.stdout.readline().strip()

        if c_role == "client":
            word, port = read_line().split()
            assert word == "port"
            idx = peer.connect("localhost:%s" % port)
        assert read_line() == "connected"
        peer.wait_connected(idx)
        assert peer.cmd("wait_timedout %d 0 3" % idx).startswith("ok"), "timed out while alive"

        os.kill(proc.pid, signal.SIGSTOP)
        reply = peer.cmd("wait_timedout %d 1 5" % idx)
        assert reply.startswith("ok"), "no timedout within 5 s of SIGSTOP: %r" % reply
        status, timedout = peer.status(idx)
        assert timedout and status in (3, 4), "a timeout must not close the connection"

        os.kill(proc.pid, signal.SIGCONT)
        reply = peer.cmd("wait_timedout %d 0 5" % idx)
        assert reply.startswith("ok"), "timedout did not clear after SIGCONT: %r" % reply
        status, timedout = peer.status(idx)
        assert not timedout and status in (3, 4)
    finally:
        try:
            os.kill(proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        proc.kill()
        proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


# --------------------------------------------------------------------------- named ports


@pytest.mark.parametrize("direction", ["python_binds", "we_bind"])
def test_named_port_agrees(peer, pyctx, direction):
    """A port given by name ("localhost:<name>+offset") hashes to the same port on both sides,
    and the max_tries stepping lands where the original expects."""
    from yoton.misc import split_address

    name = "interop%d_%d" % (os.getpid(), int(time.monotonic() * 1000) % 100000)
    address = "localhost:%s+3" % name
    _, _, base = split_address(address)
    # The original's max_tries sequence: 0, 1, 2, 3, 5, 7, ... (sum of floor(sqrt(j)))
    candidates, port = [], base
    for k in range(16):
        candidates.append(port)
        port += int((k + 1) ** 0.5)
    if direction == "we_bind":
        idx, port = peer.bind(address, 16)
        assert port in candidates
        # When the base port was free, the original reaches us through the name itself.
        pyconn = pyctx.connect(address if port == base else "localhost:%d" % port, timeout=5)
        peer.wait_connected(idx)
        assert pyconn.is_connected
    else:
        pyconn = pyctx.bind(address, max_tries=16)
        assert pyconn.port1 in candidates
        if pyconn.port1 != base:
            pytest.skip("base port %d busy on this machine" % base)
        idx = peer.connect(address)  # our side hashes the name itself
        assert iu.wait_until(lambda: pyconn.is_connected, 5)
        peer.wait_connected(idx)
