"""Fixtures for the interop tests between our C library (through the scriptable peer
tests/interop/peer.c) and the original Python yoton (pyzo==4.22.0).

Environment:
  YOTON_INTEROP_PEER           path of the built peer (default /tmp/build-interop/yoton_interop_peer)
  YOTON_INTEROP_REPLY_TIMEOUT  seconds to wait for each reply line of the peer (default 20)
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import interop_util as iu  # noqa: E402
from interop_util import yoton  # noqa: E402


@pytest.fixture(scope="session")
def peer_exe():
    path = iu.peer_path()
    if not os.access(path, os.X_OK):
        pytest.fail("C peer not found at %s: build it (target yoton_interop_peer) or set "
                    "YOTON_INTEROP_PEER" % path)
    return path


@pytest.fixture
def make_peer(peer_exe, request):
    """Factory: make_peer(label) starts a C peer subprocess; all are stopped at teardown
    (quit, then kill of that PID only)."""
    peers = []

    def make(label="peer"):
        p = iu.Peer(peer_exe, label)
        peers.append(p)
        return p

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for p in peers:
        if failed:
            sys.stderr.write("\n--- %s (pid %d) transcript ---\n%s\n--- stderr ---\n%s\n" % (
                p.label, p.pid, "\n".join(p.log[-60:]), p.stderr_text()))
        p.close()


@pytest.fixture
def peer(make_peer):
    return make_peer("peer")


@pytest.fixture
def make_ctx():
    """Factory of original-yoton contexts living in this process; closed at teardown."""
    contexts = []

    def make():
        c = yoton.Context()
        contexts.append(c)
        return c

    yield make
    for c in contexts:
        try:
            c.close()
        except Exception:
            pass
    yoton.process_events()


@pytest.fixture
def pyctx(make_ctx):
    return make_ctx()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
