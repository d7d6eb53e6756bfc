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
    """Release every engine object that can call into Python, while Python still runs:
    afterwards no engine thread calls us (exit never hangs or crashes)."""
    from . import events

    _ffi.lib.yoton_embed_event_loop(_ffi.NULL, _ffi.NULL, _ffi.NULL)
    live = list(events._live)
    # Channels, timers, servers and connections first (they hold Python callbacks), then
    # the contexts (whose release closes connections and stops threads).
    for obj in sorted(live, key=lambda o: isinstance(o, Context)):
        try:
            obj._release()
        except Exception:
            pass
    _ffi.shutting_down = True
