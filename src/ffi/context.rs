//! C API of contexts: `yoton_context_*`.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use super::connection::yoton_connection;
use super::util::{
    free_handle, guard, guard_void, handle, into_handle, limit_arg, opt_str_arg, str_arg,
    write_opt, write_out,
};
use crate::context::{Context, Discard, QueueParams};
use crate::error::Error;

/// A node of a yoton network. Create with `yoton_context_new`, release with
/// `yoton_context_free` (which closes its connections and channels).
pub struct yoton_context {
    pub(crate) inner: Context,
}

/// What a full queue drops.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_discard {
    /// Drop the oldest queued package (the default).
    YOTON_DISCARD_OLD = 0,
    /// Drop the incoming package.
    YOTON_DISCARD_NEW = 1,
    /// Drop nothing (not in the original): a full channel queue pauses reading from the network
    /// so TCP back-pressure reaches the publisher, whose sends wait up to 1 s and then fail with
    /// YOTON_ERR_TIMEOUT. Loss-free pub/sub.
    YOTON_DISCARD_BLOCK = 2,
}

/// Create a context with a fresh random id. Caller owns `*out`; release with `yoton_context_free`.
#[no_mangle]
pub extern "C" fn yoton_context_new(out: *mut *mut yoton_context) -> c_int {
    guard(|| {
        into_handle(
            out,
            yoton_context {
                inner: Context::new(),
            },
        )
    })
}

/// Release a context handle. Releasing the last handle closes every connection and channel of
/// the context; their handles stay valid and report YOTON_ERR_CLOSED. NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_context_free(ctx: *mut yoton_context) {
    guard_void(|| free_handle(ctx));
}

/// The context id (non-zero 64-bit).
#[no_mangle]
pub extern "C" fn yoton_context_id(ctx: *const yoton_context, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(ctx, "context")?.inner.id()))
}

/// Host a connection at `address` ("host:port", "localhost:name+offset", `"[::1]:port"` for
/// IPv6, port 0 for any free port; "0.0.0.0:port" or `"[::]:port"` for every interface; an
/// ambiguous form such as "::1:0" or ":port" is YOTON_ERR_INVALID_ARGUMENT), trying up to
/// `max_tries` ports. Returns at once with a *waiting* connection; the
/// first peer completing the handshake is accepted. `name` may be NULL.
/// Caller owns `*out`; release with `yoton_connection_free` (that does not close it).
#[no_mangle]
pub extern "C" fn yoton_context_bind(
    ctx: *const yoton_context,
    address: *const c_char,
    max_tries: u32,
    name: *const c_char,
    out: *mut *mut yoton_connection,
) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        let address = str_arg(address, "address")?;
        let name = opt_str_arg(name, "name")?;
        super::util::check_out(out)?;
        let conn = ctx.inner.bind(address, max_tries, name)?;
        into_handle(out, yoton_connection::new(conn))
    })
}

/// Connect to a context hosting at `address`, retrying for up to `timeout` seconds (the
/// original's default is 1; YOTON_FOREVER: until it succeeds; then the handshake takes at most
/// 2 s more). A host that drops the connection during the handshake (busy with other
/// handshakes) is tried again within the timeout. `name` may be NULL.
/// Caller owns `*out`; release with `yoton_connection_free` (that does not close it).
#[no_mangle]
pub extern "C" fn yoton_context_connect(
    ctx: *const yoton_context,
    address: *const c_char,
    timeout: f64,
    name: *const c_char,
    out: *mut *mut yoton_connection,
) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        let address = str_arg(address, "address")?;
        let name = opt_str_arg(name, "name")?;
        let timeout = limit_arg(timeout)?;
        super::util::check_out(out)?;
        let conn = ctx.inner.connect(address, timeout, name)?;
        into_handle(out, yoton_connection::new(conn))
    })
}

/// Close every connection ("Closed by the context.") and every channel. The context can bind
/// and connect again afterwards.
#[no_mangle]
pub extern "C" fn yoton_context_close(ctx: *const yoton_context) -> c_int {
    guard(|| {
        handle(ctx, "context")?.inner.close();
        Ok(())
    })
}

/// Close every channel, keep the connections.
#[no_mangle]
pub extern "C" fn yoton_context_close_channels(ctx: *const yoton_context) -> c_int {
    guard(|| {
        handle(ctx, "context")?.inner.close_channels();
        Ok(())
    })
}

/// Wait until every connected connection has written what is queued. YOTON_ERR_TIMEOUT if that
/// takes more than `timeout` seconds (the original's default is 5; YOTON_FOREVER: no limit).
#[no_mangle]
pub extern "C" fn yoton_context_flush(ctx: *const yoton_context, timeout: f64) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        ctx.inner.flush(limit_arg(timeout)?)
    })
}

/// Number of connections with a peer (hosting or connected).
#[no_mangle]
pub extern "C" fn yoton_context_connection_count(
    ctx: *const yoton_context,
    out: *mut usize,
) -> c_int {
    guard(|| write_out(out, handle(ctx, "context")?.inner.connection_count()))
}

/// The `index`-th connection with a peer, or with `include_waiting` also those waiting for one.
/// YOTON_ERR_INVALID_ARGUMENT if out of range. Caller owns `*out` (`yoton_connection_free`).
#[no_mangle]
pub extern "C" fn yoton_context_connection_at(
    ctx: *const yoton_context,
    index: usize,
    include_waiting: bool,
    out: *mut *mut yoton_connection,
) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        let list = if include_waiting {
            ctx.inner.connections_all()
        } else {
            ctx.inner.connections()
        };
        let len = list.len();
        let conn = list.into_iter().nth(index).ok_or_else(|| {
            Error::invalid(format!(
                "connection index {index} out of range ({len} connections)"
            ))
        })?;
        into_handle(out, yoton_connection::new(conn))
    })
}

/// Number of connections including those waiting for a peer.
#[no_mangle]
pub extern "C" fn yoton_context_connection_count_all(
    ctx: *const yoton_context,
    out: *mut usize,
) -> c_int {
    guard(|| write_out(out, handle(ctx, "context")?.inner.connections_all().len()))
}

/// The alive connection named `name`. YOTON_ERR_NOT_FOUND if there is none.
/// Caller owns `*out` (`yoton_connection_free`).
#[no_mangle]
pub extern "C" fn yoton_context_connection_by_name(
    ctx: *const yoton_context,
    name: *const c_char,
    out: *mut *mut yoton_connection,
) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        let name = str_arg(name, "name")?;
        let conn = ctx.inner.connection_by_name(name).ok_or_else(|| {
            Error::new(
                crate::ErrorKind::NotFound,
                format!("no connection named {name:?}"),
            )
        })?;
        into_handle(out, yoton_connection::new(conn))
    })
}

/// Queue limits for the startup queue and for channels and connections created afterwards:
/// at most `max_packages` packages and `max_bytes` bytes per queue (0 bytes: keep the current
/// byte limit); a full queue drops by `discard`. The default is (10000, 256 MiB, OLD).
#[no_mangle]
pub extern "C" fn yoton_context_set_queue_params(
    ctx: *const yoton_context,
    max_packages: usize,
    max_bytes: usize,
    discard: c_int,
) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        let discard = match discard {
            0 => Discard::Old,
            1 => Discard::New,
            2 => Discard::Block,
            other => return Err(Error::invalid(format!("unknown discard mode {other}"))),
        };
        let current = ctx.inner.queue_params();
        let max_bytes = if max_bytes == 0 {
            current.max_bytes
        } else {
            max_bytes
        };
        ctx.inner.set_queue_params(QueueParams {
            max_packages,
            max_bytes,
            discard,
        })
    })
}

/// The current queue limits (see `yoton_context_set_queue_params`). Each out-pointer may be
/// NULL; `*discard` gets one of `yoton_discard`.
#[no_mangle]
pub extern "C" fn yoton_context_queue_params(
    ctx: *const yoton_context,
    max_packages: *mut usize,
    max_bytes: *mut usize,
    discard: *mut c_int,
) -> c_int {
    guard(|| {
        let params = handle(ctx, "context")?.inner.queue_params();
        write_opt(max_packages, params.max_packages)?;
        write_opt(max_bytes, params.max_bytes)?;
        let mode = match params.discard {
            Discard::Old => 0,
            Discard::New => 1,
            Discard::Block => 2,
        };
        write_opt(discard, mode)
    })
}

/// Number of packages dropped so far by any queue of this context (discard policy).
#[no_mangle]
pub extern "C" fn yoton_context_discarded(ctx: *const yoton_context, out: *mut u64) -> c_int {
    guard(|| write_out(out, handle(ctx, "context")?.inner.discarded()))
}

/// Largest message accepted from peers and allowed in sends (default 256 MiB, at least
/// 1024). A peer that announces more is disconnected with a reason, without allocating
/// anything for it.
#[no_mangle]
pub extern "C" fn yoton_context_set_max_message_size(
    ctx: *const yoton_context,
    bytes: u64,
) -> c_int {
    guard(|| handle(ctx, "context")?.inner.set_max_message_size(bytes))
}

/// The largest message size accepted and sent (see `yoton_context_set_max_message_size`).
#[no_mangle]
pub extern "C" fn yoton_context_max_message_size(
    ctx: *const yoton_context,
    out: *mut u64,
) -> c_int {
    guard(|| write_out(out, handle(ctx, "context")?.inner.max_message_size()))
}

/// How long the context's I/O thread keeps polling instead of sleeping after one of its
/// requesters sent `req?` or a request, in seconds (default 50 µs; 0 turns it off; at most
/// 0.01). Lower RPC latency for some CPU: only this context's one I/O thread spins, and
/// repliers never do. NaN, negative or larger values:
/// YOTON_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn yoton_context_set_rpc_spin(ctx: *const yoton_context, seconds: f64) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        if !(0.0..=0.01).contains(&seconds) {
            return Err(Error::invalid(format!(
                "the RPC spin must be between 0 and 0.01 s (got {seconds})"
            )));
        }
        ctx.inner.set_rpc_spin(Duration::from_secs_f64(seconds))
    })
}

/// The RPC spin of the context in seconds (see `yoton_context_set_rpc_spin`).
#[no_mangle]
pub extern "C" fn yoton_context_rpc_spin(ctx: *const yoton_context, out: *mut f64) -> c_int {
    guard(|| write_out(out, handle(ctx, "context")?.inner.rpc_spin().as_secs_f64()))
}

/// Loss-free mode (YOTON_DISCARD_BLOCK): a peer that nothing could be written to for
/// `seconds` while publications waited for it is disconnected ("The other end does not read
/// ..."), so a stalled peer stops the publications to everyone else for a bounded time only.
/// 0 means never; otherwise at least 0.5 (default 10). No effect in the other modes, where a
/// full queue discards. NaN, negative or 0 < seconds < 0.5: YOTON_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn yoton_context_set_stall_timeout(
    ctx: *const yoton_context,
    seconds: f64,
) -> c_int {
    guard(|| {
        let ctx = handle(ctx, "context")?;
        if !(0.0..=1e9).contains(&seconds) {
            return Err(Error::invalid(format!(
                "the stall timeout must be 0 (never) or between 0.5 and 1e9 s (got {seconds})"
            )));
        }
        ctx.inner
            .set_stall_timeout((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
    })
}

/// The stall timeout in seconds, 0 for never (see `yoton_context_set_stall_timeout`).
#[no_mangle]
pub extern "C" fn yoton_context_stall_timeout(ctx: *const yoton_context, out: *mut f64) -> c_int {
    guard(|| {
        write_out(
            out,
            handle(ctx, "context")?
                .inner
                .stall_timeout()
                .map_or(0.0, |t| t.as_secs_f64()),
        )
    })
}

/// Number of packages waiting in the startup queue (sent while no connection existed).
#[no_mangle]
pub extern "C" fn yoton_context_startup_queued(
    ctx: *const yoton_context,
    out: *mut usize,
) -> c_int {
    guard(|| write_out(out, handle(ctx, "context")?.inner.startup_queued()))
}
