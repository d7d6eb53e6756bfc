import threading
import time

import pytest
import yoton
from conftest import wait_until


class Upper(yoton.MessageType):
    """A custom message type: text sent in upper case."""

    def message_type_name(self):
        return "upper"

    def message_to_bytes(self, message):
        return message.upper().encode("utf-8")

    def message_from_bytes(self, bb):
        return bb.decode("utf-8")


@pytest.mark.parametrize(
    "mtype, messages, empty",
    [
        (yoton.TEXT, ["hello", "wörld ✓", "x" * 5000], ""),
        (yoton.BINARY, [b"\x00\x01\xff", b"b" * 70000], b""),
        (yoton.OBJECT, [None, True, 3, -2.5, "s", [1, (2, "3")], {"k": [None], 4: 5.0}], None),
        (Upper, ["abc"], ""),
    ],
)
def test_types_roundtrip(pair, mtype, messages, empty):
    a, b = pair
    pub = yoton.PubChannel(a, "t", mtype)
    sub = yoton.SubChannel(b, "t", mtype)
    for m in messages:
        pub.send(m)
    got = [sub.recv(5.0) for _ in messages]
    if mtype is Upper:
        assert got == ["ABC"]
    else:
        assert got == messages
    assert sub.recv(False) == empty


def test_slot_names_and_properties(pair):
    a, _ = pair
    pub = yoton.PubChannel(a, "chat")
    sub = yoton.SubChannel(a, "news", yoton.OBJECT)
    assert pub.slot_outgoing == "chat.txt.pub-sub"
    assert pub.slot_incoming == "chat.txt.sub-pub"
    assert sub.slot_incoming == "news.obj.pub-sub"
    assert not pub.closed and sub.pending == 0
    with pytest.raises(ValueError):
        yoton.PubChannel(a, "chat")  # slot not free
    with pytest.raises(ValueError):
        yoton.PubChannel("not a context", "x")
    with pytest.raises(ValueError):
        yoton.PubChannel(a, "y", message_type=42)
    with pytest.raises(ValueError):
        pub.send(3)  # TEXT needs strings


def test_recv_all_iter_pending_and_close(pair):
    a, b = pair
    pub = yoton.PubChannel(a, "q")
    sub = yoton.SubChannel(b, "q")
    for i in range(10):
        pub.send("m%i" % i)
    assert wait_until(lambda: sub.pending == 10)
    assert sub.recv() == "m0"
    assert [m for m in sub][:2] == ["m1", "m2"]
    assert sub.recv_all() == []
    pub.send("last")
    assert wait_until(lambda: sub.pending == 1)
    pub.close()
    assert pub.closed
    with pytest.raises(IOError):
        pub.send("after close")
    sub.close()
    assert sub.recv_all() == ["last"]  # queued messages survive close
    assert sub.recv(True) == ""  # closed and empty: returns at once


def test_recv_timeout(pair):
    _, b = pair
    sub = yoton.SubChannel(b, "silent")
    t0 = time.monotonic()
    assert sub.recv(0.2) == ""
    assert 0.15 <= time.monotonic() - t0 < 2.0


def test_received_signal(pair):
    a, b = pair
    pub = yoton.PubChannel(a, "sig")
    sub = yoton.SubChannel(b, "sig")
    got = []
    sub.received.bind(lambda ch: got.extend(ch.recv_all()))
    pub.send("one")
    pub.send("two")
    assert wait_until(lambda: got == ["one", "two"])


def test_select_sub_channel_keeps_order(pair):
    a, b = pair
    pubs = [yoton.PubChannel(a, n) for n in ("x", "y")]
    subs = [yoton.SubChannel(b, n) for n in ("x", "y")]
    order = [0, 1, 1, 0, 1, 0, 0]
    for i, k in enumerate(order):
        pubs[k].send(str(i))
    assert wait_until(lambda: sum(s.pending for s in subs) == len(order))
    got = []
    while True:
        ch = yoton.select_sub_channel(*subs)
        if ch is None:
            break
        got.extend(ch.recv_selected())
    assert got == [str(i) for i in range(len(order))]
    with pytest.raises(ValueError):
        yoton.select_sub_channel(pubs[0])


def test_select_after_a_batched_recv_keeps_order(pair):
    # recv() takes a batch from the engine and keeps the rest locally: select_sub_channel
    # must still order those against the other channels' messages.
    a, b = pair
    px, py = yoton.PubChannel(a, "bx"), yoton.PubChannel(a, "by")
    sx, sy = yoton.SubChannel(b, "bx"), yoton.SubChannel(b, "by")
    for i, pub in enumerate([px, py, px, py, px]):
        pub.send(str(i))
    assert wait_until(lambda: sx.pending + sy.pending == 5)
    assert sx.recv(False) == "0"  # the rest of sx's messages now wait locally
    assert sx.pending == 2
    got = []
    for _ in range(10):
        ch = yoton.select_sub_channel(sx, sy)
        if ch is None:
            break
        got.extend(ch.recv_selected())
    assert got == ["1", "2", "3", "4"]


def test_messages_bigger_than_a_batch_keep_their_place(pair):
    # A body bigger than the receive buffer (256 KiB) stays queued and comes alone, in order.
    a, b = pair
    pub = yoton.PubChannel(a, "big", yoton.BINARY)
    sub = yoton.SubChannel(b, "big", yoton.BINARY)
    sent = [b"s%i" % i for i in range(3)] + [b"B" * 300000] + [b"t%i" % i for i in range(3)]
    sent += [b"C" * 600000, b"end"]
    for m in sent:
        pub.send(m)
    assert wait_until(lambda: sub.pending == len(sent))
    got = [sub.recv(False) for _ in range(4)]
    assert got == sent[:4]
    assert sub.recv_all() == sent[4:]


def test_recv_all_and_select_take_more_than_one_batch(pair):
    # More messages than one batch holds (2048): recv_all takes them all, select orders them.
    a, b = pair
    px, py = yoton.PubChannel(a, "mx", yoton.BINARY), yoton.PubChannel(a, "my", yoton.BINARY)
    sx, sy = yoton.SubChannel(b, "mx", yoton.BINARY), yoton.SubChannel(b, "my", yoton.BINARY)
    n = 5000
    for i in range(n):
        (px if i % 3 else py).send(b"%i" % i)
    assert wait_until(lambda: sx.pending + sy.pending == n)
    assert sx.recv(False) == b"1"
    got = []
    for _ in range(n):
        ch = yoton.select_sub_channel(sx, sy)
        if ch is None:
            break
        got.extend(ch.recv_selected())
    assert got == [b"%i" % i for i in range(n) if i != 1]
    for i in range(n):
        px.send(b"%i" % i)
    assert wait_until(lambda: sx.pending == n)
    assert sx.recv_all() == [b"%i" % i for i in range(n)]


def test_threads_receive_each_message_once(pair):
    # Two threads reading one channel: every message exactly once, each thread in order.
    a, b = pair
    pub = yoton.PubChannel(a, "shared", yoton.BINARY)
    sub = yoton.SubChannel(b, "shared", yoton.BINARY)
    n = 20000
    got = [[], []]
    taken = [0]
    lock = threading.Lock()

    def reader(out):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if taken[0] >= n:
                    return
            m = sub.recv(0.05)
            if m:
                out.append(int(m))
                with lock:
                    taken[0] += 1

    threads = [threading.Thread(target=reader, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for i in range(n):
        pub.send(b"%i" % i)
        if i % 1000 == 999:  # stay under the subscriber's queue limit (10000, old dropped)
            assert wait_until(lambda: taken[0] > i - 5000)
    for t in threads:
        t.join(40)
    assert all(out == sorted(out) for out in got)
    assert sorted(got[0] + got[1]) == list(range(n))


def test_sync_mode_slows_publisher(pair):
    a, b = pair
    pub = yoton.PubChannel(a, "sync")
    sub = yoton.SubChannel(b, "sync")
    sub.set_sync_mode(True)
    n = 20000
    took = []

    def send_all():
        t0 = time.monotonic()
        for i in range(n):
            pub.send(str(i))
        took.append(time.monotonic() - t0)

    sender = threading.Thread(target=send_all)
    sender.start()
    got = []
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        got.extend(sub.recv_all())
        time.sleep(0.02)  # a slow consumer
    sender.join(10)
    assert got == [str(i) for i in range(n)]
    # The sub asks for a pause at every read above 32 pending: the sender keeps pace with
    # the consumer's reads instead of finishing at once (about 0.05 s unthrottled).
    assert took[0] > 0.3, took
    sub.set_sync_mode(False)


def test_startup_queue_delivers_after_connect():
    a, b = yoton.Context(), yoton.Context()
    pub = yoton.PubChannel(a, "early")
    sub = yoton.SubChannel(b, "early")
    pub.send("queued before any connection")
    host = a.bind("127.0.0.1:0")
    b.connect("127.0.0.1:%i" % host.port1)
    assert sub.recv(5.0) == "queued before any connection"
    a.close()
    b.close()
