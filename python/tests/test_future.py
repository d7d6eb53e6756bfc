import pytest
import yoton
from conftest import wait_until


def test_detached_future_lifecycle():
    f = yoton.Future()
    assert not f.done() and not f.running() and not f.cancelled()
    with pytest.raises(yoton.TimeoutError):
        f.result(0.05)
    f.set_result(1)  # ignored: not running, as the original
    assert not f.done()
    assert f.set_running_or_notify_cancel() is True
    assert f.running()
    f.set_result({"x": [1, 2]})
    assert f.done() and f.result() == {"x": [1, 2]}
    assert f.exception() is None
    with pytest.raises(RuntimeError):
        f.set_running_or_notify_cancel()


def test_exception_object_is_raised_as_is():
    f = yoton.Future()
    f.set_running_or_notify_cancel()
    err = KeyError("k")
    f.set_exception(err)
    with pytest.raises(KeyError) as info:
        f.result(1)
    assert info.value is err
    assert f.exception(1) is err
    g = yoton.Future()
    g.set_running_or_notify_cancel()
    g.set_exception("text")
    with pytest.raises(Exception, match="text"):
        g.result(1)
    with pytest.raises(ValueError):
        g.set_exception(3)


def test_cancel_and_callbacks():
    f = yoton.Future()
    got = []
    f.add_done_callback(got.append)
    assert f.cancel() is True
    assert f.cancelled()
    assert f.set_running_or_notify_cancel() is False
    with pytest.raises(yoton.CancelledError):
        f.result(1)
    with pytest.raises(yoton.CancelledError):
        f.exception(1)
    assert f.result_or_cancel(0.1) is None
    assert wait_until(lambda: got == [f])


def test_callback_exception_is_printed(capsys):
    f = yoton.Future()

    def bad(_):
        raise ZeroDivisionError("cb failed")

    f.add_done_callback(bad)
    f.set_running_or_notify_cancel()
    f.set_result(None)
    out = []
    assert wait_until(lambda: out.append(capsys.readouterr().out) or "cb failed" in "".join(out))
    assert "Exception while handling event (in bad):" in "".join(out)
