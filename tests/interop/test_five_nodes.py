"""Five nodes on loopback with unpaced traffic (issue 9, item 10: "A message lost when a Python
node joins through us").

    P3 (bind) <- P1 (pure router, no channels) -> C5 (bind #1)
                 P1 -> P4 (bind, idle)             C5 (bind #2) <- P2

P3 and C5 (ours, the C peer) are joined only through the Python router P1. P2, P3 and C5
share a state channel (OBJECT) that C5 and P3 update; P2 and P3 each publish 200 TEXT and 20
OBJECT messages, interleaved, as fast as they can; C5 subscribes to both streams. In the
"late" variant P2 (through our second bind) and P4 (through P1) join while the traffic flows,
so their NEW_CONNECTION messages reach every node, which resend their state (send_last) in
the middle of the streams; in the "early" variant they join before it.

Where the reported message went: into the original's own race. A Python context numbers a
package (`_send_seq += 1`) before it takes the lock under which it queues it
(Context._send_package), and a NEW_CONNECTION makes its receiving thread send the state
(StateChannel.send_last) while the publishing thread is between the two steps. P3 then queues
seq k+1 (the state, from its receiving thread) before seq k (a data message), and P1, which
keeps only the highest seq per source, drops k as a duplicate: no error, no discard anywhere,
and with all five nodes Python the same happens (run as reported, the late variant loses one
or two of P3's messages in most runs, on this engine, on the one before the rewrite and with a
Python P5 in C5's place; a wire capture shows seq k after k+1 on P3's socket and k never
leaving P1). Hence two tests:

- test_five_nodes_unpaced: every Python context numbers and queues under one lock (the same
  code as the original's, with the increment moved under the lock it already takes). Then C5
  must receive every message of both streams exactly once and in order per stream, discard
  nothing, no Python router may drop anything (so our forwarding keeps each source's order
  on the wire), and the state must converge.
- test_five_nodes_original_seq_race: the original as it is, late joins. C5 must receive every
  message except exactly those P1 dropped, and each of those P3 must have queued after a
  package with a higher seq (the race above), never anything else.

Every Python node is an original yoton Context in this process (each runs its own IO threads).
Their routers are watched (a package the dedupe drops is recorded) and so is the order in which
P3 queues its packages on its only connection, so a failure says where a message went.
"""

import threading
import time

import pytest

import interop_util as iu
from interop_util import yoton

N_TEXT = 200
N_OBJ = 20
EVERY = N_TEXT // N_OBJ  # an OBJECT message after every 10th TEXT message
RECV_TIMEOUT = 10.0


def text_message(who, i):
    return "%s t%d ✓" % (who, i)


def obj_message(who, j):
    return {"src": who, "j": j, "data": [j, (j * 0.5, None, True), "x" * j, {"n": -j}]}


def expected_streams(who):
    return ([text_message(who, i) for i in range(N_TEXT)],
            [obj_message(who, j) for j in range(N_OBJ)])


def number_under_lock(ctx):
    """Replaces the original's Context._send_package by the same code with the seq assigned
    under the lock that orders the queueing (the original increments it before taking the
    lock, so two sending threads can queue seq k+1 before seq k)."""

    def send_package(package):
        with ctx._connections_lock:
            ctx._send_seq += 1
            package._source_seq = ctx._send_seq
            ok = False
            for c in ctx._connections:
                if c.is_alive:
                    c._send_package(package)
                    ok = True
            if not ok:
                ctx._startupQueue.push(package)

    ctx._send_package = send_package


class Trace:
    """Watches the original's routers and P3's out-queue (diagnostics for failures)."""

    def __init__(self):
        self.names = {}  # context id -> node name
        self.slots = {}  # slot hash -> label
        self.drops = []  # (router, source id, seq, last seq, slot, body)
        self.pushes = []  # P3's packages in the order they were queued: (seq, slot, thread)
        self.lock = threading.Lock()

    def name(self, source_id):
        return self.names.get(source_id, "%016x" % source_id)

    def slot(self, slot):
        return self.slots.get(slot, "context" if slot == 0 else str(slot))

    def add_slots(self, label, channel):
        for h in (channel._slot_out_h, channel._slot_in_h):
            if h:
                self.slots[h] = label

    def watch_router(self, ctx, node):
        """Records every package the dedupe of Python context `ctx` drops. Must run before the
        context connects: receiving threads bind ctx._recv_package when they start."""
        original = ctx._recv_package

        def recv_package(package, connection):
            last = ctx._source_map.get(package._source_id, 0)
            if last >= package._source_seq:
                with self.lock:
                    self.drops.append((node, package._source_id, package._source_seq, last,
                                       package._slot, bytes(package._data)))
            return original(package, connection)

        ctx._recv_package = recv_package

    def watch_pushes(self, conn):
        """Records the order in which packages are queued on the Python connection `conn`."""
        original = conn._send_package

        def send_package(package):
            thread = threading.current_thread()
            with self.lock:
                self.pushes.append((package._source_seq, package._slot,
                                    "%s %s" % (type(thread).__name__, thread.name)))
            return original(package)

        conn._send_package = send_package

    def inversions(self):
        """P3's packages queued after one with a higher seq (the original's routers drop them:
        they keep only the highest seq per source): [((seq, slot, thread), (overtaker...))]."""
        out, highest = [], (0, None, None)
        for seq, slot, thread in self.pushes:
            if seq < highest[0]:
                out.append(((seq, self.slot(slot), thread),
                            (highest[0], self.slot(highest[1]), highest[2])))
            if seq > highest[0]:
                highest = (seq, slot, thread)
        return out

    def report(self):
        lines = []
        for node, source, seq, last, slot, _body in self.drops:
            lines.append("  %s dropped %s seq %d (last seen %d) on %s"
                         % (node, self.name(source), seq, last, self.slot(slot)))
        for late, early in self.inversions():
            lines.append("  P3 queued seq %d (%s, from %s) after seq %d (%s, from %s)"
                         % (late + early))
        return "\n".join(lines) or "  (no router drop, no out-of-order queueing at P3)"


def stream_problems(label, got, expected):
    """Describes what is wrong with a received stream (empty when it is exact)."""
    if got == expected:
        return []
    keys = [repr(m) for m in expected]
    index = {k: i for i, k in enumerate(keys)}
    got_idx = [index.get(repr(m)) for m in got]
    missing = sorted(set(range(len(expected))) - set(i for i in got_idx if i is not None))
    seen, dups = set(), []
    for i in got_idx:
        if i is not None and i in seen:
            dups.append(i)
        seen.add(i)
    problems = []
    if missing:
        problems.append("%s: missing #%s" % (label, missing))
    if dups:
        problems.append("%s: duplicated #%s" % (label, dups))
    unknown = [m for m, i in zip(got, got_idx) if i is None]
    if unknown:
        problems.append("%s: unexpected %r" % (label, unknown[:5]))
    known = [i for i in got_idx if i is not None]
    if not missing and not dups and not unknown and known != sorted(known):
        problems.append("%s: out of order %s" % (label, known))
    return problems


def peer_state(peer, name):
    """C5's current state, decoded (None while there is none)."""
    reply = peer.cmd("state_recv %s" % name)
    if reply == "msg 0 empty":
        return None
    assert reply.startswith("msg "), reply
    _, _length, kind, payload = reply.split(" ", 3)
    assert kind == "obj", reply
    return iu.obj_decode(bytes.fromhex(payload.split(" ", 1)[0]))


def wait_states(states, expected, timeout=5.0):
    """Polls every state getter until all equal `expected`; returns the last values seen."""
    deadline = time.monotonic() + timeout
    while True:
        values = {name: get() for name, get in states.items()}
        if all(repr(v) == repr(expected) for v in values.values()):
            return values
        if time.monotonic() >= deadline:
            return values
        time.sleep(0.02)


def run_scenario(make_peer, make_ctx, slots, join, fix_seq):
    """Builds the network, runs the traffic and the final state writes. Returns
    (problems, trace, dropped, P3's id): problems lists every deviation from exact delivery at
    C5 of what P1 let through, from convergence and from no discards; dropped maps (who, kind)
    to the messages the original's routers dropped on their way to C5."""
    t0 = time.monotonic()
    trace = Trace()
    p1, p2, p3, p4 = make_ctx(), make_ctx(), make_ctx(), make_ctx()
    c5 = make_peer("C5")
    for node, ctx in (("P1", p1), ("P2", p2), ("P3", p3), ("P4", p4)):
        trace.names[ctx.id] = node
        trace.watch_router(ctx, node)
        if fix_seq:
            number_under_lock(ctx)
    trace.names[c5.id()] = "C5"

    # Channels. C5 subscribes to both streams and holds the shared state.
    base = {"P2": "p2", "P3": "p3"} if slots == "own" else {"P2": "data", "P3": "data"}
    subs = {}  # (who, kind) -> C5 channel name
    for who in ("P2", "P3"):
        for kind, mtype in (("text", "txt"), ("obj", "obj")):
            name = "%s_%s" % (base[who], mtype)
            if name not in subs.values():
                c5.ok("sub %s %s %s" % (name, base[who], mtype))
            subs[(who, kind)] = name
    c5.ok("state st state obj")
    pubs = {}
    for who, ctx in (("P2", p2), ("P3", p3)):
        pubs[who] = (yoton.PubChannel(ctx, base[who], yoton.TEXT),
                     yoton.PubChannel(ctx, base[who], yoton.OBJECT))
        trace.add_slots(base[who] + " TEXT", pubs[who][0])
        trace.add_slots(base[who] + " OBJECT", pubs[who][1])
    st2 = yoton.StateChannel(p2, "state", yoton.OBJECT)
    st3 = yoton.StateChannel(p3, "state", yoton.OBJECT)
    trace.add_slots("state", st3)

    # Phase 1: P1 -> P3, P1 -> C5 (and, "early", P2 -> C5 and P1 -> P4 too).
    conn3 = p3.bind("localhost:0")
    trace.watch_pushes(conn3)
    p1.connect("localhost:%d" % conn3.port1, timeout=5)
    idx1, port1 = c5.bind("localhost:0")
    p1.connect("localhost:%d" % port1, timeout=5)
    c5.wait_connected(idx1)
    assert iu.wait_until(lambda: conn3.is_connected, 5), "P1 -> P3 never connected"

    def join_p2():
        idx2, port2 = c5.bind("localhost:0")
        p2.connect("localhost:%d" % port2, timeout=5)
        c5.wait_connected(idx2)

    def join_p4():
        conn4 = p4.bind("localhost:0")
        p1.connect("localhost:%d" % conn4.port1, timeout=5)
        assert iu.wait_until(lambda: conn4.is_connected, 5), "P1 -> P4 never connected"

    if join == "early":
        join_p2()
        join_p4()
        time.sleep(0.2)  # the NEW_CONNECTION messages settle before the traffic starts

    # Traffic: P2 and P3 publish as fast as they can (P3 also updates the state).
    errors = []

    def publish(who, state):
        try:
            text_ch, obj_ch = pubs[who]
            for i in range(N_TEXT):
                text_ch.send(text_message(who, i))
                if i % EVERY == EVERY - 1:
                    j = i // EVERY
                    obj_ch.send(obj_message(who, j))
                    if state is not None:
                        state.send(("P3", j))
        except Exception as e:  # reported by the test thread
            errors.append("%s: %r" % (who, e))

    threads = [threading.Thread(target=publish, args=("P2", None), name="pub-P2", daemon=True),
               threading.Thread(target=publish, args=("P3", st3), name="pub-P3", daemon=True)]
    for t in threads:
        t.start()

    # Phase 2 ("late"): P2 joins through our second bind and P4 through P1 while the
    # streams flow; C5 updates the state meanwhile.
    if join == "late":
        join_p2()
    for k in range(3):
        c5.ok("state_send st %s" % iu.obj_encode(("C5", k)).hex())
    if join == "late":
        join_p4()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads), "a publisher is stuck"
    assert not errors, errors
    if join == "late":
        # The joins must land inside P3's stream: its receiving thread (NEW_CONNECTION ->
        # send_last) queued the state between two of its publisher's packages.
        with trace.lock:
            order = [thread.startswith("ReceivingThread") for _s, _l, thread in trace.pushes
                     if thread.startswith("ReceivingThread") or thread.endswith("pub-P3")]
        pubs_at = [i for i, by_io in enumerate(order) if not by_io]
        assert any(pubs_at[0] < i < pubs_at[-1] for i, by_io in enumerate(order) if by_io), \
            "P2 and P4 joined after P3's stream had ended (%s)" % trace.pushes[-5:]

    # What the original's routers dropped on the way to C5 is known once P1 has seen P3's
    # last package (P2's packages reach C5 directly).
    assert iu.wait_until(lambda: p1._source_map.get(p3.id, 0) >= p3._send_seq, 10), \
        "P1 never saw P3's last package"
    dropped = {(who, kind): [] for who in ("P2", "P3") for kind in ("text", "obj")}
    text_slots = {pubs[w][0]._slot_out_h: w for w in pubs}
    obj_slots = {pubs[w][1]._slot_out_h: w for w in pubs}
    with trace.lock:
        for node, source, _seq, _last, slot, body in trace.drops:
            if node != "P1" or source != p3.id:
                continue
            if slot in text_slots:
                dropped[("P3", "text")].append(body.decode("utf-8"))
            elif slot in obj_slots:
                dropped[("P3", "obj")].append(iu.obj_decode(body))

    # C5 receives every message of both streams (that reached it) exactly once, in order.
    def wanted(who, kind):
        texts, objs = expected_streams(who)
        drop = set(repr(m) for m in dropped[(who, kind)])
        return [m for m in (texts if kind == "text" else objs) if repr(m) not in drop]

    problems = []
    received = {}
    for name in sorted(set(subs.values())):
        total = sum(len(wanted(who, kind)) for (who, kind), n in subs.items() if n == name)
        bodies = c5.recv_many(name, total, RECV_TIMEOUT)
        extra = c5.recv(name, 0.3)
        if extra != "timeout":
            problems.append("C5 %s: more than %d messages (%r)" % (name, total, extra))
        received[name] = bodies
    for who in ("P2", "P3"):
        got_texts = [b.decode("utf-8") for b in received[subs[(who, "text")]]]
        got_texts = [m for m in got_texts if m.startswith(who + " ")]
        got_objs = [iu.obj_decode(b) for b in received[subs[(who, "obj")]]]
        got_objs = [m for m in got_objs if isinstance(m, dict) and m.get("src") == who]
        problems += stream_problems("%s TEXT" % who, got_texts, wanted(who, "text"))
        problems += stream_problems("%s OBJECT" % who, got_objs, wanted(who, "obj"))
    discarded = int(c5.ok("discarded"))
    if discarded:
        problems.append("C5 discarded %d packages" % discarded)

    # The state converges: P3 writes last, then C5 does.
    states = {"P2": st2.recv, "P3": st3.recv, "C5": lambda: peer_state(c5, "st")}
    before = {name: get() for name, get in states.items()}
    st3.send(("P3", "final"))
    after_p3 = wait_states(states, ("P3", "final"))
    if any(repr(v) != repr(("P3", "final")) for v in after_p3.values()):
        problems.append("state after P3's final write: %r" % after_p3)
    c5.ok("state_send st %s" % iu.obj_encode(("C5", "final")).hex())
    after_c5 = wait_states(states, ("C5", "final"))
    if any(repr(v) != repr(("C5", "final")) for v in after_c5.values()):
        problems.append("state after C5's final write: %r" % after_c5)

    if problems:
        problems += ["state after the traffic: %r" % before,
                     "where the original's routers dropped packages:", trace.report(),
                     "(scenario took %.1f s)" % (time.monotonic() - t0)]
    return problems, trace, dropped, p3.id


@pytest.mark.parametrize("join", ["late", "early"])
@pytest.mark.parametrize("slots", ["own", "shared"])
def test_five_nodes_unpaced(make_peer, make_ctx, slots, join):
    problems, trace, _dropped, _p3 = run_scenario(make_peer, make_ctx, slots, join, fix_seq=True)
    if trace.drops:
        # With every Python sender numbering in queueing order, a drop can only come from a
        # forwarder that reorders a source's packages: C5 (ours) forwards P2's to P1, P3's
        # to P2, and sends its own state to both.
        problems += ["a Python router dropped packages (seq not above the last seen):",
                     trace.report()]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("slots", ["own", "shared"])
def test_five_nodes_original_seq_race(make_peer, make_ctx, slots):
    problems, trace, dropped, p3_id = run_scenario(make_peer, make_ctx, slots, "late",
                                                   fix_seq=False)
    assert not problems, "\n".join(problems)
    # Each package P1 dropped from P3 was queued by P3 after one with a higher seq.
    late_seqs = set(late[0] for late, _early in trace.inversions())
    unexplained = [d for d in trace.drops
                   if d[0] == "P1" and d[1] == p3_id and d[2] not in late_seqs]
    assert not unexplained, trace.report()
    print("original's seq race: P1 dropped %d of P3's data messages"
          % sum(len(v) for v in dropped.values()))
