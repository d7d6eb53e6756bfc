"""yoton: the original yoton 2.2 Python API (Pyzo's IPC layer) on the libyoton engine.

Wire-compatible with the original: contexts of either implementation connect to each other.
See the README's Python section for what differs.
"""

import atexit as _atexit

from . import _ffi
from .channels import BaseChannel, PubChannel, StateChannel, SubChannel, select_sub_channel
from .clientserver import RequestServer, do_request
from .context import Connection, ConnectionCollection, Context
from .events import (
    Signal,
    Timer,
    app,
    call_later,
    embed_event_loop,
    process_events,
    start_event_loop,
    stop_event_loop,
)
from .message_types import BINARY, OBJECT, TEXT, MessageType
from .reqrep import CancelledError, Future, RepChannel, ReqChannel, TimeoutError
from .simple import FileWrapper, SimpleSocket

__version__ = "2.2"  # the API's version, as the original reports it
engine_version = _ffi.ffi.string(_ffi.lib.yoton_version()).decode()

__all__ = [
    "BINARY",
    "BaseChannel",
    "CancelledError",
    "Connection",
    "ConnectionCollection",
    "Context",
    "FileWrapper",
    "Future",
    "MessageType",
    "OBJECT",
    "PubChannel",
    "RepChannel",
    "ReqChannel",
    "RequestServer",
    "SimpleSocket",
    "Signal",
    "StateChannel",
    "SubChannel",
    "TEXT",
    "TimeoutError",
    "Timer",
    "app",
    "call_later",
    "do_request",
    "embed_event_loop",
    "process_events",
    "select_sub_channel",
    "start_event_loop",
    "stop_event_loop",
]


def _recv_async(self, timeout=None):
    """Await the next message (asyncio), without blocking the loop."""
    from ._asyncio import recv_async

    return recv_async(self, timeout)


SubChannel.recv_async = _recv_async


@_atexit.register
def _shutdown():
    """Stop every engine object that can call into Python while Python still runs, so exit
    is bounded and no engine thread calls a finalising interpreter.

    Channels close first (no new requests), then handlers still running get up to 1 s to
    return. If they did, everything is released; if one still runs (a handler that sleeps),
    the contexts are closed but not released (a release would wait for it) and the process
    ends with it."""
    import time

    from . import events

    lib, ffi = _ffi.lib, _ffi.ffi
    lib.yoton_embed_event_loop(_ffi.NULL, _ffi.NULL, _ffi.NULL)
    live = list(events._live)
    for obj in live:
        try:
            obj._stop()
        except Exception:
            pass
    deadline = time.monotonic() + 1.0
    while _ffi.handlers_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    wait_free = not _ffi.handlers_running()
    # Channels, timers, servers and connections first (they hold Python callbacks), then the
    # contexts (whose release closes connections and stops threads).
    for obj in sorted(live, key=lambda o: isinstance(o, Context)):
        try:
            if wait_free:
                obj._release()
            else:
                obj._abandon()
        except Exception:
            pass
    _ffi.shutting_down = True
