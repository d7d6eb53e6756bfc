"""Request/reply as remote procedure calls: ReqChannel, RepChannel and Future."""

import time
import weakref
from typing import Any, Callable, Generator, Optional, Tuple, Union

from . import events
from ._ffi import (
    WAIT_SLICE,
    NULL,
    CancelledError,
    RemoteError,
    TimeoutError,
    check,
    cstr,
    error,
    error_msg,
    ffi,
    free_trampoline,
    future_trampoline,
    get_string,
    inflight,
    lib,
    new_handle,
    out_value,
    rep_trampoline,
    value_from_py,
    value_to_py,
)
from .channels import BaseChannel
from .context import Context
from .message_types import OBJECT

__all__ = ["Future", "ReqChannel", "RepChannel", "TimeoutError", "CancelledError"]

_FOREVER = 1e18
_MODES = {
    0: lib.YOTON_REP_OFF,
    "off": lib.YOTON_REP_OFF,
    1: lib.YOTON_REP_EVENT,
    "event": lib.YOTON_REP_EVENT,
    "event-driven": lib.YOTON_REP_EVENT,
    2: lib.YOTON_REP_THREAD,
    "thread": lib.YOTON_REP_THREAD,
    "thread-driven": lib.YOTON_REP_THREAD,
}


class Future:
    """The future result of a request (PEP 3148-like). Future() makes a detached one that
    set_running_or_notify_cancel/set_result/set_exception complete."""

    def __init__(self, _handle: Any = None) -> None:
        if _handle is None:
            _handle = out_value(lib.yoton_future_new, "yoton_future *")
        self._f = ffi.gc(_handle, lib.yoton_future_free)
        self._exception = None  # the exception object, once known (raised as is)

    def _status(self):
        return out_value(lib.yoton_future_get_status, "int", self._f)

    def cancel(self) -> bool:
        """Cancel unless running: False while it runs, True if cancelled now or done."""
        return bool(out_value(lib.yoton_future_cancel, "bool", self._f))

    def cancelled(self) -> bool:
        return bool(out_value(lib.yoton_future_is_cancelled, "bool", self._f))

    def running(self) -> bool:
        return bool(out_value(lib.yoton_future_is_running, "bool", self._f))

    def done(self) -> bool:
        return bool(out_value(lib.yoton_future_is_done, "bool", self._f))

    def set_auto_cancel_timeout(self, timeout: Optional[float]) -> None:
        """Cancel if no replier took the request within timeout seconds of the call
        (None: never; default 10 s)."""
        if timeout is None:
            timeout = -1.0
        elif timeout <= 0:
            raise ValueError("A timeout cannot be negative")
        check(lib.yoton_future_set_auto_cancel_timeout(self._f, float(timeout)))

    def _wait(self, timeout):
        """Wait (in slices, so Ctrl-C gets through) until done or timeout; returns the
        status code of the result: 0 with the value, or the error code."""
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        out = ffi.new("yoton_value **")
        while True:
            wait = WAIT_SLICE
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            code = lib.yoton_future_result(self._f, wait, out)
            if code == 0:
                value = ffi.gc(out[0], lib.yoton_value_free)
                return 0, value_to_py(value)
            if code == lib.YOTON_ERR_REMOTE:
                # The replier's text exactly (the original raises Exception(text)).
                return code, RemoteError(get_string(lib.yoton_future_exception, self._f, 0.0))
            if code != lib.YOTON_ERR_TIMEOUT:
                return code, error(code)
            if deadline is not None and time.monotonic() >= deadline:
                return code, None

    def _raise_for(self, code, exc, what):
        if code == lib.YOTON_ERR_TIMEOUT:
            raise TimeoutError("%s unavailable within the specified time." % what)
        if code == lib.YOTON_ERR_CANCELLED:
            raise CancelledError("%s unavailable because request was cancelled." % what)
        return self._remote_exception(exc)

    def _remote_exception(self, exc):
        if self._exception is None:
            if isinstance(exc, RemoteError):
                exc = Exception(*exc.args)
            self._exception = exc
        return self._exception

    def result(self, timeout: Optional[float] = None) -> Any:
        """The call's value, waiting up to timeout seconds (None: no limit). Raises
        TimeoutError, CancelledError, or the call's exception."""
        code, value = self._wait(timeout)
        if code == 0:
            return value
        raise self._raise_for(code, value, "Result")

    def result_or_cancel(self, timeout: float = 1.0) -> Any:
        """The call's value if it comes within timeout seconds, else cancel and return None."""
        code, value = self._wait(timeout)
        if code == 0:
            return value
        self.cancel()
        return None

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """The call's exception (None if it succeeded), waiting like result()."""
        code, value = self._wait(timeout)
        if code == 0:
            return None
        return self._raise_for(code, value, "Exception")

    def add_done_callback(self, fn: Callable[["Future"], Any]) -> None:
        """Call fn(future) from the event loop once the future is done (at the next event
        processing if it is done already)."""
        if not callable(fn):
            raise ValueError("add_done_callback expects a callable.")
        c = events.CallableObject(fn)
        # The closure holds this future until the callback ran: a caller may drop it.
        check(
            lib.yoton_future_add_done_callback(
                self._f, future_trampoline, new_handle(lambda: c.call(self)), free_trampoline
            )
        )

    def set_running_or_notify_cancel(self) -> bool:
        """Executor side: False if it was cancelled, else move to running and return True."""
        out = ffi.new("bool *")
        code = lib.yoton_future_set_running_or_notify_cancel(self._f, out)
        if code:
            raise RuntimeError(
                "set_running_or_notify_cancel should be called when in a clear state."
            )
        return bool(out[0])

    def set_result(self, result: Any) -> None:
        """Executor side: complete with result (only while running, as the original)."""
        if self._status() == lib.YOTON_FUTURE_RUNNING:
            check(lib.yoton_future_set_result(self._f, value_from_py(result)))

    def set_exception(self, exception: Union[BaseException, str]) -> None:
        """Executor side: complete with an exception (or its text), only while running."""
        if isinstance(exception, str):
            exception = Exception(exception)
        if not isinstance(exception, Exception):
            raise ValueError("exception must be an Exception instance.")
        if self._status() == lib.YOTON_FUTURE_RUNNING:
            self._exception = exception
            check(lib.yoton_future_set_exception(self._f, cstr(str(exception))))

    def __await__(self) -> Generator[Any, None, Any]:
        from ._asyncio import await_future

        return await_future(self).__await__()


class ReqChannel(BaseChannel):
    """ReqChannel(context, slot_base, default_future_timeout=10.0): calling any attribute,
    req.add(3, 4), sends a request to a RepChannel on the slot and returns a Future."""

    def __init__(
        self, context: Context, slot_base: str, default_future_timeout: Optional[float] = 10.0
    ) -> None:
        self._default_future_timeout = default_future_timeout
        BaseChannel.__init__(self, context, slot_base, OBJECT)

    def _create(self, context, slot_base, type_name):
        out = ffi.new("yoton_channel **")
        check(lib.yoton_req_new(context._ctx, cstr(slot_base), out))
        self._ch = ffi.gc(out[0], lib.yoton_channel_free)
        timeout = self._default_future_timeout
        check(lib.yoton_req_set_default_timeout(self._ch, -1.0 if timeout is None else timeout))

    def __getattr__(self, name: str) -> Callable[..., Future]:
        if name.startswith("_"):
            raise AttributeError(name)

        def proxy_function(*args, **kwargs):
            return self._handle_request(name, *args, **kwargs)

        return proxy_function

    def _handle_request(self, name, *args, **kwargs):
        out = ffi.new("yoton_future **")
        kw = value_from_py(kwargs) if kwargs else NULL
        code = lib.yoton_req_call(self._ch, cstr(name), value_from_py(args), kw, out)
        if code == lib.YOTON_ERR_CLOSED:
            raise IOError("Cannot send from closed %s %i." % (type(self).__name__, id(self)))
        check(code)
        return Future(out[0])


class RepChannel(BaseChannel):
    """RepChannel(context, slot_base): subclass it and define methods; requesters call
    them. Set the mode to 'event' (handled when events are processed) or 'thread' (in the
    channel's own thread) to serve; 'off' (the default) leaves requests waiting."""

    def __init__(self, context: Context, slot_base: str) -> None:
        BaseChannel.__init__(self, context, slot_base, OBJECT)
        self._registered = set()
        self._register_methods()

    def _create(self, context, slot_base, type_name):
        out = ffi.new("yoton_channel **")
        check(lib.yoton_rep_new(context._ctx, cstr(slot_base), out))
        self._ch = ffi.gc(out[0], lib.yoton_channel_free)

    def _register_methods(self):
        """Register every method of this object with the engine (the built-in echo unless
        overridden): the original calls whatever attribute the request names."""
        ref = weakref.ref(self)
        for name in dir(self):
            if name.startswith("__") or name in self._registered:
                continue
            if name == "echo" and type(self).echo is RepChannel.echo:
                continue
            try:
                attr = getattr(self, name)
            except Exception:
                continue
            if not callable(attr):
                continue
            handler = _Handler(ref, name)
            check(
                lib.yoton_rep_register(
                    self._ch, cstr(name), rep_trampoline, new_handle(handler), free_trampoline
                )
            )
            self._registered.add(name)

    def set_mode(self, mode: Union[int, str]) -> None:
        """'off' (0), 'event' (1) or 'thread' (2)."""
        if isinstance(mode, str):
            mode = mode.lower()
        if mode not in _MODES:
            raise ValueError("Invalid mode for ReqChannel instance.")
        self._register_methods()
        check(lib.yoton_rep_set_mode(self._ch, _MODES[mode]))

    def echo(self, arg1: Any, sleep: float = 0.0) -> Tuple[Any, str]:
        """Returns (arg1, hex(context id)) after sleeping `sleep` seconds (for testing)."""
        time.sleep(sleep)
        return arg1, hex(self._context.id)


class _Handler:
    """Runs one method of a RepChannel for the engine (on its processing thread)."""

    __slots__ = ["ref", "name"]

    def __init__(self, ref, name):
        self.ref = ref
        self.name = name

    def __call__(self, args, kwargs, reply):
        channel = self.ref()
        if channel is None:
            return
        try:
            with inflight():
                func = getattr(channel, self.name)
                result = func(*value_to_py(args), **value_to_py(kwargs))
        except Exception:
            text = error_msg()
            print("yoton.RepChannel: error handling request:")
            print(text)
            check(lib.yoton_reply_set_error(reply, cstr(text)))
            return
        try:
            value = value_from_py(result)
        except Exception:
            # As the original: a reply that cannot be encoded is reported, not sent.
            print("Warning: request could not be sent:")
            print(error_msg())
            check(lib.yoton_reply_set_error(reply, cstr(error_msg())))
            return
        check(lib.yoton_reply_set_result(reply, value))
