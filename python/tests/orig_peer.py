"""A peer running the ORIGINAL yoton (pyzo==4.22.0), for the interop tests.

Run in its own process (both packages are named yoton):
  orig_peer.py mirror bind|connect PORT   every pattern, mirrored back (see below)
  orig_peer.py server                     a RequestServer replying in upper case
  orig_peer.py request PORT TEXT          do_request, prints the reply as JSON
  orig_peer.py simple bind|connect PORT   SimpleSocket: echoes texts back, upper-cased

mirror: SubChannels 't' (TEXT), 'b' (BINARY), 'o' (OBJECT) are published back on 't-back',
'b-back', 'o-back'; the OBJECT state 'st' is mirrored into state 'st-back'; RepChannel
'calc' (thread mode) has add() and fail(); a text "call <json args>" on 'cmd' makes the
ReqChannel 'ours' call add(*args) and publish the JSON result (or error) on 'cmd-back';
"quit" on 'cmd' ends it. Prints "ready" when set up.
"""

import importlib.util
import json
import os
import sys
import time

spec = importlib.util.find_spec("pyzo")
sys.path.insert(0, os.path.dirname(spec.origin))
import yoton  # noqa: E402  (the original)

assert not hasattr(yoton, "engine_version"), "this must be the original yoton"


class Calc(yoton.RepChannel):
    def add(self, x, y):
        return x + y

    def fail(self):
        raise RuntimeError("original failed")


def connect_or_bind(ctx, role, port):
    address = "127.0.0.1:%i" % port
    if role == "bind":
        return ctx.bind(address)
    return ctx.connect(address, timeout=5.0)


def mirror(role, port):
    ctx = yoton.Context()
    pairs = []
    for name, mtype in (("t", yoton.TEXT), ("b", yoton.BINARY), ("o", yoton.OBJECT)):
        pairs.append(
            (yoton.SubChannel(ctx, name, mtype), yoton.PubChannel(ctx, name + "-back", mtype))
        )
    st = yoton.StateChannel(ctx, "st", yoton.OBJECT)
    st_back = yoton.StateChannel(ctx, "st-back", yoton.OBJECT)
    calc = Calc(ctx, "calc")
    calc.set_mode("thread")
    ours = yoton.ReqChannel(ctx, "ours")
    cmd = yoton.SubChannel(ctx, "cmd")
    cmd_back = yoton.PubChannel(ctx, "cmd-back")
    conn = connect_or_bind(ctx, role, port)
    print("ready", flush=True)
    last_state = None
    deadline = time.time() + 60
    while time.time() < deadline:
        yoton.process_events()
        for sub, pub in pairs:
            for m in sub.recv_all():
                pub.send(m)
        state = st.recv()
        if state is not None and state != last_state:
            last_state = state
            st_back.send(state)
        for m in cmd.recv_all():
            if m == "quit":
                ctx.flush()
                conn.close()
                return
            args = json.loads(m.split(" ", 1)[1])
            try:
                reply = ["ok", ours.add(*args).result(10)]
            except Exception as e:
                reply = ["error", str(e)]
            cmd_back.send(json.dumps(reply))
        time.sleep(0.005)


class Upper(yoton.RequestServer):
    def handle_request(self, request):
        return "ORIG " + request.strip().upper()


def server():
    port = int(sys.argv[2])
    s = Upper("127.0.0.1:%i" % port)
    s.start()
    # Ready once its thread listens (start() returns before that).
    import socket

    deadline = time.time() + 10
    while time.time() < deadline:
        if s._bsd_socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            break
        time.sleep(0.01)
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    s.stop()


def simple(role, port):
    s = yoton.SimpleSocket()
    connect_or_bind(s, role, port)
    print("ready", flush=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        text = s.recv(0.1)
        if text == "quit":
            s.flush()
            return
        if text:
            s.send(text.upper())


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "mirror":
        mirror(sys.argv[2], int(sys.argv[3]))
    elif what == "server":
        server()
    elif what == "request":
        print(json.dumps(yoton.do_request("127.0.0.1:%s" % sys.argv[2], sys.argv[3], 10)))
    elif what == "simple":
        simple(sys.argv[2], int(sys.argv[3]))
