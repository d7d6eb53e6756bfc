//! C API of the simple socket: `yoton_simple_socket_*`.

use std::ffi::{c_int, c_void};

use super::context::yoton_context;
use super::message::yoton_message;
use super::util::{
    bytes_arg, check_out, free_handle, guard, guard_void, handle, into_handle, timeout_arg,
};
use crate::channels::simple::SimpleSocket;
use crate::error::Error;

/// A context with a TEXT publisher and subscriber on slot base "text" (the original's
/// SimpleSocket). Caller owns it; release with `yoton_simple_socket_free`.
pub struct yoton_simple_socket {
    inner: SimpleSocket,
}

/// Create a simple socket. Caller owns `*out` (`yoton_simple_socket_free`).
#[no_mangle]
pub extern "C" fn yoton_simple_socket_new(out: *mut *mut yoton_simple_socket) -> c_int {
    guard(|| {
        check_out(out)?;
        into_handle(
            out,
            yoton_simple_socket {
                inner: SimpleSocket::new()?,
            },
        )
    })
}

/// Release a simple socket (its context closes once no other handle to it exists).
#[no_mangle]
pub extern "C" fn yoton_simple_socket_free(s: *mut yoton_simple_socket) {
    guard_void(|| free_handle(s));
}

/// A new handle to the socket's context, to bind or connect. Caller owns `*out`
/// (`yoton_context_free`; that does not close the socket's context).
#[no_mangle]
pub extern "C" fn yoton_simple_socket_context(
    s: *const yoton_simple_socket,
    out: *mut *mut yoton_context,
) -> c_int {
    guard(|| {
        into_handle(
            out,
            yoton_context {
                inner: handle(s, "simple socket")?.inner.context().clone(),
            },
        )
    })
}

/// Publish `len` bytes of UTF-8 text.
#[no_mangle]
pub extern "C" fn yoton_simple_socket_send(
    s: *const yoton_simple_socket,
    text: *const c_void,
    len: usize,
) -> c_int {
    guard(|| {
        let s = handle(s, "simple socket")?;
        let text = std::str::from_utf8(bytes_arg(text, len, "text")?)
            .map_err(|e| Error::encoding(format!("text is not UTF-8: {e}")))?;
        s.inner.send(text)
    })
}

/// Receive a text like `yoton_sub_recv`. Caller owns `*out` (`yoton_message_free`).
#[no_mangle]
pub extern "C" fn yoton_simple_socket_recv(
    s: *const yoton_simple_socket,
    timeout: f64,
    out: *mut *mut yoton_message,
) -> c_int {
    guard(|| {
        let s = handle(s, "simple socket")?;
        let timeout = timeout_arg(timeout)?;
        check_out(out)?;
        super::message::message_out(out, s.inner.recv(timeout)?)
    })
}
