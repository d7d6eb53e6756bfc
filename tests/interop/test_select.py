"""Ordered reading across subscribers (docs/protocol.md §9.2.4): Python publishers feed two of our
subscribers; yoton_sub_select + yoton_sub_recv_selected return the messages in arrival order,
round by round exactly as the original's select_sub_channel / recv_selected would."""

import time

import pytest

import interop_util as iu
from interop_util import yoton

ROLES = ["host", "client"]  # the role of OUR (C) side

# Arrival order of the messages on channels "a" and "b". It starts with the docs/protocol.md §9.2.4 example
# (a = [1,2,4,7], b = [3,5,6]).
ORDER = "aababba" + "bbbaaabab" + "a" * 5 + "b"


def expected_rounds(order):
    """The original's algorithm on arrival positions: [(channel, [positions]), ...]."""
    pending = {"a": [i for i, c in enumerate(order) if c == "a"],
               "b": [i for i, c in enumerate(order) if c == "b"]}
    rounds = []
    while pending["a"] or pending["b"]:
        best_first = ref = float("inf")
        chosen = None
        for ch in ("a", "b"):
            if not pending[ch]:
                continue
            first, end = pending[ch][0], pending[ch][-1] + 1
            if first < best_first:
                ref = min(best_first, ref, end)
                best_first, chosen = first, ch
            else:
                ref = min(ref, first)
        popped = []
        while pending[chosen] and pending[chosen][0] <= ref:
            popped.append(pending[chosen].pop(0))
        rounds.append((chosen, popped))
    return rounds


def test_expected_rounds_match_protocol_example():
    assert expected_rounds("aababba") == [("a", [0, 1]), ("b", [2]), ("a", [3]),
                                          ("b", [4, 5]), ("a", [6])]


def peer_pending(peer, name):
    return int(peer.ok("pending %s" % name))


def run_rounds(peer):
    rounds = []
    for _ in range(len(ORDER) + 1):
        reply = peer.cmd("select sa sb")
        if reply == "timeout":
            break
        assert reply.startswith("ok "), reply
        _, index, name = reply.split()
        assert name == ("sa", "sb")[int(index)]
        r = peer.cmd("recv_selected %s" % name)
        assert r.startswith("msgs "), r
        _, n, payload = r.split(" ", 2)
        msgs = [] if n == "0" else [bytes.fromhex(h).decode() for h in payload.split(",")]
        rounds.append((name[1], msgs))
    return rounds


@pytest.mark.parametrize("c_role", ROLES)
@pytest.mark.parametrize("publishers", ["one_context", "two_contexts"])
def test_select_recv_selected_arrival_order(peer, make_ctx, publishers, c_role):
    peer.ok("sub sa ord_a txt")
    peer.ok("sub sb ord_b txt")
    if publishers == "one_context":
        ctx = make_ctx()
        pubs = {"a": yoton.PubChannel(ctx, "ord_a", yoton.TEXT),
                "b": yoton.PubChannel(ctx, "ord_b", yoton.TEXT)}
        iu.connect_pair(peer, ctx, c_role)
        for i, ch in enumerate(ORDER):  # one connection: arrival order = send order
            pubs[ch].send("%s%d" % (ch, i))
    else:
        ctx_a, ctx_b = make_ctx(), make_ctx()
        pubs = {"a": yoton.PubChannel(ctx_a, "ord_a", yoton.TEXT),
                "b": yoton.PubChannel(ctx_b, "ord_b", yoton.TEXT)}
        iu.connect_pair(peer, ctx_a, c_role)
        iu.connect_pair(peer, ctx_b, c_role)
        # Two connections: wait for each message to arrive before sending the next.
        for i, ch in enumerate(ORDER):
            before = peer_pending(peer, "s" + ch)
            pubs[ch].send("%s%d" % (ch, i))
            deadline = time.monotonic() + 5
            while peer_pending(peer, "s" + ch) == before and time.monotonic() < deadline:
                time.sleep(0.002)
    deadline = time.monotonic() + 5
    while peer_pending(peer, "sa") + peer_pending(peer, "sb") < len(ORDER):
        assert time.monotonic() < deadline, "not everything arrived"
        time.sleep(0.01)

    got = run_rounds(peer)
    expected = [(ch, ["%s%d" % (ch, i) for i in positions])
                for ch, positions in expected_rounds(ORDER)]
    assert got == expected
    merged = [m for _, msgs in got for m in msgs]
    assert merged == ["%s%d" % (ch, i) for i, ch in enumerate(ORDER)]
    assert peer.cmd("select sa sb") == "timeout"
