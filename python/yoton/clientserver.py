"""Client/server (telnet-like: one request line in, one reply line out per connection)."""

import threading
import time
import weakref
from typing import Optional

from . import events
from ._ffi import (
    check,
    cstr,
    ffi,
    free_trampoline,
    inflight,
    lib,
    new_handle,
    print_error,
    request_trampoline,
)

__all__ = ["RequestServer", "do_request"]


def do_request(address: str, request: str, timeout: Optional[float] = -1) -> Optional[str]:
    """Send request to the server at address and return its reply (with its CRLF); None if
    no reply came within timeout seconds (timeout <= 0 or None: no limit)."""
    if not isinstance(request, str):
        raise ValueError("request should be a string.")
    if timeout is None or timeout <= 0:
        timeout = -1.0
    reply = ffi.new("char **")
    code = lib.yoton_do_request(cstr(address), cstr(request), float(timeout), reply)
    if code == lib.YOTON_ERR_TIMEOUT:
        return None
    if code == lib.YOTON_ERR_IO:
        raise RuntimeError("No server is listening at the given port.")
    check(code)
    try:
        return ffi.string(reply[0]).decode("utf-8", "ignore")
    finally:
        lib.yoton_string_free(reply[0])


class RequestServer:
    """RequestServer(address, async_val=False, verbose=0): subclass it and implement
    handle_request(request) -> reply. start() serves in a thread, run() in the calling
    thread, stop() stops. async_val handles each connection in its own thread."""

    def __init__(self, address: str, async_val: bool = False, verbose: int = 0) -> None:
        self._verbose = verbose
        ref = weakref.ref(self)

        def handler(request, reply):
            server = ref()
            if server is not None:
                server._handle(request, reply)

        flags = lib.YOTON_SERVER_THREAD_PER_CONNECTION if async_val else lib.YOTON_SERVER_INLINE
        out = ffi.new("yoton_request_server **")
        check(
            lib.yoton_request_server_new(
                cstr(address), request_trampoline, new_handle(handler), free_trampoline, flags, out
            )
        )
        self._server = ffi.gc(out[0], lib.yoton_request_server_free)
        self._running = False
        self.daemon = True  # the original is a daemon thread (kept for compatibility)
        events._track(self)

    def _stop(self):
        """At exit: stop serving. The engine's stop waits for handlers still running (up to
        YOTON_HANDLER_WAIT): it runs in a daemon thread, given 0.2 s (the listening socket
        closes at once)."""
        if self._server:
            t = threading.Thread(target=lib.yoton_request_server_stop, args=(self._server,))
            t.daemon = True
            t.start()
            t.join(0.2)

    def _release(self):
        """At exit: never freed (the free would wait for a handler, or for the stop above);
        the process ends with it."""
        self._server = events.detach(self._server)

    _abandon = _release

    @property
    def port(self) -> int:
        out = ffi.new("uint16_t *")
        check(lib.yoton_request_server_port(self._server, out))
        return out[0]

    def _handle(self, request, reply):
        try:
            with inflight():
                answer = self.handle_request(ffi.string(request).decode("utf-8", "ignore"))
            if not isinstance(answer, str):
                raise ValueError("handle_request() should return a string.")
        except Exception:
            print_error("Error handling request:")
            return
        check(lib.yoton_text_reply_set(reply, cstr(answer)))

    def start(self) -> None:
        """Serve in a background thread."""
        self._running = True
        check(lib.yoton_request_server_start(self._server))

    def run(self) -> None:
        """Serve in the calling thread until stop()."""
        self._running = True
        try:
            check(lib.yoton_request_server_run(self._server))
        finally:
            self._running = False

    def stop(self) -> None:
        """Stop serving (final)."""
        self._running = False
        check(lib.yoton_request_server_stop(self._server))

    def is_alive(self) -> bool:
        return self._running

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait until the server stopped (at most timeout seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.01)

    def handle_request(self, request: str) -> str:
        """The reply to request. The default echoes 'Requested: <request>'; 'wait' waits
        one second first and 'stop' stops the server."""
        if request == "wait":
            time.sleep(1.0)
        elif request == "stop":
            self.stop()
        return "Requested: " + request
