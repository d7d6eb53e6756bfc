//! TCP sockets: resolving, listening, connecting with retries, the connecting side's
//! handshake (blocking, in the caller's thread), socket options and write helpers. Serving
//! established sockets is the reactor's job (`transport::reactor`).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::connection::reasons;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::address::{bind_attempt_port, Address};
use crate::protocol::handshake::{self, LineError, MAX_LINE};
use crate::transport::reactor::HANDSHAKE_BUDGET;

/// Pending connections the kernel keeps per listening socket: a connect flood must not cost
/// real peers SYN retries (the original's backlog of 8 did). When the accept queue is full
/// Linux drops new SYNs, and the client retries after 1 s; 1024 still overflowed under a
/// 2000-connect burst on a loaded 2-core machine (tests/hostile.rs). 4096 is Linux's default
/// `somaxconn`, which caps it anyway.
const LISTEN_BACKLOG: i32 = 4096;

/// Resolve `host:port` to one socket address: an IP literal as it is, a name to its first IPv4
/// address (as the original), else its first IPv6 one.
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let addrs = (host, port).to_socket_addrs().map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot resolve host '{host}': {e}"),
        )
    })?;
    let all: Vec<SocketAddr> = addrs.collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| Error::invalid(format!("host '{host}' has no address")))
}

/// Create a listening socket, trying `max_tries` ports (docs/protocol.md §4.6). Port 0 binds an ephemeral port.
pub(crate) fn listen(addr: &Address, max_tries: u32) -> Result<TcpListener> {
    if max_tries == 0 {
        return Err(Error::new(
            ErrorKind::AddressInUse,
            format!(
                "Could not bind to any of the 0 ports tried, starting with {}.",
                addr.port
            ),
        ));
    }
    let tries = if addr.port == 0 { 1 } else { max_tries };
    let mut last_err = None;
    for k in 0..tries {
        let Some(port) = bind_attempt_port(addr.port, k) else {
            break;
        };
        let sockaddr = resolve(&addr.host, port)?;
        match listen_once(sockaddr) {
            Ok(sock) => return Ok(sock),
            Err(e) => last_err = Some(e),
        }
    }
    let err = last_err.unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no port left"));
    if tries == 1 {
        Err(Error::io(
            &format!("cannot bind to {}:{}", addr.host, addr.port),
            &err,
        ))
    } else {
        Err(Error::new(
            ErrorKind::AddressInUse,
            format!(
                "Could not bind to any of the {tries} ports tried, starting with {}.",
                addr.port
            ),
        ))
    }
}

fn listen_once(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(LISTEN_BACKLOG)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// The local address of a socket as (ip text, port).
pub(crate) fn socket_name(addr: Option<SocketAddr>) -> (String, u16) {
    addr.map(|a| (a.ip().to_string(), a.port()))
        .unwrap_or_default()
}

/// Connect to `addr`, retrying until `timeout` has passed (docs/protocol.md §3.3).
pub(crate) fn connect(addr: &Address, timeout: Duration) -> Result<TcpStream> {
    let timeout = timeout.max(Duration::from_millis(10));
    let sockaddr = resolve(&addr.host, addr.port)?;
    let start = Instant::now();
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        let attempt =
            TcpStream::connect_timeout(&sockaddr, remaining.max(Duration::from_millis(1)));
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                let pause = retry_pause(timeout);
                if start.elapsed() + pause >= timeout {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("Cannot connect to {} on {}: {e}", addr.host, addr.port),
                    ));
                }
                thread::sleep(pause);
            }
        }
    }
}

/// The pause between connect attempts: a hundredth of the timeout (as the original), at most
/// 100 ms so that a long timeout still notices a host that comes up.
pub(crate) fn retry_pause(timeout: Duration) -> Duration {
    (timeout / 100).min(Duration::from_millis(100))
}

/// The host's answer to a client's handshake.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The host's id and pid: the connection is established.
    Accepted { id: u64, pid: u64 },
    /// The host closed the connection without a word (see HOST_DROPPED_US): worth another try.
    Dropped,
}

/// Client side of the handshake: speak first, then read the host's line (docs/protocol.md §3.5).
pub(crate) fn client_handshake(stream: &TcpStream, own_id: u64, pid: u64) -> Result<Answer> {
    stream.set_write_timeout(Some(HANDSHAKE_BUDGET)).ok();
    send_all(stream, handshake::encode_line(own_id, pid).as_bytes())
        .map_err(|e| Error::io("Could not connect: cannot send the handshake", &e))?;
    let (line, ended) = read_line(stream, HANDSHAKE_BUDGET);
    match handshake::parse_line(&line) {
        Ok((id, _)) if id == own_id => Err(Error::new(
            ErrorKind::Handshake,
            "Could not connect: Handshake failed (context cannot connect to self).",
        )),
        Ok((id, pid)) => Ok(Answer::Accepted { id, pid }),
        Err(LineError::Empty) if ended == LineEnd::Closed => Ok(Answer::Dropped),
        Err(LineError::Empty) => Err(Error::new(
            ErrorKind::Handshake,
            "Could not connect: Handshake timed out.",
        )),
        Err(_) => Err(Error::new(
            ErrorKind::Handshake,
            format!(
                "Could not connect: Handshake failed. The peer said: {:?}",
                String::from_utf8_lossy(&line)
            ),
        )),
    }
}

/// What a client's handshake hears when the host closes the connection without answering: it
/// dropped us for a newer candidate (a flood of silent connections) or because another peer
/// took the bind. `Context::connect` tries again within its timeout.
pub(crate) const HOST_DROPPED_US: &str =
    "the host closed the connection during the handshake (another peer took its bind, or it is busy with other handshakes).";

/// How reading a handshake line ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LineEnd {
    /// CRLF, or MAX_LINE bytes.
    Complete,
    /// The peer closed (or reset) the connection.
    Closed,
    /// The time budget ran out.
    TimedOut,
}

/// Read one line (up to and including CRLF) byte by byte, so nothing after it is consumed.
/// Hard limits: `budget` in time and MAX_LINE in bytes (docs/protocol.md §13 #3). Returns what
/// was read and how reading ended.
fn read_line(stream: &TcpStream, budget: Duration) -> (Vec<u8>, LineEnd) {
    let deadline = Instant::now() + budget;
    let mut line = Vec::with_capacity(64);
    let mut r = stream;
    while line.len() < MAX_LINE && !line.ends_with(b"\r\n") {
        let now = Instant::now();
        if now >= deadline || r.set_read_timeout(Some(deadline - now)).is_err() {
            return (line, LineEnd::TimedOut);
        }
        let mut byte = [0u8; 1];
        match r.read(&mut byte) {
            Ok(0) => return (line, LineEnd::Closed),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return (line, LineEnd::TimedOut)
            }
            Err(_) => return (line, LineEnd::Closed),
        }
    }
    (line, LineEnd::Complete)
}

/// Socket options of an established connection: non-blocking (the reactor serves it) and
/// no Nagle. The buffer sizes are left to the kernel's autotuning (the original forces
/// 10 KiB; fixed 256 KiB buffers held 1 MiB messages to 0.6x of a raw-TCP program).
pub(crate) fn prepare_stream(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_write_timeout(None);
    let _ = stream.set_nonblocking(true);
}

/// The close reason for a failed write.
pub(crate) fn write_error_reason(e: &io::Error) -> String {
    if is_peer_gone(e) {
        reasons::DROPPED.to_string()
    } else {
        format!("yoton.SendingThread, Socket error.{e}")
    }
}

/// Write all of `bytes` without ever raising SIGPIPE (a C host does not ignore it).
pub(crate) fn send_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    let sock = SockRef::from(stream);
    while !bytes.is_empty() {
        match sock.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "socket accepted no bytes",
                ))
            }
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A reset or broken pipe is how a peer that closed usually shows up: the original closes its
/// socket with our heartbeats still unread, so Linux sends RST instead of FIN. Same as EOF.
pub(crate) fn is_peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}
