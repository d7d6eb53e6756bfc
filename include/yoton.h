/*
 * yoton: fast, robust messaging, wire-compatible with the original Python yoton.
 * C API (C11 and C++ compatible).
 *
 * Contract
 * --------
 * Ownership
 *   - A handle returned through an out-parameter is owned by the caller: release it with the
 *     matching yoton_<type>_free (e.g. yoton_context_free). Each doc comment says so.
 *   - yoton_<type>_free(NULL) is a no-op.
 *   - Results documented as "borrowed" (e.g. strings) stay owned by yoton and are valid only
 *     for the time stated in their doc comment; never free them.
 *   - Input bytes (const void *data, size_t len) and strings are copied unless documented
 *     otherwise; data may be NULL only when len is 0.
 *   - Callbacks take (fn, user_data, free_user_data): free_user_data (may be NULL) is called
 *     exactly once when the binding ends - also when the registering call fails.
 *
 * Threads
 *   - Every function may be called from any thread, except that a handle's _free must not
 *     race other calls on that same handle.
 *   - Contexts, channels, connections, futures, messages, signals, timers, simple sockets and
 *     request servers are thread-safe: any number of threads may use one at once.
 *   - Values (yoton_value) are plain data, not synchronised: a value being changed
 *     (yoton_value_append, yoton_value_dict_set, ...) must not be used by another thread at the
 *     same time; reading one value from several threads is fine. Borrowed values (children,
 *     handler arguments, signal arguments) live only as long as documented.
 *   - yoton_reply and yoton_text_reply exist only inside the handler call that received them.
 *   - Events are processed on one thread at a time: yoton_process_events (and
 *     yoton_start_event_loop) while another thread is processing events fails with
 *     YOTON_ERR_INVALID_ARGUMENT, as does a call from inside a callback. Use one thread (the
 *     host's GUI thread, say) to process events.
 *   - User callbacks run only on the thread that processes yoton events (yoton_process_events,
 *     the started event loop, or the embedding loop), unless their doc comment documents an
 *     exception (repliers in thread mode, request server handlers, embed notifications).
 *
 * Errors
 *   - Fallible functions return a yoton_status code as an int: 0 (YOTON_OK) is success, any
 *     other value is an error.
 *   - Out-parameters are written only on success.
 *   - yoton_strerror(code) returns a static description of a code; yoton_last_error() returns
 *     details of the last error on the calling thread (thread-local, borrowed).
 *   - No Rust panic crosses this API: it is reported as YOTON_ERR_INTERNAL.
 *
 * Releasing handles while a handler runs
 *   - yoton_channel_free of a replier and yoton_request_server_free wait for a handler
 *     running on another thread, at most YOTON_HANDLER_WAIT (2) seconds, and then call the
 *     handlers' free_user_data before returning. A handler that takes longer, or one that
 *     frees its own channel or server, is not waited for: its free_user_data runs on the
 *     handler's thread right after the handler returns - so code that must not run after
 *     unload (a plugin, an interpreter shutting down) should make its handlers return
 *     promptly before freeing. No _free ever waits longer than that.
 *   - Callbacks must not unwind into yoton: catch C++ exceptions (and longjmp nowhere) inside
 *     the callback.
 *
 * Timeouts (one rule for every timeout argument, a double in seconds)
 *   - 0: do not wait (try once, or take what is already there).
 *   - Positive: wait at most that long; at most YOTON_TIMEOUT_MAX (1e9 s, about 31.7 years).
 *   - YOTON_FOREVER (any negative value, or +INFINITY): no limit. For yoton_context_connect
 *     that means trying until a host answers; for the flushes, until everything is written or
 *     the connection closes; for yoton_future_result_or_cancel, never cancelling; for the
 *     auto-cancel setters, never auto-cancelling.
 *   - NaN and finite values above YOTON_TIMEOUT_MAX: YOTON_ERR_INVALID_ARGUMENT, at once and
 *     with nothing done.
 *   - Delays and intervals (yoton_call_later, timers) are finite and at most YOTON_TIMEOUT_MAX
 *     in magnitude; settings such as yoton_connection_set_timeout state their own range.
 *   - The original's defaults, for callers porting code: connect 1 s, connection flush 3 s,
 *     context flush 5 s, result_or_cancel 1 s.
 *
 * Function names
 *   - yoton_<type>_new / _free; verbs for actions (yoton_pub_send, yoton_context_bind).
 *   - Properties are read by their noun (yoton_connection_timeout, yoton_context_id) and set
 *     with _set_<noun>; where the noun is also a type's name, the reader is _get_<noun>
 *     (yoton_channel_get_kind, yoton_connection_get_status, yoton_future_get_status,
 *     yoton_rep_get_mode), and so are the typed readers of values (yoton_value_get_int).
 *   - Predicates are _is_<adjective> (yoton_channel_is_closed, yoton_future_is_done).
 *   - Functions that take over an argument end in _take (yoton_value_append_take).
 *   - Deprecated names (YOTON_DEPRECATED, a compiler warning saying what to use) keep working
 *     until the next minor version (0.x: see "API stability" in README.md).
 *
 * Names
 *   - Slot base names and addresses are at most YOTON_MAX_NAME_BYTES (8192) bytes
 *     (YOTON_ERR_INVALID_ARGUMENT beyond): the original's slot and port hashes cost time
 *     quadratic in the name's length.
 *
 * Versioning
 *   - YOTON_VERSION_MAJOR/MINOR/PATCH are the header's version; yoton_version() is the
 *     library's at run time. The shared library's SONAME is libyoton.so.<MAJOR>.
 */

#ifndef YOTON_H
#define YOTON_H

/* Generated by cbindgen 0.29.0 from src/ffi with cbindgen.toml. Do not edit by hand:
 * run scripts/gen-header.sh (tests/header_fresh.rs checks that this file is up to date). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * A timeout argument meaning "no limit" (see "Timeouts" above). Any negative value, and
 * +INFINITY, mean the same. Mirrors YOTON_FOREVER in src/ffi/util.rs.
 */
#define YOTON_FOREVER (-1.0)

/** Marks a function that will be removed: callers get a warning with what to use instead. */
#if defined(__GNUC__) || defined(__clang__)
#define YOTON_DEPRECATED(note) __attribute__((deprecated(note)))
#elif defined(_MSC_VER)
#define YOTON_DEPRECATED(note) __declspec(deprecated(note))
#else
#define YOTON_DEPRECATED(note)
#endif

/**
 * Major version of the header this library was built with.
 */
#define YOTON_VERSION_MAJOR 0

/**
 * Minor version.
 */
#define YOTON_VERSION_MINOR 2

/**
 * Patch version.
 */
#define YOTON_VERSION_PATCH 0

/**
 * The largest finite timeout, delay or interval accepted, in seconds (about 31.7 years).
 * Larger finite values and NaN are refused with YOTON_ERR_INVALID_ARGUMENT: they are
 * mistakes (a wrong unit, an uninitialised variable), not wishes; YOTON_FOREVER says "no limit".
 */
#define YOTON_TIMEOUT_MAX 1e9

/**
 * How long (seconds) `yoton_channel_free` of a replier and `yoton_request_server_free` wait
 * for a handler still running on another thread. Mirrors `yoton::HANDLER_WAIT`.
 */
#define YOTON_HANDLER_WAIT 2.0

/**
 * The longest slot base name or address accepted, in bytes (YOTON_ERR_INVALID_ARGUMENT
 * beyond): the original's slot and port hashes cost time quadratic in the name's length.
 */
#define YOTON_MAX_NAME_BYTES 8192

/**
 * Channel kinds.
 */
typedef enum yoton_channel_kind {
    /**
     * A publisher (`yoton_pub_new`).
     */
    YOTON_PUB = 0,
    /**
     * A subscriber (`yoton_sub_new`).
     */
    YOTON_SUB = 1,
    /**
     * A requester (`yoton_req_new`).
     */
    YOTON_REQ = 2,
    /**
     * A replier (`yoton_rep_new`).
     */
    YOTON_REP = 3,
    /**
     * A state channel (`yoton_state_new`).
     */
    YOTON_STATE = 4,
} yoton_channel_kind;

/**
 * Connection status values (as in the original).
 */
typedef enum yoton_connection_status {
    /**
     * Closed (see `yoton_connection_close_reason`).
     */
    YOTON_STATUS_CLOSED = 0,
    /**
     * Closing: the close package is on its way.
     */
    YOTON_STATUS_CLOSING = 1,
    /**
     * Bound, waiting for a peer.
     */
    YOTON_STATUS_WAITING = 2,
    /**
     * Bound side, peer connected.
     */
    YOTON_STATUS_HOSTING = 3,
    /**
     * Connecting side, connected.
     */
    YOTON_STATUS_CONNECTED = 4,
} yoton_connection_status;

/**
 * What a full queue drops.
 */
typedef enum yoton_discard {
    /**
     * Drop the oldest queued package (the default).
     */
    YOTON_DISCARD_OLD = 0,
    /**
     * Drop the incoming package.
     */
    YOTON_DISCARD_NEW = 1,
    /**
     * Drop nothing (not in the original): a full channel queue pauses reading from the network
     * so TCP back-pressure reaches the publisher, whose sends wait up to 1 s and then fail with
     * YOTON_ERR_TIMEOUT. Loss-free pub/sub.
     */
    YOTON_DISCARD_BLOCK = 2,
} yoton_discard;

/**
 * Future states (the original's numbering).
 */
typedef enum yoton_future_status {
    /**
     * Not taken by a replier (or an executor) yet.
     */
    YOTON_FUTURE_WAITING = 0,
    /**
     * Taken, the result is not there yet.
     */
    YOTON_FUTURE_RUNNING = 1,
    /**
     * Cancelled before it ran.
     */
    YOTON_FUTURE_CANCELLED = 2,
    /**
     * Finished with an error (`yoton_future_exception`).
     */
    YOTON_FUTURE_ERROR = 3,
    /**
     * Finished with a result (`yoton_future_result`).
     */
    YOTON_FUTURE_SUCCESS = 4,
} yoton_future_status;

/**
 * How a replier processes requests.
 */
typedef enum yoton_rep_mode {
    /**
     * Requests wait in the queue, nothing is acknowledged (the default).
     */
    YOTON_REP_OFF = 0,
    /**
     * Requests are handled when yoton events are processed.
     */
    YOTON_REP_EVENT = 1,
    /**
     * Requests are handled in the channel's own thread.
     */
    YOTON_REP_THREAD = 2,
} yoton_rep_mode;

/**
 * Flags of `yoton_request_server_new`.
 */
typedef enum yoton_server_flags {
    /**
     * Handle connections one after another in the serving thread (the original's default).
     */
    YOTON_SERVER_INLINE = 0,
    /**
     * Handle each connection in its own thread (at most 64 at once).
     */
    YOTON_SERVER_THREAD_PER_CONNECTION = 1,
} yoton_server_flags;

/**
 * Status codes returned by every fallible function. `YOTON_OK` (0) is success.
 */
typedef enum yoton_status {
    /**
     * Success.
     */
    YOTON_OK = 0,
    /**
     * NULL pointer, value out of range, malformed address or name, wrong channel kind.
     */
    YOTON_ERR_INVALID_ARGUMENT = 1,
    /**
     * The object is closed.
     */
    YOTON_ERR_CLOSED = 2,
    /**
     * Nothing happened within the timeout (or a non-blocking call found nothing).
     */
    YOTON_ERR_TIMEOUT = 3,
    /**
     * The request or future was cancelled.
     */
    YOTON_ERR_CANCELLED = 4,
    /**
     * Operating-system I/O error (connection refused, socket error, ...).
     */
    YOTON_ERR_IO = 5,
    /**
     * No port of the requested range could be bound.
     */
    YOTON_ERR_ADDRESS_IN_USE = 6,
    /**
     * The peer is not a yoton peer, or it presented our own id.
     */
    YOTON_ERR_HANDSHAKE = 7,
    /**
     * Above the configured maximum message size, or a caller buffer is too small.
     */
    YOTON_ERR_TOO_LARGE = 8,
    /**
     * Invalid UTF-8 or an undecodable OBJECT value.
     */
    YOTON_ERR_ENCODING = 9,
    /**
     * The remote side reported an error.
     */
    YOTON_ERR_REMOTE = 10,
    /**
     * A bug in yoton (including a caught panic).
     */
    YOTON_ERR_INTERNAL = 11,
    /**
     * A lookup found nothing (no such dict key, no connection of that name). Before 0.2 these
     * were YOTON_ERR_INVALID_ARGUMENT.
     */
    YOTON_ERR_NOT_FOUND = 12,
} yoton_status;

/**
 * Kinds of OBJECT values.
 */
typedef enum yoton_value_kind {
    /**
     * None.
     */
    YOTON_VALUE_NONE = 0,
    /**
     * A bool.
     */
    YOTON_VALUE_BOOL = 1,
    /**
     * A 64-bit integer.
     */
    YOTON_VALUE_INT = 2,
    /**
     * A double.
     */
    YOTON_VALUE_FLOAT = 3,
    /**
     * A UTF-8 string.
     */
    YOTON_VALUE_STRING = 4,
    /**
     * A list.
     */
    YOTON_VALUE_LIST = 5,
    /**
     * A tuple.
     */
    YOTON_VALUE_TUPLE = 6,
    /**
     * A dict (insertion order kept).
     */
    YOTON_VALUE_DICT = 7,
} yoton_value_kind;

/**
 * A channel of any kind (publisher, subscriber, ...). Caller owns it; release with
 * `yoton_channel_free`, which also closes it.
 */
typedef struct yoton_channel yoton_channel;

/**
 * A connection between two contexts. Handles come from `yoton_context_bind`,
 * `yoton_context_connect` or the `yoton_context_connection_*` lookups; release with
 * `yoton_connection_free`, which does not close the connection (the context owns it).
 */
typedef struct yoton_connection yoton_connection;

/**
 * A node of a yoton network. Create with `yoton_context_new`, release with
 * `yoton_context_free` (which closes its connections and channels).
 */
typedef struct yoton_context yoton_context;

/**
 * The future result of a request (`yoton_req_call`) or a detached future
 * (`yoton_future_new`). Caller owns it; release with `yoton_future_free` (a request still
 * in flight goes on; its result is simply dropped).
 */
typedef struct yoton_future yoton_future;

/**
 * A received message. Caller owns it; release with `yoton_message_free`. (Opaque.)
 *
 * A message with a body under 16 KiB lies in the memory it was read into, beside the
 * messages that arrived with it (up to 256 KiB), and that memory is reused once all of them
 * are freed: to keep a message for long, copy its body and free it. (A process holds at most
 * 64 MiB of such memory; beyond it, messages are copied on arrival.)
 */
typedef struct yoton_message yoton_message;

/**
 * The answer a handler gives, valid only during the handler call. Not set: the reply is None.
 */
typedef struct yoton_reply yoton_reply;

/**
 * A request server (telnet-like: one CRLF-terminated line in, one out, per connection).
 * Caller owns it; release with `yoton_request_server_free` (which stops it).
 */
typedef struct yoton_request_server yoton_request_server;

/**
 * A generic signal. Caller owns it; release with `yoton_signal_free`.
 */
typedef struct yoton_signal yoton_signal;

/**
 * A context with a TEXT publisher and subscriber on slot base "text" (the original's
 * SimpleSocket). Caller owns it; release with `yoton_simple_socket_free`.
 */
typedef struct yoton_simple_socket yoton_simple_socket;

/**
 * The answer of a request handler, valid only during the handler call.
 */
typedef struct yoton_text_reply yoton_text_reply;

/**
 * A timer (a signal emitted after an interval, once or repeatedly). Caller owns it; release
 * with `yoton_timer_free`, which stops it.
 */
typedef struct yoton_timer yoton_timer;

/**
 * An OBJECT value (None, bool, int, float, string, list, tuple or dict). Opaque.
 */
typedef struct yoton_value yoton_value;

/**
 * A callback with only its user data.
 */
typedef void (*yoton_callback)(void *user_data);

/**
 * Called exactly once with a callback's user data when its binding ends.
 */
typedef void (*yoton_free_fn)(void *user_data);

/**
 * A request handler: `request` is the received line including its CRLF (NUL-terminated,
 * borrowed for the call). Set the answer with `yoton_text_reply_set` (default: empty line).
 * Runs on the server's thread (or a per-connection thread), not the event thread.
 */
typedef void (*yoton_request_handler)(void *user_data,
                                      const char *request,
                                      struct yoton_text_reply *reply);

/**
 * Handler of a connection's `closed` signal: `reason` is borrowed for the call.
 */
typedef void (*yoton_closed_handler)(void *user_data, const char *reason);

/**
 * Handler of a connection's `timedout` signal: true when the peer went silent, false when it
 * is heard from again.
 */
typedef void (*yoton_timedout_handler)(void *user_data, bool timedout);

/**
 * Handler of a generic signal: `arg` is borrowed for the call (a None value if emitted
 * without one).
 */
typedef void (*yoton_signal_handler)(void *user_data, const struct yoton_value *arg);

/**
 * A done-callback: `future` is a borrowed handle valid for the call.
 */
typedef void (*yoton_future_callback)(void *user_data, const struct yoton_future *future);

/**
 * A method handler: `args` is a tuple and `kwargs` a dict (both borrowed for the call).
 * Set the answer with `yoton_reply_set_result` or `yoton_reply_set_error`. Runs on the
 * replier's processing thread (its own in YOTON_REP_THREAD mode).
 */
typedef void (*yoton_rep_handler)(void *user_data,
                                  const struct yoton_value *args,
                                  const struct yoton_value *kwargs,
                                  struct yoton_reply *reply);





#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Call `callback` (on the event-processing thread) after messages arrived on the channel; a
 * burst of arrivals gives one call. `*id` (may be NULL) identifies the binding for
 * `yoton_channel_unbind`. The binding ends when unbound or when this handle is freed; then
 * `free_user_data` (may be NULL) is called.
 */
int yoton_channel_on_received(const struct yoton_channel *ch,
                              yoton_callback callback,
                              void *user_data,
                              yoton_free_fn free_user_data,
                              uint64_t *id);

/**
 * End a `received` binding made through this handle. YOTON_ERR_INVALID_ARGUMENT if unknown.
 */
int yoton_channel_unbind(const struct yoton_channel *ch, uint64_t id);

/**
 * Create a publisher on slot base `base` with message type `type_name`: "txt" (also when
 * NULL), "bin", "obj", or a custom name. Caller owns `*out` (`yoton_channel_free`).
 */
int yoton_pub_new(const struct yoton_context *ctx,
                  const char *base,
                  const char *type_name,
                  struct yoton_channel **out);

/**
 * Create a subscriber, like `yoton_pub_new`.
 */
int yoton_sub_new(const struct yoton_context *ctx,
                  const char *base,
                  const char *type_name,
                  struct yoton_channel **out);

/**
 * Close and release a channel. NULL is a no-op. A replier's handler running on another
 * thread is waited for, at most YOTON_HANDLER_WAIT seconds; the handlers' `free_user_data`
 * then run before this returns. If the handler takes longer, or this is called from inside
 * the handler, this returns at once and they run on the handler's thread right after it
 * returns (see "Releasing handles" in the preamble). A request taken before the close is
 * still answered.
 */
void yoton_channel_free(struct yoton_channel *ch);

/**
 * Close (unregister) the channel: sends fail with YOTON_ERR_CLOSED, queued messages can still
 * be received. Closing twice is a no-op.
 */
int yoton_channel_close(const struct yoton_channel *ch);

/**
 * Whether the channel is closed.
 */
int yoton_channel_is_closed(const struct yoton_channel *ch, bool *out);

/**
 * Deprecated name of `yoton_channel_is_closed` (predicates are named `_is_...`).
 */
YOTON_DEPRECATED("use yoton_channel_is_closed")
int yoton_channel_closed(const struct yoton_channel *ch,
                         bool *out);

/**
 * Number of messages waiting to be received.
 */
int yoton_channel_pending(const struct yoton_channel *ch, size_t *out);

/**
 * The kind, one of `yoton_channel_kind`.
 */
int yoton_channel_get_kind(const struct yoton_channel *ch, int *out);

/**
 * Full outgoing slot name (e.g. "chat.txt.pub-sub") into `buf`; see `yoton_connection_name`
 * for the buffer convention.
 */
int yoton_channel_slot_outgoing(const struct yoton_channel *ch, char *buf, size_t cap, size_t *len);

/**
 * Full incoming slot name (e.g. "chat.txt.sub-pub") into `buf`.
 */
int yoton_channel_slot_incoming(const struct yoton_channel *ch, char *buf, size_t cap, size_t *len);

/**
 * Message type name ("txt", "bin", "obj" or custom) into `buf`.
 */
int yoton_channel_message_type(const struct yoton_channel *ch, char *buf, size_t cap, size_t *len);

/**
 * Publish `len` bytes (copied). TEXT channels require UTF-8 and OBJECT channels a valid
 * encoded value (YOTON_ERR_ENCODING otherwise). An empty message is skipped (YOTON_OK).
 * May wait up to 1 s while a connection's outgoing queue is congested.
 */
int yoton_pub_send(const struct yoton_channel *ch, const void *data, size_t len);

/**
 * Publish `len` bytes WITHOUT copying them (zero-copy, for big messages). The bytes must stay
 * valid and unchanged until yoton calls `free_data(user_data)` (may be NULL): exactly once,
 * when every connection has written them, or at once if the send fails or is skipped (empty).
 * `free_data` may run on any yoton thread and must only release the buffer. Checked and
 * throttled like `yoton_pub_send`.
 */
int yoton_pub_send_zc(const struct yoton_channel *ch,
                      const void *data,
                      size_t len,
                      yoton_free_fn free_data,
                      void *user_data);

/**
 * Publish a value on an OBJECT channel (the value is borrowed, not consumed).
 */
int yoton_pub_send_value(const struct yoton_channel *ch, const struct yoton_value *value);

/**
 * Receive the oldest message, waiting up to `timeout` seconds (0: do not wait; negative:
 * until a message arrives or the channel closes). YOTON_ERR_TIMEOUT if none came,
 * YOTON_ERR_CLOSED if the channel is closed and empty, YOTON_ERR_ENCODING for a TEXT message
 * that is not UTF-8 (it is dropped). Caller owns `*out` (`yoton_message_free`).
 */
int yoton_sub_recv(const struct yoton_channel *ch, double timeout, struct yoton_message **out);

/**
 * Take every pending message without waiting. `*out` gets an array of `*count` messages
 * (NULL when 0); caller owns it, release with `yoton_message_array_free(*out, *count)`.
 */
int yoton_sub_recv_all(const struct yoton_channel *ch, struct yoton_message ***out, size_t *count);

/**
 * Receive up to `max_count` messages in one call, their bodies copied one after the other
 * into the caller's `buf` (`cap` bytes; NULL only when cap is 0): one call instead of three
 * per message (`yoton_sub_recv`, `yoton_message_data`, `yoton_message_free`). Waits up to
 * `timeout` seconds for the first message, as `yoton_sub_recv`; then takes, oldest first and
 * without waiting, every pending message whose body still fits in `buf`, at most
 * `max_count`. `*count` gets how many were taken (at least 1); `lens` (`max_count` entries)
 * their body lengths, in order: message `i` starts at `buf + lens[0] + ... + lens[i-1]`;
 * `seqs` (NULL, or `max_count` entries) their arrival order (`yoton_message_recv_seq`); and
 * `*used` (may be NULL) the bytes written. A message that does not fit stays queued for the
 * next call: if the oldest pending one does not fit, nothing is taken and the call returns
 * YOTON_ERR_TOO_LARGE with `*used` set to its size (call again with a buffer that large).
 * YOTON_ERR_TIMEOUT if no message came, YOTON_ERR_CLOSED if the channel is closed and empty,
 * YOTON_ERR_INVALID_ARGUMENT for `max_count` 0, a NULL `lens` or `count`, or a channel that
 * is not a subscriber. On a TEXT channel, a message that is not valid UTF-8 is dropped (as
 * `yoton_sub_recv_all` skips it). In sync mode the back-pressure watches the messages left
 * queued: take one at a time (`max_count` 1) to keep it as with `yoton_sub_recv`.
 */
int yoton_sub_recv_batch(const struct yoton_channel *ch,
                         double timeout,
                         void *buf,
                         size_t cap,
                         size_t *lens,
                         uint64_t *seqs,
                         size_t max_count,
                         size_t *count,
                         size_t *used);

/**
 * Release an array from `yoton_sub_recv_all` and every message in it. NULL is a no-op.
 * NULL entries are skipped, so a caller may take messages out of the array (setting them
 * to NULL) before releasing it.
 */
void yoton_message_array_free(struct yoton_message **array, size_t count);

/**
 * Sync mode (back-pressure): while more than 32 messages are pending, ask the publishers to
 * slow down; let them go again below 16. Works with publishers of either implementation.
 */
int yoton_sub_set_sync_mode(const struct yoton_channel *ch, bool on);

/**
 * Wait up to `timeout` seconds (the timeout rule: 0 do not wait, YOTON_FOREVER no limit) for
 * a message on any of `count` subscribers of one context, and choose the one holding the
 * oldest pending message: `*index` gets its position in `channels`. Then
 * `yoton_sub_recv_selected` on it returns its messages older than any pending elsewhere.
 * YOTON_ERR_TIMEOUT if none came; YOTON_ERR_CLOSED once every channel is closed;
 * YOTON_ERR_INVALID_ARGUMENT for channels of different contexts or kinds other than sub.
 */
int yoton_sub_select_wait(struct yoton_channel *const *channels,
                          size_t count,
                          double timeout,
                          size_t *index);

/**
 * Deprecated: use `yoton_sub_select_wait` (which can wait, and takes a plain
 * `yoton_channel *` array) with timeout 0, which is what this does.
 */
YOTON_DEPRECATED("use yoton_sub_select_wait(channels, count, 0, index)")
int yoton_sub_select(const struct yoton_channel *const *channels,
                     size_t count,
                     size_t *index);

/**
 * After `yoton_sub_select` chose this channel: take its messages older than any pending in
 * the other channels, in order. Array ownership as for `yoton_sub_recv_all`.
 */
int yoton_sub_recv_selected(const struct yoton_channel *ch,
                            struct yoton_message ***out,
                            size_t *count);

/**
 * Send `request` (CRLF appended if missing) to the server at `address`, wait at most
 * `timeout` seconds (negative: no limit) and return its reply line including the CRLF.
 * Caller owns `*reply` (`yoton_string_free`). Errors: YOTON_ERR_IO (no server, or it hung up
 * without replying), YOTON_ERR_TIMEOUT, YOTON_ERR_INVALID_ARGUMENT (address).
 */
int yoton_do_request(const char *address, const char *request, double timeout, char **reply);

/**
 * Release a string returned by yoton (e.g. by `yoton_do_request`). NULL is a no-op.
 */
void yoton_string_free(char *text);

/**
 * Create a server listening at `address` (port 0: any free port; see
 * `yoton_request_server_port`). `flags` is a `yoton_server_flags` value. `free_user_data`
 * (may be NULL) is called once when the server is released. Serve with
 * `yoton_request_server_start` (own thread) or `yoton_request_server_run` (calling thread).
 * Caller owns `*out` (`yoton_request_server_free`).
 */
int yoton_request_server_new(const char *address,
                             yoton_request_handler handler,
                             void *user_data,
                             yoton_free_fn free_user_data,
                             int flags,
                             struct yoton_request_server **out);

/**
 * Set the reply text (NUL-terminated UTF-8, copied; CRLF is appended if missing).
 */
int yoton_text_reply_set(struct yoton_text_reply *reply, const char *text);

/**
 * Stop the server and release it, waiting at most YOTON_HANDLER_WAIT seconds for its thread
 * and for handlers still running; `free_user_data` runs before this returns unless a
 * handler outlasts that wait (then it runs on the handler's thread right after the handler
 * returns). NULL is a no-op.
 */
void yoton_request_server_free(struct yoton_request_server *server);

/**
 * The port the server listens on.
 */
int yoton_request_server_port(const struct yoton_request_server *server, uint16_t *out);

/**
 * Serve in a background thread.
 */
int yoton_request_server_start(const struct yoton_request_server *server);

/**
 * Serve in the calling thread until `yoton_request_server_stop` (from a handler or another
 * thread).
 */
int yoton_request_server_run(const struct yoton_request_server *server);

/**
 * Stop serving (final: the listening socket closes).
 */
int yoton_request_server_stop(const struct yoton_request_server *server);

/**
 * Requests answered and connections dropped without an answer (no line within 1 s, a line
 * over 1 MiB without CRLF, ...). Either pointer may be NULL.
 */
int yoton_request_server_stats(const struct yoton_request_server *server,
                               uint64_t *handled,
                               uint64_t *dropped);

/**
 * Why the last connection was dropped ("" if none), buffer convention of
 * `yoton_connection_name`.
 */
int yoton_request_server_last_drop_reason(const struct yoton_request_server *server,
                                          char *buf,
                                          size_t cap,
                                          size_t *len);

/**
 * Call `handler` (on the event-processing thread) when the connection closes, with the reason.
 * `*id` (may be NULL) identifies the binding for `yoton_connection_unbind`. The binding ends
 * when unbound or when this handle is freed; then `free_user_data` (may be NULL) is called.
 */
int yoton_connection_on_closed(const struct yoton_connection *conn,
                               yoton_closed_handler handler,
                               void *user_data,
                               yoton_free_fn free_user_data,
                               uint64_t *id);

/**
 * Call `handler` (on the event-processing thread) when the `timedout` state changes. Binding
 * and `id` as for `yoton_connection_on_closed`.
 */
int yoton_connection_on_timedout(const struct yoton_connection *conn,
                                 yoton_timedout_handler handler,
                                 void *user_data,
                                 yoton_free_fn free_user_data,
                                 uint64_t *id);

/**
 * End a binding made through this handle. YOTON_ERR_INVALID_ARGUMENT if it is not bound.
 */
int yoton_connection_unbind(const struct yoton_connection *conn, uint64_t id);

/**
 * Release a connection handle (the connection stays open). NULL is a no-op.
 */
void yoton_connection_free(struct yoton_connection *conn);

/**
 * The status, one of `yoton_connection_status`.
 */
int yoton_connection_get_status(const struct yoton_connection *conn, int *out);

/**
 * Waiting, hosting or connected.
 */
int yoton_connection_is_alive(const struct yoton_connection *conn, bool *out);

/**
 * Hosting or connected.
 */
int yoton_connection_is_connected(const struct yoton_connection *conn, bool *out);

/**
 * Bound and waiting for a peer.
 */
int yoton_connection_is_waiting(const struct yoton_connection *conn, bool *out);

/**
 * True while nothing has arrived from the peer for longer than the timeout (the original's
 * `timedout` signal state). The connection is not closed by this.
 */
int yoton_connection_is_timedout(const struct yoton_connection *conn, bool *out);

/**
 * Local host (IP text) into `buf` (NUL-terminated). `*len` (may be NULL) gets the length
 * without NUL; a too small `buf` gives YOTON_ERR_TOO_LARGE and `*len` still set.
 */
int yoton_connection_hostname1(const struct yoton_connection *conn,
                               char *buf,
                               size_t cap,
                               size_t *len);

/**
 * Peer host (IP text), like `yoton_connection_hostname1`. Empty while waiting.
 */
int yoton_connection_hostname2(const struct yoton_connection *conn,
                               char *buf,
                               size_t cap,
                               size_t *len);

/**
 * Local port (for a waiting connection: the listening port).
 */
int yoton_connection_port1(const struct yoton_connection *conn, uint16_t *out);

/**
 * Peer port (0 while waiting).
 */
int yoton_connection_port2(const struct yoton_connection *conn, uint16_t *out);

/**
 * Own context id.
 */
int yoton_connection_id1(const struct yoton_connection *conn, uint64_t *out);

/**
 * Peer context id (0 while waiting).
 */
int yoton_connection_id2(const struct yoton_connection *conn, uint64_t *out);

/**
 * Own process id.
 */
int yoton_connection_pid1(const struct yoton_connection *conn, uint64_t *out);

/**
 * Peer process id as announced in its handshake (0 while waiting).
 */
int yoton_connection_pid2(const struct yoton_connection *conn, uint64_t *out);

/**
 * The connection's name into `buf`, like `yoton_connection_hostname1`.
 */
int yoton_connection_name(const struct yoton_connection *conn, char *buf, size_t cap, size_t *len);

/**
 * Set the connection's name (UTF-8, copied).
 */
int yoton_connection_set_name(const struct yoton_connection *conn, const char *name);

/**
 * The `timedout` detection timeout in seconds (default 0.5).
 */
int yoton_connection_timeout(const struct yoton_connection *conn, double *out);

/**
 * Set the `timedout` detection timeout; at least 0.5 s (YOTON_ERR_INVALID_ARGUMENT otherwise).
 */
int yoton_connection_set_timeout(const struct yoton_connection *conn, double seconds);

/**
 * Close the connection once it has stayed `timedout` for `seconds` (0: never, the default,
 * as in the original; otherwise at least 0.1 and at most YOTON_TIMEOUT_MAX). The close reason
 * then starts with "Connection timed out and stayed so for". Where a link may stay down this
 * bounds how long a dead peer keeps its connection: TCP alone gives up only after many
 * minutes, and never on an idle connection. YOTON_ERR_INVALID_ARGUMENT for other values.
 */
int yoton_connection_set_close_after_timedout(const struct yoton_connection *conn, double seconds);

/**
 * The close-after-timedout setting in seconds, 0 for never (see
 * `yoton_connection_set_close_after_timedout`).
 */
int yoton_connection_close_after_timedout(const struct yoton_connection *conn, double *out);

/**
 * Why the connection closed, into `buf` like `yoton_connection_hostname1`.
 * YOTON_ERR_INVALID_ARGUMENT while it is not closed.
 */
int yoton_connection_close_reason(const struct yoton_connection *conn,
                                  char *buf,
                                  size_t cap,
                                  size_t *len);

/**
 * Close, telling the peer (close package). `reason` may be NULL ("Closed on command.").
 * Queued packages are dropped: call `yoton_connection_flush` first to deliver them.
 * Closing a closed connection is a no-op.
 */
int yoton_connection_close(const struct yoton_connection *conn, const char *reason);

/**
 * Close without telling the peer. `reason` may be NULL ("Unspecified problem").
 */
int yoton_connection_close_on_problem(const struct yoton_connection *conn, const char *reason);

/**
 * Wait until everything queued so far is written to the socket. YOTON_ERR_TIMEOUT after
 * `timeout` seconds (the original's default is 3; YOTON_FOREVER: no limit); YOTON_ERR_CLOSED if
 * not connected.
 */
int yoton_connection_flush(const struct yoton_connection *conn, double timeout);

/**
 * Create a context with a fresh random id. Caller owns `*out`; release with `yoton_context_free`.
 */
int yoton_context_new(struct yoton_context **out);

/**
 * Release a context handle. Releasing the last handle closes every connection and channel of
 * the context; their handles stay valid and report YOTON_ERR_CLOSED. NULL is a no-op.
 */
void yoton_context_free(struct yoton_context *ctx);

/**
 * The context id (non-zero 64-bit).
 */
int yoton_context_id(const struct yoton_context *ctx, uint64_t *out);

/**
 * Host a connection at `address` ("host:port", "localhost:name+offset", `"[::1]:port"` for
 * IPv6, port 0 for any free port; "0.0.0.0:port" or `"[::]:port"` for every interface; an
 * ambiguous form such as "::1:0" or ":port" is YOTON_ERR_INVALID_ARGUMENT), trying up to
 * `max_tries` ports. Returns at once with a *waiting* connection; the
 * first peer completing the handshake is accepted. `name` may be NULL.
 * Caller owns `*out`; release with `yoton_connection_free` (that does not close it).
 */
int yoton_context_bind(const struct yoton_context *ctx,
                       const char *address,
                       uint32_t max_tries,
                       const char *name,
                       struct yoton_connection **out);

/**
 * Connect to a context hosting at `address`, retrying for up to `timeout` seconds (the
 * original's default is 1; YOTON_FOREVER: until it succeeds; then the handshake takes at most
 * 2 s more). A host that drops the connection during the handshake (busy with other
 * handshakes) is tried again within the timeout. `name` may be NULL.
 * Caller owns `*out`; release with `yoton_connection_free` (that does not close it).
 */
int yoton_context_connect(const struct yoton_context *ctx,
                          const char *address,
                          double timeout,
                          const char *name,
                          struct yoton_connection **out);

/**
 * Close every connection ("Closed by the context.") and every channel. The context can bind
 * and connect again afterwards.
 */
int yoton_context_close(const struct yoton_context *ctx);

/**
 * Close every channel, keep the connections.
 */
int yoton_context_close_channels(const struct yoton_context *ctx);

/**
 * Wait until every connected connection has written what is queued. YOTON_ERR_TIMEOUT if that
 * takes more than `timeout` seconds (the original's default is 5; YOTON_FOREVER: no limit).
 */
int yoton_context_flush(const struct yoton_context *ctx, double timeout);

/**
 * Number of connections with a peer (hosting or connected).
 */
int yoton_context_connection_count(const struct yoton_context *ctx, size_t *out);

/**
 * The `index`-th connection with a peer, or with `include_waiting` also those waiting for one.
 * YOTON_ERR_INVALID_ARGUMENT if out of range. Caller owns `*out` (`yoton_connection_free`).
 */
int yoton_context_connection_at(const struct yoton_context *ctx,
                                size_t index,
                                bool include_waiting,
                                struct yoton_connection **out);

/**
 * Number of connections including those waiting for a peer.
 */
int yoton_context_connection_count_all(const struct yoton_context *ctx, size_t *out);

/**
 * The alive connection named `name`. YOTON_ERR_NOT_FOUND if there is none.
 * Caller owns `*out` (`yoton_connection_free`).
 */
int yoton_context_connection_by_name(const struct yoton_context *ctx,
                                     const char *name,
                                     struct yoton_connection **out);

/**
 * Queue limits for the startup queue and for channels and connections created afterwards:
 * at most `max_packages` packages and `max_bytes` bytes per queue (0 bytes: keep the current
 * byte limit); a full queue drops by `discard`. The default is (10000, 256 MiB, OLD).
 */
int yoton_context_set_queue_params(const struct yoton_context *ctx,
                                   size_t max_packages,
                                   size_t max_bytes,
                                   int discard);

/**
 * The current queue limits (see `yoton_context_set_queue_params`). Each out-pointer may be
 * NULL; `*discard` gets one of `yoton_discard`.
 */
int yoton_context_queue_params(const struct yoton_context *ctx,
                               size_t *max_packages,
                               size_t *max_bytes,
                               int *discard);

/**
 * Number of packages dropped so far by any queue of this context (discard policy).
 */
int yoton_context_discarded(const struct yoton_context *ctx, uint64_t *out);

/**
 * Largest message accepted from peers and allowed in sends (default 256 MiB, at least
 * 1024). A peer that announces more is disconnected with a reason, without allocating
 * anything for it.
 */
int yoton_context_set_max_message_size(const struct yoton_context *ctx, uint64_t bytes);

/**
 * The largest message size accepted and sent (see `yoton_context_set_max_message_size`).
 */
int yoton_context_max_message_size(const struct yoton_context *ctx, uint64_t *out);

/**
 * How long the context's I/O thread keeps polling instead of sleeping after one of its
 * requesters sent `req?` or a request, in seconds (default 50 µs; 0 turns it off; at most
 * 0.01). Lower RPC latency for some CPU: only this context's one I/O thread spins, and
 * repliers never do. NaN, negative or larger values:
 * YOTON_ERR_INVALID_ARGUMENT.
 */
int yoton_context_set_rpc_spin(const struct yoton_context *ctx, double seconds);

/**
 * The RPC spin of the context in seconds (see `yoton_context_set_rpc_spin`).
 */
int yoton_context_rpc_spin(const struct yoton_context *ctx, double *out);

/**
 * Loss-free mode (YOTON_DISCARD_BLOCK): a peer that nothing could be written to for
 * `seconds` while publications waited for it is disconnected ("The other end does not read
 * ..."), so a stalled peer stops the publications to everyone else for a bounded time only.
 * 0 means never; otherwise at least 0.5 (default 10). No effect in the other modes, where a
 * full queue discards. NaN, negative or 0 < seconds < 0.5: YOTON_ERR_INVALID_ARGUMENT.
 */
int yoton_context_set_stall_timeout(const struct yoton_context *ctx, double seconds);

/**
 * The stall timeout in seconds, 0 for never (see `yoton_context_set_stall_timeout`).
 */
int yoton_context_stall_timeout(const struct yoton_context *ctx, double *out);

/**
 * Number of packages waiting in the startup queue (sent while no connection existed).
 */
int yoton_context_startup_queued(const struct yoton_context *ctx, size_t *out);

/**
 * Static description of a status code. Never NULL; unknown codes give "unknown status code".
 */
const char *yoton_strerror(int code);

/**
 * Details of the last error on the calling thread ("" if none yet). Borrowed: valid until the
 * next yoton call on this thread. Successful calls do not clear it.
 */
const char *yoton_last_error(void);

/**
 * The library version as "MAJOR.MINOR.PATCH". Static, never NULL.
 */
const char *yoton_version(void);

/**
 * Run every queued event (callbacks, signal handlers, replies in event mode) on the calling
 * thread. `block` applies to the first event: 0 do not wait, negative wait until one comes
 * (or `yoton_stop_event_loop`), positive wait at most that many seconds. `*count` (may be
 * NULL) gets the number of events run. Calling it from inside a callback is refused.
 */
int yoton_process_events(double block, size_t *count);

/**
 * Process events until `yoton_stop_event_loop` is called. A nested call returns at once.
 */
int yoton_start_event_loop(void);

/**
 * Whether `yoton_start_event_loop` is running (in any thread).
 */
int yoton_event_loop_is_running(bool *out);

/**
 * Deprecated name of `yoton_event_loop_is_running` (predicates are named `_is_...`).
 */
YOTON_DEPRECATED("use yoton_event_loop_is_running") int yoton_event_loop_running(bool *out);

/**
 * Make `yoton_start_event_loop` return. Safe from any thread and from callbacks.
 */
int yoton_stop_event_loop(void);

/**
 * Run `callback(user_data)` on the event-processing thread after `delay` seconds: 0 queues it
 * at the back, a negative delay at the front. NaN, infinities and delays beyond
 * YOTON_TIMEOUT_MAX in magnitude are refused (YOTON_ERR_INVALID_ARGUMENT).
 * `free_user_data` (may be NULL) is called once after the call (or if it never happens).
 */
int yoton_call_later(double delay,
                     yoton_callback callback,
                     void *user_data,
                     yoton_free_fn free_user_data);

/**
 * Embed yoton's event loop in a host loop: `callback(user_data)` is invoked — from whichever
 * thread queues an event, so it may only post a job to the host loop — for the first event
 * queued after each `yoton_process_events`; the job must call `yoton_process_events(0, NULL)`
 * on the host's thread. NULL disables embedding (the previous user data is released).
 */
int yoton_embed_event_loop(yoton_callback callback, void *user_data, yoton_free_fn free_user_data);

/**
 * A file descriptor readable exactly while events are pending (level-triggered: no wakeup is
 * ever lost). Watch it with poll/epoll or a GLib/Qt socket notifier and call
 * `yoton_process_events(0, NULL)` when it is readable; never read from it or close it.
 */
int yoton_wakeup_fd(int *out);

/**
 * Seconds until the next timer or delayed call is due (0 if overdue, -1 if there is none):
 * a poll timeout for host loops.
 */
int yoton_time_until_next_timer(double *out);

/**
 * Number of events waiting to be processed.
 */
int yoton_pending_events(size_t *out);

/**
 * Create a signal. Caller owns `*out` (`yoton_signal_free`).
 */
int yoton_signal_new(struct yoton_signal **out);

/**
 * Release a signal: its handlers are unbound (their user data released); queued emissions
 * are skipped. NULL is a no-op.
 */
void yoton_signal_free(struct yoton_signal *sig);

/**
 * Bind `handler`; `*id` (may be NULL) identifies the binding for `yoton_signal_unbind`.
 * `free_user_data` (may be NULL) is called once when the binding ends.
 */
int yoton_signal_bind(const struct yoton_signal *sig,
                      yoton_signal_handler handler,
                      void *user_data,
                      yoton_free_fn free_user_data,
                      uint64_t *id);

/**
 * Unbind one handler (a queued emission of it is skipped). YOTON_ERR_INVALID_ARGUMENT if
 * not bound.
 */
int yoton_signal_unbind(const struct yoton_signal *sig, uint64_t id);

/**
 * Unbind every handler.
 */
int yoton_signal_unbind_all(const struct yoton_signal *sig);

/**
 * Queue one call per bound handler with (a copy of) `arg` (NULL: None). Any thread.
 */
int yoton_signal_emit(const struct yoton_signal *sig, const struct yoton_value *arg);

/**
 * Call every bound handler now, on the calling thread.
 */
int yoton_signal_emit_now(const struct yoton_signal *sig, const struct yoton_value *arg);

/**
 * Create a stopped timer with `interval` seconds (positive, finite). Caller owns `*out`
 * (`yoton_timer_free`).
 */
int yoton_timer_new(double interval, bool oneshot, struct yoton_timer **out);

/**
 * Stop and release a timer (its handlers are unbound). NULL is a no-op. Safe from inside
 * the timer's own callback.
 */
void yoton_timer_free(struct yoton_timer *t);

/**
 * (Re)start the timer. `interval` <= 0 keeps the current one (otherwise at most
 * YOTON_TIMEOUT_MAX); `oneshot` -1 keeps the mode, 0 repeats, 1 fires once, anything else is
 * YOTON_ERR_INVALID_ARGUMENT.
 */
int yoton_timer_start(const struct yoton_timer *t, double interval, int oneshot);

/**
 * Stop the timer (an expiry already queued as an event still runs its handlers).
 */
int yoton_timer_stop(const struct yoton_timer *t);

/**
 * Whether the timer is running.
 */
int yoton_timer_is_running(const struct yoton_timer *t, bool *out);

/**
 * Deprecated name of `yoton_timer_is_running` (predicates are named `_is_...`).
 */
YOTON_DEPRECATED("use yoton_timer_is_running")
int yoton_timer_running(const struct yoton_timer *t,
                        bool *out);

/**
 * Call `callback(user_data)` on the event-processing thread at every expiry. `*id` (may be
 * NULL) for `yoton_timer_unbind`; `free_user_data` (may be NULL) runs once when it ends.
 */
int yoton_timer_bind(const struct yoton_timer *t,
                     yoton_callback callback,
                     void *user_data,
                     yoton_free_fn free_user_data,
                     uint64_t *id);

/**
 * Unbind a timer callback. YOTON_ERR_INVALID_ARGUMENT if not bound.
 */
int yoton_timer_unbind(const struct yoton_timer *t, uint64_t id);

/**
 * Call `callback` (on the event-processing thread) once the future is done — at the next
 * event processing if it is done already. Not called if this handle was freed before.
 * `free_user_data` (may be NULL) is called once afterwards.
 */
int yoton_future_add_done_callback(const struct yoton_future *f,
                                   yoton_future_callback callback,
                                   void *user_data,
                                   yoton_free_fn free_user_data);

/**
 * A detached future that you complete yourself (`yoton_future_set_result`, ...).
 * Caller owns `*out` (`yoton_future_free`).
 */
int yoton_future_new(struct yoton_future **out);

/**
 * Release a future handle. NULL is a no-op.
 */
void yoton_future_free(struct yoton_future *f);

/**
 * The state, one of `yoton_future_status`.
 */
int yoton_future_get_status(const struct yoton_future *f, int *out);

/**
 * Cancelled, failed or succeeded.
 */
int yoton_future_is_done(const struct yoton_future *f, bool *out);

/**
 * Deprecated name of `yoton_future_is_done` (predicates are named `_is_...`).
 */
YOTON_DEPRECATED("use yoton_future_is_done")
int yoton_future_done(const struct yoton_future *f,
                      bool *out);

/**
 * Taken by a replier and not finished.
 */
int yoton_future_is_running(const struct yoton_future *f, bool *out);

/**
 * Deprecated name of `yoton_future_is_running` (predicates are named `_is_...`).
 */
YOTON_DEPRECATED("use yoton_future_is_running")
int yoton_future_running(const struct yoton_future *f,
                         bool *out);

/**
 * Cancelled.
 */
int yoton_future_is_cancelled(const struct yoton_future *f, bool *out);

/**
 * Deprecated name of `yoton_future_is_cancelled` (predicates are named `_is_...`).
 */
YOTON_DEPRECATED("use yoton_future_is_cancelled")
int yoton_future_cancelled(const struct yoton_future *f,
                           bool *out);

/**
 * Cancel a request no replier has taken yet. `*out` (may be NULL): false while it is
 * running, true if it is cancelled now or already done.
 */
int yoton_future_cancel(const struct yoton_future *f, bool *out);

/**
 * Wait up to `timeout` seconds (negative: forever, 0: do not wait) for the result.
 * Caller owns `*out` (`yoton_value_free`). Errors: YOTON_ERR_TIMEOUT, YOTON_ERR_CANCELLED,
 * YOTON_ERR_REMOTE (the replier's error text is in yoton_last_error() and
 * `yoton_future_exception`), YOTON_ERR_ENCODING (undecodable reply), YOTON_ERR_IO (the
 * replier's connection closed while it ran the request).
 */
int yoton_future_result(const struct yoton_future *f, double timeout, struct yoton_value **out);

/**
 * The error text of a failed request into `buf` (buffer convention of
 * `yoton_connection_name`), waiting like `yoton_future_result`. YOTON_ERR_INVALID_ARGUMENT
 * if the request succeeded; YOTON_ERR_TIMEOUT / YOTON_ERR_CANCELLED as for the result.
 */
int yoton_future_exception(const struct yoton_future *f,
                           double timeout,
                           char *buf,
                           size_t cap,
                           size_t *len);

/**
 * The result if it comes within `timeout` seconds (the original's default is 1; YOTON_FOREVER:
 * no limit); otherwise try to cancel the request: YOTON_ERR_CANCELLED if it was cancelled,
 * YOTON_ERR_TIMEOUT if a replier had already taken it (a running request cannot be
 * cancelled, as in the original; the future keeps running and can still be waited for).
 * Other errors as for `yoton_future_result`. Caller owns `*out` (`yoton_value_free`).
 */
int yoton_future_result_or_cancel(const struct yoton_future *f,
                                  double timeout,
                                  struct yoton_value **out);

/**
 * Cancel automatically if no replier took the request within `seconds` from the call
 * (negative: never). The default is the requester's (10 s).
 */
int yoton_future_set_auto_cancel_timeout(const struct yoton_future *f, double seconds);

/**
 * Executor side: move from waiting to running; `*out` is false if it was cancelled.
 */
int yoton_future_set_running_or_notify_cancel(const struct yoton_future *f, bool *out);

/**
 * Executor side: complete with (a copy of) `value`. YOTON_ERR_INVALID_ARGUMENT if done.
 */
int yoton_future_set_result(const struct yoton_future *f, const struct yoton_value *value);

/**
 * Executor side: complete with an error text (reported as YOTON_ERR_REMOTE).
 */
int yoton_future_set_exception(const struct yoton_future *f, const char *text);

/**
 * Release a message. NULL is a no-op.
 */
void yoton_message_free(struct yoton_message *msg);

/**
 * The body: `*data` (borrowed until `yoton_message_free`) and `*len`. A NUL byte always
 * follows the body in memory (not counted in `len`), so a TEXT body is a usable C string.
 */
int yoton_message_data(const struct yoton_message *msg, const void **data, size_t *len);

/**
 * Decode the body as an OBJECT value. Caller owns `*out` (`yoton_value_free`).
 * YOTON_ERR_ENCODING if the body is not a valid value.
 */
int yoton_message_value(const struct yoton_message *msg, struct yoton_value **out);

/**
 * Id of the context that sent the message.
 */
int yoton_message_source_id(const struct yoton_message *msg, uint64_t *out);

/**
 * The sender's sequence number of the message.
 */
int yoton_message_source_seq(const struct yoton_message *msg, uint64_t *out);

/**
 * Arrival order of the message among all channels of the receiving context.
 */
int yoton_message_recv_seq(const struct yoton_message *msg, uint64_t *out);

/**
 * Create a requester on slot base `base` (OBJECT). Caller owns `*out` (`yoton_channel_free`).
 */
int yoton_req_new(const struct yoton_context *ctx, const char *base, struct yoton_channel **out);

/**
 * Create a replier on slot base `base` (OBJECT), in mode YOTON_REP_OFF until
 * `yoton_rep_set_mode`. Caller owns `*out` (`yoton_channel_free`).
 */
int yoton_rep_new(const struct yoton_context *ctx, const char *base, struct yoton_channel **out);

/**
 * Call `method` with positional `args` (a tuple or list; NULL: none) and keyword `kwargs` (a
 * dict with string keys; NULL: none) on whichever replier takes it first. Returns at once
 * with a future: caller owns `*out` (`yoton_future_free`).
 */
int yoton_req_call(const struct yoton_channel *req,
                   const char *method,
                   const struct yoton_value *args,
                   const struct yoton_value *kwargs,
                   struct yoton_future **out);

/**
 * Auto-cancel timeout for new requests of this requester, in seconds (negative: never).
 */
int yoton_req_set_default_timeout(const struct yoton_channel *req, double seconds);

/**
 * Register `fn` as the handler of `method` (replacing any previous one, whose
 * `free_user_data` is then called). Only registered methods and the built-in `echo` can be
 * called. `free_user_data` (may be NULL) is called once with `user_data` when the
 * registration ends (replaced, unregistered, or the channel released).
 */
int yoton_rep_register(const struct yoton_channel *rep,
                       const char *method,
                       yoton_rep_handler handler,
                       void *user_data,
                       yoton_free_fn free_user_data);

/**
 * Remove the handler of `method`. YOTON_ERR_INVALID_ARGUMENT if there was none.
 */
int yoton_rep_unregister(const struct yoton_channel *rep, const char *method);

/**
 * Choose how requests are processed, one of `yoton_rep_mode`.
 */
int yoton_rep_set_mode(const struct yoton_channel *rep, int mode);

/**
 * The replier's mode: `*out` gets one of `yoton_rep_mode`.
 */
int yoton_rep_get_mode(const struct yoton_channel *rep, int *out);

/**
 * Handle every queued request now, in the calling thread, whatever the mode. `*handled` (may
 * be NULL) gets the number of packages processed.
 */
int yoton_rep_handle_pending(const struct yoton_channel *rep, size_t *handled);

/**
 * Answer with (a copy of) `result`.
 */
int yoton_reply_set_result(struct yoton_reply *reply, const struct yoton_value *result);

/**
 * Answer with an error text (the requester gets YOTON_ERR_REMOTE with this text).
 */
int yoton_reply_set_error(struct yoton_reply *reply, const char *text);

/**
 * Create a state channel on slot base `base` with message type `type_name` (as for
 * `yoton_pub_new`). Caller owns `*out` (`yoton_channel_free`).
 */
int yoton_state_new(const struct yoton_context *ctx,
                    const char *base,
                    const char *type_name,
                    struct yoton_channel **out);

/**
 * Set and broadcast the state (`len` bytes, copied, checked like `yoton_pub_send`). Nothing
 * happens if it equals the current state. An empty state cannot be sent once one exists.
 */
int yoton_state_send(const struct yoton_channel *ch, const void *data, size_t len);

/**
 * Set and broadcast an OBJECT state (borrowed, copied).
 */
int yoton_state_send_value(const struct yoton_channel *ch, const struct yoton_value *value);

/**
 * The current state (never blocks): an empty message until a state was sent or received.
 * Caller owns `*out` (`yoton_message_free`).
 */
int yoton_state_recv(const struct yoton_channel *ch, struct yoton_message **out);

/**
 * The current state of an OBJECT state channel, decoded (never blocks): None until a state
 * was sent or received. Caller owns `*out` (`yoton_value_free`). YOTON_ERR_ENCODING if the
 * state is not a valid value.
 */
int yoton_state_recv_value(const struct yoton_channel *ch, struct yoton_value **out);

/**
 * Broadcast the current state again (if there is one). Done automatically when a new
 * context joins the network.
 */
int yoton_state_send_last(const struct yoton_channel *ch);

/**
 * Create a simple socket. Caller owns `*out` (`yoton_simple_socket_free`).
 */
int yoton_simple_socket_new(struct yoton_simple_socket **out);

/**
 * Release a simple socket (its context closes once no other handle to it exists).
 */
void yoton_simple_socket_free(struct yoton_simple_socket *s);

/**
 * A new handle to the socket's context, to bind or connect. Caller owns `*out`
 * (`yoton_context_free`; that does not close the socket's context).
 */
int yoton_simple_socket_context(const struct yoton_simple_socket *s, struct yoton_context **out);

/**
 * Publish `len` bytes of UTF-8 text.
 */
int yoton_simple_socket_send(const struct yoton_simple_socket *s, const void *text, size_t len);

/**
 * Receive a text like `yoton_sub_recv`. Caller owns `*out` (`yoton_message_free`).
 */
int yoton_simple_socket_recv(const struct yoton_simple_socket *s,
                             double timeout,
                             struct yoton_message **out);

/**
 * A new None value. Caller owns it (`yoton_value_free`). Never NULL.
 */
struct yoton_value *yoton_value_new_none(void);

/**
 * A new bool value. Caller owns it (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_bool(bool b);

/**
 * A new integer value (i64, the OBJECT range). Caller owns it (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_int(int64_t i);

/**
 * A new float value (NaN and infinities allowed). Caller owns it (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_float(double f);

/**
 * A new empty list. Caller owns it (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_list(void);

/**
 * A new empty tuple (distinct from a list on the wire). Caller owns it (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_tuple(void);

/**
 * A new empty dict (keeps insertion order). Caller owns it (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_dict(void);

/**
 * A new string value from a NUL-terminated UTF-8 string (YOTON_ERR_ENCODING if not UTF-8).
 * Caller owns `*out` (`yoton_value_free`).
 */
int yoton_value_new_string(const char *text, struct yoton_value **out);

/**
 * A new string value from `len` bytes of UTF-8 (may contain NUL bytes).
 * Caller owns `*out` (`yoton_value_free`).
 */
int yoton_value_new_string_len(const char *data, size_t len, struct yoton_value **out);

/**
 * A new string value from a NUL-terminated UTF-8 string, returned like the other
 * constructors. NULL if `text` is NULL or not UTF-8 (the reason is in `yoton_last_error`).
 * Caller owns it (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_str(const char *text);

/**
 * A new tuple made of `items`, which it takes over: each item is owned by the tuple (or
 * released, if this fails) and must not be used or freed by the caller afterwards. The
 * short way to build call arguments:
 *     yoton_value *items[] = {yoton_value_new_int(2), yoton_value_new_str("x")};
 *     yoton_value *args = yoton_value_new_tuple_take(items, 2);
 * NULL (with `yoton_last_error`) if an item is NULL, e.g. a failed constructor; the other
 * items are released then too. Caller owns the tuple (`yoton_value_free`).
 */
struct yoton_value *yoton_value_new_tuple_take(struct yoton_value *const *items, size_t count);

/**
 * Like `yoton_value_new_tuple_take`, for a list.
 */
struct yoton_value *yoton_value_new_list_take(struct yoton_value *const *items, size_t count);

/**
 * Release a value (and everything inside it). NULL is a no-op.
 */
void yoton_value_free(struct yoton_value *value);

/**
 * A deep copy. Caller owns `*out` (`yoton_value_free`).
 */
int yoton_value_clone(const struct yoton_value *value, struct yoton_value **out);

/**
 * The kind of a value, one of `yoton_value_kind`.
 */
int yoton_value_get_kind(const struct yoton_value *value, int *out);

/**
 * The boolean of a bool value.
 */
int yoton_value_get_bool(const struct yoton_value *value, bool *out);

/**
 * The integer of an int value.
 */
int yoton_value_get_int(const struct yoton_value *value, int64_t *out);

/**
 * The number of a float value (an int value is converted too).
 */
int yoton_value_get_float(const struct yoton_value *value, double *out);

/**
 * The UTF-8 bytes of a string value: `*data` borrowed until the value is freed or changed,
 * `*len` bytes, not NUL-terminated (use `yoton_value_copy_string` for a C string).
 */
int yoton_value_get_string(const struct yoton_value *value, const char **data, size_t *len);

/**
 * Copy a string value into `buf` as a C string (see `yoton_connection_name` for the
 * buffer convention).
 */
int yoton_value_copy_string(const struct yoton_value *value, char *buf, size_t cap, size_t *len);

/**
 * Number of items of a list or tuple, or of pairs of a dict.
 */
int yoton_value_len(const struct yoton_value *value, size_t *out);

/**
 * Item `index` of a list or tuple; borrowed until the container is freed or changed.
 */
int yoton_value_item(const struct yoton_value *value, size_t index, const struct yoton_value **out);

/**
 * Pair `index` of a dict (insertion order); key and value borrowed like `yoton_value_item`.
 */
int yoton_value_dict_entry(const struct yoton_value *value,
                           size_t index,
                           const struct yoton_value **key,
                           const struct yoton_value **item);

/**
 * The value under the string key `key` of a dict (the last one if repeated); borrowed like
 * `yoton_value_item`. YOTON_ERR_NOT_FOUND if absent, YOTON_ERR_INVALID_ARGUMENT if `value` is
 * not a dict.
 */
int yoton_value_dict_get(const struct yoton_value *value,
                         const char *key,
                         const struct yoton_value **out);

/**
 * Append a copy of `item` to a list or tuple.
 */
int yoton_value_append(struct yoton_value *container, const struct yoton_value *item);

/**
 * Append `item` to a list or tuple, taking it over: the container owns it afterwards (or it
 * is released, if this fails), so `yoton_value_append_take(list, yoton_value_new_int(1))`
 * needs no temporary. A NULL item (a failed constructor) is YOTON_ERR_INVALID_ARGUMENT.
 */
int yoton_value_append_take(struct yoton_value *container, struct yoton_value *item);

/**
 * Set `dict[key] = item` for a string key (a copy of `item`): replaces the value of an equal
 * key, else appends.
 */
int yoton_value_dict_set_str(struct yoton_value *dict,
                             const char *key,
                             const struct yoton_value *item);

/**
 * Like `yoton_value_dict_set_str`, taking `item` over (see `yoton_value_append_take`).
 */
int yoton_value_dict_set_str_take(struct yoton_value *dict,
                                  const char *key,
                                  struct yoton_value *item);

/**
 * Set `dict[key] = item` (copies of both): replaces the value of an equal key (by Python's
 * `==`), else appends. Keys that are lists or dicts are refused (Python cannot decode them).
 */
int yoton_value_dict_set(struct yoton_value *dict,
                         const struct yoton_value *key,
                         const struct yoton_value *item);

/**
 * Python's `==`: numbers compare by value across bool, int and float (`True == 1 == 1.0`;
 * NaN equals nothing), lists and tuples item by item (a list never equals a tuple), dicts as
 * mappings whatever their order.
 */
int yoton_value_equal(const struct yoton_value *a, const struct yoton_value *b, bool *out);

/**
 * Encode into `buf` (the OBJECT wire bytes). `*len` (may be NULL) gets the encoded size;
 * if `cap` is smaller, nothing is written and YOTON_ERR_TOO_LARGE is returned (call with
 * cap 0 to ask for the size).
 */
int yoton_value_encode(const struct yoton_value *value, void *buf, size_t cap, size_t *len);

/**
 * Decode OBJECT wire bytes. Caller owns `*out` (`yoton_value_free`).
 * YOTON_ERR_ENCODING for truncated or invalid input.
 */
int yoton_value_decode(const void *data, size_t len, struct yoton_value **out);

/**
 * Python-style text of a value (`(1, 'a', [None, True], {'k': 1.5})`) into `buf`, with the
 * buffer convention of `yoton_connection_name`.
 */
int yoton_value_repr(const struct yoton_value *value, char *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* YOTON_H */
