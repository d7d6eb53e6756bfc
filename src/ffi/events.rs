//! C API of the event system: processing, embedding, `call_later`, signals and timers.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use super::util::{
    check_out, free_handle, guard, guard_or, guard_void, handle, into_handle, timeout_arg,
    write_opt, write_out, yoton_free_fn, UserData, INTERNAL,
};
use super::value::{value_ref, yoton_value};
use crate::error::Error;
use crate::events::{self, Block, Signal, Timer};
use crate::value::Value;

/// A callback with only its user data.
pub type yoton_callback = Option<extern "C" fn(user_data: *mut c_void)>;

/// Handler of a generic signal: `arg` is borrowed for the call (a None value if emitted
/// without one).
pub type yoton_signal_handler =
    Option<extern "C" fn(user_data: *mut c_void, arg: *const yoton_value)>;

/// A generic signal. Caller owns it; release with `yoton_signal_free`.
pub struct yoton_signal {
    inner: Signal<Value>,
}

/// A timer (a signal emitted after an interval, once or repeatedly). Caller owns it; release
/// with `yoton_timer_free`, which stops it.
pub struct yoton_timer {
    inner: Timer,
}

fn block_arg(seconds: f64) -> crate::Result<Block> {
    Ok(match timeout_arg(seconds)? {
        None => Block::Forever,
        Some(d) if d.is_zero() => Block::No,
        Some(d) => Block::For(d),
    })
}

/// Run every queued event (callbacks, signal handlers, replies in event mode) on the calling
/// thread. `block` applies to the first event: 0 do not wait, negative wait until one comes
/// (or `yoton_stop_event_loop`), positive wait at most that many seconds. `*count` (may be
/// NULL) gets the number of events run. Calling it from inside a callback is refused.
#[no_mangle]
pub extern "C" fn yoton_process_events(block: f64, count: *mut usize) -> c_int {
    guard(|| {
        let n = events::process_events(block_arg(block)?)?;
        write_opt(count, n)
    })
}

/// Process events until `yoton_stop_event_loop` is called. A nested call returns at once.
#[no_mangle]
pub extern "C" fn yoton_start_event_loop() -> c_int {
    guard(events::start_event_loop)
}

/// Whether `yoton_start_event_loop` is running (in any thread).
#[no_mangle]
pub extern "C" fn yoton_event_loop_is_running(out: *mut bool) -> c_int {
    guard(|| write_out(out, events::event_loop_running()))
}

/// Deprecated name of `yoton_event_loop_is_running` (predicates are named `_is_...`).
#[deprecated(note = "use yoton_event_loop_is_running")]
#[no_mangle]
pub extern "C" fn yoton_event_loop_running(out: *mut bool) -> c_int {
    guard_or(INTERNAL, || yoton_event_loop_is_running(out))
}

/// Make `yoton_start_event_loop` return. Safe from any thread and from callbacks.
#[no_mangle]
pub extern "C" fn yoton_stop_event_loop() -> c_int {
    guard(|| {
        events::stop_event_loop();
        Ok(())
    })
}

fn event_of(callback: yoton_callback, data: UserData) -> crate::Result<events::Event> {
    let callback = callback.ok_or_else(|| Error::invalid("callback is NULL"))?;
    Ok(Box::new(move || callback(data.ptr())))
}

/// Run `callback(user_data)` on the event-processing thread after `delay` seconds: 0 queues it
/// at the back, a negative delay at the front. NaN, infinities and delays beyond
/// YOTON_TIMEOUT_MAX in magnitude are refused (YOTON_ERR_INVALID_ARGUMENT).
/// `free_user_data` (may be NULL) is called once after the call (or if it never happens).
#[no_mangle]
pub extern "C" fn yoton_call_later(
    delay: f64,
    callback: yoton_callback,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        events::call_later(delay, event_of(callback, data)?)
    })
}

/// Embed yoton's event loop in a host loop: `callback(user_data)` is invoked — from whichever
/// thread queues an event, so it may only post a job to the host loop — for the first event
/// queued after each `yoton_process_events`; the job must call `yoton_process_events(0, NULL)`
/// on the host's thread. NULL disables embedding (the previous user data is released).
#[no_mangle]
pub extern "C" fn yoton_embed_event_loop(
    callback: yoton_callback,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        match callback {
            None => events::embed_event_loop(None),
            Some(callback) => {
                events::embed_event_loop(Some(Arc::new(move || callback(data.ptr()))))
            }
        }
        Ok(())
    })
}

/// A file descriptor readable exactly while events are pending (level-triggered: no wakeup is
/// ever lost). Watch it with poll/epoll or a GLib/Qt socket notifier and call
/// `yoton_process_events(0, NULL)` when it is readable; never read from it or close it.
#[no_mangle]
pub extern "C" fn yoton_wakeup_fd(out: *mut c_int) -> c_int {
    guard(|| write_out(out, events::wakeup_fd()))
}

/// Seconds until the next timer or delayed call is due (0 if overdue, -1 if there is none):
/// a poll timeout for host loops.
#[no_mangle]
pub extern "C" fn yoton_time_until_next_timer(out: *mut f64) -> c_int {
    guard(|| {
        write_out(
            out,
            events::time_until_next_timer().map_or(-1.0, |d| d.as_secs_f64()),
        )
    })
}

/// Number of events waiting to be processed.
#[no_mangle]
pub extern "C" fn yoton_pending_events(out: *mut usize) -> c_int {
    guard(|| write_out(out, events::pending_events()))
}

/// Create a signal. Caller owns `*out` (`yoton_signal_free`).
#[no_mangle]
pub extern "C" fn yoton_signal_new(out: *mut *mut yoton_signal) -> c_int {
    guard(|| {
        into_handle(
            out,
            yoton_signal {
                inner: Signal::new(),
            },
        )
    })
}

/// Release a signal: its handlers are unbound (their user data released); queued emissions
/// are skipped. NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_signal_free(sig: *mut yoton_signal) {
    guard_void(|| {
        if let Ok(s) = handle(sig, "signal") {
            s.inner.unbind_all();
        }
        free_handle(sig);
    })
}

/// Bind `handler`; `*id` (may be NULL) identifies the binding for `yoton_signal_unbind`.
/// `free_user_data` (may be NULL) is called once when the binding ends.
#[no_mangle]
pub extern "C" fn yoton_signal_bind(
    sig: *const yoton_signal,
    handler: yoton_signal_handler,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
    id: *mut u64,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let sig = handle(sig, "signal")?;
        let handler = handler.ok_or_else(|| Error::invalid("handler is NULL"))?;
        let bound = sig.inner.bind(Arc::new(move |arg: &Value| {
            handler(data.ptr(), (arg as *const Value).cast())
        }));
        write_opt(id, bound)
    })
}

/// Unbind one handler (a queued emission of it is skipped). YOTON_ERR_INVALID_ARGUMENT if
/// not bound.
#[no_mangle]
pub extern "C" fn yoton_signal_unbind(sig: *const yoton_signal, id: u64) -> c_int {
    guard(|| {
        if handle(sig, "signal")?.inner.unbind(id) {
            Ok(())
        } else {
            Err(Error::invalid(format!("no binding {id} on this signal")))
        }
    })
}

/// Unbind every handler.
#[no_mangle]
pub extern "C" fn yoton_signal_unbind_all(sig: *const yoton_signal) -> c_int {
    guard(|| {
        handle(sig, "signal")?.inner.unbind_all();
        Ok(())
    })
}

fn arg_value(arg: *const yoton_value) -> crate::Result<Value> {
    if arg.is_null() {
        Ok(Value::None)
    } else {
        Ok(value_ref(arg, "arg")?.clone())
    }
}

/// Queue one call per bound handler with (a copy of) `arg` (NULL: None). Any thread.
#[no_mangle]
pub extern "C" fn yoton_signal_emit(sig: *const yoton_signal, arg: *const yoton_value) -> c_int {
    guard(|| {
        let sig = handle(sig, "signal")?;
        sig.inner.emit(arg_value(arg)?);
        Ok(())
    })
}

/// Call every bound handler now, on the calling thread.
#[no_mangle]
pub extern "C" fn yoton_signal_emit_now(
    sig: *const yoton_signal,
    arg: *const yoton_value,
) -> c_int {
    guard(|| {
        let sig = handle(sig, "signal")?;
        sig.inner.emit_now(arg_value(arg)?);
        Ok(())
    })
}

/// Create a stopped timer with `interval` seconds (positive, finite). Caller owns `*out`
/// (`yoton_timer_free`).
#[no_mangle]
pub extern "C" fn yoton_timer_new(
    interval: f64,
    oneshot: bool,
    out: *mut *mut yoton_timer,
) -> c_int {
    guard(|| {
        check_out(out)?;
        into_handle(
            out,
            yoton_timer {
                inner: Timer::new(interval, oneshot)?,
            },
        )
    })
}

/// Stop and release a timer (its handlers are unbound). NULL is a no-op. Safe from inside
/// the timer's own callback.
#[no_mangle]
pub extern "C" fn yoton_timer_free(t: *mut yoton_timer) {
    guard_void(|| {
        if let Ok(timer) = handle(t, "timer") {
            timer.inner.stop();
            timer.inner.signal().unbind_all();
        }
        free_handle(t);
    })
}

/// (Re)start the timer. `interval` <= 0 keeps the current one (otherwise at most
/// YOTON_TIMEOUT_MAX); `oneshot` -1 keeps the mode, 0 repeats, 1 fires once, anything else is
/// YOTON_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn yoton_timer_start(t: *const yoton_timer, interval: f64, oneshot: c_int) -> c_int {
    guard(|| {
        let t = handle(t, "timer")?;
        let interval = if interval.is_nan() || interval > 0.0 {
            Some(interval)
        } else {
            None
        };
        let oneshot = match oneshot {
            -1 => None,
            0 | 1 => Some(oneshot == 1),
            other => {
                return Err(Error::invalid(format!(
                    "oneshot must be -1 (keep), 0 or 1, not {other}"
                )))
            }
        };
        t.inner.start(interval, oneshot)
    })
}

/// Stop the timer (an expiry already queued as an event still runs its handlers).
#[no_mangle]
pub extern "C" fn yoton_timer_stop(t: *const yoton_timer) -> c_int {
    guard(|| {
        handle(t, "timer")?.inner.stop();
        Ok(())
    })
}

/// Whether the timer is running.
#[no_mangle]
pub extern "C" fn yoton_timer_is_running(t: *const yoton_timer, out: *mut bool) -> c_int {
    guard(|| write_out(out, handle(t, "timer")?.inner.running()))
}

/// Deprecated name of `yoton_timer_is_running` (predicates are named `_is_...`).
#[deprecated(note = "use yoton_timer_is_running")]
#[no_mangle]
pub extern "C" fn yoton_timer_running(t: *const yoton_timer, out: *mut bool) -> c_int {
    guard_or(INTERNAL, || yoton_timer_is_running(t, out))
}

/// Call `callback(user_data)` on the event-processing thread at every expiry. `*id` (may be
/// NULL) for `yoton_timer_unbind`; `free_user_data` (may be NULL) runs once when it ends.
#[no_mangle]
pub extern "C" fn yoton_timer_bind(
    t: *const yoton_timer,
    callback: yoton_callback,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
    id: *mut u64,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let t = handle(t, "timer")?;
        let callback = callback.ok_or_else(|| Error::invalid("callback is NULL"))?;
        let bound = t
            .inner
            .signal()
            .bind(Arc::new(move |_: &()| callback(data.ptr())));
        write_opt(id, bound)
    })
}

/// Unbind a timer callback. YOTON_ERR_INVALID_ARGUMENT if not bound.
#[no_mangle]
pub extern "C" fn yoton_timer_unbind(t: *const yoton_timer, id: u64) -> c_int {
    guard(|| {
        if handle(t, "timer")?.inner.signal().unbind(id) {
            Ok(())
        } else {
            Err(Error::invalid(format!("no binding {id} on this timer")))
        }
    })
}
