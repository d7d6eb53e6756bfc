//! C API of connections: `yoton_connection_*`.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use super::util::{
    free_handle, guard, guard_void, handle, limit_arg, opt_str_arg, str_arg, write_opt, write_out,
    write_str, yoton_free_fn, UserData,
};
use crate::connection::Connection;

/// A connection between two contexts. Handles come from `yoton_context_bind`,
/// `yoton_context_connect` or the `yoton_context_connection_*` lookups; release with
/// `yoton_connection_free`, which does not close the connection (the context owns it).
pub struct yoton_connection {
    pub(crate) inner: Connection,
    /// Callbacks bound through this handle: unbound when it is freed.
    bindings: parking_lot::Mutex<Vec<(Which, u64)>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Closed,
    Timedout,
}

impl yoton_connection {
    pub(crate) fn new(inner: Connection) -> yoton_connection {
        yoton_connection {
            inner,
            bindings: parking_lot::Mutex::new(Vec::new()),
        }
    }
    fn unbind(&self, which: Which, id: u64) -> bool {
        match which {
            Which::Closed => self.inner.closed_signal().unbind(id),
            Which::Timedout => self.inner.timedout_signal().unbind(id),
        }
    }
}

impl Drop for yoton_connection {
    fn drop(&mut self) {
        let bindings = std::mem::take(&mut *self.bindings.lock());
        for (which, id) in bindings {
            self.unbind(which, id);
        }
    }
}

/// Handler of a connection's `closed` signal: `reason` is borrowed for the call.
pub type yoton_closed_handler =
    Option<extern "C" fn(user_data: *mut c_void, reason: *const c_char)>;
/// Handler of a connection's `timedout` signal: true when the peer went silent, false when it
/// is heard from again.
pub type yoton_timedout_handler = Option<extern "C" fn(user_data: *mut c_void, timedout: bool)>;

/// Call `handler` (on the event-processing thread) when the connection closes, with the reason.
/// `*id` (may be NULL) identifies the binding for `yoton_connection_unbind`. The binding ends
/// when unbound or when this handle is freed; then `free_user_data` (may be NULL) is called.
#[no_mangle]
pub extern "C" fn yoton_connection_on_closed(
    conn: *const yoton_connection,
    handler: yoton_closed_handler,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
    id: *mut u64,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let conn = handle(conn, "connection")?;
        let handler = handler.ok_or_else(|| crate::Error::invalid("handler is NULL"))?;
        let bound = conn
            .inner
            .closed_signal()
            .bind(Arc::new(move |reason: &String| {
                let text = CString::new(reason.replace('\0', "")).unwrap_or_default();
                handler(data.ptr(), text.as_ptr());
            }));
        conn.bindings.lock().push((Which::Closed, bound));
        write_opt(id, bound)?;
        Ok(())
    })
}

/// Call `handler` (on the event-processing thread) when the `timedout` state changes. Binding
/// and `id` as for `yoton_connection_on_closed`.
#[no_mangle]
pub extern "C" fn yoton_connection_on_timedout(
    conn: *const yoton_connection,
    handler: yoton_timedout_handler,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
    id: *mut u64,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let conn = handle(conn, "connection")?;
        let handler = handler.ok_or_else(|| crate::Error::invalid("handler is NULL"))?;
        let bound = conn
            .inner
            .timedout_signal()
            .bind(Arc::new(move |t: &bool| handler(data.ptr(), *t)));
        // Closed and timedout ids come from different counters: keep them apart.
        conn.bindings.lock().push((Which::Timedout, bound));
        write_opt(id, bound | TIMEDOUT_ID_FLAG)?;
        Ok(())
    })
}

/// Marks ids of timedout bindings (closed ones are below it).
const TIMEDOUT_ID_FLAG: u64 = 1 << 63;

/// End a binding made through this handle. YOTON_ERR_INVALID_ARGUMENT if it is not bound.
#[no_mangle]
pub extern "C" fn yoton_connection_unbind(conn: *const yoton_connection, id: u64) -> c_int {
    guard(|| {
        let conn = handle(conn, "connection")?;
        let key = if id & TIMEDOUT_ID_FLAG != 0 {
            (Which::Timedout, id & !TIMEDOUT_ID_FLAG)
        } else {
            (Which::Closed, id)
        };
        let mut bindings = conn.bindings.lock();
        let Some(pos) = bindings.iter().position(|b| *b == key) else {
            return Err(crate::Error::invalid(format!(
                "no binding {id} on this connection handle"
            )));
        };
        bindings.remove(pos);
        drop(bindings);
        conn.unbind(key.0, key.1);
        Ok(())
    })
}

/// Connection status values (as in the original).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_connection_status {
    /// Closed (see `yoton_connection_close_reason`).
    YOTON_STATUS_CLOSED = 0,
    /// Closing: the close package is on its way.
    YOTON_STATUS_CLOSING = 1,
    /// Bound, waiting for a peer.
    YOTON_STATUS_WAITING = 2,
    /// Bound side, peer connected.
    YOTON_STATUS_HOSTING = 3,
    /// Connecting side, connected.
    YOTON_STATUS_CONNECTED = 4,
}

/// Release a connection handle (the connection stays open). NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_connection_free(conn: *mut yoton_connection) {
    guard_void(|| free_handle(conn));
}

/// The status, one of `yoton_connection_status`.
#[no_mangle]
pub extern "C" fn yoton_connection_get_status(
    conn: *const yoton_connection,
    out: *mut c_int,
) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.status() as c_int))
}

/// Waiting, hosting or connected.
#[no_mangle]
pub extern "C" fn yoton_connection_is_alive(
    conn: *const yoton_connection,
    out: *mut bool,
) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.is_alive()))
}

/// Hosting or connected.
#[no_mangle]
pub extern "C" fn yoton_connection_is_connected(
    conn: *const yoton_connection,
    out: *mut bool,
) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.is_connected()))
}

/// Bound and waiting for a peer.
#[no_mangle]
pub extern "C" fn yoton_connection_is_waiting(
    conn: *const yoton_connection,
    out: *mut bool,
) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.is_waiting()))
}

/// True while nothing has arrived from the peer for longer than the timeout (the original's
/// `timedout` signal state). The connection is not closed by this.
#[no_mangle]
pub extern "C" fn yoton_connection_is_timedout(
    conn: *const yoton_connection,
    out: *mut bool,
) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.is_timedout()))
}

/// Local host (IP text) into `buf` (NUL-terminated). `*len` (may be NULL) gets the length
/// without NUL; a too small `buf` gives YOTON_ERR_TOO_LARGE and `*len` still set.
#[no_mangle]
pub extern "C" fn yoton_connection_hostname1(
    conn: *const yoton_connection,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        write_str(
            &handle(conn, "connection")?.inner.hostname1(),
            buf,
            cap,
            len,
        )
    })
}

/// Peer host (IP text), like `yoton_connection_hostname1`. Empty while waiting.
#[no_mangle]
pub extern "C" fn yoton_connection_hostname2(
    conn: *const yoton_connection,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        write_str(
            &handle(conn, "connection")?.inner.hostname2(),
            buf,
            cap,
            len,
        )
    })
}

/// Local port (for a waiting connection: the listening port).
#[no_mangle]
pub extern "C" fn yoton_connection_port1(conn: *const yoton_connection, out: *mut u16) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.port1()))
}

/// Peer port (0 while waiting).
#[no_mangle]
pub extern "C" fn yoton_connection_port2(conn: *const yoton_connection, out: *mut u16) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.port2()))
}

/// Own context id.
#[no_mangle]
pub extern "C" fn yoton_connection_id1(conn: *const yoton_connection, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.id1()))
}

/// Peer context id (0 while waiting).
#[no_mangle]
pub extern "C" fn yoton_connection_id2(conn: *const yoton_connection, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.id2()))
}

/// Own process id.
#[no_mangle]
pub extern "C" fn yoton_connection_pid1(conn: *const yoton_connection, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.pid1()))
}

/// Peer process id as announced in its handshake (0 while waiting).
#[no_mangle]
pub extern "C" fn yoton_connection_pid2(conn: *const yoton_connection, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.pid2()))
}

/// The connection's name into `buf`, like `yoton_connection_hostname1`.
#[no_mangle]
pub extern "C" fn yoton_connection_name(
    conn: *const yoton_connection,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| write_str(&handle(conn, "connection")?.inner.name(), buf, cap, len))
}

/// Set the connection's name (UTF-8, copied).
#[no_mangle]
pub extern "C" fn yoton_connection_set_name(
    conn: *const yoton_connection,
    name: *const c_char,
) -> c_int {
    guard(|| {
        let conn = handle(conn, "connection")?;
        conn.inner.set_name(str_arg(name, "name")?);
        Ok(())
    })
}

/// The `timedout` detection timeout in seconds (default 0.5).
#[no_mangle]
pub extern "C" fn yoton_connection_timeout(conn: *const yoton_connection, out: *mut f64) -> c_int {
    guard(|| write_out(out, handle(conn, "connection")?.inner.timeout()))
}

/// Set the `timedout` detection timeout; at least 0.5 s (YOTON_ERR_INVALID_ARGUMENT otherwise).
#[no_mangle]
pub extern "C" fn yoton_connection_set_timeout(
    conn: *const yoton_connection,
    seconds: f64,
) -> c_int {
    guard(|| handle(conn, "connection")?.inner.set_timeout(seconds))
}

/// Close the connection once it has stayed `timedout` for `seconds` (0: never, the default,
/// as in the original; otherwise at least 0.1 and at most YOTON_TIMEOUT_MAX). The close reason
/// then starts with "Connection timed out and stayed so for". Where a link may stay down this
/// bounds how long a dead peer keeps its connection: TCP alone gives up only after many
/// minutes, and never on an idle connection. YOTON_ERR_INVALID_ARGUMENT for other values.
#[no_mangle]
pub extern "C" fn yoton_connection_set_close_after_timedout(
    conn: *const yoton_connection,
    seconds: f64,
) -> c_int {
    guard(|| {
        let conn = handle(conn, "connection")?;
        if seconds < 0.0 || seconds == f64::INFINITY {
            return Err(crate::Error::invalid(format!(
                "close-after-timedout is 0 (never) or a number of seconds, not {seconds}"
            )));
        }
        let after = super::util::timeout_arg(seconds)?.filter(|d| !d.is_zero());
        conn.inner.set_close_after_timedout(after)
    })
}

/// The close-after-timedout setting in seconds, 0 for never (see
/// `yoton_connection_set_close_after_timedout`).
#[no_mangle]
pub extern "C" fn yoton_connection_close_after_timedout(
    conn: *const yoton_connection,
    out: *mut f64,
) -> c_int {
    guard(|| {
        let after = handle(conn, "connection")?.inner.close_after_timedout();
        write_out(out, after.map_or(0.0, |d| d.as_secs_f64()))
    })
}

/// Why the connection closed, into `buf` like `yoton_connection_hostname1`.
/// YOTON_ERR_INVALID_ARGUMENT while it is not closed.
#[no_mangle]
pub extern "C" fn yoton_connection_close_reason(
    conn: *const yoton_connection,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let reason = handle(conn, "connection")?
            .inner
            .close_reason()
            .ok_or_else(|| crate::Error::invalid("the connection is not closed"))?;
        write_str(&reason, buf, cap, len)
    })
}

/// Close, telling the peer (close package). `reason` may be NULL ("Closed on command.").
/// Queued packages are dropped: call `yoton_connection_flush` first to deliver them.
/// Closing a closed connection is a no-op.
#[no_mangle]
pub extern "C" fn yoton_connection_close(
    conn: *const yoton_connection,
    reason: *const c_char,
) -> c_int {
    guard(|| {
        let conn = handle(conn, "connection")?;
        conn.inner.close(opt_str_arg(reason, "reason")?);
        Ok(())
    })
}

/// Close without telling the peer. `reason` may be NULL ("Unspecified problem").
#[no_mangle]
pub extern "C" fn yoton_connection_close_on_problem(
    conn: *const yoton_connection,
    reason: *const c_char,
) -> c_int {
    guard(|| {
        let conn = handle(conn, "connection")?;
        conn.inner.close_on_problem(opt_str_arg(reason, "reason")?);
        Ok(())
    })
}

/// Wait until everything queued so far is written to the socket. YOTON_ERR_TIMEOUT after
/// `timeout` seconds (the original's default is 3; YOTON_FOREVER: no limit); YOTON_ERR_CLOSED if
/// not connected.
#[no_mangle]
pub extern "C" fn yoton_connection_flush(conn: *const yoton_connection, timeout: f64) -> c_int {
    guard(|| {
        let conn = handle(conn, "connection")?;
        conn.inner.flush(limit_arg(timeout)?)
    })
}
