"""Channels: publish/subscribe and state (the original's API)."""

import time
import weakref

from . import events
from ._ffi import (
    WAIT_SLICE,
    call_trampoline,
    check,
    cstr,
    ffi,
    free_trampoline,
    get_string,
    lib,
    message_bytes,
    new_handle,
    out_value,
)
from .context import Context
from .message_types import TEXT, MessageType

__all__ = ["BaseChannel", "PubChannel", "SubChannel", "StateChannel", "select_sub_channel"]


class _ReceivedSignal(events.Signal):
    """The `received` signal: the engine's notification is subscribed on the first bind."""

    def __init__(self, channel):
        events.Signal.__init__(self)
        self._channel = weakref.ref(channel)
        self._subscribed = False

    def bind(self, func):
        events.Signal.bind(self, func)
        channel = self._channel()
        if not self._subscribed and channel is not None:
            self._subscribed = True
            channel._subscribe_received()


class BaseChannel:
    """Abstract base of the channels: a slot (slot_base + message type + pattern) on a
    context. message_type is a MessageType instance or subclass (default yoton.TEXT)."""

    _new = None  # the engine's constructor of this channel kind

    def __init__(self, context, slot_base, message_type=None):
        if not isinstance(context, Context):
            raise ValueError("Context not valid.")
        if not isinstance(slot_base, str):
            raise ValueError("slot_base must be a string.")
        if message_type is None:
            message_type = TEXT
        if isinstance(message_type, type) and issubclass(message_type, MessageType):
            message_type = message_type()
        if not isinstance(message_type, MessageType):
            raise ValueError("message_type should be a MessageType instance.")
        self._context = context
        self._message_type_instance = message_type
        self.message_from_bytes = message_type.message_from_bytes
        self.message_to_bytes = message_type.message_to_bytes
        self._ch = ffi.NULL
        self._received_signal = _ReceivedSignal(self)
        self._create(context, slot_base, message_type.message_type_name())
        # As in the original, the context holds its channels until they are closed.
        context._channels.add(self)
        events._track(self)

    def _create(self, context, slot_base, type_name):
        out = ffi.new("yoton_channel **")
        check(type(self)._new(context._ctx, cstr(slot_base), cstr(type_name), out))
        self._ch = ffi.gc(out[0], lib.yoton_channel_free)

    def _release(self):
        if self._ch:
            ffi.release(self._ch)
            self._ch = ffi.NULL

    def _subscribe_received(self):
        ref = weakref.ref(self)

        def on_received():
            channel = ref()
            if channel is not None:
                channel._emit_received()

        check(
            lib.yoton_channel_on_received(
                self._ch, call_trampoline, new_handle(on_received), free_trampoline, ffi.NULL
            )
        )

    def _emit_received(self):
        self._received_signal.emit_now(self)

    @property
    def received(self):
        """Signal emitted (with the channel) when messages arrived; a burst of messages may
        give one emission. Needs the event loop."""
        return self._received_signal

    @property
    def pending(self):
        """The number of messages waiting to be received."""
        return out_value(lib.yoton_channel_pending, "size_t", self._ch)

    @property
    def closed(self):
        return bool(out_value(lib.yoton_channel_closed, "bool", self._ch))

    @property
    def slot_outgoing(self):
        return get_string(lib.yoton_channel_slot_outgoing, self._ch) or None

    @property
    def slot_incoming(self):
        return get_string(lib.yoton_channel_slot_incoming, self._ch) or None

    def close(self):
        """Close the channel: sending raises IOError, queued messages can still be read."""
        check(lib.yoton_channel_close(self._ch))
        self._context._channels.discard(self)

    def _send_bytes(self, send, data):
        code = send(self._ch, data, len(data))
        if code == lib.YOTON_ERR_CLOSED:
            raise IOError("Cannot send from closed %s %i." % (type(self).__name__, id(self)))
        check(code)


class PubChannel(BaseChannel):
    """PubChannel(context, slot_base, message_type=yoton.TEXT): the publishing side; every
    SubChannel on the same slot receives what is sent."""

    _new = lib.yoton_pub_new

    def send(self, message):
        """Send a message (received as one message by every subscriber)."""
        self._send_bytes(lib.yoton_pub_send, self.message_to_bytes(message))


def _recv_package(ch, block):
    """A yoton_message (owned cdata) or None. block: True (until a message or close), a
    number of seconds, or False/None (no wait); waits come in slices so Ctrl-C works."""
    out = ffi.new("yoton_message **")
    if not block:
        deadline = 0.0
    elif block is True:
        deadline = None
    else:
        deadline = time.monotonic() + float(block)
    while True:
        wait = WAIT_SLICE
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - time.monotonic()))
        code = lib.yoton_sub_recv(ch, wait, out)
        if code == 0:
            return ffi.gc(out[0], lib.yoton_message_free)
        if code == lib.YOTON_ERR_CLOSED:
            return None
        if code != lib.YOTON_ERR_TIMEOUT:
            check(code)
        if deadline is not None and time.monotonic() >= deadline:
            return None


def _take_array(ch, fn):
    arr = ffi.new("yoton_message ***")
    count = ffi.new("size_t *")
    check(fn(ch, arr, count))
    n = count[0]
    if not n:
        return []
    try:
        return [message_bytes(arr[0][i]) for i in range(n)]
    finally:
        lib.yoton_message_array_free(arr[0], n)


class SubChannel(BaseChannel):
    """SubChannel(context, slot_base, message_type=yoton.TEXT): the receiving side of
    publish/subscribe. Iterating over it yields the pending messages."""

    _new = lib.yoton_sub_new

    def __iter__(self):
        return self

    def __next__(self):
        m = self.recv(False)
        if m:
            return m
        raise StopIteration()

    next = __next__

    def recv(self, block=True):
        """Receive a message: block True waits until one comes, False does not wait, a number
        waits that many seconds. Nothing received (or closed): the type's empty message."""
        msg = _recv_package(self._ch, block)
        return self.message_from_bytes(message_bytes(msg) if msg is not None else b"")

    def recv_all(self):
        """All pending messages as a list (maybe empty)."""
        return [self.message_from_bytes(b) for b in _take_array(self._ch, lib.yoton_sub_recv_all)]

    def recv_selected(self):
        """After select_sub_channel() chose this channel: its messages older than any pending
        in the other channels given to it."""
        return [
            self.message_from_bytes(b)
            for b in _take_array(self._ch, lib.yoton_sub_recv_selected)
        ]

    def set_sync_mode(self, value):
        """In sync mode, publishers are slowed down while this channel's queue is long."""
        check(lib.yoton_sub_set_sync_mode(self._ch, bool(value)))

    def _get_pending_sequence_numbers(self):
        raise NotImplementedError("the engine keeps the sequence numbers")


def select_sub_channel(*args):
    """The SubChannel holding the oldest pending message of those given (None if none has
    one); then use its recv_selected() to read in the order the messages were sent."""
    for channel in args:
        if not isinstance(channel, SubChannel):
            raise ValueError("select_sub_channel() only accepts SUB channels.")
    if not args:
        return None
    arr = ffi.new("yoton_channel *[]", [c._ch for c in args])
    index = ffi.new("size_t *")
    code = lib.yoton_sub_select(arr, len(args), index)
    if code == lib.YOTON_ERR_TIMEOUT:
        return None
    check(code)
    return args[index[0]]


class StateChannel(BaseChannel):
    """StateChannel(context, slot_base, message_type=yoton.TEXT): a state shared by every
    state channel of the slot. send() sets it, recv() gets the current one (never blocks)."""

    _new = lib.yoton_state_new

    def send(self, message):
        """Set the state (nothing is sent if it equals the current one)."""
        self._send_bytes(lib.yoton_state_send, self.message_to_bytes(message))

    def send_last(self):
        """Send the current state again."""
        check(lib.yoton_state_send_last(self._ch))

    def recv(self, block=False):
        """The current state (the type's empty message until one was set)."""
        out = ffi.new("yoton_message **")
        check(lib.yoton_state_recv(self._ch, out))
        msg = ffi.gc(out[0], lib.yoton_message_free)
        return self.message_from_bytes(message_bytes(msg))
