//! TCP: listening and accepting (one peer per bind), connecting with retries, the handshake,
//! and the two IO threads of a connection.
//!
//! Sending thread: drains the whole out-queue at once and writes it with as few syscalls as
//! possible (small packages are staged into one buffer, big bodies are written in place by
//! `writev`), sends a heartbeat when idle. Receiving thread: reads big chunks, parses every
//! complete package in them and routes them as one batch; a big body is read straight into
//! its final buffer, grown as bytes arrive (never sized up front by the peer's length field).

use std::io::{self, IoSlice, Read};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::connection::{reasons, ConnShared, DirectWrite, Status, HEARTBEAT_INTERVAL};
use crate::error::{Error, ErrorKind, Result};
use crate::package::{Package, PackageRef};
use crate::protocol::address::{bind_attempt_port, Address};
use crate::protocol::handshake::{self, LineError, MAX_LINE};
use crate::protocol::header::{ConnectionSignal, Header, HEADER_SIZE};

/// Budget for reading the peer's handshake line (§3.6).
pub(crate) const HANDSHAKE_BUDGET: Duration = Duration::from_secs(2);
/// Handshakes a waiting connection runs at once; more candidates are refused.
const MAX_HANDSHAKES: usize = 16;
/// SO_SNDBUF and SO_RCVBUF of connections (Linux doubles the value it reports).
const SOCKET_BUFFER: usize = 256 * 1024;
/// Receive buffer; packages smaller than half of it are parsed in place.
const READ_BUFFER: usize = 256 * 1024;
/// Bodies up to this size are copied into the staging buffer instead of their own iovec.
const STAGE_LIMIT: usize = 2048;
/// Upper bounds of one write batch (IOV_MAX is 1024 on Linux).
const BATCH_PACKAGES: usize = 500;
const BATCH_BYTES: usize = 8 << 20;
/// A body at least this big that is not complete in the read buffer gets its own buffer at
/// once and the rest is read straight into it: otherwise the partial package is moved to the
/// front of the read buffer, read after, and copied out again (perf: 64 KiB messages spent
/// more time in those copies than in the kernel's).
const DIRECT_BODY_MIN: usize = 16 * 1024;
/// Initial and minimum growth step when reading a big body.
const BODY_CHUNK: usize = 1 << 20;

/// Resolve `host:port` to one IPv4 socket address (IPv4 only, like the original).
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, format!("cannot resolve host '{host}': {e}")))?;
    let all: Vec<SocketAddr> = addrs.collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| Error::invalid(format!("host '{host}' has no address")))
}

/// Create a listening socket, trying `max_tries` ports (§4.6). Port 0 binds an ephemeral port.
pub(crate) fn listen(addr: &Address, max_tries: u32) -> Result<Socket> {
    if max_tries == 0 {
        return Err(Error::new(
            ErrorKind::AddressInUse,
            format!("Could not bind to any of the 0 ports tried, starting with {}.", addr.port),
        ));
    }
    let tries = if addr.port == 0 { 1 } else { max_tries };
    let mut last_err = None;
    for k in 0..tries {
        let Some(port) = bind_attempt_port(addr.port, k) else { break };
        let sockaddr = resolve(&addr.host, port)?;
        match listen_once(sockaddr) {
            Ok(sock) => return Ok(sock),
            Err(e) => last_err = Some(e),
        }
    }
    let err = last_err.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no port left"));
    if tries == 1 {
        Err(Error::io(&format!("cannot bind to {}:{}", addr.host, addr.port), &err))
    } else {
        Err(Error::new(
            ErrorKind::AddressInUse,
            format!("Could not bind to any of the {tries} ports tried, starting with {}.", addr.port),
        ))
    }
}

fn listen_once(addr: SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    // A small backlog like the original's, with room for a rejected non-yoton client or two.
    sock.listen(8)?;
    Ok(sock)
}

/// The local address of a socket as (ip text, port).
pub(crate) fn socket_name(addr: Option<SocketAddr>) -> (String, u16) {
    addr.map(|a| (a.ip().to_string(), a.port())).unwrap_or_default()
}

/// Accept peers on `listener` for a waiting connection, in a background thread, until one
/// completes the handshake; failed candidates get an ERROR line and are closed at once.
pub(crate) fn start_accepting(conn: Arc<ConnShared>, listener: Arc<Socket>) -> Result<()> {
    let context = conn.context.clone();
    let handle = thread::Builder::new()
        .name("yoton-accept".into())
        .spawn(move || accept_loop(conn, listener))
        .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot start the accept thread: {e}")))?;
    track(&context, handle);
    Ok(())
}

/// Hand a thread to its context, which joins it (bounded) when its last handle goes away.
fn track(context: &std::sync::Weak<crate::context::ContextInner>, handle: thread::JoinHandle<()>) {
    if let Some(ctx) = context.upgrade() {
        ctx.track_thread(handle);
    }
}

fn accept_loop(conn: Arc<ConnShared>, listener: Arc<Socket>) {
    let candidates = Arc::new(AtomicUsize::new(0));
    let mut failures = 0u32;
    loop {
        if conn.status() != Status::Waiting {
            return;
        }
        let (sock, _) = match listener.accept() {
            Ok(pair) => pair,
            Err(_) if conn.status() != Status::Waiting => return,
            Err(_) => {
                // Transient (EMFILE, ECONNABORTED): back off briefly, never spin.
                failures = failures.saturating_add(1);
                thread::sleep(Duration::from_millis(10 * u64::from(failures.min(50))));
                continue;
            }
        };
        failures = 0;
        let stream: TcpStream = sock.into();
        // Handshakes run concurrently so a silent or slow candidate cannot block a real peer
        // (the original handshakes one at a time, §13 #4); beyond the bound, refuse at once.
        if candidates.fetch_add(1, Ordering::SeqCst) >= MAX_HANDSHAKES {
            candidates.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let (conn, running) = (conn.clone(), candidates.clone());
        let spawned = thread::Builder::new().name("yoton-handshake".into()).spawn(move || {
            let result = host_handshake(&stream, conn.id1, conn.pid1);
            running.fetch_sub(1, Ordering::SeqCst);
            match result {
                // `establish` accepts only the first success (it checks the status is still
                // waiting); the listening socket closes: one peer per bind.
                Ok((id2, pid2)) => {
                    if let Some(listener) = conn.listener.lock().take() {
                        let _ = listener.shutdown(Shutdown::Both);
                    }
                    establish(&conn, stream, id2, pid2, Status::Hosting);
                }
                // Close failed candidates promptly (the original leaves it to the GC).
                Err(_) => {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
        });
        if spawned.is_err() {
            // The candidate (and its socket) went down with the closure.
            candidates.fetch_sub(1, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Connect to `addr`, retrying until `timeout` has passed (§3.3).
pub(crate) fn connect(addr: &Address, timeout: Duration) -> Result<TcpStream> {
    let timeout = timeout.max(Duration::from_millis(10));
    let sockaddr = resolve(&addr.host, addr.port)?;
    let start = Instant::now();
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        let attempt = TcpStream::connect_timeout(&sockaddr, remaining.max(Duration::from_millis(1)));
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                if start.elapsed() + timeout / 100 >= timeout {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("Cannot connect to {} on {}: {e}", addr.host, addr.port),
                    ));
                }
                thread::sleep(timeout / 100);
            }
        }
    }
}

/// Client side of the handshake: speak first, then read the host's line (§3.5).
pub(crate) fn client_handshake(stream: &TcpStream, own_id: u64, pid: u64) -> Result<(u64, u64)> {
    stream.set_write_timeout(Some(HANDSHAKE_BUDGET)).ok();
    send_all(stream, handshake::encode_line(own_id, pid).as_bytes())
        .map_err(|e| Error::io("Could not connect: cannot send the handshake", &e))?;
    let line = read_line(stream, HANDSHAKE_BUDGET);
    match handshake::parse_line(&line) {
        Ok((id, _)) if id == own_id => Err(Error::new(
            ErrorKind::Handshake,
            "Could not connect: Handshake failed (context cannot connect to self).",
        )),
        Ok(pair) => Ok(pair),
        Err(LineError::Empty) => Err(Error::new(ErrorKind::Handshake, "Could not connect: Handshake timed out.")),
        Err(_) => Err(Error::new(
            ErrorKind::Handshake,
            format!("Could not connect: Handshake failed. The peer said: {:?}", String::from_utf8_lossy(&line)),
        )),
    }
}

/// Host side of the handshake: read the client's line, reply with ours or an ERROR line.
fn host_handshake(stream: &TcpStream, own_id: u64, pid: u64) -> Result<(u64, u64)> {
    stream.set_write_timeout(Some(HANDSHAKE_BUDGET)).ok();
    let line = read_line(stream, HANDSHAKE_BUDGET);
    let parsed = handshake::parse_line(&line);
    let reply: &[u8] = match parsed {
        Ok(_) => &[],
        Err(LineError::Empty) => return Err(Error::new(ErrorKind::Handshake, "Handshake timed out.")),
        Err(LineError::NotYoton) => handshake::ERROR_NOT_YOTON,
        Err(LineError::BadId) => handshake::ERROR_BAD_ID,
    };
    if !reply.is_empty() {
        let _ = send_all(stream, reply);
        return Err(Error::new(ErrorKind::Handshake, "Handshake failed."));
    }
    let (id2, pid2) = parsed.expect("checked above");
    // The original sends its normal line even to itself, then fails (§3.7).
    send_all(stream, handshake::encode_line(own_id, pid).as_bytes()).map_err(|e| Error::io("cannot send the handshake", &e))?;
    if id2 == own_id {
        return Err(Error::new(ErrorKind::Handshake, "Handshake failed (context cannot connect to self)."));
    }
    Ok((id2, pid2))
}

/// Read one line (up to and including CRLF) byte by byte, so nothing after it is consumed.
/// Hard limits: `budget` in time and MAX_LINE in bytes (§13 #3). Returns what was read.
fn read_line(stream: &TcpStream, budget: Duration) -> Vec<u8> {
    let deadline = Instant::now() + budget;
    let mut line = Vec::with_capacity(64);
    let mut r = stream;
    while line.len() < MAX_LINE && !line.ends_with(b"\r\n") {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if r.set_read_timeout(Some(deadline - now)).is_err() {
            break;
        }
        let mut byte = [0u8; 1];
        match r.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    line
}

/// A handshake succeeded: record the peer, set the status and start the IO threads.
pub(crate) fn establish(conn: &Arc<ConnShared>, stream: TcpStream, id2: u64, pid2: u64, status: Status) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(None);
    // Fixed socket buffers (the original forces 10 KiB): bounded data in flight keeps sync-mode
    // back-pressure and the Block mode responsive; 256 KiB still streams at GB/s on loopback.
    let sock = SockRef::from(&stream);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
    let stream = Arc::new(stream);
    {
        let mut st = conn.state();
        let (h1, p1) = socket_name(stream.local_addr().ok());
        let (h2, p2) = socket_name(stream.peer_addr().ok());
        st.endpoints.hostname1 = h1;
        st.endpoints.port1 = p1;
        st.endpoints.hostname2 = h2;
        st.endpoints.port2 = p2;
        st.endpoints.id2 = id2;
        st.endpoints.pid2 = pid2;
        if st.status != Status::Waiting {
            // Closed while the handshake ran: drop the socket.
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        st.set_status(status, conn.status_mirror());
    }
    *conn.stream.lock() = Some(stream.clone());
    let _ = conn.direct.set(stream.clone());
    conn.out().sender_exited = false;
    let (c1, s1) = (conn.clone(), stream.clone());
    let (c2, s2) = (conn.clone(), stream);
    let spawned = thread::Builder::new()
        .name("yoton-send".into())
        .spawn(move || guarded(&c1, "yoton.SendingThread", || sending_loop(&c1, &s1)))
        .and_then(|sender| {
            track(&conn.context, sender);
            thread::Builder::new()
                .name("yoton-recv".into())
                .spawn(move || guarded(&c2, "yoton.ReceivingThread", || receiving_loop(&c2, &s2)))
        })
        .map(|receiver| track(&conn.context, receiver));
    if let Err(e) = spawned {
        conn.out().sender_exited = true;
        conn.close_on_problem(&format!("cannot start IO threads: {e}"));
    }
}

/// Run an IO thread body; a panic closes the connection with a reason instead of vanishing.
fn guarded(conn: &Arc<ConnShared>, who: &str, body: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        conn.close_on_problem(&format!("{who}, Error in io thread.{}", crate::error::panic_text(&*panic)));
    }
    if who.contains("Sending") {
        conn.out().sender_exited = true;
        conn.out_progress.notify_all();
    }
}

/// What the sending thread should do next.
enum Work {
    /// The rest of a package a direct write left half-sent (from this byte offset).
    Partial(PackageRef, usize),
    Batch(Vec<PackageRef>),
    Heartbeat,
    SendCloseAndStop,
    Stop,
}

fn next_work(conn: &ConnShared) -> Work {
    let mut out = conn.out();
    let deadline = Instant::now() + HEARTBEAT_INTERVAL;
    loop {
        if out.stop {
            return Work::Stop;
        }
        if out.writing {
            // A sender is writing directly: wait for it (it wakes us if work remains).
            out.sender_waiting = true;
            conn.out_ready.wait_for(&mut out, HEARTBEAT_INTERVAL);
            out.sender_waiting = false;
            continue;
        }
        if let Some((pkg, sent)) = out.partial.take() {
            out.writing = true;
            return Work::Partial(pkg, sent);
        }
        if out.close_requested {
            return Work::SendCloseAndStop;
        }
        if !out.queue.is_empty() {
            let mut batch = Vec::with_capacity(out.queue.len().min(BATCH_PACKAGES));
            let mut bytes = 0;
            while batch.len() < BATCH_PACKAGES && bytes < BATCH_BYTES {
                let Some(pkg) = out.queue.pop() else { break };
                bytes += pkg.cost();
                batch.push(pkg);
            }
            conn.update_congestion(&out);
            // Room freed: wake senders waiting for space before the (slow) write.
            conn.notify_progress(&out);
            out.writing = true;
            return Work::Batch(batch);
        }
        let now = Instant::now();
        if now >= deadline {
            return Work::Heartbeat;
        }
        out.sender_waiting = true;
        conn.out_ready.wait_for(&mut out, deadline - now);
        out.sender_waiting = false;
    }
}

fn sending_loop(conn: &Arc<ConnShared>, stream: &TcpStream) {
    let mut staging = Vec::with_capacity(64 * 1024);
    loop {
        let result = match next_work(conn) {
            Work::Batch(batch) => {
                let result = write_batch(stream, &batch, &mut staging);
                {
                    let mut out = conn.out();
                    out.writing = false;
                    out.done += batch.len() as u64;
                    conn.notify_progress(&out);
                }
                // Written: packages nobody else holds are reused for the next small messages.
                batch.into_iter().for_each(crate::pool::recycle);
                result
            }
            Work::Partial(pkg, sent) => {
                let mut bytes = pkg.header().encode().to_vec();
                bytes.extend_from_slice(pkg.body());
                let result = send_all(stream, &bytes[sent..]);
                let mut out = conn.out();
                out.writing = false;
                out.done += 1;
                conn.notify_progress(&out);
                result
            }
            Work::Heartbeat => write_batch(stream, &[Arc::new(Package::signal(Header::HEARTBEAT))], &mut staging),
            Work::SendCloseAndStop => {
                let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = write_batch(stream, &[Arc::new(Package::signal(Header::CLOSE))], &mut staging);
                return;
            }
            Work::Stop => return,
        };
        if let Err(e) = result {
            if conn.status() >= Status::Hosting {
                conn.close_on_problem(&write_error_reason(&e));
            }
            return;
        }
    }
}

/// Write packages with as few syscalls as possible: headers and small bodies are staged into
/// one buffer, big bodies go as their own iovec (no copy).
fn write_batch(stream: &TcpStream, batch: &[PackageRef], staging: &mut Vec<u8>) -> io::Result<()> {
    enum Seg {
        Staged(usize, usize),
        Body(usize),
    }
    staging.clear();
    let mut segs: Vec<Seg> = Vec::with_capacity(batch.len() + 1);
    let mut staged_from = 0;
    for (i, pkg) in batch.iter().enumerate() {
        // Packages were filled on the sender's core: start loading the ones coming up.
        if let Some(ahead) = batch.get(i + 2) {
            crate::package::prefetch(ahead, true);
        }
        staging.extend_from_slice(&pkg.header().encode());
        let body = pkg.body();
        if body.len() <= STAGE_LIMIT {
            staging.extend_from_slice(body);
        } else {
            segs.push(Seg::Staged(staged_from, staging.len()));
            staged_from = staging.len();
            segs.push(Seg::Body(i));
        }
    }
    segs.push(Seg::Staged(staged_from, staging.len()));
    let mut slices: Vec<IoSlice<'_>> = segs
        .iter()
        .filter_map(|s| match *s {
            Seg::Staged(a, b) if b > a => Some(IoSlice::new(&staging[a..b])),
            Seg::Staged(..) => None,
            Seg::Body(i) => Some(IoSlice::new(batch[i].body())),
        })
        .collect();
    let mut slices = &mut slices[..];
    let sock = SockRef::from(stream);
    while !slices.is_empty() {
        match sock.send_vectored_with_flags(slices, libc::MSG_NOSIGNAL) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes")),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The close reason for a failed write.
pub(crate) fn write_error_reason(e: &io::Error) -> String {
    if is_peer_gone(e) {
        reasons::DROPPED.to_string()
    } else {
        format!("yoton.SendingThread, Socket error.{e}")
    }
}

/// Write one small package from the sending caller's thread (the out-queue is empty and
/// nobody else is writing). Never blocks: what does not fit is left to the sending thread.
pub(crate) fn write_direct(stream: &TcpStream, pkg: &Package) -> DirectWrite {
    let header = pkg.header().encode();
    let slices = [IoSlice::new(&header), IoSlice::new(pkg.body())];
    let sock = SockRef::from(stream);
    let total = HEADER_SIZE + pkg.body().len();
    let first = loop {
        match sock.send_vectored_with_flags(&slices, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    match first {
        Ok(n) if n == total => DirectWrite::Written,
        Ok(n) => DirectWrite::Partial(n),
        Err(_) => DirectWrite::NotWritten,
    }
}

/// Write all of `bytes` without ever raising SIGPIPE (a C host does not ignore it).
pub(crate) fn send_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    let sock = SockRef::from(stream);
    while !bytes.is_empty() {
        match sock.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes")),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Why the receiving thread stopped.
enum Stop {
    /// Close the connection (without a close package) for this reason.
    Problem(String),
    /// The peer sent a close package.
    PeerClosed,
    /// We closed it ourselves; just exit.
    Quiet,
}

/// The receive side: a buffer, the parse position and the bookkeeping of `timedout`.
struct Receiver<'a> {
    conn: &'a Arc<ConnShared>,
    stream: &'a TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    applied_timeout_ms: u64,
}

fn receiving_loop(conn: &Arc<ConnShared>, stream: &TcpStream) {
    let mut rx = Receiver { conn, stream, buf: vec![0; READ_BUFFER], start: 0, end: 0, applied_timeout_ms: 0 };
    let stop = rx.run();
    match stop {
        Stop::Problem(reason) => conn.close_on_problem(&reason),
        Stop::PeerClosed => conn.close_on_problem(reasons::FROM_OTHER_END),
        Stop::Quiet => {}
    }
}

impl Receiver<'_> {
    fn run(&mut self) -> Stop {
        loop {
            let mut batch = Vec::new();
            let parsed = self.parse_available(&mut batch);
            if !batch.is_empty() {
                self.route(batch);
            }
            if let Err(stop) = parsed {
                return stop;
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            } else if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let end = self.end;
            match self.read_some(end) {
                Ok(n) => self.end += n,
                Err(stop) => return stop,
            }
        }
    }

    /// Parse every complete package in the buffer into `batch`. A big body that does not fit
    /// is read in place here (after routing what came before it, to keep the order).
    fn parse_available(&mut self, batch: &mut Vec<PackageRef>) -> Result<(), Stop> {
        let max = self.conn.context.upgrade().map(|c| c.max_message_size()).unwrap_or(0);
        while self.end - self.start >= HEADER_SIZE {
            let raw: &[u8; HEADER_SIZE] = self.buf[self.start..self.start + HEADER_SIZE].try_into().expect("56 bytes");
            let header = Header::decode(raw).map_err(|_| Stop::Problem(reasons::LOST_TRACK.into()))?;
            if let Some(signal) = header.connection_signal() {
                self.start += HEADER_SIZE;
                match signal {
                    ConnectionSignal::Close => return Err(Stop::PeerClosed),
                    ConnectionSignal::Heartbeat | ConnectionSignal::Ignored => continue,
                }
            }
            if header.length > max {
                return Err(Stop::Problem(format!(
                    "Lost track of the stream: a package announced {} bytes, above the maximum message size of {max} bytes.",
                    header.length
                )));
            }
            let len = header.length as usize;
            let have = self.end - self.start - HEADER_SIZE;
            let body_at = self.start + HEADER_SIZE;
            if have >= len {
                batch.push(crate::pool::package(&header, &self.buf[body_at..body_at + len]));
                self.start = body_at + len;
            } else if len >= DIRECT_BODY_MIN || HEADER_SIZE + len > self.buf.len() / 2 {
                let mut body = crate::pool::big_buffer(len.min(BODY_CHUNK.max(have)) + 1);
                body.extend_from_slice(&self.buf[body_at..self.end]);
                self.start = self.end;
                if !batch.is_empty() {
                    self.route(std::mem::take(batch));
                }
                self.read_body(&mut body, len)?;
                batch.push(Arc::new(Package::new(&header, body)));
            } else {
                break;
            }
        }
        Ok(())
    }

    fn route(&self, batch: Vec<PackageRef>) {
        if let Some(ctx) = self.conn.context.upgrade() {
            ctx.route_batch(self.conn, batch);
        }
    }

    /// Read a big body straight into `body`, growing it as bytes arrive.
    fn read_body(&mut self, body: &mut Vec<u8>, len: usize) -> Result<(), Stop> {
        while body.len() < len {
            if body.len() == body.capacity() {
                let grow = (len - body.len()).min(body.len().max(BODY_CHUNK));
                body.reserve_exact(grow + 1);
            }
            // Straight into the spare capacity: no zero-filling of bytes about to be overwritten.
            let want = (len - body.len()).min(body.capacity() - body.len());
            let n = read_into(self, &mut body.spare_capacity_mut()[..want])?;
            commit_received(body, n);
        }
        Ok(())
    }

    /// Read into `self.buf[at..]`.
    fn read_some(&mut self, at: usize) -> Result<usize, Stop> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = read_into(self, as_uninit(&mut buf[at..]));
        self.buf = buf;
        result
    }
}

/// A reset or broken pipe is how a peer that closed usually shows up: the original closes its
/// socket with our heartbeats still unread, so Linux sends RST instead of FIN. Same as EOF.
fn is_peer_gone(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted)
}

/// While the context expects an RPC answer (`ContextInner::expect_answer`), poll the socket
/// without blocking until data comes or the window closes; None: nothing came, block as usual.
/// Yielding between polls leaves the core to the threads producing the answer.
fn busy_poll(rx: &Receiver<'_>, target: &mut [MaybeUninit<u8>]) -> Option<io::Result<usize>> {
    let until = rx.conn.context.upgrade()?.busy_poll_until()?;
    let sock = SockRef::from(rx.stream);
    loop {
        match sock.recv_with_flags(target, libc::MSG_DONTWAIT) {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            other => return Some(other),
        }
        if crate::connection::now_ns() >= until {
            return None;
        }
        thread::yield_now();
    }
}

/// View initialised bytes as the `MaybeUninit` buffer socket2's `recv` takes (std has no
/// non-blocking read by flag, nor reads into spare capacity).
#[allow(unsafe_code)]
fn as_uninit(bytes: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; recv only ever writes initialised bytes into the slice, so it stays
    // initialised for the `&mut [u8]` it came from.
    unsafe { &mut *(bytes as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) }
}

/// `recv` wrote `n` bytes at the start of `body`'s spare capacity: make them part of it.
#[allow(unsafe_code)]
fn commit_received(body: &mut Vec<u8>, n: usize) {
    assert!(n <= body.capacity() - body.len(), "recv reported more bytes than it was given room for");
    // SAFETY: within capacity (checked), and those bytes were initialised by recv.
    unsafe { body.set_len(body.len() + n) }
}

/// Reads smaller than this are acknowledged at once (see `read_into`).
const QUICKACK_BELOW: usize = 64 * 1024;

/// One read into `target`, handling the `timedout` signal, EOF and errors.
fn read_into(rx: &mut Receiver<'_>, target: &mut [MaybeUninit<u8>]) -> Result<usize, Stop> {
    loop {
        if rx.conn.status() < Status::Hosting {
            return Err(Stop::Quiet);
        }
        let timeout_ms = rx.conn.timeout_ms.load(Ordering::Relaxed).max(1);
        if timeout_ms != rx.applied_timeout_ms {
            let _ = rx.stream.set_read_timeout(Some(Duration::from_millis(timeout_ms)));
            rx.applied_timeout_ms = timeout_ms;
        }
        let got = match busy_poll(rx, target) {
            Some(result) => result,
            // Blocking, bounded by SO_RCVTIMEO (the `timedout` timeout).
            None => SockRef::from(rx.stream).recv(target),
        };
        match got {
            Ok(0) => {
                return Err(if rx.conn.status() < Status::Hosting { Stop::Quiet } else { Stop::Problem(reasons::DROPPED.into()) })
            }
            Ok(n) => {
                // Acknowledge small reads at once: a sender with a tiny send buffer (the
                // original uses 10 KiB) otherwise stalls ~40 ms on our delayed ACK for every
                // segment. Bulk reads need no help (Linux acks every second full segment), and
                // the forced ACK costs a syscall plus the sender's transmit work in our thread.
                if n < QUICKACK_BELOW {
                    let _ = SockRef::from(rx.stream).set_quickack(true);
                }
                if rx.conn.timedout.swap(false, Ordering::SeqCst) {
                    rx.conn.timedout_changed(false);
                }
                return Ok(n);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if !rx.conn.timedout.swap(true, Ordering::SeqCst) {
                    rx.conn.timedout_changed(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(if rx.conn.status() < Status::Hosting {
                    Stop::Quiet
                } else if is_peer_gone(&e) {
                    Stop::Problem(reasons::DROPPED.into())
                } else {
                    Stop::Problem(format!("yoton.ReceivingThread, Socket error.{e}"))
                })
            }
        }
    }
}
