"""Nodes written with the original Python yoton (pyzo==4.22.0), for trying the `yoton`
command-line tool by hand; docs/cli.md shows a session against them.

    python scripts/cli-session-nodes.py publisher ADDRESS   # binds; publishes on "news" (text)
                                                             # and "temps" (object) every 0.5 s
    python scripts/cli-session-nodes.py replier ADDRESS     # binds; RepChannel "calc": add, upper, fail
    python scripts/cli-session-nodes.py state ADDRESS       # binds; StateChannel "status" (object),
                                                             # prints the state when it changes
    python scripts/cli-session-nodes.py network PORT1 PORT2 # two nodes, a connects to PORT1 and b
                                                             # to PORT2 (a monitor binds both): a
                                                             # publishes, sets a state and calls b

A yoton bind takes one peer: these nodes bind again at ADDRESS when their peer has left, so
that one `yoton` command after another can connect. Each runs until interrupted (Ctrl-C) or
for --seconds S (default 60).
"""

import importlib.util
import os
import sys
import time

spec = importlib.util.find_spec("pyzo")
if spec is None:
    sys.exit("pyzo is not installed (pip install pyzo==4.22.0)")
sys.path.insert(0, os.path.dirname(spec.origin))
import yoton  # noqa: E402  (the original, bundled in pyzo)


class Host:
    """A bind at `address` that is made again whenever its peer has left."""

    def __init__(self, ctx, address):
        self.ctx, self.address = ctx, address
        self.conn = ctx.bind(address)

    def poll(self):
        if not self.conn.is_alive:
            self.conn = self.ctx.bind(self.address)


class Calc(yoton.RepChannel):
    def add(self, a, b):
        return a + b

    def upper(self, text):
        return text.upper()

    def fail(self, text):
        raise ValueError(text)


def publisher(address, until):
    ctx = yoton.Context()
    news = yoton.PubChannel(ctx, "news")
    temps = yoton.PubChannel(ctx, "temps", yoton.OBJECT)
    host = Host(ctx, address)
    n = 0
    while time.time() < until:
        host.poll()
        n += 1
        news.send("tick %d" % n)
        temps.send(("kitchen", 20.5 + n / 10, {"ok": True, "spikes": [float("inf")]}))
        time.sleep(0.5)


def replier(address, until):
    ctx = yoton.Context()
    Calc(ctx, "calc").set_mode("thread")
    host = Host(ctx, address)
    while time.time() < until:
        host.poll()
        time.sleep(0.1)


def state(address, until):
    ctx = yoton.Context()
    st = yoton.StateChannel(ctx, "status", yoton.OBJECT)
    st.send({"phase": "idle", "jobs": (1, 2)})
    host = Host(ctx, address)
    last = st.recv()
    while time.time() < until:
        host.poll()
        now = st.recv()
        if now != last:
            print("python state node: the state is now %r" % (now,), flush=True)
            last = now
        time.sleep(0.1)


def network(port1, port2, until):
    a, b = yoton.Context(), yoton.Context()
    news = yoton.PubChannel(a, "news")
    status = yoton.StateChannel(a, "status")
    req = yoton.ReqChannel(a, "calc")
    yoton.SubChannel(b, "news")
    yoton.StateChannel(b, "status")
    Calc(b, "calc").set_mode("thread")
    a.connect("localhost:%s" % port1, timeout=10)
    b.connect("localhost:%s" % port2, timeout=10)
    n = 0
    while time.time() < until:
        n += 1
        news.send("tick %d" % n)
        status.send("step %d" % n)
        req.add(n, 1).result(5)
        time.sleep(1.0)


def main(argv):
    seconds = 60.0
    if "--seconds" in argv:
        i = argv.index("--seconds")
        seconds = float(argv[i + 1])
        del argv[i : i + 2]
    until = time.time() + seconds
    roles = {"publisher": publisher, "replier": replier, "state": state, "network": network}
    if not argv or argv[0] not in roles:
        sys.exit(__doc__)
    try:
        roles[argv[0]](*argv[1:], until=until)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
