"""Interpreter exit, Ctrl-C and the GIL: each case runs in a fresh interpreter."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import yoton

HERE = os.path.dirname(os.path.abspath(__file__))
EXIT_BOUND = 2.0  # seconds from "ready" to the process being gone


def spawn(code):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=HERE,  # not python/: the installed package is imported
    )


def wait_ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")


def exits_in_bound(code):
    proc = spawn(code)
    wait_ready(proc)
    t0 = time.monotonic()
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    took = time.monotonic() - t0
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Fatal" not in err, err
    assert took <= EXIT_BOUND, took
    return out, err


SETUP = """
import time, yoton
a, b = yoton.Context(), yoton.Context()
host = a.bind("127.0.0.1:0")
b.connect("127.0.0.1:%i" % host.port1)
"""


def test_exit_with_everything_open():
    exits_in_bound(
        SETUP
        + """
pub = yoton.PubChannel(a, "p"); sub = yoton.SubChannel(b, "p")
for i in range(1000):
    pub.send("x" * 100)
req = yoton.ReqChannel(a, "nobody")
f = req.nothing()                                  # in flight, no replier
f.add_done_callback(lambda fut: print("cb"))       # pending done-callback
yoton.call_later(print, 30, "never")               # pending delayed call
yoton.call_later(print, 0, "queued, never run")    # pending event
t = yoton.Timer(0.01, False); t.bind(lambda: None); t.start()
server = yoton.RequestServer("127.0.0.1:0", async_val=True); server.start()
s = yoton.StateChannel(a, "s"); s.send("state")
print("ready")
"""
    )


@pytest.mark.parametrize("mode", ["thread", "event"])
def test_exit_with_handler_in_flight(mode):
    exits_in_bound(
        SETUP
        + """
import threading, sys
class R(yoton.RepChannel):
    def slow(self):
        time.sleep(30)
        return 1
r = R(b, "x"); r.set_mode("%s")
if r"%s" == "event":
    threading.Thread(target=yoton.start_event_loop, daemon=True).start()
f = yoton.ReqChannel(a, "x").slow()
deadline = time.monotonic() + 10
while not f.running() and time.monotonic() < deadline:
    time.sleep(0.01)
assert f.running()
print("ready")
"""
        % (mode, mode)
    )


def test_exit_with_request_handler_in_flight():
    exits_in_bound(
        """
import threading, time, yoton
class Slow(yoton.RequestServer):
    def handle_request(self, request):
        started.set()
        time.sleep(30)
        return "late"
started = threading.Event()
s = Slow("127.0.0.1:0", async_val=True); s.start()
threading.Thread(target=yoton.do_request, args=("127.0.0.1:%i" % s.port, "x", 60), daemon=True).start()
assert started.wait(10)
print("ready")
"""
    )


def test_exit_after_close_and_from_a_callback():
    exits_in_bound(
        SETUP
        + """
import sys
a.close(); b.close()
def bye():
    print("ready")
    sys.exit(0)
yoton.call_later(bye)
yoton.start_event_loop()
"""
    )


BLOCKERS = {
    "recv": "yoton.SubChannel(b, 'quiet').recv(True)",
    "result": "yoton.ReqChannel(a, 'nobody', None).call().result()",
    "process_events": "yoton.process_events(True)",
    "event_loop": "yoton.start_event_loop()",
    "state_flush": "yoton.SimpleSocket().recv(True)",
}


@pytest.mark.parametrize("what", sorted(BLOCKERS))
def test_ctrl_c_interrupts_blocking_calls(what):
    proc = spawn(
        SETUP
        + """
try:
    print("ready")
    %s
    print("returned")
except KeyboardInterrupt:
    print("interrupted %%r" %% time.monotonic())
"""
        % BLOCKERS[what]
    )
    wait_ready(proc)
    time.sleep(0.2)  # let the child enter the blocking call (not a synchronisation: any delay works)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert out.startswith("interrupted"), (out, err)
    latency = float(out.split()[1]) - t0  # CLOCK_MONOTONIC is shared by the processes
    assert latency <= 0.1, latency


def test_blocking_calls_release_the_gil(pair):
    _, b = pair
    sub = yoton.SubChannel(b, "idle")
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = count[0]
        assert sub.recv(0.3) == ""
        during = count[0] - before
    finally:
        stop.set()
        t.join(5)
    # A thread starved of the GIL would count a few thousand at most (switch interval 5 ms).
    assert during > 100000, during
