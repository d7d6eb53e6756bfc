"""Context (a node of the network) and Connection (a link to another context)."""

import os
import weakref
from typing import List, Optional, Tuple

from . import events
from ._ffi import (
    check,
    closed_trampoline,
    cstr,
    ffi,
    free_trampoline,
    get_string,
    lib,
    new_handle,
    out_value,
    timedout_trampoline,
)

__all__ = ["Context", "Connection", "ConnectionCollection"]

TIMEOUT_MIN = 0.5
_DISCARD = {"old": lib.YOTON_DISCARD_OLD, "new": lib.YOTON_DISCARD_NEW}


# The RPC spin of new contexts (set_rpc_spin). Longer than the engine's 50 us default: a
# Python replier's answer takes the interpreter's time on top, and with 50 us the requester's
# I/O thread mostly fell asleep before it came (Python to Python round trip, same-run series:
# median 356-425 us at 50 us, 296-322 us at 150 us, for 0.15 of a core more in the requester
# during back-to-back calls).
RPC_SPIN = 150e-6


class ConnectionCollection(list):
    """A list of connections that can also be indexed by connection name."""

    def __getitem__(self, key):
        if isinstance(key, str):
            if not key:
                raise KeyError("An empty string is not a valid key.")
            for c in self:
                if c.name == key:
                    return c
            raise KeyError("No connection known by the name %s" % key)
        return list.__getitem__(self, key)


class Connection:
    """A connection between two contexts, made by Context.bind() or Context.connect()."""

    def __init__(self, context, handle):
        self._context = context
        self._h = ffi.gc(handle, lib.yoton_connection_free)
        self._closed_signal = events.Signal()
        self._timedout_signal = events.Signal()
        ref = weakref.ref(self)

        def on_closed(reason):
            conn = ref()
            if conn is not None:
                conn._closed_signal.emit_now(conn, reason)

        def on_timedout(value):
            conn = ref()
            if conn is not None:
                conn._timedout_signal.emit_now(conn, value)

        check(
            lib.yoton_connection_on_closed(
                self._h, closed_trampoline, new_handle(on_closed), free_trampoline, ffi.NULL
            )
        )
        check(
            lib.yoton_connection_on_timedout(
                self._h, timedout_trampoline, new_handle(on_timedout), free_trampoline, ffi.NULL
            )
        )
        events._track(self)

    def _stop(self):
        pass

    def _release(self):
        if self._h:
            ffi.release(self._h)
            self._h = ffi.NULL

    def _abandon(self):
        self._h = events.detach(self._h)

    def __repr__(self):
        return "<yoton.Connection %r %s:%i>" % (self.name, self.hostname1, self.port1)

    def _bool(self, fn):
        return bool(out_value(fn, "bool", self._h))

    @property
    def hostname1(self) -> str:
        return get_string(lib.yoton_connection_hostname1, self._h)

    @property
    def hostname2(self) -> str:
        return get_string(lib.yoton_connection_hostname2, self._h)

    @property
    def port1(self) -> int:
        return out_value(lib.yoton_connection_port1, "uint16_t", self._h)

    @property
    def port2(self) -> int:
        return out_value(lib.yoton_connection_port2, "uint16_t", self._h)

    @property
    def id1(self) -> int:
        return out_value(lib.yoton_connection_id1, "uint64_t", self._h)

    @property
    def id2(self) -> int:
        return out_value(lib.yoton_connection_id2, "uint64_t", self._h)

    @property
    def pid1(self) -> int:
        return os.getpid()

    @property
    def pid2(self) -> int:
        return out_value(lib.yoton_connection_pid2, "uint64_t", self._h)

    @property
    def is_alive(self) -> bool:
        return self._bool(lib.yoton_connection_is_alive)

    @property
    def is_connected(self) -> bool:
        return self._bool(lib.yoton_connection_is_connected)

    @property
    def is_waiting(self) -> bool:
        return self._bool(lib.yoton_connection_is_waiting)

    @property
    def closed(self) -> events.Signal:
        """Signal emitted with (connection, reason) when the connection closes."""
        return self._closed_signal

    @property
    def timedout(self) -> events.Signal:
        """Signal emitted with (connection, True) when the peer went silent for `timeout`
        seconds and (connection, False) when it is heard from again."""
        return self._timedout_signal

    @property
    def timeout(self) -> float:
        return out_value(lib.yoton_connection_timeout, "double", self._h)

    @timeout.setter
    def timeout(self, value: float) -> None:
        if not isinstance(value, (int, float)):
            raise ValueError("timeout must be a number.")
        if value < TIMEOUT_MIN:
            raise ValueError("timeout must be at least %1.2f." % TIMEOUT_MIN)
        check(lib.yoton_connection_set_timeout(self._h, float(value)))

    @property
    def name(self) -> str:
        return get_string(lib.yoton_connection_name, self._h)

    @name.setter
    def name(self, value: str) -> None:
        if not isinstance(value, str):
            raise ValueError("name must be a string.")
        check(lib.yoton_connection_set_name(self._h, cstr(value)))

    def flush(self, timeout: float = 3.0) -> None:
        """Wait until everything queued is sent; RuntimeError on timeout."""
        code = lib.yoton_connection_flush(self._h, float(timeout))
        if code == lib.YOTON_ERR_TIMEOUT:
            raise RuntimeError("Sending the packages timed out.")
        if code != lib.YOTON_ERR_CLOSED:  # the original returns quietly when not connected
            check(code)

    def close(self, reason: Optional[str] = None) -> None:
        check(lib.yoton_connection_close(self._h, cstr(reason)))

    def close_on_problem(self, reason: Optional[str] = None) -> None:
        check(lib.yoton_connection_close_on_problem(self._h, cstr(reason)))


class Context:
    """Context(verbose=0, queue_params=None): a node of a yoton network, to which channels
    are attached and which binds to or connects with other contexts.

    queue_params is (max_packages, 'old' | 'new'): the queue size and what a full queue
    discards."""

    def __init__(self, verbose: int = 0, queue_params: Optional[Tuple[int, str]] = None) -> None:
        self._verbose = verbose
        self._connections = []
        self._channels = set()  # open channels (closed ones are dropped)
        out = ffi.new("yoton_context **")
        check(lib.yoton_context_new(out))
        self._ctx = ffi.gc(out[0], lib.yoton_context_free)
        if queue_params is not None:
            if not (isinstance(queue_params, tuple) and len(queue_params) == 2):
                raise ValueError("queue_params should be a 2-element tuple.")
            size, discard = queue_params
            if discard not in _DISCARD:
                raise ValueError("Invalid discard mode.")
            check(lib.yoton_context_set_queue_params(self._ctx, int(size), 0, _DISCARD[discard]))
        self._queue_params = queue_params or (10000, "old")
        self.set_rpc_spin(RPC_SPIN)
        self._id = out_value(lib.yoton_context_id, "uint64_t", self._ctx)
        events._track(self)

    def _stop(self):
        pass

    def _abandon(self):
        """At exit with a handler still running: close, but do not release (that waits)."""
        if self._ctx:
            lib.yoton_context_close(self._ctx)
        for c in self._connections:
            c._abandon()
        self._ctx = events.detach(self._ctx)

    def _release(self):
        """Free the engine context (closes everything): at exit or when collected."""
        for c in self._connections:
            c._release()
        self._connections = []
        self._channels.clear()
        if self._ctx:
            ffi.release(self._ctx)
            self._ctx = ffi.NULL

    def set_rpc_spin(self, seconds: float) -> None:
        """(Not in the original.) How long the engine's I/O thread keeps polling for an
        answer after one of this context's requesters sent a request step, in seconds (0: not
        at all; at most 0.01). Lower RPC latency for some CPU, only around requests."""
        check(lib.yoton_context_set_rpc_spin(self._ctx, float(seconds)))

    @property
    def rpc_spin(self) -> float:
        """The RPC spin in seconds (see set_rpc_spin)."""
        return out_value(lib.yoton_context_rpc_spin, "double", self._ctx)

    @property
    def id(self) -> int:
        """The 8-byte id of this context."""
        return self._id

    @property
    def connections_all(self) -> List[Connection]:
        """The connections of this context that are alive, also those waiting for a peer."""
        return [c for c in self._connections if c.is_alive]

    @property
    def connections(self) -> ConnectionCollection:
        """The connected connections, indexable by name too (closed ones are dropped)."""
        alive = [c for c in self._connections if c.is_alive]
        self._connections = alive
        return ConnectionCollection(c for c in alive if c.is_connected)

    @property
    def connection_count(self) -> int:
        return len(self.connections)

    def bind(self, address: str, max_tries: int = 1, name: str = "") -> Connection:
        """Host a connection at address ('host:port'); returns a waiting Connection."""
        if not isinstance(address, str):
            raise ValueError("Address should be a string.")
        self.connections  # noqa: B018 - drops closed connections, as the original
        out = ffi.new("yoton_connection **")
        check(lib.yoton_context_bind(self._ctx, cstr(address), int(max_tries), cstr(name), out))
        conn = Connection(self, out[0])
        self._connections.append(conn)
        return conn

    def connect(self, address: str, timeout: float = 1.0, name: str = "") -> Connection:
        """Connect to a context hosting at address; IOError if that fails."""
        if not isinstance(address, str):
            raise ValueError("Address should be a string.")
        self.connections  # noqa: B018
        out = ffi.new("yoton_connection **")
        code = lib.yoton_context_connect(
            self._ctx, cstr(address), float(timeout), cstr(name), out
        )
        check(code)
        conn = Connection(self, out[0])
        self._connections.append(conn)
        return conn

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until all pending messages are sent; RuntimeError on timeout."""
        code = lib.yoton_context_flush(self._ctx, float(timeout))
        if code == lib.YOTON_ERR_TIMEOUT:
            raise RuntimeError("Sending the packages timed out.")
        check(code)
        return True

    def close(self) -> None:
        """Close every connection and channel (the context can bind and connect again)."""
        check(lib.yoton_context_close(self._ctx))
        self._channels.clear()

    def close_channels(self) -> None:
        """Close every channel of this context, keep the connections."""
        check(lib.yoton_context_close_channels(self._ctx))
        self._channels.clear()
