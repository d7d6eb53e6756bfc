"""The C library: loading, status codes to exceptions, callback trampolines, values.

Every call into libyoton goes through cffi, which releases the GIL for the call's duration;
callbacks from engine threads take the GIL again (cffi does that). The C API promises that no
engine lock is held while it calls us (include/yoton.h, "Threads").
"""

import os
import sys
import threading
import traceback

try:
    from ._yoton_cffi import ffi
except ImportError as e:  # the source tree, not an installed package
    raise ImportError(
        "yoton's native part is missing (%s): install the package with `pip install ./python`" % e
    ) from None

lib = ffi.dlopen(os.path.join(os.path.dirname(os.path.abspath(__file__)), "libyoton.so"))

NULL = ffi.NULL

# Longest single wait inside a blocking call: the interpreter runs signal handlers (Ctrl-C)
# between two waits, so a KeyboardInterrupt arrives within this time.
WAIT_SLICE = 0.05


class TimeoutError(TimeoutError):  # noqa: A001 - the original's name, a builtin subclass
    """A result or reply did not come in time (yoton.TimeoutError)."""


class CancelledError(Exception):
    """The request was cancelled (yoton.CancelledError)."""


class RemoteError(Exception):
    """Internal: the replier reported an error."""


_EXCEPTIONS = {
    lib.YOTON_ERR_INVALID_ARGUMENT: ValueError,
    lib.YOTON_ERR_CLOSED: IOError,
    lib.YOTON_ERR_TIMEOUT: TimeoutError,
    lib.YOTON_ERR_CANCELLED: CancelledError,
    lib.YOTON_ERR_IO: IOError,
    lib.YOTON_ERR_ADDRESS_IN_USE: IOError,
    lib.YOTON_ERR_HANDSHAKE: IOError,
    lib.YOTON_ERR_TOO_LARGE: ValueError,
    lib.YOTON_ERR_ENCODING: ValueError,
    lib.YOTON_ERR_REMOTE: RemoteError,
    lib.YOTON_ERR_INTERNAL: RuntimeError,
}


def last_error():
    return ffi.string(lib.yoton_last_error()).decode("utf-8", "replace")


def error(code):
    """The exception for a failed call (call right after it: the details are thread-local)."""
    text = last_error() or ffi.string(lib.yoton_strerror(code)).decode()
    return _EXCEPTIONS.get(code, RuntimeError)(text)


def check(code):
    if code:
        raise error(code)


def cstr(text):
    """A Python str as UTF-8 bytes for a `const char *` argument (None stays NULL)."""
    if text is None:
        return NULL
    if not isinstance(text, str):
        raise ValueError("expected a string, got %r" % (type(text).__name__,))
    return text.encode("utf-8")


def get_string(fn, *args):
    """Call fn(*args, buf, cap, &len) with the header's buffer convention and return a str."""
    n = ffi.new("size_t *")
    buf = ffi.new("char[]", 256)
    code = fn(*args, buf, 256, n)
    if code == lib.YOTON_ERR_TOO_LARGE:
        buf = ffi.new("char[]", n[0] + 1)
        code = fn(*args, buf, n[0] + 1, n)
    check(code)
    return ffi.unpack(buf, n[0]).decode("utf-8", "replace")


def out_value(fn, ctype, *args):
    """Call fn(*args, &out) and return out."""
    out = ffi.new(ctype + " *")
    check(fn(*args, out))
    return out[0]


def print_error(title):
    """Report an exception in a callback the way the original does (printed, then go on)."""
    print(title)
    print(error_msg())


def error_msg():
    """The original's getErrorMsg(): the error's text and where it was raised."""
    _type, value, tb = sys.exc_info()
    err = ""
    if not isinstance(value, (OverflowError, SyntaxError, ValueError)):
        while tb:
            err = "line %i of %s." % (tb.tb_frame.f_lineno, tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
    return str(value) + "\n" + err


# ---- user data kept alive while the engine holds it -------------------------------------

_handles = {}
_handles_lock = threading.Lock()


def new_handle(obj):
    """A void* for obj, alive until the engine calls the free trampoline with it."""
    h = ffi.new_handle(obj)
    with _handles_lock:
        _handles[int(ffi.cast("uintptr_t", h))] = h
    return h


def _forget(ud):
    with _handles_lock:
        _handles.pop(int(ffi.cast("uintptr_t", ud)), None)


# Handlers (replier methods, request handlers) running now, on any thread: exit waits a
# little for them, so that none returns into a finalising interpreter.
_inflight = [0]
_inflight_lock = threading.Lock()


class inflight:
    """Counts the handler calls in progress (a context manager)."""

    def __enter__(self):
        with _inflight_lock:
            _inflight[0] += 1

    def __exit__(self, *exc):
        with _inflight_lock:
            _inflight[0] -= 1


def handlers_running():
    return _inflight[0]


# While the interpreter shuts down, trampolines still run (the GIL is there until
# finalisation) but call no user code; atexit has released every engine object by then.
shutting_down = False


# SystemExit / KeyboardInterrupt raised by a callback cannot cross the C frames: kept here
# (per thread) and raised again when the engine call that ran the callback returns.
_escaped = threading.local()


def _run(ud, *args):
    if shutting_down:
        return
    try:
        ffi.from_handle(ud)(*args)
    except Exception:
        traceback.print_exc()
    except BaseException as e:
        if getattr(_escaped, "exc", None) is None:
            _escaped.exc = e


def reraise_escaped():
    """Raise what a callback run by the last engine call let escape (SystemExit, ...)."""
    exc = getattr(_escaped, "exc", None)
    if exc is not None:
        _escaped.exc = None
        raise exc


@ffi.callback("yoton_free_fn")
def free_trampoline(ud):
    _forget(ud)


@ffi.callback("yoton_callback")
def call_trampoline(ud):
    _run(ud)


@ffi.callback("yoton_closed_handler")
def closed_trampoline(ud, reason):
    _run(ud, ffi.string(reason).decode("utf-8", "replace"))


@ffi.callback("yoton_timedout_handler")
def timedout_trampoline(ud, timedout):
    _run(ud, bool(timedout))


@ffi.callback("yoton_future_callback")
def future_trampoline(ud, _future):
    _run(ud)


@ffi.callback("yoton_rep_handler")
def rep_trampoline(ud, args, kwargs, reply):
    _run(ud, args, kwargs, reply)


@ffi.callback("yoton_request_handler")
def request_trampoline(ud, request, reply):
    _run(ud, request, reply)


# ---- OBJECT values ----------------------------------------------------------------------


def value_from_py(obj):
    """A new yoton_value (freed with its cdata) for a Python object of the OBJECT types."""
    from .message_types import OBJECT

    data = OBJECT.message_to_bytes(obj)
    out = ffi.new("yoton_value **")
    check(lib.yoton_value_decode(data, len(data), out))
    return ffi.gc(out[0], lib.yoton_value_free)


class _EncodeBuffer(threading.local):
    """A thread's buffer for encoding values (grown when a value does not fit)."""

    def __init__(self):
        self.size = 4096
        self.buf = ffi.new("char[]", self.size)
        self.n = ffi.new("size_t *")


_encode_buffer = _EncodeBuffer()
_ENCODE_KEEP_MAX = 1 << 20


def value_to_py(value):
    """The Python object of a (borrowed) yoton_value."""
    from .message_types import OBJECT

    b = _encode_buffer
    buf, size = b.buf, b.size
    code = lib.yoton_value_encode(value, buf, size, b.n)
    if code == lib.YOTON_ERR_TOO_LARGE:
        # n holds the size needed. A bigger buffer is kept for the thread's next values up
        # to _ENCODE_KEEP_MAX; a value beyond that gets one of its own.
        size = max(b.n[0], 2 * size)
        buf = ffi.new("char[]", size)
        if size <= _ENCODE_KEEP_MAX:
            b.buf, b.size = buf, size
        code = lib.yoton_value_encode(value, buf, size, b.n)
    check(code)
    return OBJECT.message_from_bytes(ffi.buffer(buf, b.n[0])[:])


def message_bytes(msg):
    """The body of a yoton_message, as bytes."""
    data = ffi.new("const void **")
    n = ffi.new("size_t *")
    check(lib.yoton_message_data(msg, data, n))
    return ffi.buffer(data[0], n[0])[:]
