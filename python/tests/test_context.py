import os

import pytest
import yoton
from conftest import wait_until


def test_bind_connect_properties():
    a, b = yoton.Context(), yoton.Context()
    host = a.bind("127.0.0.1:0", name="hostside")
    assert host.is_waiting and host.is_alive and not host.is_connected
    assert a.connection_count == 0 and a.connections_all == [host]
    conn = b.connect("127.0.0.1:%i" % host.port1, name="client")
    assert wait_until(lambda: host.is_connected)
    assert conn.is_connected and conn.id1 == b.id and conn.id2 == a.id
    assert host.id2 == b.id and conn.pid1 == os.getpid() and conn.pid2 == os.getpid()
    assert conn.port2 == host.port1 and conn.hostname2 == "127.0.0.1"
    assert a.connections["hostside"] is host
    assert b.connections[0] is conn
    with pytest.raises(KeyError):
        a.connections["nope"]
    conn.name = "renamed"
    assert conn.name == "renamed"
    assert conn.timeout == 0.5
    conn.timeout = 2
    assert conn.timeout == 2
    with pytest.raises(ValueError):
        conn.timeout = 0.1
    assert a.flush() is True
    conn.flush()
    a.close()
    b.close()


def test_closed_signal_and_reason():
    a, b = yoton.Context(), yoton.Context()
    host = a.bind("127.0.0.1:0")
    conn = b.connect("127.0.0.1:%i" % host.port1)
    got = []
    host.closed.bind(lambda c, reason: got.append((c, reason)))
    conn.close("bye")
    assert wait_until(lambda: got)
    assert got[0][0] is host and got[0][1] == "Closed from other end."
    assert not host.is_alive and a.connection_count == 0
    a.close()
    b.close()


def test_connect_failure_and_bad_address():
    c = yoton.Context()
    with pytest.raises(IOError):
        c.connect("127.0.0.1:1", timeout=0.2)
    with pytest.raises(ValueError):
        c.bind("no port here")
    with pytest.raises(ValueError):
        c.bind(1234)
    c.close()


def test_close_channels_keeps_connections(pair):
    a, _ = pair
    pub = yoton.PubChannel(a, "x")
    a.close_channels()
    assert pub.closed and a.connection_count == 1
    a.close()
    assert a.connection_count == 0
    # A closed context can bind again.
    again = a.bind("127.0.0.1:0")
    assert again.is_waiting


def test_queue_params():
    c = yoton.Context(queue_params=(3, "new"))
    with pytest.raises(ValueError):
        yoton.Context(queue_params=(3, "sideways"))
    with pytest.raises(ValueError):
        yoton.Context(queue_params=5)
    d = yoton.Context()
    host = c.bind("127.0.0.1:0")
    d.connect("127.0.0.1:%i" % host.port1)
    pub = yoton.PubChannel(d, "q")
    sub = yoton.SubChannel(c, "q")
    for i in range(10):
        pub.send(str(i))
    d.flush()
    assert wait_until(lambda: sub.pending == 3)
    assert sub.recv_all() == ["0", "1", "2"]  # 'new': the newest are discarded
    c.close()
    d.close()


def test_rpc_spin_default_and_setting():
    c = yoton.Context()
    assert c.rpc_spin == pytest.approx(150e-6)
    c.set_rpc_spin(0)
    assert c.rpc_spin == 0
    c.set_rpc_spin(0.001)
    assert c.rpc_spin == pytest.approx(0.001)
    for bad in (-1, 0.5, float("nan")):
        with pytest.raises(ValueError):
            c.set_rpc_spin(bad)
    assert c.rpc_spin == pytest.approx(0.001)
    c.close()
