//! Status codes, `yoton_strerror`, the thread-local last error and the version API.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

use super::util::guard_or;
use crate::error::{Error, ErrorKind};

/// Major version of the header this library was built with.
pub const YOTON_VERSION_MAJOR: c_int = 0;
/// Minor version.
pub const YOTON_VERSION_MINOR: c_int = 2;
/// Patch version.
pub const YOTON_VERSION_PATCH: c_int = 0;

/// Status codes returned by every fallible function. `YOTON_OK` (0) is success.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_status {
    /// Success.
    YOTON_OK = 0,
    /// NULL pointer, value out of range, malformed address or name, wrong channel kind.
    YOTON_ERR_INVALID_ARGUMENT = 1,
    /// The object is closed.
    YOTON_ERR_CLOSED = 2,
    /// Nothing happened within the timeout (or a non-blocking call found nothing).
    YOTON_ERR_TIMEOUT = 3,
    /// The request or future was cancelled.
    YOTON_ERR_CANCELLED = 4,
    /// Operating-system I/O error (connection refused, socket error, ...).
    YOTON_ERR_IO = 5,
    /// No port of the requested range could be bound.
    YOTON_ERR_ADDRESS_IN_USE = 6,
    /// The peer is not a yoton peer, or it presented our own id.
    YOTON_ERR_HANDSHAKE = 7,
    /// Above the configured maximum message size, or a caller buffer is too small.
    YOTON_ERR_TOO_LARGE = 8,
    /// Invalid UTF-8 or an undecodable OBJECT value.
    YOTON_ERR_ENCODING = 9,
    /// The remote side reported an error.
    YOTON_ERR_REMOTE = 10,
    /// A bug in yoton (including a caught panic).
    YOTON_ERR_INTERNAL = 11,
    /// A lookup found nothing (no such dict key, no connection of that name). Before 0.2 these
    /// were YOTON_ERR_INVALID_ARGUMENT.
    YOTON_ERR_NOT_FOUND = 12,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Record `err` as this thread's last error and return its status code.
pub(crate) fn set_last_error(err: &Error) -> c_int {
    // Only the details: the status code's own text is yoton_strerror's.
    let text = err.message().replace('\0', "\\0");
    LAST_ERROR.with(|cell| *cell.borrow_mut() = CString::new(text).unwrap_or_default());
    err.kind() as c_int
}

/// Static description of a status code. Never NULL; unknown codes give "unknown status code".
#[no_mangle]
pub extern "C" fn yoton_strerror(code: c_int) -> *const c_char {
    guard_or(c"unknown status code".as_ptr(), || {
        status_text(code).as_ptr()
    })
}

fn status_text(code: c_int) -> &'static std::ffi::CStr {
    match code {
        0 => c"success",
        1 => c"invalid argument",
        2 => c"object is closed",
        3 => c"timed out",
        4 => c"cancelled",
        5 => c"I/O error",
        6 => c"address in use",
        7 => c"handshake failed",
        8 => c"message too large",
        9 => c"invalid encoding",
        10 => c"remote error",
        11 => c"internal error",
        12 => c"not found",
        _ => c"unknown status code",
    }
}

/// Details of the last error on the calling thread ("" if none yet). Borrowed: valid until the
/// next yoton call on this thread. Successful calls do not clear it.
#[no_mangle]
pub extern "C" fn yoton_last_error() -> *const c_char {
    guard_or(c"".as_ptr(), || {
        LAST_ERROR.with(|cell| cell.borrow().as_ptr())
    })
}

/// The library version as "MAJOR.MINOR.PATCH". Static, never NULL.
#[no_mangle]
pub extern "C" fn yoton_version() -> *const c_char {
    guard_or(c"".as_ptr(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// Check that an ErrorKind discriminant equals its C status (compile-time contract).
const _: () = {
    assert!(ErrorKind::InvalidArgument as i32 == yoton_status::YOTON_ERR_INVALID_ARGUMENT as i32);
    assert!(ErrorKind::Internal as i32 == yoton_status::YOTON_ERR_INTERNAL as i32);
    assert!(ErrorKind::Encoding as i32 == yoton_status::YOTON_ERR_ENCODING as i32);
    assert!(ErrorKind::NotFound as i32 == yoton_status::YOTON_ERR_NOT_FOUND as i32);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_cargo() {
        assert_eq!(
            YOTON_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            YOTON_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            YOTON_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }
}
