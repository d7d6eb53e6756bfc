//! The client/server helper (docs/protocol.md §11): a telnet-like, non-persistent request/reply over plain TCP
//! (no handshake, no package framing). One CRLF-terminated UTF-8 line each way per connection.
//! Wire-compatible with the original's `do_request` and `RequestServer`, with bounds the
//! original lacks: a request line is cut off at `MAX_REQUEST` bytes or after 1 s, and the
//! connection is dropped with a recorded reason; the server keeps serving others.

use parking_lot::Mutex;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::address::parse_address;
use crate::transport::tcp::{listen, resolve, send_all};

/// Longest request line a server accepts (the original has no limit).
pub const MAX_REQUEST: usize = 1 << 20;
/// Longest reply `do_request` accepts.
pub const MAX_REPLY: usize = 16 << 20;
/// Time a server gives a client to send its line (the original's 1 s).
pub const REQUEST_BUDGET: Duration = Duration::from_secs(1);
/// Connections handled at once in thread-per-connection mode; more are refused.
const MAX_CONCURRENT: usize = 64;
thread_local! {
    /// This thread is a connection thread of some server.
    static IN_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How long `stop` waits for the serving thread and connection threads still in a handler.
const STOP_WAIT: Duration = crate::HANDLER_WAIT;

/// Turns a request line (including its CRLF, as the original passes it) into a reply.
pub type RequestHandler = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Decode like the original (`errors="ignore"`): invalid UTF-8 bytes are dropped.
fn decode_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).expect("valid prefix"));
                rest = &bad[e.error_len().unwrap_or(bad.len())..];
            }
        }
    }
}

/// Read up to and including CRLF (or EOF), within `deadline` and `limit` bytes.
fn read_line(stream: &TcpStream, deadline: Option<Instant>, limit: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut r = stream;
    loop {
        let wait = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no complete line within the time budget",
                    ));
                }
                Some(d - now)
            }
            None => None,
        };
        r.set_read_timeout(wait)?;
        // Peek first so nothing after the CRLF is consumed (it is ignored anyway, but we must
        // not block on it).
        let n = match stream.peek(&mut chunk) {
            Ok(0) => return Ok(line),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no complete line within the time budget",
                ))
            }
            Err(e) => return Err(e),
        };
        let take = match chunk[..n].windows(2).position(|w| w == b"\r\n") {
            Some(i) => i + 2,
            // Keep a lone trailing CR for the next round (its LF may follow).
            None if chunk[n - 1] == b'\r' && n > 1 => n - 1,
            None => n,
        };
        let take = if line.last() == Some(&b'\r') && chunk[0] == b'\n' {
            1
        } else {
            take
        };
        r.read_exact(&mut chunk[..take])?;
        line.extend_from_slice(&chunk[..take]);
        if line.ends_with(b"\r\n") {
            return Ok(line);
        }
        if line.len() > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line longer than {limit} bytes without CRLF"),
            ));
        }
    }
}

fn with_crlf(text: &str) -> String {
    if text.ends_with("\r\n") {
        text.to_string()
    } else {
        format!("{text}\r\n")
    }
}

/// Send `request` (CRLF appended if missing) to the server at `address` and return its reply
/// line, including the CRLF, with invalid UTF-8 bytes dropped. One connect attempt. `timeout`
/// bounds connecting and the whole exchange (None: no limit). A server that says nothing in
/// time gives `Timeout` and one that hangs up without a reply gives `Io` (the original returns
/// the partial text, often "", in both cases).
pub fn do_request(address: &str, request: &str, timeout: Option<Duration>) -> Result<String> {
    let addr = parse_address(address)?;
    let sockaddr = resolve(&addr.host, addr.port)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let stream = match timeout {
        Some(t) => TcpStream::connect_timeout(&sockaddr, t.max(Duration::from_millis(1))),
        None => TcpStream::connect(sockaddr),
    }
    .map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("No server is listening at the given port. ({e})"),
        )
    })?;
    send_all(&stream, with_crlf(request).as_bytes())
        .map_err(|e| Error::io("cannot send the request", &e))?;
    let _ = stream.shutdown(Shutdown::Write);
    match read_line(&stream, deadline, MAX_REPLY) {
        // (The original returns "" here; an error says what happened.)
        Ok(line) if line.is_empty() => Err(Error::new(
            ErrorKind::Io,
            "the server closed the connection without replying",
        )),
        Ok(line) => Ok(decode_lossy(&line)),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            Err(Error::timeout("the server did not reply in time"))
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Err(Error::new(ErrorKind::TooLarge, e.to_string()))
        }
        Err(e) => Err(Error::io("cannot read the reply", &e)),
    }
}

struct ServerShared {
    listener: Socket,
    handler: RequestHandler,
    thread_per_connection: bool,
    stop: AtomicBool,
    running: AtomicBool,
    /// Connection threads running (its own `Arc`: a worker lets go of the server before it
    /// counts itself out, so `stop` knows when no worker holds the handler any more).
    active: Arc<AtomicUsize>,
    handled: AtomicU64,
    dropped: AtomicU64,
    last_drop: Mutex<String>,
}

/// A request server: accepts connections, reads one line, answers with the handler's reply.
pub struct RequestServer {
    shared: Arc<ServerShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RequestServer {
    /// Listen at `address` (port 0: any free port). With `thread_per_connection`, each
    /// connection is handled in its own thread (at most 64 at once), so a slow client or a
    /// slow handler does not hold up the others.
    pub fn bind(
        address: &str,
        handler: RequestHandler,
        thread_per_connection: bool,
    ) -> Result<RequestServer> {
        let addr = parse_address(address)?;
        // The request server serves its sockets with blocking calls in its own threads.
        let listener = Socket::from(listen(&addr, 1)?);
        listener
            .set_nonblocking(false)
            .map_err(|e| Error::io("cannot configure the listening socket", &e))?;
        Ok(RequestServer {
            shared: Arc::new(ServerShared {
                listener,
                handler,
                thread_per_connection,
                stop: AtomicBool::new(false),
                running: AtomicBool::new(false),
                active: Arc::new(AtomicUsize::new(0)),
                handled: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                last_drop: Mutex::new(String::new()),
            }),
            thread: Mutex::new(None),
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.shared
            .listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map_or(0, |a| a.port())
    }

    /// Serve in the calling thread until `stop` (from another thread or a handler).
    pub fn run(&self) -> Result<()> {
        if self.shared.running.swap(true, Ordering::SeqCst) {
            return Err(Error::invalid("the server is already running"));
        }
        serve(&self.shared);
        self.shared.running.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Serve in a background thread.
    pub fn start(&self) -> Result<()> {
        if self.shared.running.swap(true, Ordering::SeqCst) {
            return Err(Error::invalid("the server is already running"));
        }
        let shared = self.shared.clone();
        let handle = thread::Builder::new()
            .name("yoton-request-server".into())
            .spawn(move || {
                serve(&shared);
                shared.running.store(false, Ordering::SeqCst);
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start the server thread: {e}"),
                )
            })?;
        *self.thread.lock() = Some(handle);
        Ok(())
    }

    /// Stop serving (the listening socket closes; a running `run` returns). Final. Waits up to
    /// STOP_WAIT, in all, for the serving thread and for connection threads still in a
    /// handler, so that no handler runs after the server is released unless one takes longer
    /// than that (its thread then ends on its own when the handler returns).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.shared.listener.shutdown(Shutdown::Both);
        let deadline = Instant::now() + STOP_WAIT;
        let handle = self.thread.lock().take();
        if let Some(handle) = handle {
            // (Not from a handler on the serving thread: it would wait for itself.)
            if handle.thread().id() != thread::current().id() {
                while !handle.is_finished() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                if handle.is_finished() {
                    let _ = handle.join();
                }
            }
        }
        // (From a handler on a connection thread: it would wait for itself.)
        while !IN_WORKER.with(|w| w.get())
            && self.shared.active.load(Ordering::SeqCst) > 0
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Requests answered so far.
    pub fn handled(&self) -> u64 {
        self.shared.handled.load(Ordering::SeqCst)
    }

    /// Connections dropped without an answer (no line in time, too long, handler panic).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Why the last connection was dropped ("" if none was).
    pub fn last_drop_reason(&self) -> String {
        self.shared.last_drop.lock().clone()
    }
}

impl Drop for RequestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(shared: &Arc<ServerShared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let stream: TcpStream = match shared.listener.accept() {
            Ok((sock, _)) => sock.into(),
            Err(_) if shared.stop.load(Ordering::SeqCst) => return,
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if !shared.thread_per_connection {
            handle_connection(shared, stream);
            continue;
        }
        if shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONCURRENT {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            note_drop(shared, "too many connections at once");
            continue;
        }
        let worker = shared.clone();
        let active = shared.active.clone();
        let spawned = thread::Builder::new()
            .name("yoton-request".into())
            .spawn(move || {
                IN_WORKER.with(|w| w.set(true));
                handle_connection(&worker, stream);
                drop(worker);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            note_drop(shared, "cannot start a connection thread");
        }
    }
}

fn note_drop(shared: &ServerShared, reason: &str) {
    shared.dropped.fetch_add(1, Ordering::SeqCst);
    *shared.last_drop.lock() = reason.to_string();
}

fn handle_connection(shared: &ServerShared, stream: TcpStream) {
    let line = match read_line(&stream, Some(Instant::now() + REQUEST_BUDGET), MAX_REQUEST) {
        Ok(line) if line.is_empty() => return note_drop(shared, "the client sent nothing"),
        Ok(line) => line,
        Err(e) => {
            // Record first: the client sees the shutdown and may ask right away.
            note_drop(shared, &format!("request dropped: {e}"));
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    };
    let request = decode_lossy(&line);
    let handler = shared.handler.clone();
    let reply = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request))) {
        Ok(reply) => reply,
        Err(_) => {
            note_drop(shared, "the request handler panicked");
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    // Counted before the write, so a client holding its reply sees it counted; taken back if
    // the write fails.
    shared.handled.fetch_add(1, Ordering::SeqCst);
    if send_all(&stream, with_crlf(&reply).as_bytes()).is_err() {
        shared.handled.fetch_sub(1, Ordering::SeqCst);
        note_drop(shared, "the client went away before the reply was sent");
    }
    let _ = stream.shutdown(Shutdown::Write);
    discard_unread(&stream);
}

/// Read and drop what the client sent beyond its request line and is already here (at most
/// 1 MiB, never waiting): closing a socket with unread data makes the kernel answer with a
/// reset, which can reach the client before it has read our reply.
fn discard_unread(stream: &TcpStream) {
    use std::io::Read;
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    let mut reader = stream;
    for _ in 0..64 {
        match reader.read(&mut buf) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_decoding_drops_invalid_bytes_like_python() {
        assert_eq!(decode_lossy(b"a\xffb\xc3\xa9\xe2\x82"), "abé");
        assert_eq!(decode_lossy(b""), "");
    }
}
