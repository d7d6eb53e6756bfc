"""Client/server helper interop (docs/protocol.md §11): our yoton_do_request and
yoton_request_server_* (called through the C ABI with ctypes) against the original's
RequestServer and do_request, both directions.

The library is found next to the peer: <build>/lib/libyoton.so (override with YOTON_LIB).
"""

import ctypes
import os
import socket
import threading
import time

import pytest

import interop_util as iu
from interop_util import yoton


def lib_path():
    if os.environ.get("YOTON_LIB"):
        return os.environ["YOTON_LIB"]
    return os.path.join(os.path.dirname(iu.peer_path()), "lib", "libyoton.so")


@pytest.fixture(scope="module")
def lib():
    path = lib_path()
    if not os.path.exists(path):
        pytest.fail("libyoton.so not found at %s (set YOTON_LIB)" % path)
    y = ctypes.CDLL(path)
    y.yoton_do_request.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double,
                                   ctypes.POINTER(ctypes.c_void_p)]
    y.yoton_string_free.argtypes = [ctypes.c_void_p]
    y.yoton_last_error.restype = ctypes.c_char_p
    y.yoton_request_server_new.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.c_void_p, ctypes.c_int,
                                           ctypes.POINTER(ctypes.c_void_p)]
    y.yoton_request_server_port.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint16)]
    y.yoton_request_server_start.argtypes = [ctypes.c_void_p]
    y.yoton_request_server_free.argtypes = [ctypes.c_void_p]
    y.yoton_request_server_stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64),
                                             ctypes.POINTER(ctypes.c_uint64)]
    y.yoton_text_reply_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return y


def our_do_request(lib, address, request, timeout=5.0):
    out = ctypes.c_void_p()
    rc = lib.yoton_do_request(address.encode(), request.encode(), timeout, ctypes.byref(out))
    if rc != 0:
        return rc, lib.yoton_last_error().decode()
    text = ctypes.cast(out, ctypes.c_char_p).value.decode()
    lib.yoton_string_free(out)
    return 0, text


def listening(port):
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    # state 0A = LISTEN
    return any(r[1].endswith(":%04X" % port) and r[3] == "0A" for r in rows)


class EchoServer(yoton.RequestServer):
    def handle_request(self, request):
        return "Python got: " + request


@pytest.fixture
def python_server():
    port = iu.free_port()
    server = EchoServer("localhost:%d" % port)
    server.start()
    # The original starts listening inside its thread: wait until the port accepts.
    assert iu.wait_until(lambda: listening(port), timeout=5)
    yield "localhost:%d" % port
    server.stop()
    server.join(timeout=5)


def test_our_do_request_to_a_python_request_server(lib, python_server):
    assert our_do_request(lib, python_server, "hello") == (0, "Python got: hello\r\n")
    # Non-ASCII text and an already CRLF-terminated request.
    assert our_do_request(lib, python_server, "héllo wörld\r\n") == (0, "Python got: héllo wörld\r\n")


HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)


@pytest.fixture
def our_server(lib):
    seen = []

    def handle(user_data, request, reply):
        text = request.decode()
        seen.append(text)
        lib.yoton_text_reply_set(reply, ("C got: " + text).encode())

    callback = HANDLER(handle)
    server = ctypes.c_void_p()
    rc = lib.yoton_request_server_new(b"localhost:0", ctypes.cast(callback, ctypes.c_void_p), None, None, 1,
                                      ctypes.byref(server))
    assert rc == 0, lib.yoton_last_error()
    port = ctypes.c_uint16()
    assert lib.yoton_request_server_port(server, ctypes.byref(port)) == 0
    assert lib.yoton_request_server_start(server) == 0
    yield "localhost:%d" % port.value, seen, server
    lib.yoton_request_server_free(server)
    del callback


def test_python_do_request_to_our_request_server(lib, our_server):
    address, seen, _ = our_server
    assert yoton.do_request(address, "hello", 5.0) == "C got: hello\r\n"
    assert yoton.do_request(address, "wait", 5.0) == "C got: wait\r\n"
    assert seen == ["hello\r\n", "wait\r\n"], "the handler gets the line with its CRLF, like the original"


def test_our_do_request_times_out_against_a_silent_server(lib):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        start = time.time()
        rc, msg = our_do_request(lib, "127.0.0.1:%d" % s.getsockname()[1], "anyone?", 0.3)
        assert rc == iu.YOTON_ERR_TIMEOUT, msg
        assert time.time() - start < 3
    finally:
        s.close()


def test_http_style_request_to_our_server_and_bad_clients(lib, our_server):
    address, seen, server = our_server
    port = int(address.split(":")[1])
    # An HTTP-style request from a plain socket gets a CRLF-terminated reply.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        c.shutdown(socket.SHUT_WR)
        reply = c.makefile("rb").read()
    assert reply == b"C got: GET / HTTP/1.1\r\n"
    # A client that never sends a line and one that floods without CRLF are dropped, while a
    # normal request is still answered.
    silent = socket.create_connection(("127.0.0.1", port), timeout=5)
    flood = socket.create_connection(("127.0.0.1", port), timeout=5)

    def do_flood():
        try:
            flood.sendall(b"x" * (4 << 20))
        except OSError:
            pass

    t = threading.Thread(target=do_flood)
    t.start()
    assert yoton.do_request(address, "still there?", 5.0) == "C got: still there?\r\n"
    dropped = ctypes.c_uint64()
    assert iu.wait_until(lambda: lib.yoton_request_server_stats(server, None, ctypes.byref(dropped)) == 0
                         and dropped.value >= 2, timeout=10)
    t.join(timeout=10)
    silent.close()
    flood.close()
