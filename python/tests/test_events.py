import threading
import time

import pytest
import yoton
from conftest import wait_until


def test_signal_bind_emit_unbind():
    s = yoton.Signal()
    got = []

    def h(*args, **kwargs):
        got.append((args, kwargs))

    s.bind(h)
    s.bind(h)  # a second bind of the same handler is ignored (with a warning)
    s.emit(1, x=2)
    assert got == []  # emit queues: nothing runs before events are processed
    yoton.process_events()
    assert got == [((1,), {"x": 2})]
    s.emit_now("now")
    assert got[-1] == (("now",), {})
    s.unbind(h)
    s.emit(3)
    yoton.process_events()
    assert len(got) == 2
    with pytest.raises(ValueError):
        s.bind(42)


def test_signal_holds_methods_weakly():
    class Obj:
        def __init__(self):
            self.calls = 0

        def on(self):
            self.calls += 1

    s = yoton.Signal()
    o = Obj()
    s.bind(o.on)
    s.emit_now()
    assert o.calls == 1
    del o
    s.emit_now()  # the dead handler is dropped, nothing raised
    assert s._handlers == []


def test_handler_exception_is_printed(capsys):
    s = yoton.Signal()

    def bad():
        raise ValueError("handler failed")

    s.bind(bad)
    s.emit()
    yoton.process_events()
    out = capsys.readouterr().out
    assert "Exception while handling event (in bad):" in out and "handler failed" in out


def test_call_later_order_and_delay():
    got = []
    yoton.call_later(got.append, 0, "back")
    yoton.call_later(got.append, -1, "front")
    t0 = time.monotonic()
    yoton.call_later(got.append, 0.2, "late")
    yoton.process_events()
    assert got == ["front", "back"]
    assert wait_until(lambda: "late" in got)
    assert time.monotonic() - t0 >= 0.15


def test_timer_oneshot_and_repeat():
    t = yoton.Timer(0.05, oneshot=True)
    hits = []
    t.bind(lambda: hits.append(1))
    t.start()
    assert t.running
    assert wait_until(lambda: hits == [1])
    assert not t.running
    t.start(0.02, oneshot=False)
    assert wait_until(lambda: len(hits) >= 4)
    t.stop()
    assert not t.running
    with pytest.raises(ValueError):
        t.interval = 0
    assert t.interval == 0.02 and t.oneshot is False


def test_start_stop_event_loop_from_thread():
    yoton.call_later(yoton.stop_event_loop, 0.1)
    t0 = time.monotonic()
    yoton.start_event_loop()
    assert time.monotonic() - t0 < 5
    # From another thread.
    threading.Timer(0.1, yoton.stop_event_loop).start()
    yoton.start_event_loop()
    assert yoton.app.process_events is not None


def test_process_events_block_waits_for_first_event():
    threading.Timer(0.1, lambda: yoton.call_later(lambda: None)).start()
    t0 = time.monotonic()
    yoton.process_events(True)
    assert time.monotonic() - t0 < 5
    # Nothing comes: returns after the time (an event left by an earlier test may end a
    # wait early, so up to three tries).
    waited = []
    for _ in range(3):
        t0 = time.monotonic()
        yoton.process_events(0.1)
        waited.append(time.monotonic() - t0)
        if waited[-1] >= 0.09:
            break
    assert 0.09 <= waited[-1] < 2, waited


def test_embed_event_loop():
    calls = []
    yoton.embed_event_loop(lambda: calls.append(1))
    try:
        yoton.process_events()  # re-arms the embedding callback
        yoton.call_later(lambda: None)
        assert calls == [1]
        yoton.call_later(lambda: None)
        assert calls == [1]  # once per process_events
        yoton.process_events()
    finally:
        yoton.embed_event_loop(None)
