//! C API of request/reply: `yoton_req_*`, `yoton_rep_*`, `yoton_reply_*`.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::channel::yoton_channel;
use super::context::yoton_context;
use super::future::yoton_future;
use super::util::{
    check_out, guard, handle, handle_mut, into_handle, str_arg, timeout_arg, write_opt, write_out,
    yoton_free_fn, UserData,
};
use super::value::{value_ref, yoton_value};
use crate::channels::reqrep::RepMode;
use crate::channels::ChannelKind;
use crate::error::Error;
use crate::value::Value;

/// How a replier processes requests.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_rep_mode {
    /// Requests wait in the queue, nothing is acknowledged (the default).
    YOTON_REP_OFF = 0,
    /// Requests are handled when yoton events are processed.
    YOTON_REP_EVENT = 1,
    /// Requests are handled in the channel's own thread.
    YOTON_REP_THREAD = 2,
}

/// The answer a handler gives, valid only during the handler call. Not set: the reply is None.
pub struct yoton_reply {
    outcome: Result<Value, String>,
}

/// A method handler: `args` is a tuple and `kwargs` a dict (both borrowed for the call).
/// Set the answer with `yoton_reply_set_result` or `yoton_reply_set_error`. Runs on the
/// replier's processing thread (its own in YOTON_REP_THREAD mode).
pub type yoton_rep_handler = Option<
    extern "C" fn(
        user_data: *mut c_void,
        args: *const yoton_value,
        kwargs: *const yoton_value,
        reply: *mut yoton_reply,
    ),
>;

/// Create a requester on slot base `base` (OBJECT). Caller owns `*out` (`yoton_channel_free`).
#[no_mangle]
pub extern "C" fn yoton_req_new(
    ctx: *const yoton_context,
    base: *const c_char,
    out: *mut *mut yoton_channel,
) -> c_int {
    guard(|| super::channel::new_channel(ctx, ChannelKind::Req, base, c"obj".as_ptr(), out))
}

/// Create a replier on slot base `base` (OBJECT), in mode YOTON_REP_OFF until
/// `yoton_rep_set_mode`. Caller owns `*out` (`yoton_channel_free`).
#[no_mangle]
pub extern "C" fn yoton_rep_new(
    ctx: *const yoton_context,
    base: *const c_char,
    out: *mut *mut yoton_channel,
) -> c_int {
    guard(|| super::channel::new_channel(ctx, ChannelKind::Rep, base, c"obj".as_ptr(), out))
}

/// Call `method` with positional `args` (a tuple or list; NULL: none) and keyword `kwargs` (a
/// dict with string keys; NULL: none) on whichever replier takes it first. Returns at once
/// with a future: caller owns `*out` (`yoton_future_free`).
#[no_mangle]
pub extern "C" fn yoton_req_call(
    req: *const yoton_channel,
    method: *const c_char,
    args: *const yoton_value,
    kwargs: *const yoton_value,
    out: *mut *mut yoton_future,
) -> c_int {
    guard(|| {
        let req = handle(req, "requester")?;
        let method = str_arg(method, "method")?;
        let args = if args.is_null() {
            Vec::new()
        } else {
            match value_ref(args, "args")? {
                Value::Tuple(items) | Value::List(items) => items.clone(),
                _ => return Err(Error::invalid("args must be a tuple or a list")),
            }
        };
        let kwargs = if kwargs.is_null() {
            Vec::new()
        } else {
            match value_ref(kwargs, "kwargs")? {
                Value::Dict(pairs) => pairs
                    .iter()
                    .map(|(k, v)| match k {
                        Value::Str(k) => Ok((k.clone(), v.clone())),
                        _ => Err(Error::invalid("kwargs keys must be strings")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(Error::invalid("kwargs must be a dict")),
            }
        };
        check_out(out)?;
        let future = req.inner.call(method, args, kwargs)?;
        into_handle(out, yoton_future::new(future))
    })
}

/// Auto-cancel timeout for new requests of this requester, in seconds (negative: never).
#[no_mangle]
pub extern "C" fn yoton_req_set_default_timeout(req: *const yoton_channel, seconds: f64) -> c_int {
    guard(|| {
        handle(req, "requester")?
            .inner
            .set_default_auto_cancel(timeout_arg(seconds)?)
    })
}

/// Register `fn` as the handler of `method` (replacing any previous one, whose
/// `free_user_data` is then called). Only registered methods and the built-in `echo` can be
/// called. `free_user_data` (may be NULL) is called once with `user_data` when the
/// registration ends (replaced, unregistered, or the channel released).
#[no_mangle]
pub extern "C" fn yoton_rep_register(
    rep: *const yoton_channel,
    method: *const c_char,
    handler: yoton_rep_handler,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
) -> c_int {
    // Own the user data first, so it is released once even if the arguments are refused.
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let rep = handle(rep, "replier")?;
        let method = str_arg(method, "method")?;
        let handler = handler.ok_or_else(|| Error::invalid("handler is NULL"))?;
        let call = move |args: &[Value], kwargs: &[(Value, Value)]| {
            let data = &data;
            let args = Value::Tuple(args.to_vec());
            let kwargs = Value::Dict(kwargs.to_vec());
            let mut reply = yoton_reply {
                outcome: Ok(Value::None),
            };
            handler(
                data.ptr(),
                (&args as *const Value).cast(),
                (&kwargs as *const Value).cast(),
                &mut reply,
            );
            reply.outcome
        };
        rep.inner.register(method, Arc::new(call))
    })
}

/// Remove the handler of `method`. YOTON_ERR_INVALID_ARGUMENT if there was none.
#[no_mangle]
pub extern "C" fn yoton_rep_unregister(rep: *const yoton_channel, method: *const c_char) -> c_int {
    guard(|| {
        let rep = handle(rep, "replier")?;
        let method = str_arg(method, "method")?;
        if rep.inner.unregister(method)? {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "no handler is registered for {method:?}"
            )))
        }
    })
}

/// Choose how requests are processed, one of `yoton_rep_mode`.
#[no_mangle]
pub extern "C" fn yoton_rep_set_mode(rep: *const yoton_channel, mode: c_int) -> c_int {
    guard(|| {
        let mode = match mode {
            0 => RepMode::Off,
            1 => RepMode::Event,
            2 => RepMode::Thread,
            other => return Err(Error::invalid(format!("unknown replier mode {other}"))),
        };
        handle(rep, "replier")?.inner.set_mode(mode)
    })
}

/// The replier's mode: `*out` gets one of `yoton_rep_mode`.
#[no_mangle]
pub extern "C" fn yoton_rep_get_mode(rep: *const yoton_channel, out: *mut c_int) -> c_int {
    guard(|| {
        let mode = match handle(rep, "replier")?.inner.mode()? {
            RepMode::Off => 0,
            RepMode::Event => 1,
            RepMode::Thread => 2,
        };
        write_out(out, mode)
    })
}

/// Handle every queued request now, in the calling thread, whatever the mode. `*handled` (may
/// be NULL) gets the number of packages processed.
#[no_mangle]
pub extern "C" fn yoton_rep_handle_pending(
    rep: *const yoton_channel,
    handled: *mut usize,
) -> c_int {
    guard(|| {
        let n = handle(rep, "replier")?.inner.handle_pending_requests()?;
        write_opt(handled, n)
    })
}

/// Answer with (a copy of) `result`.
#[no_mangle]
pub extern "C" fn yoton_reply_set_result(
    reply: *mut yoton_reply,
    result: *const yoton_value,
) -> c_int {
    guard(|| {
        let value = value_ref(result, "result")?.clone();
        handle_mut(reply, "reply")?.outcome = Ok(value);
        Ok(())
    })
}

/// Answer with an error text (the requester gets YOTON_ERR_REMOTE with this text).
#[no_mangle]
pub extern "C" fn yoton_reply_set_error(reply: *mut yoton_reply, text: *const c_char) -> c_int {
    guard(|| {
        let text = str_arg(text, "text")?.to_string();
        handle_mut(reply, "reply")?.outcome = Err(text);
        Ok(())
    })
}

/// Create a state channel on slot base `base` with message type `type_name` (as for
/// `yoton_pub_new`). Caller owns `*out` (`yoton_channel_free`).
#[no_mangle]
pub extern "C" fn yoton_state_new(
    ctx: *const yoton_context,
    base: *const c_char,
    type_name: *const c_char,
    out: *mut *mut yoton_channel,
) -> c_int {
    guard(|| super::channel::new_channel(ctx, ChannelKind::State, base, type_name, out))
}

/// Set and broadcast the state (`len` bytes, copied, checked like `yoton_pub_send`). Nothing
/// happens if it equals the current state. An empty state cannot be sent once one exists.
#[no_mangle]
pub extern "C" fn yoton_state_send(
    ch: *const yoton_channel,
    data: *const c_void,
    len: usize,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        ch.inner
            .send_state(super::util::bytes_arg(data, len, "data")?)
    })
}

/// Set and broadcast an OBJECT state (borrowed, copied).
#[no_mangle]
pub extern "C" fn yoton_state_send_value(
    ch: *const yoton_channel,
    value: *const yoton_value,
) -> c_int {
    guard(|| {
        handle(ch, "channel")?
            .inner
            .send_state_value(value_ref(value, "value")?)
    })
}

/// The current state (never blocks): an empty message until a state was sent or received.
/// Caller owns `*out` (`yoton_message_free`).
#[no_mangle]
pub extern "C" fn yoton_state_recv(
    ch: *const yoton_channel,
    out: *mut *mut super::message::yoton_message,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        check_out(out)?;
        super::message::message_out(out, ch.inner.recv_state()?)
    })
}

/// The current state of an OBJECT state channel, decoded (never blocks): None until a state
/// was sent or received. Caller owns `*out` (`yoton_value_free`). YOTON_ERR_ENCODING if the
/// state is not a valid value.
#[no_mangle]
pub extern "C" fn yoton_state_recv_value(
    ch: *const yoton_channel,
    out: *mut *mut super::value::yoton_value,
) -> c_int {
    guard(|| {
        let ch = handle(ch, "channel")?;
        check_out(out)?;
        let msg = ch.inner.recv_state()?;
        let value = if msg.data().is_empty() {
            Value::None
        } else {
            msg.value()?
        };
        super::value::value_out(out, value)
    })
}

/// Broadcast the current state again (if there is one). Done automatically when a new
/// context joins the network.
#[no_mangle]
pub extern "C" fn yoton_state_send_last(ch: *const yoton_channel) -> c_int {
    guard(|| handle(ch, "channel")?.inner.send_last())
}
