//! C API of channels: `yoton_channel_*` for every kind, `yoton_pub_*` and `yoton_sub_*`.

use std::ffi::{c_char, c_int, c_void};

use super::events::yoton_callback;
use super::message::yoton_message;
use super::util::{
    array_out_arg, bytes_arg, check_out, free_handle, guard, guard_or, guard_void, handle,
    into_handle, opt_str_arg, str_arg, timeout_arg, write_opt, write_out, write_str, yoton_free_fn,
    UserData, INTERNAL,
};
use super::value::{value_ref, yoton_value};
use crate::channels::pubsub::Batch;
use crate::channels::{Channel, ChannelKind, MessageType};

/// A channel of any kind (publisher, subscriber, ...). Caller owns it; release with
/// `yoton_channel_free`, which also closes it.
pub struct yoton_channel {
    pub(crate) inner: Channel,
    /// `received` bindings made through this handle: unbound when it is freed.
    bindings: parking_lot::Mutex<Vec<u64>>,
}

impl yoton_channel {
    pub(crate) fn new(inner: Channel) -> yoton_channel {
        yoton_channel {
            inner,
            bindings: parking_lot::Mutex::new(Vec::new()),
        }
    }
}

impl Drop for yoton_channel {
    fn drop(&mut self) {
        for id in std::mem::take(&mut *self.bindings.lock()) {
            self.inner.received().unbind(id);
        }
    }
}

/// Call `callback` (on the event-processing thread) after messages arrived on the channel; a
/// burst of arrivals gives one call. `*id` (may be NULL) identifies the binding for
/// `yoton_channel_unbind`. The binding ends when unbound or when this handle is freed; then
/// `free_user_data` (may be NULL) is called.
#[no_mangle]
pub extern "C" fn yoton_channel_on_received(
    ch: *const yoton_channel,
    callback: yoton_callback,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
    id: *mut u64,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let ch = handle(ch, "channel")?;
        let callback = callback.ok_or_else(|| crate::Error::invalid("callback is NULL"))?;
        let bound = ch
            .inner
            .received()
            .bind(std::sync::Arc::new(move |_: &()| callback(data.ptr())));
        ch.bindings.lock().push(bound);
        write_opt(id, bound)?;
        Ok(())
    })
}

/// End a `received` binding made through this handle. YOTON_ERR_INVALID_ARGUMENT if unknown.
#[no_mangle]
pub extern "C" fn yoton_channel_unbind(ch: *const yoton_channel, id: u64) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        let mut bindings = ch.bindings.lock();
        let Some(pos) = bindings.iter().position(|b| *b == id) else {
            return Err(crate::Error::invalid(format!(
                "no binding {id} on this channel handle"
            )));
        };
        bindings.remove(pos);
        drop(bindings);
        ch.inner.received().unbind(id);
        Ok(())
    })
}

/// Channel kinds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_channel_kind {
    /// A publisher (`yoton_pub_new`).
    YOTON_PUB = 0,
    /// A subscriber (`yoton_sub_new`).
    YOTON_SUB = 1,
    /// A requester (`yoton_req_new`).
    YOTON_REQ = 2,
    /// A replier (`yoton_rep_new`).
    YOTON_REP = 3,
    /// A state channel (`yoton_state_new`).
    YOTON_STATE = 4,
}

pub(crate) fn new_channel(
    ctx: *const super::context::yoton_context,
    kind: ChannelKind,
    base: *const c_char,
    type_name: *const c_char,
    out: *mut *mut yoton_channel,
) -> crate::Result<()> {
    let ctx = handle(ctx, "context")?;
    let base = str_arg(base, "slot base name")?;
    let msg_type =
        MessageType::from_name(opt_str_arg(type_name, "message type name")?.unwrap_or("txt"))?;
    check_out(out)?;
    let channel = Channel::new(&ctx.inner, kind, base, msg_type)?;
    into_handle(out, yoton_channel::new(channel))
}

/// Create a publisher on slot base `base` with message type `type_name`: "txt" (also when
/// NULL), "bin", "obj", or a custom name. Caller owns `*out` (`yoton_channel_free`).
#[no_mangle]
pub extern "C" fn yoton_pub_new(
    ctx: *const super::context::yoton_context,
    base: *const c_char,
    type_name: *const c_char,
    out: *mut *mut yoton_channel,
) -> c_int {
    guard(|| new_channel(ctx, ChannelKind::Pub, base, type_name, out))
}

/// Create a subscriber, like `yoton_pub_new`.
#[no_mangle]
pub extern "C" fn yoton_sub_new(
    ctx: *const super::context::yoton_context,
    base: *const c_char,
    type_name: *const c_char,
    out: *mut *mut yoton_channel,
) -> c_int {
    guard(|| new_channel(ctx, ChannelKind::Sub, base, type_name, out))
}

/// Close and release a channel. NULL is a no-op. A replier's handler running on another
/// thread is waited for, at most YOTON_HANDLER_WAIT seconds; the handlers' `free_user_data`
/// then run before this returns. If the handler takes longer, or this is called from inside
/// the handler, this returns at once and they run on the handler's thread right after it
/// returns (see "Releasing handles" in the preamble). A request taken before the close is
/// still answered.
#[no_mangle]
pub extern "C" fn yoton_channel_free(ch: *mut yoton_channel) {
    guard_void(|| {
        if let Ok(c) = handle(ch, "channel") {
            c.inner.close_and_release(crate::HANDLER_WAIT);
        }
        free_handle(ch);
    })
}

/// Close (unregister) the channel: sends fail with YOTON_ERR_CLOSED, queued messages can still
/// be received. Closing twice is a no-op.
#[no_mangle]
pub extern "C" fn yoton_channel_close(ch: *const yoton_channel) -> c_int {
    guard(|| {
        handle(ch, "channel")?.inner.close();
        Ok(())
    })
}

/// Whether the channel is closed.
#[no_mangle]
pub extern "C" fn yoton_channel_is_closed(ch: *const yoton_channel, out: *mut bool) -> c_int {
    guard(|| write_out(out, handle(ch, "channel")?.inner.is_closed()))
}

/// Deprecated name of `yoton_channel_is_closed` (predicates are named `_is_...`).
#[deprecated(note = "use yoton_channel_is_closed")]
#[no_mangle]
pub extern "C" fn yoton_channel_closed(ch: *const yoton_channel, out: *mut bool) -> c_int {
    guard_or(INTERNAL, || yoton_channel_is_closed(ch, out))
}

/// Number of messages waiting to be received.
#[no_mangle]
pub extern "C" fn yoton_channel_pending(ch: *const yoton_channel, out: *mut usize) -> c_int {
    guard(|| write_out(out, handle(ch, "channel")?.inner.pending()))
}

/// The kind, one of `yoton_channel_kind`.
#[no_mangle]
pub extern "C" fn yoton_channel_get_kind(ch: *const yoton_channel, out: *mut c_int) -> c_int {
    guard(|| {
        let kind = match handle(ch, "channel")?.inner.kind() {
            ChannelKind::Pub => yoton_channel_kind::YOTON_PUB,
            ChannelKind::Sub => yoton_channel_kind::YOTON_SUB,
            ChannelKind::Req => yoton_channel_kind::YOTON_REQ,
            ChannelKind::Rep => yoton_channel_kind::YOTON_REP,
            ChannelKind::State => yoton_channel_kind::YOTON_STATE,
        };
        write_out(out, kind as c_int)
    })
}

/// Full outgoing slot name (e.g. "chat.txt.pub-sub") into `buf`; see `yoton_connection_name`
/// for the buffer convention.
#[no_mangle]
pub extern "C" fn yoton_channel_slot_outgoing(
    ch: *const yoton_channel,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| write_str(handle(ch, "channel")?.inner.slot_outgoing(), buf, cap, len))
}

/// Full incoming slot name (e.g. "chat.txt.sub-pub") into `buf`.
#[no_mangle]
pub extern "C" fn yoton_channel_slot_incoming(
    ch: *const yoton_channel,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| write_str(handle(ch, "channel")?.inner.slot_incoming(), buf, cap, len))
}

/// Message type name ("txt", "bin", "obj" or custom) into `buf`.
#[no_mangle]
pub extern "C" fn yoton_channel_message_type(
    ch: *const yoton_channel,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        write_str(
            handle(ch, "channel")?.inner.message_type().name(),
            buf,
            cap,
            len,
        )
    })
}

/// Publish `len` bytes (copied). TEXT channels require UTF-8 and OBJECT channels a valid
/// encoded value (YOTON_ERR_ENCODING otherwise). An empty message is skipped (YOTON_OK).
/// May wait up to 1 s while a connection's outgoing queue is congested.
#[no_mangle]
pub extern "C" fn yoton_pub_send(
    ch: *const yoton_channel,
    data: *const c_void,
    len: usize,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        ch.inner.send(bytes_arg(data, len, "data")?)
    })
}

/// Caller-owned bytes lent to yoton by `yoton_pub_send_zc`.
struct LentBytes {
    data: *const u8,
    len: usize,
    /// Releases the caller's buffer (runs `free_data(user_data)`) when dropped.
    _owner: UserData,
}

// SAFETY: the caller promises the bytes stay valid and unchanged until free_data is called,
// from whichever yoton thread drops the last reference (documented on yoton_pub_send_zc).
unsafe impl Send for LentBytes {}
unsafe impl Sync for LentBytes {}

impl AsRef<[u8]> for LentBytes {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: non-NULL with `len` readable bytes, alive until `_owner` is dropped (after us).
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

/// Publish `len` bytes WITHOUT copying them (zero-copy, for big messages). The bytes must stay
/// valid and unchanged until yoton calls `free_data(user_data)` (may be NULL): exactly once,
/// when every connection has written them, or at once if the send fails or is skipped (empty).
/// `free_data` may run on any yoton thread and must only release the buffer. Checked and
/// throttled like `yoton_pub_send`.
#[no_mangle]
pub extern "C" fn yoton_pub_send_zc(
    ch: *const yoton_channel,
    data: *const c_void,
    len: usize,
    free_data: yoton_free_fn,
    user_data: *mut c_void,
) -> c_int {
    guard(move || {
        let owner = UserData::new(user_data, free_data);
        let ch = handle(ch, "channel")?;
        let bytes = bytes_arg(data, len, "data")?;
        let lent = LentBytes {
            data: bytes.as_ptr(),
            len: bytes.len(),
            _owner: owner,
        };
        ch.inner.send_shared(std::sync::Arc::new(lent))
    })
}

/// Publish a value on an OBJECT channel (the value is borrowed, not consumed).
#[no_mangle]
pub extern "C" fn yoton_pub_send_value(
    ch: *const yoton_channel,
    value: *const yoton_value,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        ch.inner.send_value(value_ref(value, "value")?)
    })
}

/// Receive the oldest message, waiting up to `timeout` seconds (0: do not wait; negative:
/// until a message arrives or the channel closes). YOTON_ERR_TIMEOUT if none came,
/// YOTON_ERR_CLOSED if the channel is closed and empty, YOTON_ERR_ENCODING for a TEXT message
/// that is not UTF-8 (it is dropped). Caller owns `*out` (`yoton_message_free`).
#[no_mangle]
pub extern "C" fn yoton_sub_recv(
    ch: *const yoton_channel,
    timeout: f64,
    out: *mut *mut yoton_message,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        let timeout = timeout_arg(timeout)?;
        check_out(out)?;
        let msg = ch.inner.recv(timeout)?;
        super::message::message_out(out, msg)
    })
}

/// Take every pending message without waiting. `*out` gets an array of `*count` messages
/// (NULL when 0); caller owns it, release with `yoton_message_array_free(*out, *count)`.
#[no_mangle]
pub extern "C" fn yoton_sub_recv_all(
    ch: *const yoton_channel,
    out: *mut *mut *mut yoton_message,
    count: *mut usize,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        check_out(out)?;
        check_out(count)?;
        let messages = ch.inner.recv_all()?;
        write_message_array(messages, out, count)
    })
}

/// Receive up to `max_count` messages in one call, their bodies copied one after the other
/// into the caller's `buf` (`cap` bytes; NULL only when cap is 0): one call instead of three
/// per message (`yoton_sub_recv`, `yoton_message_data`, `yoton_message_free`). Waits up to
/// `timeout` seconds for the first message, as `yoton_sub_recv`; then takes, oldest first and
/// without waiting, every pending message whose body still fits in `buf`, at most
/// `max_count`. `*count` gets how many were taken (at least 1); `lens` (`max_count` entries)
/// their body lengths, in order: message `i` starts at `buf + lens[0] + ... + lens[i-1]`;
/// `seqs` (NULL, or `max_count` entries) their arrival order (`yoton_message_recv_seq`); and
/// `*used` (may be NULL) the bytes written. A message that does not fit stays queued for the
/// next call: if the oldest pending one does not fit, nothing is taken and the call returns
/// YOTON_ERR_TOO_LARGE with `*used` set to its size (call again with a buffer that large).
/// YOTON_ERR_TIMEOUT if no message came, YOTON_ERR_CLOSED if the channel is closed and empty,
/// YOTON_ERR_INVALID_ARGUMENT for `max_count` 0, a NULL `lens` or `count`, or a channel that
/// is not a subscriber. On a TEXT channel, a message that is not valid UTF-8 is dropped (as
/// `yoton_sub_recv_all` skips it). In sync mode the back-pressure watches the messages left
/// queued: take one at a time (`max_count` 1) to keep it as with `yoton_sub_recv`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn yoton_sub_recv_batch(
    ch: *const yoton_channel,
    timeout: f64,
    buf: *mut c_void,
    cap: usize,
    lens: *mut usize,
    seqs: *mut u64,
    max_count: usize,
    count: *mut usize,
    used: *mut usize,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        let timeout = timeout_arg(timeout)?;
        check_out(count)?;
        if max_count == 0 {
            return Err(crate::Error::invalid("max_count is 0: room for no message"));
        }
        let buf = array_out_arg(buf.cast::<u8>(), cap, "buf")?;
        let lens = array_out_arg(lens, max_count, "lens")?;
        let seqs = if seqs.is_null() {
            None
        } else {
            Some(array_out_arg(seqs, max_count, "seqs")?)
        };
        match ch.inner.recv_batch(timeout, buf, lens, seqs)? {
            Batch::Taken { count: n, bytes } => {
                write_opt(used, bytes)?;
                write_out(count, n)
            }
            Batch::TooSmall { needed } => {
                write_opt(used, needed)?;
                Err(crate::Error::new(
                    crate::ErrorKind::TooLarge,
                    format!(
                        "the next message has {needed} bytes, more than the buffer's {cap}: it stays queued"
                    ),
                ))
            }
        }
    })
}

/// Hand a list of messages to C as an owned array (NULL when empty).
fn write_message_array(
    messages: Vec<crate::Message>,
    out: *mut *mut *mut yoton_message,
    count: *mut usize,
) -> crate::Result<()> {
    let n = messages.len();
    let array: *mut *mut yoton_message = if n == 0 {
        std::ptr::null_mut()
    } else {
        let boxed: Box<[*mut yoton_message]> = messages
            .into_iter()
            .map(super::message::message_handle)
            .collect();
        super::util::live::made(Box::into_raw(boxed)).cast()
    };
    write_out(count, n)?;
    write_out(out, array)
}

/// Release an array from `yoton_sub_recv_all` and every message in it. NULL is a no-op.
/// NULL entries are skipped, so a caller may take messages out of the array (setting them
/// to NULL) before releasing it.
#[no_mangle]
pub extern "C" fn yoton_message_array_free(array: *mut *mut yoton_message, count: usize) {
    guard_void(|| {
        let slice = std::ptr::slice_from_raw_parts_mut(array, count);
        if array.is_null() || !super::util::live::released(slice) {
            return;
        }
        // SAFETY: made by `yoton_sub_recv_all` as a boxed slice of `count` message pointers.
        let boxed: Box<[*mut yoton_message]> = unsafe { Box::from_raw(slice) };
        for &msg in boxed.iter() {
            super::message::release_message(msg);
        }
    })
}

/// Sync mode (back-pressure): while more than 32 messages are pending, ask the publishers to
/// slow down; let them go again below 16. Works with publishers of either implementation.
#[no_mangle]
pub extern "C" fn yoton_sub_set_sync_mode(ch: *const yoton_channel, on: bool) -> c_int {
    guard(|| handle(ch, "channel")?.inner.set_sync_mode(on))
}

/// Wait up to `timeout` seconds (the timeout rule: 0 do not wait, YOTON_FOREVER no limit) for
/// a message on any of `count` subscribers of one context, and choose the one holding the
/// oldest pending message: `*index` gets its position in `channels`. Then
/// `yoton_sub_recv_selected` on it returns its messages older than any pending elsewhere.
/// YOTON_ERR_TIMEOUT if none came; YOTON_ERR_CLOSED once every channel is closed;
/// YOTON_ERR_INVALID_ARGUMENT for channels of different contexts or kinds other than sub.
#[no_mangle]
pub extern "C" fn yoton_sub_select_wait(
    channels: *const *mut yoton_channel,
    count: usize,
    timeout: f64,
    index: *mut usize,
) -> c_int {
    guard(|| {
        check_out(index)?;
        let timeout = timeout_arg(timeout)?;
        let list = channel_list(channels.cast(), count)?;
        let chosen = Channel::select_sub_channel_wait(&list, timeout)?
            .ok_or_else(|| crate::Error::timeout("no channel got a message in time"))?;
        write_out(index, position_of(&list, &chosen))
    })
}

fn channel_list<'a>(
    channels: *const *const yoton_channel,
    count: usize,
) -> crate::Result<Vec<&'a Channel>> {
    super::util::array_arg(channels, count, "channels")?
        .iter()
        .map(|&ptr| handle(ptr, "channel").map(|c| &c.inner))
        .collect()
}

fn position_of(list: &[&Channel], chosen: &Channel) -> usize {
    list.iter()
        .position(|c| c.same_as(chosen))
        .expect("chosen from the list")
}

/// Deprecated: use `yoton_sub_select_wait` (which can wait, and takes a plain
/// `yoton_channel *` array) with timeout 0, which is what this does.
#[deprecated(note = "use yoton_sub_select_wait(channels, count, 0, index)")]
#[no_mangle]
pub extern "C" fn yoton_sub_select(
    channels: *const *const yoton_channel,
    count: usize,
    index: *mut usize,
) -> c_int {
    guard(|| {
        check_out(index)?;
        let list = channel_list(channels, count)?;
        let chosen = Channel::select_sub_channel(&list)?
            .ok_or_else(|| crate::Error::timeout("no channel has a pending message"))?;
        write_out(index, position_of(&list, &chosen))
    })
}

/// After `yoton_sub_select` chose this channel: take its messages older than any pending in
/// the other channels, in order. Array ownership as for `yoton_sub_recv_all`.
#[no_mangle]
pub extern "C" fn yoton_sub_recv_selected(
    ch: *const yoton_channel,
    out: *mut *mut *mut yoton_message,
    count: *mut usize,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        check_out(out)?;
        check_out(count)?;
        let messages = ch.inner.recv_selected()?;
        write_message_array(messages, out, count)
    })
}
