"""asyncio integration: yoton events are processed by the running asyncio loop.

The engine's wakeup fd is readable exactly while events are pending (level-triggered), so
the loop watches it with add_reader and runs yoton.process_events() when it is readable:
no polling thread, no lost wakeup. Awaiting a channel or a future waits for the engine's
own notification (received / done callback) delivered through that fd.
"""

import asyncio
import weakref

from . import events
from ._ffi import check, ffi, lib

_watched = weakref.WeakSet()  # loops that watch the wakeup fd


def _wakeup_fd():
    out = ffi.new("int *")
    check(lib.yoton_wakeup_fd(out))
    return out[0]


def _on_readable():
    try:
        events.process_events(False)
    except Exception:  # nested processing (from inside a yoton callback) is refused
        pass


def ensure_watching(loop=None):
    """Make the (running) asyncio loop process yoton events when they come."""
    loop = loop or asyncio.get_running_loop()
    if loop not in _watched:
        fd = _wakeup_fd()
        loop.add_reader(fd, _on_readable)
        _watched.add(loop)
        # The fd stays ours: stop watching it before the loop closes it with its selector.
        orig_close = loop.close

        def close():
            if loop in _watched:
                loop.remove_reader(fd)
                _watched.discard(loop)
            orig_close()

        loop.close = close


async def await_future(future):
    """Wait for a yoton Future without blocking the loop, then return its result."""
    loop = asyncio.get_running_loop()
    ensure_watching(loop)
    if not future.done():
        waiter = loop.create_future()

        def done(_f):
            loop.call_soon_threadsafe(_set_done, waiter)

        future.add_done_callback(done)
        await waiter
    return future.result(0)


def _set_done(waiter):
    if not waiter.done():
        waiter.set_result(None)


async def recv_async(channel, timeout=None):
    """The next message of a SubChannel, awaiting it without blocking the loop."""
    loop = asyncio.get_running_loop()
    ensure_watching(loop)
    waiter_box = []

    def on_received(_channel):
        if waiter_box:
            loop.call_soon_threadsafe(_set_done, waiter_box[0])

    channel.received.bind(on_received)
    try:

        async def wait():
            while True:
                waiter_box[:] = [loop.create_future()]
                if channel.pending or channel.closed:
                    return channel.recv(False)
                await waiter_box[0]

        return await asyncio.wait_for(wait(), timeout)
    finally:
        channel.received.unbind(on_received)
