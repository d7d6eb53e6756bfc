"""The event system (the original's API) on libyoton's event queue.

Signals, timers, call_later and the engine's own events (received messages, closed
connections, done futures, replies in event mode) share one queue: process_events() runs
them all, on the calling thread.
"""

import threading
import time
import weakref
from typing import Any, Callable, Optional, Union

from ._ffi import (
    WAIT_SLICE,
    call_trampoline,
    check,
    ffi,
    free_trampoline,
    lib,
    new_handle,
    reraise_escaped,
)

__all__ = [
    "Signal",
    "Timer",
    "call_later",
    "process_events",
    "start_event_loop",
    "stop_event_loop",
    "embed_event_loop",
    "app",
]


class CallableObject:
    """A handler: a plain function is held, a bound method weakly (by object and name), so a
    signal does not keep its handlers' objects alive."""

    __slots__ = ["_func", "_ob"]

    def __init__(self, c):
        if not callable(c):
            raise ValueError("Error: given callback is not callable.")
        if hasattr(c, "__self__") and hasattr(c, "__func__"):
            self._ob = weakref.ref(c.__self__)
            self._func = c.__func__.__name__
        else:
            self._ob = None
            self._func = c

    def isdead(self):
        return self._ob is not None and self._ob() is None

    def compare(self, other):
        if self._ob is not None and other._ob is not None:
            return self._ob() is other._ob() and self._func == other._func
        if self._ob is None and other._ob is None:
            return self._func == other._func
        return False

    def call(self, *args, **kwargs):
        """Call it; an exception is printed (as the original does) and swallowed."""
        if self._ob is not None:
            ob = self._ob()
            if ob is None:
                return None
            try:
                func = getattr(ob, self._func)
            except Exception:
                return None
        else:
            func = self._func
        try:
            return func(*args, **kwargs)
        except Exception:
            from ._ffi import error_msg

            name = getattr(self._func, "__name__", self._func)
            print("Exception while handling event (in %s):" % (name,))
            print(error_msg())
            return None


def _post(fn, delay=0.0):
    """Queue fn() on the engine's event queue (delay seconds from now; < 0: at the front)."""
    check(lib.yoton_call_later(float(delay), call_trampoline, new_handle(fn), free_trampoline))


class Signal:
    """Bind callables to it; emit() queues one event per handler (process events to run them),
    emit_now() calls them at once."""

    def __init__(self):
        self._handlers = []

    @property
    def type(self):
        return self.__class__

    def bind(self, func: Callable[..., Any]) -> None:
        cnew = CallableObject(func)
        for c in self._handlers:
            if cnew.compare(c):
                print("Warning: handler %s already present for %s" % (func, self))
                return
        self._handlers.append(cnew)

    def unbind(self, func: Optional[Callable[..., Any]] = None) -> None:
        """Remove a handler (and dead ones); all of them if func is None."""
        if func is None:
            self._handlers[:] = []
            return
        cref = CallableObject(func)
        self._handlers[:] = [c for c in self._handlers if not (c.compare(cref) or c.isdead())]

    def _live_handlers(self):
        self._handlers[:] = [c for c in self._handlers if not c.isdead()]
        return list(self._handlers)

    def emit(self, *args: Any, **kwargs: Any) -> None:
        for c in self._live_handlers():
            _post(lambda c=c: c.call(*args, **kwargs))

    def emit_now(self, *args: Any, **kwargs: Any) -> None:
        for c in self._live_handlers():
            c.call(*args, **kwargs)


# Timers that run are kept alive as in the original (whose timer thread holds them).
_running_timers = set()
_timers_lock = threading.Lock()


class Timer(Signal):
    """Timer(interval=1.0, oneshot=True): a signal emitted when the interval has passed."""

    def __init__(self, interval: float = 1.0, oneshot: bool = True) -> None:
        Signal.__init__(self)
        self._timer = ffi.NULL
        self.interval = interval
        self.oneshot = oneshot
        out = ffi.new("yoton_timer **")
        check(lib.yoton_timer_new(self._interval, self._oneshot, out))
        self._timer = ffi.gc(out[0], lib.yoton_timer_free)
        ref = weakref.ref(self)
        check(
            lib.yoton_timer_bind(
                self._timer,
                call_trampoline,
                new_handle(lambda: _timer_fired(ref)),
                free_trampoline,
                ffi.NULL,
            )
        )
        _track(self)

    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, value):
        if not isinstance(value, (int, float)):
            raise ValueError("interval must be a float or integer.")
        if value <= 0:
            raise ValueError("interval must be larger than 0.")
        self._interval = float(value)

    @property
    def oneshot(self) -> bool:
        return self._oneshot

    @oneshot.setter
    def oneshot(self, value):
        self._oneshot = bool(value)

    @property
    def running(self) -> bool:
        out = ffi.new("bool *")
        check(lib.yoton_timer_is_running(self._timer, out))
        return bool(out[0])

    def start(self, interval: Optional[float] = None, oneshot: Optional[bool] = None) -> None:
        if interval is not None:
            self.interval = interval
        if oneshot is not None:
            self.oneshot = oneshot
        with _timers_lock:
            _running_timers.add(self)
        check(lib.yoton_timer_start(self._timer, self._interval, int(self._oneshot)))

    def stop(self) -> None:
        check(lib.yoton_timer_stop(self._timer))
        with _timers_lock:
            _running_timers.discard(self)

    def _stop(self):
        if self._timer:
            lib.yoton_timer_stop(self._timer)

    def _release(self):
        if self._timer:
            ffi.release(self._timer)
            self._timer = ffi.NULL

    def _abandon(self):
        self._timer = detach(self._timer)


def _timer_fired(ref):
    timer = ref()
    if timer is None:
        return
    if timer._oneshot:
        with _timers_lock:
            _running_timers.discard(timer)
    timer.emit_now()


def detach(cdata):
    """Drop the destructor of a handle that must not be released (exit with a handler still
    running: the release would wait for it); returns NULL for the attribute."""
    if cdata:
        ffi.gc(cdata, None)
    return ffi.NULL


# Every live object holding engine resources with Python callbacks: released at exit.
_live = weakref.WeakSet()


def _track(obj):
    _live.add(obj)


def call_later(func: Callable[..., Any], timeout: float = 0.0, *args: Any, **kwargs: Any) -> None:
    """Call func(*args, **kwargs) from the event loop after timeout seconds (0: queued at the
    back; negative: at the front)."""
    c = CallableObject(func)
    _post(lambda: c.call(*args, **kwargs), timeout)


def _process(block):
    n = ffi.new("size_t *")
    code = lib.yoton_process_events(block, n)
    reraise_escaped()
    check(code)
    return n[0]


def process_events(block: Union[bool, float, None] = False) -> None:
    """Run every queued event. block: False (do not wait), True (wait for a first event) or
    seconds to wait for a first event. Waits are cut in short slices so Ctrl-C gets through."""
    if block is False or block is None or block == 0:
        _process(0.0)
        return
    deadline = None if block is True else time.monotonic() + float(block)
    while True:
        wait = WAIT_SLICE
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                _process(0.0)
                return
        if _process(wait):
            return


_loop_state = {"running": False, "stop": False}


def start_event_loop() -> None:
    """Process events until stop_event_loop() is called (a nested call returns at once)."""
    if _loop_state["running"]:
        return
    _loop_state["stop"] = False
    _loop_state["running"] = True
    try:
        while not _loop_state["stop"]:
            _process(WAIT_SLICE)
    finally:
        _loop_state["running"] = False


def stop_event_loop() -> None:
    """Make start_event_loop() return (safe from any thread and from handlers)."""
    if not _loop_state["stop"]:
        _loop_state["stop"] = True
        _post(lambda: None)


def embed_event_loop(callback: Optional[Callable[[], Any]]) -> None:
    """Embed yoton's event loop in another one: callback() is called (from any thread) for
    the first event queued after each process_events(); it should make the host loop call
    yoton.process_events(). None disables embedding."""
    if callback is None:
        check(lib.yoton_embed_event_loop(ffi.NULL, ffi.NULL, ffi.NULL))
        return
    c = CallableObject(callback)
    check(lib.yoton_embed_event_loop(call_trampoline, new_handle(c.call), free_trampoline))


class YotonApplication:
    """yoton.app: the event functions as methods (as in the original)."""

    def call_later(self, func, timeout=0.0, *args, **kwargs):
        call_later(func, timeout, *args, **kwargs)

    def process_events(self, block=False):
        process_events(block)

    def start_event_loop(self):
        start_event_loop()

    def stop_event_loop(self):
        stop_event_loop()

    def embed_event_loop(self, callback):
        embed_event_loop(callback)


app = YotonApplication()
