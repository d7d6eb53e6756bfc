//! C API of received messages: `yoton_message_*`.

use std::ffi::{c_int, c_void};

use super::util::{check_out, free_handle_with, guard, handle, write_out};
use super::value::{value_out, yoton_value};
use crate::channels::Message;

/// A received message. Caller owns it; release with `yoton_message_free`.
pub struct yoton_message {
    pub(crate) inner: Message,
}

/// Release a message. NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_message_free(msg: *mut yoton_message) {
    free_handle_with(msg, release_message);
}

/// A message the C caller is done with: its package goes back to the pool (see `pool`).
pub(crate) fn release_message(msg: yoton_message) {
    crate::pool::recycle(msg.inner.pkg);
}

/// The body: `*data` (borrowed until `yoton_message_free`) and `*len`. A NUL byte always
/// follows the body in memory (not counted in `len`), so a TEXT body is a usable C string.
#[no_mangle]
pub extern "C" fn yoton_message_data(msg: *const yoton_message, data: *mut *const c_void, len: *mut usize) -> c_int {
    guard(|| {
        let msg = handle(msg, "message")?;
        check_out(data)?;
        check_out(len)?;
        let body = msg.inner.data();
        write_out(len, body.len())?;
        write_out(data, body.as_ptr().cast())
    })
}

/// Decode the body as an OBJECT value. Caller owns `*out` (`yoton_value_free`).
/// YOTON_ERR_ENCODING if the body is not a valid value.
#[no_mangle]
pub extern "C" fn yoton_message_value(msg: *const yoton_message, out: *mut *mut yoton_value) -> c_int {
    guard(|| {
        let msg = handle(msg, "message")?;
        check_out(out)?;
        value_out(out, msg.inner.value()?)
    })
}

/// Id of the context that sent the message.
#[no_mangle]
pub extern "C" fn yoton_message_source_id(msg: *const yoton_message, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(msg, "message")?.inner.source_id()))
}

/// The sender's sequence number of the message.
#[no_mangle]
pub extern "C" fn yoton_message_source_seq(msg: *const yoton_message, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(msg, "message")?.inner.source_seq()))
}

/// Arrival order of the message among all channels of the receiving context.
#[no_mangle]
pub extern "C" fn yoton_message_recv_seq(msg: *const yoton_message, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(msg, "message")?.inner.recv_seq()))
}
