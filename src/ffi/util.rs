//! Shared helpers of the C API: the panic/error boundary, pointer checks and conversions.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::ffi::error::set_last_error;

// The panic boundary. The whole body of every exported function runs inside exactly one of
// `guard`, `guard_void` or `guard_or`: since Rust 1.81 a panic unwinding out of an
// `extern "C"` function aborts the host process, so none may escape. tests/ffi_boundary.rs
// fails if an exported function does anything outside these calls.

/// Run `body`, turning `Err` and panics into a status code (and the thread's last error).
pub(crate) fn guard(body: impl FnOnce() -> Result<()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(err)) => set_last_error(&err),
        Err(panic) => {
            let what = crate::error::panic_text(&*panic);
            set_last_error(&Error::new(
                ErrorKind::Internal,
                format!("panic inside yoton: {what}"),
            ))
        }
    }
}

/// Run `body` that cannot report an error (e.g. `_free`), swallowing panics.
pub(crate) fn guard_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// The status `guard_or` falls back to for a function returning a status (a panic: a bug).
pub(crate) const INTERNAL: c_int = crate::ErrorKind::Internal as c_int;

/// Run `body` that returns a value rather than a status; a panic gives `fallback`.
pub(crate) fn guard_or<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Borrow a handle, or fail with a clear message naming the argument.
pub(crate) fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: handles are created by Box::into_raw in this module and only freed by their
    // `_free`, which the caller must not race (header contract). NULL is checked.
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// Mutable variant of `handle`, for values being built.
pub(crate) fn handle_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: as for `handle`; the caller must not share a value being mutated across threads.
    unsafe { ptr.as_mut() }.ok_or_else(|| Error::invalid(format!("{what} is NULL")))
}

/// Write `value` through an out-pointer (only on success; NULL out-pointers are an error).
pub(crate) fn write_out<T>(out: *mut T, value: T) -> Result<()> {
    if out.is_null() {
        return Err(Error::invalid("output pointer is NULL"));
    }
    // SAFETY: non-NULL, and the caller promises it points to writable storage for a T.
    unsafe { out.write(value) };
    Ok(())
}

/// Check an out-pointer before doing work whose result would otherwise be lost.
pub(crate) fn check_out<T>(out: *mut T) -> Result<()> {
    if out.is_null() {
        Err(Error::invalid("output pointer is NULL"))
    } else {
        Ok(())
    }
}

/// Move a Rust value to the heap and hand it to C (released by the matching `_free`).
pub(crate) fn into_handle<T>(out: *mut *mut T, value: T) -> Result<()> {
    check_out(out)?;
    write_out(out, live::made(Box::into_raw(Box::new(value))))
}

/// Release a handle made by `into_handle`; NULL is a no-op.
pub(crate) fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() && live::released(ptr) {
        // SAFETY: made by Box::into_raw in `into_handle`; the caller frees each handle once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// A required NUL-terminated UTF-8 string argument.
pub(crate) fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes)
        .map_err(|e| Error::encoding(format!("{what} is not valid UTF-8: {e}")))
}

/// An optional string argument: NULL gives None.
pub(crate) fn opt_str_arg<'a>(ptr: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        Ok(None)
    } else {
        str_arg(ptr, what).map(Some)
    }
}

/// A `(data, len)` byte argument; data may be NULL only when len is 0.
pub(crate) fn bytes_arg<'a>(
    data: *const std::ffi::c_void,
    len: usize,
    what: &str,
) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!("{what} length {len} is too large")));
    }
    // SAFETY: non-NULL, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// Copy `text` into a caller buffer as a NUL-terminated string. `*len_out` (if non-NULL)
/// receives the length without the NUL, always. If `cap` is too small (including cap 0 with a
/// NULL buffer, the way to ask for the length), nothing is written and YOTON_ERR_TOO_LARGE
/// is returned.
pub(crate) fn write_str(
    text: &str,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> Result<()> {
    if !len_out.is_null() {
        write_out(len_out, text.len())?;
    }
    if buf.is_null() || cap <= text.len() {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "buffer of {cap} bytes is too small for {} bytes plus NUL",
                text.len()
            ),
        ));
    }
    // SAFETY: buf has at least cap > text.len() writable bytes by the caller's contract.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        *buf.add(text.len()) = 0;
    }
    Ok(())
}

/// A timeout argument meaning "no limit". Any negative value, and +infinity, mean the same.
/// (The C macro is written in cbindgen.toml: cbindgen would drop its parentheses.)
pub const YOTON_FOREVER: f64 = -1.0;

/// The largest finite timeout, delay or interval accepted, in seconds (about 31.7 years).
/// Larger finite values and NaN are refused with YOTON_ERR_INVALID_ARGUMENT: they are
/// mistakes (a wrong unit, an uninitialised variable), not wishes; YOTON_FOREVER says "no limit".
pub const YOTON_TIMEOUT_MAX: f64 = 1e9;

/// How long (seconds) `yoton_channel_free` of a replier and `yoton_request_server_free` wait
/// for a handler still running on another thread. Mirrors `yoton::HANDLER_WAIT`.
pub const YOTON_HANDLER_WAIT: f64 = 2.0;

const _: () = assert!(crate::HANDLER_WAIT.as_millis() == (YOTON_HANDLER_WAIT * 1000.0) as u128);

/// The longest slot base name or address accepted, in bytes (YOTON_ERR_INVALID_ARGUMENT
/// beyond): the original's slot and port hashes cost time quadratic in the name's length.
pub const YOTON_MAX_NAME_BYTES: usize = 8192;

const _: () = assert!(YOTON_TIMEOUT_MAX == crate::events::MAX_SECONDS);
const _: () = assert!(YOTON_MAX_NAME_BYTES == crate::protocol::MAX_NAME_BYTES);

/// A timeout argument, by the one rule of the C API (header preamble "Timeouts"): 0 do not
/// wait, positive at most that long (up to YOTON_TIMEOUT_MAX), negative or +inf no limit
/// (None). NaN and finite values above the maximum are invalid.
pub(crate) fn timeout_arg(seconds: f64) -> Result<Option<Duration>> {
    if seconds < 0.0 || seconds == f64::INFINITY {
        return Ok(None);
    }
    if seconds.is_nan() || seconds > YOTON_TIMEOUT_MAX {
        return Err(Error::invalid(format!(
            "a timeout must be at most {YOTON_TIMEOUT_MAX:e} s, or YOTON_FOREVER for no limit (got {seconds})"
        )));
    }
    // Nanoseconds fit a u64 up to YOTON_TIMEOUT_MAX; this is a multiply and a conversion,
    // where `Duration::from_secs_f64` (bit-exact) was 1.4 % of a busy receiving thread.
    Ok(Some(Duration::from_nanos((seconds * 1e9 + 0.5) as u64)))
}

/// A timeout argument for a wait that needs a bound to compute deadlines: "no limit" becomes
/// YOTON_TIMEOUT_MAX, which no caller outlives.
pub(crate) fn limit_arg(seconds: f64) -> Result<Duration> {
    Ok(timeout_arg(seconds)?.unwrap_or(Duration::from_secs_f64(YOTON_TIMEOUT_MAX)))
}

/// Called exactly once with a callback's user data when its binding ends.
pub type yoton_free_fn = Option<extern "C" fn(user_data: *mut c_void)>;

/// A callback's user data: handed back to C on every call, released exactly once (with the
/// user's `free_user_data`, if any) when the binding is dropped.
pub(crate) struct UserData {
    ptr: *mut c_void,
    free: yoton_free_fn,
}

// SAFETY: the header contract makes the user responsible for user_data being usable from the
// thread the callback runs on (the event-processing thread, or a replier thread).
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

impl UserData {
    pub(crate) fn new(ptr: *mut c_void, free: yoton_free_fn) -> UserData {
        UserData { ptr, free }
    }
    pub(crate) fn ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // A panic must not unwind out of a destructor into C.
            let ptr = self.ptr;
            guard_void(|| free(ptr));
        }
    }
}

/// A `(pointer, count)` array argument; NULL only when count is 0.
pub(crate) fn array_arg<'a, T>(ptr: *const T, count: usize, what: &str) -> Result<&'a [T]> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its count is {count}"
        )));
    }
    // SAFETY: non-NULL, and the caller promises `count` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// A `(pointer, count)` output array argument (a caller buffer yoton writes into); NULL only
/// when count is 0.
pub(crate) fn array_out_arg<'a, T>(ptr: *mut T, count: usize, what: &str) -> Result<&'a mut [T]> {
    if count == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its size is {count}"
        )));
    }
    if count > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid(format!("{what} size {count} is too large")));
    }
    // SAFETY: non-NULL, and the caller promises `count` writable elements, not aliased while
    // the call runs.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, count) })
}

/// Debug builds remember every pointer handed to C to be freed, so that freeing one twice (or
/// freeing a pointer yoton never made, such as a borrowed child value) is ignored and reported
/// in `yoton_last_error` instead of corrupting memory. Release builds skip the bookkeeping: it
/// costs a global lock per handle. (A pointer freed and then made again — the allocator or
/// the message pool reusing the address — cannot be told apart; this catches the rest.)
pub(crate) mod live {
    #[cfg(debug_assertions)]
    static LIVE: parking_lot::Mutex<Option<std::collections::HashSet<usize>>> =
        parking_lot::Mutex::new(None);

    /// Record a pointer handed to C; returns it.
    pub(crate) fn made<T: ?Sized>(ptr: *mut T) -> *mut T {
        #[cfg(debug_assertions)]
        LIVE.lock()
            .get_or_insert_with(Default::default)
            .insert(ptr.cast::<u8>() as usize);
        ptr
    }

    /// Whether `ptr` may be released now (it was made and not yet released); if not, the
    /// thread's last error says why.
    pub(crate) fn released<T: ?Sized>(ptr: *const T) -> bool {
        #[cfg(debug_assertions)]
        {
            let known = LIVE
                .lock()
                .get_or_insert_with(Default::default)
                .remove(&(ptr.cast::<u8>() as usize));
            if !known {
                let what = std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("handle");
                let ptr = ptr.cast::<u8>();
                super::set_last_error(&super::Error::invalid(format!(
                    "{what} {ptr:p} was freed already, or was not made by yoton: the free is ignored (a debug-build check)"
                )));
            }
            known
        }
        #[cfg(not(debug_assertions))]
        {
            let _ = ptr;
            true
        }
    }
}

/// Release a C string made by `CString::into_raw` in this library; NULL is a no-op.
pub(crate) fn free_cstring(text: *mut c_char) {
    if !text.is_null() && live::released(text) {
        // SAFETY: made by CString::into_raw here; the caller frees each string once.
        drop(unsafe { std::ffi::CString::from_raw(text) });
    }
}

/// Write through an optional out-pointer: NULL means the caller does not want the value.
pub(crate) fn write_opt<T>(out: *mut T, value: T) -> Result<()> {
    if out.is_null() {
        Ok(())
    } else {
        write_out(out, value)
    }
}
