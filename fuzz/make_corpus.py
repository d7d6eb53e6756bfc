"""Regenerate the fuzz seed corpus (fuzz/corpus/<target>/) from real traffic of the original
Python yoton (pyzo 4.22.0) over loopback, talking to itself and to us.

Each scenario runs a Python client context that connects through a recording TCP proxy to a
host, so both directions of the stream are captured byte for byte: handshake lines, then
packages (pub/sub TEXT and OBJECT, req/rep with pre-requests, acknowledgements and replies,
state, context messages, heartbeats, the close package). The host is a Python context, and,
when YOTON_INTEROP_PEER names the built tests/interop peer (build/yoton_interop_peer), also our
C library. A raw socket also collects the host's error replies to a non-yoton client and to a
bad id. The captures are then split per target:

  handshake/  every handshake line and error reply, as received
  header/     every distinct 56-byte package header
  object/     every package body that the original's OBJECT type decodes
  receive/    each direction's stream after its handshake line (what a peer receives)
  address/    the address forms of the original's documentation (addresses are not traffic)

Usage: [YOTON_INTEROP_PEER=build/yoton_interop_peer] python fuzz/make_corpus.py
(with a venv that has pyzo==4.22.0, e.g. the one scripts/setup-env.sh makes).
Files are named by content hash, so rerunning only adds what is new.
"""

import glob
import hashlib
import os
import socket
import struct
import sys
import threading
import time

# The original yoton is the copy bundled in pyzo, imported without pyzo itself (no Qt).
import importlib.util

sys.path.insert(0, os.path.dirname(importlib.util.find_spec("pyzo").origin))
import yoton  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
HEADER_SIZE = 56
CONTROL = b"YOTON   "
# The receive target's host has channels on these bases (fuzz/src/bodies.rs).
SUB, REQ, STATE = "fuzz", "fuzzreq", "fuzzstate"
DEADLINE = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, what):
    deadline = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.01)


class Recorder:
    """A one-connection TCP proxy on a free port that forwards to `target_port` and records
    the bytes each way: `to_host` (client to host) and `to_client`."""

    def __init__(self, target_port):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.target_port = target_port
        self.to_host = bytearray()
        self.to_client = bytearray()
        self.threads = [threading.Thread(target=self._serve, daemon=True)]
        self.threads[0].start()

    def _serve(self):
        client, _ = self.listener.accept()
        host = socket.create_connection(("127.0.0.1", self.target_port))
        pumps = [
            threading.Thread(target=self._pump, args=(client, host, self.to_host)),
            threading.Thread(target=self._pump, args=(host, client, self.to_client)),
        ]
        for p in pumps:
            p.start()
        for p in pumps:
            p.join(DEADLINE * 4)

    @staticmethod
    def _pump(src, dst, record):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            record.extend(data)
            try:
                dst.sendall(data)
            except OSError:
                return

    def wait(self):
        self.threads[0].join(DEADLINE * 5)
        self.listener.close()


def pair(scenario):
    """Run `scenario(host_ctx, client_ctx)` over a recorded connection; returns the two streams."""
    host, client = yoton.Context(), yoton.Context()
    port = free_port()
    host.bind("localhost:%d" % port)
    rec = Recorder(port)
    client.connect("localhost:%d" % rec.port, timeout=DEADLINE)
    wait_until(lambda: host.connection_count == 1, "the host to be connected")
    scenario(host, client)
    client.flush(DEADLINE)
    host.flush(DEADLINE)
    client.close()
    wait_until(lambda: host.connection_count == 0, "the host to see the close")
    host.close()
    rec.wait()
    return bytes(rec.to_host), bytes(rec.to_client)


def pubsub(host, client):
    for mtype, messages in [
        (yoton.TEXT, ["hello", "", "✓ unicode 😀", "x" * 300]),
        (
            yoton.OBJECT,
            [None, True, 42, -1.5, "s", [1, (2, "three")], {"a": [None, False], 3: 4.0}],
        ),
    ]:
        sub = yoton.SubChannel(host, SUB, mtype)
        pub = yoton.PubChannel(client, SUB, mtype)
        back_sub = yoton.SubChannel(client, SUB, mtype)
        back_pub = yoton.PubChannel(host, SUB, mtype)
        expected = [m for m in messages if m != ""]
        for m in messages:
            pub.send(m)
            back_pub.send(m)
        got, back = [], []
        wait_until(lambda: got.extend(sub.recv_all()) or len(got) >= len(expected), "pub/sub")
        wait_until(lambda: back.extend(back_sub.recv_all()) or len(back) >= len(expected), "pub/sub back")


def reqrep(host, client):
    rep = yoton.RepChannel(host, REQ)
    rep.set_mode("thread")
    req = yoton.ReqChannel(client, REQ)
    for arg in ["hi", 7, [1, 2.5, None], {"k": ("v",)}]:
        assert req.echo(arg).result(DEADLINE)[0] == arg
    # A method the replier does not have: an error reply.
    try:
        req.no_such_method(1).result(DEADLINE)
    except Exception:
        pass
    rep.close()
    req.close()


def state(host, client):
    for mtype, values in [(yoton.TEXT, ["on", "off"]), (yoton.OBJECT, [{"x": 1}, [None]])]:
        a = yoton.StateChannel(client, STATE, mtype)
        b = yoton.StateChannel(host, STATE, mtype)
        for v in values:
            a.send(v)
            wait_until(lambda: repr(b.recv()) == repr(v), "state")
        b.send(values[0])
        wait_until(lambda: repr(a.recv()) == repr(values[0]), "state back")


def heartbeat(host, client):
    # The original sends a heartbeat after a second of silence on a connection.
    time.sleep(1.5)


def with_us(peer_path):
    """The same kinds of traffic between a Python client and our C library as the host."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
    import interop_util as iu

    peer = iu.Peer(peer_path)
    client = yoton.Context()
    try:
        idx, port = peer.bind("localhost:0")
        for line in [
            "sub s %s txt" % SUB, "pub p %s txt" % SUB, "sub so %s obj" % SUB,
            "pub po %s obj" % SUB, "rep r %s" % REQ, "register r echo ident",
            "rep_mode r thread", "req q %s" % REQ, "state st %s txt" % STATE,
        ]:
            peer.ok(line)
        sub = yoton.SubChannel(client, SUB, yoton.TEXT)
        pub = yoton.PubChannel(client, SUB, yoton.TEXT)
        sub_obj = yoton.SubChannel(client, SUB, yoton.OBJECT)
        pub_obj = yoton.PubChannel(client, SUB, yoton.OBJECT)
        req = yoton.ReqChannel(client, REQ)
        rep = yoton.RepChannel(client, REQ)
        rep.set_mode("thread")
        state = yoton.StateChannel(client, STATE, yoton.TEXT)
        rec = Recorder(port)
        client.connect("localhost:%d" % rec.port, timeout=DEADLINE)
        peer.wait_connected(idx)
        pub.send("from python ✓")
        assert peer.recv("s")[0] > 0
        peer.ok("send_text p from us")
        wait_until(lambda: sub.recv(False) == "from us", "our text")
        pub_obj.send({"py": [1, 2.5, None, (True, "x")]})
        assert peer.recv("so")[0] > 0
        peer.ok("send po %s" % iu.obj_encode([-7, "us", {"k": None}]).hex())
        wait_until(lambda: sub_obj.recv(False), "our object")
        assert req.echo("to us").result(DEADLINE) == "to us"
        assert peer.result(peer.call("q", "echo", ["to python"])).ok
        state.send("python state")
        peer.ok("state_send_text st our state")
        wait_until(lambda: state.recv() == "our state", "our state")
        client.flush(DEADLINE)
        client.close()
        peer.ok("wait_closed %d %s" % (idx, DEADLINE))
        rec.wait()
        return bytes(rec.to_host), bytes(rec.to_client)
    finally:
        client.close()
        peer.close()


def error_replies():
    """The host's replies to a non-yoton client and to a bad id."""
    host = yoton.Context()
    port = free_port()
    host.bind("localhost:%d" % port)
    replies = []
    for line in [b"GET / HTTP/1.1\r\n\r\n", b"YOTON!nothex.12\r\n"]:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.settimeout(DEADLINE)
            s.sendall(line)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            replies.append(data)
    host.close()
    return replies


def split_stream(stream):
    """(handshake line, rest after it, packages as (header bytes, body))."""
    end = stream.find(b"\r\n") + 2
    line, rest = stream[:end], stream[end:]
    packages, at = [], 0
    while len(rest) - at >= HEADER_SIZE:
        head = rest[at : at + HEADER_SIZE]
        assert head[:8] == CONTROL, "lost track of the captured stream"
        length = struct.unpack("<Q", head[48:56])[0]
        packages.append((head, rest[at + HEADER_SIZE : at + HEADER_SIZE + length]))
        at += HEADER_SIZE + length
    return line, rest, packages


def decodes_as_object(body):
    try:
        yoton.OBJECT.message_from_bytes(body)
        return True
    except Exception:
        return False


ADDRESSES = [
    "localhost:8080",
    "127.0.0.1:0",
    "tcp://localhost:yoton",
    "TCP://127.0.0.1:some name+3",
    "localhost:chat+0",
    ":5000",
    "publichost:6000",
    "publichost0:6000",
    "publichost9:6000",
    "localhost:65535",
    "localhost:65536",
    "localhost:-1",
    "localhost:1_000",
    "localhost: 42 ",
    "localhost:name+-5",
    "localhost:name+x",
    "host.example:80",
    "itc://localhost:1",
    "[::1]:8080",
    "tcp://[fe80::1]:name+1",
    "[::]:0",
    "::1:0",
    "localhost",
]


def write(target, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    handshakes = set(error_replies())
    headers, objects, streams = set(), set(), set()
    captures = [pair(scenario) for scenario in [pubsub, reqrep, state, heartbeat]]
    peer_path = os.environ.get("YOTON_INTEROP_PEER")
    if peer_path:
        captures.append(with_us(peer_path))
    else:
        print("YOTON_INTEROP_PEER not set: no traffic with our library")
    for capture in captures:
        for stream in capture:
            line, rest, packages = split_stream(stream)
            handshakes.add(line)
            streams.add(rest)
            for head, body in packages:
                headers.add(head)
                if body and decodes_as_object(body):
                    objects.add(body)
    for name, items in [
        ("handshake", handshakes),
        ("header", headers),
        ("object", objects),
        ("receive", streams),
        ("address", {a.encode() for a in ADDRESSES}),
    ]:
        for data in items:
            write(name, data)
        print("%-9s %3d seeds" % (name, len(items)))
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(CORPUS, "*", "*")))
    print("corpus: %d bytes" % total)


if __name__ == "__main__":
    main()
