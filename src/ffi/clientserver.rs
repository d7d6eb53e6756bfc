//! C API of the client/server helper: `yoton_do_request`, `yoton_request_server_*`.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use super::util::{
    check_out, free_handle, guard, guard_void, handle, handle_mut, into_handle, str_arg,
    timeout_arg, write_opt, write_out, write_str, yoton_free_fn, UserData,
};
use crate::clientserver::{do_request, RequestServer};
use crate::error::Error;

/// A request server (telnet-like: one CRLF-terminated line in, one out, per connection).
/// Caller owns it; release with `yoton_request_server_free` (which stops it).
pub struct yoton_request_server {
    inner: RequestServer,
}

/// The answer of a request handler, valid only during the handler call.
pub struct yoton_text_reply {
    text: String,
}

/// A request handler: `request` is the received line including its CRLF (NUL-terminated,
/// borrowed for the call). Set the answer with `yoton_text_reply_set` (default: empty line).
/// Runs on the server's thread (or a per-connection thread), not the event thread.
pub type yoton_request_handler = Option<
    extern "C" fn(user_data: *mut c_void, request: *const c_char, reply: *mut yoton_text_reply),
>;

/// Flags of `yoton_request_server_new`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum yoton_server_flags {
    /// Handle connections one after another in the serving thread (the original's default).
    YOTON_SERVER_INLINE = 0,
    /// Handle each connection in its own thread (at most 64 at once).
    YOTON_SERVER_THREAD_PER_CONNECTION = 1,
}

/// Send `request` (CRLF appended if missing) to the server at `address`, wait at most
/// `timeout` seconds (negative: no limit) and return its reply line including the CRLF.
/// Caller owns `*reply` (`yoton_string_free`). Errors: YOTON_ERR_IO (no server, or it hung up
/// without replying), YOTON_ERR_TIMEOUT, YOTON_ERR_INVALID_ARGUMENT (address).
#[no_mangle]
pub extern "C" fn yoton_do_request(
    address: *const c_char,
    request: *const c_char,
    timeout: f64,
    reply: *mut *mut c_char,
) -> c_int {
    guard(|| {
        let address = str_arg(address, "address")?;
        let request = str_arg(request, "request")?;
        let timeout = timeout_arg(timeout)?;
        check_out(reply)?;
        let text = do_request(address, request, timeout)?;
        let text = CString::new(text.replace('\0', "")).unwrap_or_default();
        write_out(reply, super::util::live::made(text.into_raw()))
    })
}

/// Release a string returned by yoton (e.g. by `yoton_do_request`). NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_string_free(text: *mut c_char) {
    guard_void(|| super::util::free_cstring(text));
}

/// Create a server listening at `address` (port 0: any free port; see
/// `yoton_request_server_port`). `flags` is a `yoton_server_flags` value. `free_user_data`
/// (may be NULL) is called once when the server is released. Serve with
/// `yoton_request_server_start` (own thread) or `yoton_request_server_run` (calling thread).
/// Caller owns `*out` (`yoton_request_server_free`).
#[no_mangle]
pub extern "C" fn yoton_request_server_new(
    address: *const c_char,
    handler: yoton_request_handler,
    user_data: *mut c_void,
    free_user_data: yoton_free_fn,
    flags: c_int,
    out: *mut *mut yoton_request_server,
) -> c_int {
    guard(move || {
        let data = UserData::new(user_data, free_user_data);
        let address = str_arg(address, "address")?;
        let handler = handler.ok_or_else(|| Error::invalid("handler is NULL"))?;
        let per_connection = match flags {
            0 => false,
            1 => true,
            other => return Err(Error::invalid(format!("unknown server flags {other}"))),
        };
        check_out(out)?;
        let call = move |request: &str| {
            let request = CString::new(request.replace('\0', "")).unwrap_or_default();
            let mut reply = yoton_text_reply {
                text: String::new(),
            };
            handler(data.ptr(), request.as_ptr(), &mut reply);
            reply.text
        };
        let server = RequestServer::bind(address, Arc::new(call), per_connection)?;
        into_handle(out, yoton_request_server { inner: server })
    })
}

/// Set the reply text (NUL-terminated UTF-8, copied; CRLF is appended if missing).
#[no_mangle]
pub extern "C" fn yoton_text_reply_set(reply: *mut yoton_text_reply, text: *const c_char) -> c_int {
    guard(|| {
        let text = str_arg(text, "text")?.to_string();
        handle_mut(reply, "reply")?.text = text;
        Ok(())
    })
}

/// Stop the server and release it, waiting at most YOTON_HANDLER_WAIT seconds for its thread
/// and for handlers still running; `free_user_data` runs before this returns unless a
/// handler outlasts that wait (then it runs on the handler's thread right after the handler
/// returns). NULL is a no-op.
#[no_mangle]
pub extern "C" fn yoton_request_server_free(server: *mut yoton_request_server) {
    guard_void(|| free_handle(server));
}

/// The port the server listens on.
#[no_mangle]
pub extern "C" fn yoton_request_server_port(
    server: *const yoton_request_server,
    out: *mut u16,
) -> c_int {
    guard(|| write_out(out, handle(server, "server")?.inner.port()))
}

/// Serve in a background thread.
#[no_mangle]
pub extern "C" fn yoton_request_server_start(server: *const yoton_request_server) -> c_int {
    guard(|| handle(server, "server")?.inner.start())
}

/// Serve in the calling thread until `yoton_request_server_stop` (from a handler or another
/// thread).
#[no_mangle]
pub extern "C" fn yoton_request_server_run(server: *const yoton_request_server) -> c_int {
    guard(|| handle(server, "server")?.inner.run())
}

/// Stop serving (final: the listening socket closes).
#[no_mangle]
pub extern "C" fn yoton_request_server_stop(server: *const yoton_request_server) -> c_int {
    guard(|| {
        handle(server, "server")?.inner.stop();
        Ok(())
    })
}

/// Requests answered and connections dropped without an answer (no line within 1 s, a line
/// over 1 MiB without CRLF, ...). Either pointer may be NULL.
#[no_mangle]
pub extern "C" fn yoton_request_server_stats(
    server: *const yoton_request_server,
    handled: *mut u64,
    dropped: *mut u64,
) -> c_int {
    guard(|| {
        let server = handle(server, "server")?;
        write_opt(handled, server.inner.handled())?;
        write_opt(dropped, server.inner.dropped())?;
        Ok(())
    })
}

/// Why the last connection was dropped ("" if none), buffer convention of
/// `yoton_connection_name`.
#[no_mangle]
pub extern "C" fn yoton_request_server_last_drop_reason(
    server: *const yoton_request_server,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> c_int {
    guard(|| {
        write_str(
            &handle(server, "server")?.inner.last_drop_reason(),
            buf,
            cap,
            len,
        )
    })
}
