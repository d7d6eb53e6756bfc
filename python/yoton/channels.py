"""Channels: publish/subscribe and state (the original's API)."""

import collections
import threading
import time
import weakref
from itertools import accumulate
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
from .message_types import TEXT, BinaryMessageType, MessageType, TextMessageType

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        BaseChannel.__init__(self, *args, **kwargs)
        # BINARY sends bytes as they are: send() skips message_to_bytes for them.
        self._bytes_as_is = type(self._message_type_instance) is BinaryMessageType

    def send(self, message: Any) -> None:
        """Send a message (received as one message by every subscriber)."""
        # The hot path: one call into the library, no helper.
        if type(message) is not bytes or not self._bytes_as_is:
            message = self.message_to_bytes(message)
        code = _pub_send(self._ch, message, len(message))
        if code:
            self._check_send(code)


_pub_send = lib.yoton_pub_send


# Receiving: one C call (yoton_sub_recv_batch) takes a batch of messages, their bodies
# concatenated in one buffer; Python slices them apart without a call per message.
_BATCH_BYTES = 256 * 1024
_BATCH_COUNT = 2048
_recv_batch = lib.yoton_sub_recv_batch
_ERR_TIMEOUT = lib.YOTON_ERR_TIMEOUT
_ERR_CLOSED = lib.YOTON_ERR_CLOSED
_ERR_TOO_LARGE = lib.YOTON_ERR_TOO_LARGE


class _Buffers(threading.local):
    """The batch buffers of a thread (threads may receive on one channel at once)."""

    def __init__(self):
        self.buf = ffi.new("char[]", _BATCH_BYTES)
        self.lens = ffi.new("size_t[]", _BATCH_COUNT)
        self.seqs = ffi.new("uint64_t[]", _BATCH_COUNT)
        self.out = ffi.new("size_t[2]")  # count, used


_buffers = _Buffers()


def _take_batch(ch, max_count):
    """Take the messages pending in the engine now (no wait): (bodies, seqs) lists, or None
    if none (or closed). A message bigger than the thread's buffer is taken alone, in a
    buffer of its size."""
    b = _buffers
    buf, cap, lens, seqs, out = b.buf, _BATCH_BYTES, b.lens, b.seqs, b.out
    count, used = out, out + 1
    while True:
        code = _recv_batch(ch, 0.0, buf, cap, lens, seqs, max_count, count, used)
        if not code:
            break
        if code == _ERR_TOO_LARGE:
            cap = used[0]
            buf, max_count = ffi.new("char[]", cap), 1
            continue
        if code not in (_ERR_CLOSED, _ERR_TIMEOUT):
            check(code)
        return None
    n = count[0]
    if n == 1:
        return [ffi.unpack(buf, used[0])], [seqs[0]]
    data, sizes = ffi.buffer(buf, used[0]), ffi.unpack(lens, n)
    return [data[e - s : e] for e, s in zip(accumulate(sizes), sizes)], ffi.unpack(seqs, n)


class SubChannel(BaseChannel):
    """SubChannel(context, slot_base, message_type=yoton.TEXT): the receiving side of
    publish/subscribe. Iterating over it yields the pending messages.

    Receiving takes every pending message from the engine in one batch (one call into the
    library, see _take_batch) and hands them out one by one; in sync mode it takes one at a
    time, so the engine's queue length, which sync mode watches, stays the real one."""

    _new = lib.yoton_sub_new

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Taken from the engine, not yet received: the messages (converted already for TEXT
        # and BINARY, whose conversion cannot fail), and their arrival numbers. recv() pops
        # only the message: _local holds the last len(_local) entries of _seqs (see _trim).
        self._local: Deque[Any] = collections.deque()
        self._seqs: Deque[int] = collections.deque()
        self._sync = False
        self._ref_seq: Optional[int] = None
        self._fill_lock = threading.Lock()
        BaseChannel.__init__(self, *args, **kwargs)
        # For waiting without taking (see _fill).
        self._select_one = ffi.new("yoton_channel *[1]", [self._ch])
        self._select_index = ffi.new("size_t *")
        mt = type(self._message_type_instance)
        self._converted = mt is BinaryMessageType or mt is TextMessageType
        self._text = mt is TextMessageType

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

    def _fill(self, block, max_count):
        """Move up to max_count messages from the engine to the local queue, waiting for the
        first as block says (True: until one comes or the channel closes, False/None: not at
        all, a number: that many seconds). How many came (or, if another thread's came
        meanwhile, how many the local queue holds).

        Threads reading one channel take from the engine and append to the local queue under
        one lock, so batches land in arrival order; the lock is never held while waiting
        (that happens in yoton_sub_select_wait, in slices so Ctrl-C gets through)."""
        deadline = None if block is True or not block else time.monotonic() + float(block)
        while True:
            with self._fill_lock:
                got = _take_batch(self._ch, max_count)
                if got is not None:
                    bodies, seqs = got
                    self._trim()
                    self._local.extend(map(bytes.decode, bodies) if self._text else bodies)
                    self._seqs.extend(seqs)
                    return len(seqs)
            if not block or self._local:  # (another thread's batch came meanwhile)
                return len(self._local)
            wait = WAIT_SLICE
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return 0
            code = lib.yoton_sub_select_wait(self._select_one, 1, wait, self._select_index)
            if code == _ERR_CLOSED:
                return 0
            if code not in (0, _ERR_TIMEOUT):
                check(code)

    def _fill_all(self):
        """Move every message pending in the engine now to the local queue (also in sync
        mode, as the original's recv_all: the engine's queue is all it has)."""
        n = out_value(lib.yoton_channel_pending, "size_t", self._ch)
        while n > 0:
            got = self._fill(False, min(n, _BATCH_COUNT))
            if not got:
                break
            n -= got

    def _trim(self):
        """Drop the arrival numbers of the messages recv() took."""
        seqs = self._seqs
        extra = len(seqs) - len(self._local)
        if extra >= len(seqs):
            seqs.clear()
        else:
            for _ in range(extra):
                seqs.popleft()

    def recv(self, block: Union[bool, float, None] = True) -> Any:
        """Receive a message: block True waits until one comes, False does not wait, a number
        waits that many seconds. Nothing received (or closed): the type's empty message."""
        local = self._local
        while True:
            try:
                m = local.popleft()
            except IndexError:  # (another thread may take what _fill brought: try again)
                if self._fill(block, 1 if self._sync else _BATCH_COUNT):
                    continue
                return self.message_from_bytes(b"")
            return m if self._converted else self.message_from_bytes(m)

    def _take_local(self, n):
        """The first n local messages, converted, and their arrival numbers gone (call
        _trim first)."""
        local, seqs = self._local, self._seqs
        if n == len(local):
            out = list(local)
            local.clear()
            seqs.clear()
        else:
            out = [local.popleft() for _ in range(n)]
            for _ in range(n):
                seqs.popleft()
        return out if self._converted else [self.message_from_bytes(m) for m in out]

    def recv_all(self) -> List[Any]:
        """All pending messages as a list (maybe empty)."""
        self._fill_all()
        self._trim()
        return self._take_local(len(self._local))

    def recv_selected(self) -> List[Any]:
        """After select_sub_channel() chose this channel: its messages older than any pending
        in the other channels given to it, in order."""
        ref = self._ref_seq
        if ref is None:
            return []
        self._trim()
        n = 0
        for seq in self._seqs:
            if seq > ref:
                break
            n += 1
        return self._take_local(n)

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
        channel._fill_all()
        channel._trim()
        seqs = channel._seqs
        if not seqs:
            continue
        seq1, seq2 = seqs[0], seqs[-1] + 1
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
