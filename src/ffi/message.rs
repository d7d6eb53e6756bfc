//! C API of received messages: `yoton_message_*`.
//!
//! A `yoton_message *` is the message's package reference itself (`PackageRef::into_raw`),
//! so handing a message to C allocates nothing (one allocation and one free less per message
//! on the receive path than a boxed handle).

use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;

use super::util::{check_out, guard, guard_void, write_out};
use super::value::{value_out, yoton_value};
use crate::channels::Message;
use crate::package::PackageRef;

/// A received message. Caller owns it; release with `yoton_message_free`. (Opaque.)
///
/// A message with a body under 16 KiB lies in the memory it was read into, beside the
/// messages that arrived with it (up to 256 KiB), and that memory is reused once all of them
/// are freed: to keep a message for long, copy its body and free it. (A process holds at most
/// 64 MiB of such memory; beyond it, messages are copied on arrival.)
pub struct yoton_message {
    _never: std::convert::Infallible,
}

/// Hand `msg` to C.
pub(crate) fn message_handle(msg: Message) -> *mut yoton_message {
    super::util::live::made(msg.pkg.into_raw().cast_mut()).cast()
}

/// Write a message handle to an out-pointer.
pub(crate) fn message_out(out: *mut *mut yoton_message, msg: Message) -> crate::Result<()> {
    check_out(out)?;
    write_out(out, message_handle(msg))
}

/// The package behind a handle, borrowed (NULL is an error naming the argument).
#[allow(unsafe_code)]
fn package(msg: *const yoton_message) -> crate::Result<ManuallyDrop<PackageRef>> {
    if msg.is_null() {
        return Err(crate::Error::invalid("message is NULL"));
    }
    // SAFETY: made by `message_handle`; the caller does not free it during the call (header
    // contract).
    Ok(unsafe { PackageRef::borrow_raw(msg.cast()) })
}

/// Release a message. NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_message_free(msg: *mut yoton_message) {
    guard_void(|| release_message(msg));
}

/// A message the C caller is done with: a package object goes back to the pool (see `pool`),
/// a slab entry gives its reference back to its slab (see `slab`).
#[allow(unsafe_code)]
pub(crate) fn release_message(msg: *mut yoton_message) {
    if !msg.is_null() && super::util::live::released(msg.cast_const().cast::<u8>()) {
        // SAFETY: made by `message_handle` (`PackageRef::into_raw`); the caller frees each
        // message once (header contract).
        crate::pool::recycle(unsafe { PackageRef::from_raw(msg.cast_const().cast()) });
    }
}

/// The body: `*data` (borrowed until `yoton_message_free`) and `*len`. A NUL byte always
/// follows the body in memory (not counted in `len`), so a TEXT body is a usable C string.
#[no_mangle]
pub extern "C" fn yoton_message_data(
    msg: *const yoton_message,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    guard(|| {
        let pkg = package(msg)?;
        check_out(data)?;
        check_out(len)?;
        let body = pkg.body();
        write_out(len, body.len())?;
        write_out(data, body.as_ptr().cast())
    })
}

/// Decode the body as an OBJECT value. Caller owns `*out` (`yoton_value_free`).
/// YOTON_ERR_ENCODING if the body is not a valid value.
#[no_mangle]
pub extern "C" fn yoton_message_value(
    msg: *const yoton_message,
    out: *mut *mut yoton_value,
) -> c_int {
    guard(|| {
        let pkg = package(msg)?;
        check_out(out)?;
        value_out(out, Message::decode_value(pkg.body())?)
    })
}

/// Id of the context that sent the message.
#[no_mangle]
pub extern "C" fn yoton_message_source_id(msg: *const yoton_message, out: *mut u64) -> c_int {
    guard(|| write_out(out, package(msg)?.source_id()))
}

/// The sender's sequence number of the message.
#[no_mangle]
pub extern "C" fn yoton_message_source_seq(msg: *const yoton_message, out: *mut u64) -> c_int {
    guard(|| write_out(out, package(msg)?.source_seq()))
}

/// Arrival order of the message among all channels of the receiving context.
#[no_mangle]
pub extern "C" fn yoton_message_recv_seq(msg: *const yoton_message, out: *mut u64) -> c_int {
    guard(|| write_out(out, package(msg)?.recv_seq()))
}
