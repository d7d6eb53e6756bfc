"""Shared helpers of the Python package's tests.

The package under test is the installed `yoton` (pip install ./python). The original yoton
(pyzo==4.22.0) is also called `yoton`, so it only ever runs in a subprocess (orig_peer.py).
"""

import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
# Never import the source tree's yoton/ (it has no native library): drop python/ from the path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(HERE)]

import yoton  # noqa: E402

assert hasattr(yoton, "engine_version"), "the original yoton was imported, not this package"


def wait_until(pred, timeout=5.0):
    """Process yoton events until pred() is true or timeout passes; returns pred()."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        yoton.process_events(0.02)


@pytest.fixture
def pair():
    """Two connected contexts (a hosts, b connects) on loopback."""
    a = yoton.Context()
    b = yoton.Context()
    host = a.bind("127.0.0.1:0")
    b.connect("127.0.0.1:%i" % host.port1)
    assert wait_until(lambda: a.connection_count == 1)
    yield a, b
    a.close()
    b.close()
