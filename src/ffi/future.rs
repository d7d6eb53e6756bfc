//! C API of futures: `yoton_future_*`.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::util::{
    free_handle, guard, guard_or, guard_void, handle, into_handle, limit_arg, str_arg, timeout_arg,
    write_opt, write_out, write_str, yoton_free_fn, UserData, INTERNAL,
};
use super::value::{value_out, value_ref, yoton_value};
use crate::error::Error;
use crate::future::{Future, FutureStatus};

/// The future result of a request (`yoton_req_call`) or a detached future
/// (`yoton_future_new`). Caller owns it; release with `yoton_future_free` (a request still
/// in flight goes on; its result is simply dropped).
pub struct yoton_future {
    pub(crate) inner: Future,
    /// Cleared when this handle is freed: its done-callbacks are skipped from then on.
    alive: Arc<AtomicBool>,
}

impl yoton_future {
    pub(crate) fn new(inner: Future) -> yoton_future {
        yoton_future {
            inner,
            alive: Arc::new(AtomicBool::new(true)),
        }
    }
}

impl Drop for yoton_future {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::SeqCst);
    }
}

/// A done-callback: `future` is a borrowed handle valid for the call.
pub type yoton_future_callback =
    Option<extern "C" fn(user_data: *mut c_void, future: *const yoton_future)>;

/// Call `callback` (on the event-processing thread) once the future is done — at the next
/// event processing if it is done already. Not called if this handle was freed before.
/// `free_user_data` (may be NULL) is called once afterwards.
#[no_mangle]
pub extern "C" fn yoton_future_add_done_callback(
    f: *const yoton_future,
    callback: yoton_future_callback,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let f = handle(f, "future")?;
        let callback = callback.ok_or_else(|| Error::invalid("callback is NULL"))?;
        let alive = f.alive.clone();
        f.inner.add_done_callback(Box::new(move |future: &Future| {
            if alive.load(Ordering::SeqCst) {
                let borrowed = yoton_future::new(future.clone());
                callback(data.ptr(), &borrowed);
            }
        }));
        Ok(())
    })
}

/// Future states (the original's numbering).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_future_status {
    /// Not taken by a replier (or an executor) yet.
    YOTON_FUTURE_WAITING = 0,
    /// Taken, the result is not there yet.
    YOTON_FUTURE_RUNNING = 1,
    /// Cancelled before it ran.
    YOTON_FUTURE_CANCELLED = 2,
    /// Finished with an error (`yoton_future_exception`).
    YOTON_FUTURE_ERROR = 3,
    /// Finished with a result (`yoton_future_result`).
    YOTON_FUTURE_SUCCESS = 4,
}

/// A detached future that you complete yourself (`yoton_future_set_result`, ...).
/// Caller owns `*out` (`yoton_future_free`).
#[no_mangle]
pub extern "C" fn yoton_future_new(out: *mut *mut yoton_future) -> c_int {
    guard(|| into_handle(out, yoton_future::new(Future::new())))
}

/// Release a future handle. NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_future_free(f: *mut yoton_future) {
    guard_void(|| free_handle(f));
}

/// The state, one of `yoton_future_status`.
#[no_mangle]
pub extern "C" fn yoton_future_get_status(f: *const yoton_future, out: *mut c_int) -> c_int {
    guard(|| write_out(out, handle(f, "future")?.inner.status() as c_int))
}

/// Cancelled, failed or succeeded.
#[no_mangle]
pub extern "C" fn yoton_future_is_done(f: *const yoton_future, out: *mut bool) -> c_int {
    guard(|| write_out(out, handle(f, "future")?.inner.done()))
}

/// Deprecated name of `yoton_future_is_done` (predicates are named `_is_...`).
#[deprecated(note = "use yoton_future_is_done")]
#[no_mangle]
pub extern "C" fn yoton_future_done(f: *const yoton_future, out: *mut bool) -> c_int {
    guard_or(INTERNAL, || yoton_future_is_done(f, out))
}

/// Taken by a replier and not finished.
#[no_mangle]
pub extern "C" fn yoton_future_is_running(f: *const yoton_future, out: *mut bool) -> c_int {
    guard(|| write_out(out, handle(f, "future")?.inner.running()))
}

/// Deprecated name of `yoton_future_is_running` (predicates are named `_is_...`).
#[deprecated(note = "use yoton_future_is_running")]
#[no_mangle]
pub extern "C" fn yoton_future_running(f: *const yoton_future, out: *mut bool) -> c_int {
    guard_or(INTERNAL, || yoton_future_is_running(f, out))
}

/// Cancelled.
#[no_mangle]
pub extern "C" fn yoton_future_is_cancelled(f: *const yoton_future, out: *mut bool) -> c_int {
    guard(|| {
        write_out(
            out,
            handle(f, "future")?.inner.status() == FutureStatus::Cancelled,
        )
    })
}

/// Deprecated name of `yoton_future_is_cancelled` (predicates are named `_is_...`).
#[deprecated(note = "use yoton_future_is_cancelled")]
#[no_mangle]
pub extern "C" fn yoton_future_cancelled(f: *const yoton_future, out: *mut bool) -> c_int {
    guard_or(INTERNAL, || yoton_future_is_cancelled(f, out))
}

/// Cancel a request no replier has taken yet. `*out` (may be NULL): false while it is
/// running, true if it is cancelled now or already done.
#[no_mangle]
pub extern "C" fn yoton_future_cancel(f: *const yoton_future, out: *mut bool) -> c_int {
    guard(|| {
        let cancelled = handle(f, "future")?.inner.cancel();
        write_opt(out, cancelled)
    })
}

/// Wait up to `timeout` seconds (negative: forever, 0: do not wait) for the result.
/// Caller owns `*out` (`yoton_value_free`). Errors: YOTON_ERR_TIMEOUT, YOTON_ERR_CANCELLED,
/// YOTON_ERR_REMOTE (the replier's error text is in yoton_last_error() and
/// `yoton_future_exception`), YOTON_ERR_ENCODING (undecodable reply), YOTON_ERR_IO (the
/// replier's connection closed while it ran the request).
#[no_mangle]
pub extern "C" fn yoton_future_result(
    f: *const yoton_future,
    timeout: f64,
    out: *mut *mut yoton_value,
) -> c_int {
    guard(|| {
        let f = handle(f, "future")?;
        super::util::check_out(out)?;
        let value = f.inner.result(timeout_arg(timeout)?)?;
        value_out(out, value)
    })
}

/// The error text of a failed request into `buf` (buffer convention of
/// `yoton_connection_name`), waiting like `yoton_future_result`. YOTON_ERR_INVALID_ARGUMENT
/// if the request succeeded; YOTON_ERR_TIMEOUT / YOTON_ERR_CANCELLED as for the result.
#[no_mangle]
pub extern "C" fn yoton_future_exception(
    f: *const yoton_future,
    timeout: f64,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let f = handle(f, "future")?;
        match f.inner.exception(timeout_arg(timeout)?)? {
            Some(err) => write_str(err.message(), buf, cap, len),
            None => Err(Error::invalid(
                "the request succeeded: there is no exception",
            )),
        }
    })
}

/// The result if it comes within `timeout` seconds (the original's default is 1; YOTON_FOREVER:
/// no limit); otherwise try to cancel the request: YOTON_ERR_CANCELLED if it was cancelled,
/// YOTON_ERR_TIMEOUT if a replier had already taken it (a running request cannot be
/// cancelled, as in the original; the future keeps running and can still be waited for).
/// Other errors as for `yoton_future_result`. Caller owns `*out` (`yoton_value_free`).
#[no_mangle]
pub extern "C" fn yoton_future_result_or_cancel(
    f: *const yoton_future,
    timeout: f64,
    out: *mut *mut yoton_value,
) -> c_int {
    guard(|| {
        let f = handle(f, "future")?;
        super::util::check_out(out)?;
        let timeout = limit_arg(timeout)?;
        match f.inner.result_or_cancel(timeout)? {
            Some(value) => value_out(out, value),
            None => Err(Error::new(
                crate::ErrorKind::Cancelled,
                "no result within the timeout: the request was cancelled",
            )),
        }
    })
}

/// Cancel automatically if no replier took the request within `seconds` from the call
/// (negative: never). The default is the requester's (10 s).
#[no_mangle]
pub extern "C" fn yoton_future_set_auto_cancel_timeout(
    f: *const yoton_future,
    seconds: f64,
) -> c_int {
    guard(|| {
        let f = handle(f, "future")?;
        f.inner.set_auto_cancel_timeout(timeout_arg(seconds)?);
        Ok(())
    })
}

/// Executor side: move from waiting to running; `*out` is false if it was cancelled.
#[no_mangle]
pub extern "C" fn yoton_future_set_running_or_notify_cancel(
    f: *const yoton_future,
    out: *mut bool,
) -> c_int {
    guard(|| {
        let f = handle(f, "future")?;
        super::util::check_out(out)?;
        write_out(out, f.inner.set_running_or_notify_cancel()?)
    })
}

/// Executor side: complete with (a copy of) `value`. YOTON_ERR_INVALID_ARGUMENT if done.
#[no_mangle]
pub extern "C" fn yoton_future_set_result(
    f: *const yoton_future,
    value: *const yoton_value,
) -> c_int {
    guard(|| {
        handle(f, "future")?
            .inner
            .set_result(value_ref(value, "value")?.clone())
    })
}

/// Executor side: complete with an error text (reported as YOTON_ERR_REMOTE).
#[no_mangle]
pub extern "C" fn yoton_future_set_exception(f: *const yoton_future, text: *const c_char) -> c_int {
    guard(|| {
        handle(f, "future")?
            .inner
            .set_exception(str_arg(text, "text")?)
    })
}
