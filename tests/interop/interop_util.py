"""Helpers for the interop tests: the original Python yoton, the scriptable C peer, waits.

The original yoton is the copy bundled in pyzo (pyzo==4.22.0). It is imported as the
top-level package ``yoton`` from pyzo's directory, without importing pyzo itself (no Qt).
"""

import importlib.util
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib


def pyzo_dir():
    spec = importlib.util.find_spec("pyzo")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyzo is not installed in this Python (pip install pyzo==4.22.0)")
    return os.path.dirname(spec.origin)


PYZO_DIR = pyzo_dir()
if PYZO_DIR not in sys.path:
    sys.path.insert(0, PYZO_DIR)

import yoton  # noqa: E402  (the original)
from yoton.channels.message_types import ObjectMessageType  # noqa: E402

OBJ = ObjectMessageType()

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PEER = "/tmp/build-interop/yoton_interop_peer"
REPLY_TIMEOUT = float(os.environ.get("YOTON_INTEROP_REPLY_TIMEOUT", "20"))


def peer_path():
    return os.environ.get("YOTON_INTEROP_PEER", DEFAULT_PEER)


def obj_encode(value):
    """The original's OBJECT encoding of a value (canonical bytes)."""
    return OBJ.message_to_bytes(value)


def obj_decode(data):
    return OBJ.message_from_bytes(data)


def pattern(n, seed=0):
    """The deterministic body of the peer's send_big: byte i = (i + seed) % 251."""
    base = bytes(range(251))
    reps = n // 251 + 2
    return (base * reps)[seed % 251 : seed % 251 + n]


def crc(data):
    return "%08x" % (zlib.crc32(data) & 0xFFFFFFFF)


def wait_until(pred, timeout=5.0, interval=0.01):
    """Polls pred() (processing yoton events in between) until it is true or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        yoton.process_events()
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1 (for Python-side binds)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class PeerError(AssertionError):
    pass


class Peer:
    """The C peer (tests/interop/peer.c) as a subprocess, driven line by line."""

    def __init__(self, path=None, label="peer"):
        self.path = path or peer_path()
        self.label = label
        self.stderr_file = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(
            [self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            bufsize=0,
        )
        self.pid = self.proc.pid
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.log = []

    def _read_loop(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self._lines.put(None)  # EOF

    def stderr_text(self):
        try:
            self.stderr_file.seek(0)
            return self.stderr_file.read().decode("utf-8", "replace")
        except Exception:
            return ""

    def cmd(self, line, timeout=REPLY_TIMEOUT):
        """Sends one command and returns its reply line (bounded wait)."""
        self.log.append("> " + line)
        try:
            self.proc.stdin.write((line + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise PeerError("%s: cannot write %r: %s; stderr:\n%s"
                            % (self.label, line, e, self.stderr_text()))
        try:
            reply = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise PeerError("%s: no reply to %r within %.0f s; stderr:\n%s"
                            % (self.label, line, timeout, self.stderr_text()))
        if reply is None:
            raise PeerError("%s: exited (rc=%s) on %r; stderr:\n%s"
                            % (self.label, self.proc.poll(), line, self.stderr_text()))
        self.log.append("< " + (reply if len(reply) < 300 else reply[:300] + "..."))
        return reply

    def ok(self, line, timeout=REPLY_TIMEOUT):
        """Sends a command that must succeed; returns the words after `ok`."""
        reply = self.cmd(line, timeout)
        if not (reply == "ok" or reply.startswith("ok ")):
            raise PeerError("%s: %r -> %r" % (self.label, line, reply))
        return reply[3:]

    # Convenience wrappers -----------------------------------------------------------------

    def bind(self, address="localhost:0", max_tries=1):
        idx, port = self.ok("bind %s %d" % (address, max_tries)).split()
        return int(idx), int(port)

    def connect(self, address, timeout=5.0):
        return int(self.ok("connect %s %s" % (address, timeout)))

    def wait_connected(self, idx, seconds=5.0):
        return self.ok("wait_connected %d %s" % (idx, seconds))

    def id(self):
        return int(self.ok("id"), 16)

    def status(self, idx):
        status, timedout = self.ok("status %d" % idx).split()
        return int(status), timedout == "1"

    def recv(self, name, timeout=5.0):
        """Returns (len, kind, payload) or the bare reply word (timeout/closed/error...)."""
        reply = self.cmd("recv %s %s" % (name, timeout), timeout + REPLY_TIMEOUT)
        if not reply.startswith("msg "):
            return reply
        parts = reply.split(" ", 3)
        return int(parts[1]), parts[2], parts[3] if len(parts) > 3 else ""

    def recv_many(self, name, count, timeout):
        reply = self.cmd("recv_many %s %d %s" % (name, count, timeout), timeout + REPLY_TIMEOUT)
        assert reply.startswith("msgs "), reply
        _, n, payload = reply.split(" ", 2)
        if int(n) == 0:
            return []
        return [bytes.fromhex(h) for h in payload.split(",")]

    # Request/reply -------------------------------------------------------------------------

    def call(self, req, method, args=None, kwargs=None):
        """Calls `method` through our requester `req`; returns the future id (an int).
        args/kwargs are Python values (OBJECT-encoded here), None for none."""
        a = "-" if args is None else obj_encode(tuple(args) if isinstance(args, list) else args).hex()
        k = "-" if kwargs is None else obj_encode(kwargs).hex()
        return int(self.ok("call %s %s %s %s" % (req, method, a, k)))

    def result(self, fut, timeout=5.0):
        """yoton_future_result: a FutureResult (ok, value, repr, code, message)."""
        reply = self.cmd("result %d %s" % (fut, timeout), timeout + REPLY_TIMEOUT)
        return FutureResult.parse(reply)

    def exception_text(self, fut, timeout=5.0):
        """yoton_future_exception: the exact error text, or the failed reply line."""
        reply = self.cmd("exception %d %s" % (fut, timeout), timeout + REPLY_TIMEOUT)
        if reply.startswith("ok "):
            return bytes.fromhex(reply[3:]).decode("utf-8")
        if reply == "ok":
            return ""
        raise PeerError("%s: exception %d -> %r" % (self.label, fut, reply))

    def future_status(self, fut):
        return int(self.ok("future_status %d" % fut))

    def wait_future_status(self, fut, wanted, timeout=5.0):
        """Polls the future's status until it is in `wanted` (a status or a set); returns the
        last status seen."""
        wanted = {wanted} if isinstance(wanted, int) else set(wanted)
        deadline = time.monotonic() + timeout
        while True:
            status = self.future_status(fut)
            if status in wanted or time.monotonic() >= deadline:
                return status
            time.sleep(0.02)

    def close(self):
        """Asks the peer to quit, then kills THIS process (by its PID) if it lingers."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        # Let the reader thread see EOF before its pipe is closed under it.
        self._reader.join(timeout=2)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass
        self.stderr_file.close()


# yoton_status codes and future states (yoton.h)
YOTON_ERR_TIMEOUT = 3
YOTON_ERR_CANCELLED = 4
YOTON_ERR_IO = 5
YOTON_ERR_REMOTE = 10
FUTURE_WAITING, FUTURE_RUNNING, FUTURE_CANCELLED, FUTURE_ERROR, FUTURE_SUCCESS = range(5)


class FutureResult:
    """The peer's answer to `result FUT TIMEOUT`: `ok <hex> <repr>` or `error <code> <text>`."""

    def __init__(self, line, ok, value=None, repr_text=None, code=None, message=None):
        self.line, self.ok, self.value, self.repr = line, ok, value, repr_text
        self.code, self.message = code, message

    @classmethod
    def parse(cls, line):
        if line.startswith("ok "):
            parts = line.split(" ", 2)
            return cls(line, True, obj_decode(bytes.fromhex(parts[1])), parts[2] if len(parts) > 2 else "")
        if line.startswith("error "):
            parts = line.split(" ", 2)
            return cls(line, False, code=int(parts[1]), message=parts[2] if len(parts) > 2 else "")
        raise PeerError("unexpected reply to result: %r" % line)

    def __repr__(self):
        return "FutureResult(%r)" % self.line


def connect_pair(peer, ctx, c_role, timeout=5.0):
    """Joins the C peer's context and the Python context `ctx` by one connection.

    c_role "host": the C peer binds (port 0) and Python connects.
    c_role "client": Python binds (port 0) and the C peer connects.
    Returns (peer connection index, Python connection), both connected.
    """
    if c_role == "host":
        idx, port = peer.bind("localhost:0")
        pyconn = ctx.connect("localhost:%d" % port, timeout=timeout)
        peer.wait_connected(idx, timeout)
    elif c_role == "client":
        pyconn = ctx.bind("localhost:0")
        idx = peer.connect("localhost:%d" % pyconn.port1, timeout)
        assert wait_until(lambda: pyconn.is_connected, timeout), "Python side never connected"
    else:
        raise ValueError(c_role)
    assert pyconn.is_connected
    return idx, pyconn


def attach_to_router(router_kind, router, node, node_kind, timeout=5.0):
    """Connects `node` (a Python context if node_kind is "python", else a C Peer) to a router
    (a Python context if router_kind is "python", else a C Peer). The router binds (port 0)
    and the node connects, so the node sends NEW_CONNECTION. Returns when both ends are
    connected."""
    if router_kind == "python":
        rconn = router.bind("localhost:0")
        port = rconn.port1
    else:
        ridx, port = router.bind("localhost:0")
    if node_kind == "python":
        conn = node.connect("localhost:%d" % port, timeout=timeout)
        assert conn.is_connected
    else:
        node.wait_connected(node.connect("localhost:%d" % port, timeout), timeout)
    if router_kind == "python":
        assert wait_until(lambda: rconn.is_connected, timeout), "router never connected"
    else:
        router.wait_connected(ridx, timeout)


class ClosedWatcher:
    """Records the reason of a Python connection's `closed` signal."""

    def __init__(self, conn):
        self.reasons = []
        conn.closed.bind(self._on_closed)

    def _on_closed(self, conn, reason):
        self.reasons.append(reason)
