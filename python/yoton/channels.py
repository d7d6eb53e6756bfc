"""Channels: publish/subscribe and state (the original's API)."""

import collections
import time
import weakref
from typing import Any, Deque, List, Optional, Tuple, Type, Union

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

    def __init__(
        self,
        context: Context,
        slot_base: str,
        message_type: Union[MessageType, Type[MessageType], None] = None,
    ) -> None:
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

    def _stop(self):
        if self._ch:
            lib.yoton_channel_close(self._ch)

    def _release(self):
        if self._ch:
            ffi.release(self._ch)
            self._ch = ffi.NULL

    def _abandon(self):
        self._ch = events.detach(self._ch)

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
    def received(self) -> events.Signal:
        """Signal emitted (with the channel) when messages arrived; a burst of messages may
        give one emission. Needs the event loop."""
        return self._received_signal

    @property
    def pending(self) -> int:
        """The number of messages waiting to be received."""
        return out_value(lib.yoton_channel_pending, "size_t", self._ch)

    @property
    def closed(self) -> bool:
        return bool(out_value(lib.yoton_channel_is_closed, "bool", self._ch))

    @property
    def slot_outgoing(self) -> Optional[str]:
        return get_string(lib.yoton_channel_slot_outgoing, self._ch) or None

    @property
    def slot_incoming(self) -> Optional[str]:
        return get_string(lib.yoton_channel_slot_incoming, self._ch) or None

    def close(self) -> None:
        """Close the channel: sending raises IOError, queued messages can still be read."""
        check(lib.yoton_channel_close(self._ch))
        self._context._channels.discard(self)

    def _send_bytes(self, send, data):
        self._check_send(send(self._ch, data, len(data)))

    def _check_send(self, code):
        if code == lib.YOTON_ERR_CLOSED:
            raise IOError("Cannot send from closed %s %i." % (type(self).__name__, id(self)))
        check(code)


class PubChannel(BaseChannel):
    """PubChannel(context, slot_base, message_type=yoton.TEXT): the publishing side; every
    SubChannel on the same slot receives what is sent."""

    _new = lib.yoton_pub_new

    def send(self, message: Any) -> None:
        """Send a message (received as one message by every subscriber)."""
        data = self.message_to_bytes(message)
        code = _pub_send(self._ch, data, len(data))  # the hot path: one call, no helper
        if code:
            self._check_send(code)


_pub_send = lib.yoton_pub_send


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
    """Every message fn (recv_all / recv_selected) takes, as (recv_seq, body) pairs."""
    arr = ffi.new("yoton_message ***")
    count = ffi.new("size_t *")
    check(fn(ch, arr, count))
    n = count[0]
    if not n:
        return []
    data = ffi.new("const void **")
    size = ffi.new("size_t *")
    seq = ffi.new("uint64_t *")
    buffer, msg_data, recv_seq = ffi.buffer, lib.yoton_message_data, lib.yoton_message_recv_seq
    out = []
    try:
        msgs = arr[0]
        for i in range(n):
            m = msgs[i]
            msg_data(m, data, size)
            recv_seq(m, seq)
            out.append((seq[0], buffer(data[0], size[0])[:]))
        return out
    finally:
        lib.yoton_message_array_free(arr[0], n)


class SubChannel(BaseChannel):
    """SubChannel(context, slot_base, message_type=yoton.TEXT): the receiving side of
    publish/subscribe. Iterating over it yields the pending messages.

    Receiving takes every pending message from the engine in one batch and hands them out
    one by one (fewer calls into the library per message); in sync mode it takes one at a
    time, so the engine's queue length, which sync mode watches, stays the real one."""

    _new = lib.yoton_sub_new

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._local: Deque[Tuple[int, bytes]] = collections.deque()
        self._sync = False
        self._ref_seq: Optional[int] = None
        BaseChannel.__init__(self, *args, **kwargs)

    def __iter__(self):
        return self

    def __next__(self):
        m = self.recv(False)
        if m:
            return m
        raise StopIteration()

    next = __next__

    @property
    def pending(self) -> int:
        return len(self._local) + out_value(lib.yoton_channel_pending, "size_t", self._ch)

    def _fill(self):
        """Move every message pending in the engine to the local queue."""
        self._local.extend(_take_array(self._ch, lib.yoton_sub_recv_all))

    def recv(self, block: Union[bool, float, None] = True) -> Any:
        """Receive a message: block True waits until one comes, False does not wait, a number
        waits that many seconds. Nothing received (or closed): the type's empty message."""
        local = self._local
        if not local and not self._sync:
            self._fill()
        if local:
            return self.message_from_bytes(local.popleft()[1])
        msg = _recv_package(self._ch, block)
        return self.message_from_bytes(message_bytes(msg) if msg is not None else b"")

    def recv_all(self) -> List[Any]:
        """All pending messages as a list (maybe empty)."""
        self._fill()
        local, self._local = self._local, collections.deque()
        return [self.message_from_bytes(body) for _, body in local]

    def recv_selected(self) -> List[Any]:
        """After select_sub_channel() chose this channel: its messages older than any pending
        in the other channels given to it, in order."""
        local, ref, out = self._local, self._ref_seq, []
        if ref is None:
            return out
        while local and local[0][0] <= ref:
            out.append(self.message_from_bytes(local.popleft()[1]))
        return out

    def set_sync_mode(self, value: bool) -> None:
        """In sync mode, publishers are slowed down while this channel's queue is long."""
        check(lib.yoton_sub_set_sync_mode(self._ch, bool(value)))
        self._sync = bool(value)


def select_sub_channel(*args: "SubChannel") -> Optional["SubChannel"]:
    """The SubChannel holding the oldest pending message of those given (None if none has
    one); then use its recv_selected() to read in the order the messages were sent.

    Runs on the arrival numbers of the messages (the engine's recv_seq, shared by every
    channel of a context), after moving each channel's pending messages to its local queue."""
    for channel in args:
        if not isinstance(channel, SubChannel):
            raise ValueError("select_sub_channel() only accepts SUB channels.")
    first_seq = last_limit = None
    chosen = None
    for channel in args:
        channel._fill()
        local = channel._local
        if not local:
            continue
        seq1, seq2 = local[0][0], local[-1][0] + 1
        if first_seq is None or seq1 < first_seq:
            # The chosen channel may not read beyond its own last message, nor beyond the
            # first message of a channel chosen before.
            limits = [seq2] + ([first_seq] if first_seq is not None else [])
            limits += [last_limit] if last_limit is not None else []
            last_limit = min(limits)
            first_seq, chosen = seq1, channel
        else:
            last_limit = seq1 if last_limit is None else min(last_limit, seq1)
    if chosen is None:
        return None
    chosen._ref_seq = last_limit - 1  # recv_selected takes messages up to and including this
    return chosen


class StateChannel(BaseChannel):
    """StateChannel(context, slot_base, message_type=yoton.TEXT): a state shared by every
    state channel of the slot. send() sets it, recv() gets the current one (never blocks)."""

    _new = lib.yoton_state_new

    def send(self, message: Any) -> None:
        """Set the state (nothing is sent if it equals the current one)."""
        self._send_bytes(lib.yoton_state_send, self.message_to_bytes(message))

    def send_last(self) -> None:
        """Send the current state again."""
        check(lib.yoton_state_send_last(self._ch))

    def recv(self, block: Union[bool, float, None] = False) -> Any:
        """The current state (the type's empty message until one was set)."""
        out = ffi.new("yoton_message **")
        check(lib.yoton_state_recv(self._ch, out))
        msg = ffi.gc(out[0], lib.yoton_message_free)
        return self.message_from_bytes(message_bytes(msg))
