import threading

import pytest
import yoton
from conftest import wait_until


class Upper(yoton.RequestServer):
    def handle_request(self, request):
        if request.startswith("fail"):
            raise RuntimeError("handler failed")
        return request.strip().upper()


def test_request_server_in_thread():
    server = Upper("127.0.0.1:0")
    server.start()
    try:
        address = "127.0.0.1:%i" % server.port
        assert yoton.do_request(address, "hello", 5) == "HELLO\r\n"
        assert yoton.do_request(address, "again\r\n", 5) == "AGAIN\r\n"
    finally:
        server.stop()


def test_handler_error_is_printed_and_server_goes_on(capsys):
    server = Upper("127.0.0.1:0", async_val=True)
    server.start()
    try:
        address = "127.0.0.1:%i" % server.port
        reply = yoton.do_request(address, "fail please", 5)
        assert reply in (None, "", "\r\n")
        assert "Error handling request:" in capsys.readouterr().out
        assert yoton.do_request(address, "ok", 5) == "OK\r\n"
    finally:
        server.stop()


def test_default_handler_and_run_in_calling_thread():
    server = yoton.RequestServer("127.0.0.1:0")
    port = server.port
    replies = []

    def client():
        replies.append(yoton.do_request("127.0.0.1:%i" % port, "ping", 5))
        server.stop()

    t = threading.Thread(target=client)
    t.start()
    server.run()  # returns once the client stopped it
    t.join(5)
    assert replies == ["Requested: ping\r\n"]


def test_do_request_errors():
    with pytest.raises(RuntimeError):
        yoton.do_request("127.0.0.1:1", "x", 1)
    with pytest.raises(ValueError):
        yoton.do_request("127.0.0.1:1", 3)


def test_simple_socket():
    a, b = yoton.SimpleSocket(), yoton.SimpleSocket()
    host = a.bind("127.0.0.1:0")
    b.connect("127.0.0.1:%i" % host.port1)
    a.send("hi there")
    assert b.recv(5.0) == "hi there"
    b.send("back")
    assert a.recv(5.0) == "back"
    assert a.recv() == ""  # default: do not wait
    assert isinstance(a, yoton.Context)
    a.close()
    b.close()


def test_file_wrapper(pair):
    a, b = pair
    out = yoton.FileWrapper(yoton.PubChannel(a, "stdout"), chunksize=4)
    echo_pub = yoton.PubChannel(b, "echo")
    echo_sub = yoton.SubChannel(a, "echo")
    inp = yoton.FileWrapper(yoton.SubChannel(b, "stdout"), echo=echo_pub)
    assert out.encoding == "UTF-8" and not out.isatty() and out.newlines is None
    out.write("abcdefghij")  # split in chunks of 4
    out.writelines(["line\n"])
    out.flush()
    assert inp.readline() == "abcd\n"
    assert inp.read(5.0) == "efgh"
    assert inp.readline(1) == "i"
    assert inp.readline() == "line\n"
    assert wait_until(lambda: echo_sub.pending == 4)
    assert echo_sub.recv_all() == ["abcd", "efgh", "ij", "line\n"]
    out.close()
    assert out.closed
    with pytest.raises(ValueError):
        yoton.FileWrapper(object())
