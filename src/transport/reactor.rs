//! The I/O reactor: one thread per context serves every socket of that context — accepting,
//! host-side handshakes, reading, writing, heartbeats, the `timedout` state and closing —
//! over one epoll set (mio). User threads never touch a lock the reactor holds during I/O:
//! they queue packages in a connection's lanes and hand the reactor commands through a
//! channel plus a waker. What arrives goes up to the context through the narrow `Upcalls`
//! interface, called with no reactor-side lock held.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;
use socket2::SockRef;

use crate::connection::{now_ns, reasons, ConnShared, Status, Writer, CONTROL_LANE_MAX_BYTES};
use crate::error::{Error, ErrorKind, Result};
use crate::package::{Package, PackageRef};
use crate::protocol::handshake::{self, LineError, MAX_LINE};
use crate::protocol::header::Header;
use crate::slab;
use crate::transport::tcp;
use crate::transport::wire::{
    self, Chunk, Decoder, InputEnd, Outgoing, Wrote, BATCH_BYTES, BATCH_PACKAGES,
};

const WAKER: Token = Token(usize::MAX);
/// Period of the reactor's housekeeping: heartbeats, `timedout`, deadlines, paused readers.
/// Each wake-up costs an idle context CPU (an idle pair: 0.22-0.25 % of a core at 50 ms,
/// 0.14 % at 100 ms); heartbeats still go out 200-300 ms apart, well under 0.5 s.
const TICK: Duration = Duration::from_millis(100);
/// Period of the context's channel housekeeping (req/rep resends, auto-cancel, sync mode).
const CHANNEL_TICK: Duration = Duration::from_millis(100);
/// How long an outgoing side may stay idle before a heartbeat goes out (well under 0.5 s).
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);
/// A read goes into the reactor's current slab (one per reactor, not per connection) if at
/// least this much room is left after the connection's kept tail; otherwise into a new slab.
const READ_MIN: usize = 32 * 1024;
/// Bytes read from one connection before the others get their turn.
const READ_TURN: usize = 1 << 20;
/// A header and a 64-byte body: the package size a read's batch is sized for.
const SMALL_PACKAGE_BYTES: usize = crate::protocol::header::HEADER_SIZE + 64;
/// Handshakes a waiting connection runs at once; a new candidate beyond it evicts the
/// oldest (a real peer completes within a round trip, a silent one holds a slot for 2 s).
const MAX_CANDIDATES: usize = 64;
/// Budget for the peer's handshake line.
pub(crate) const HANDSHAKE_BUDGET: Duration = Duration::from_secs(2);
/// Budget for writing the close package (one deadline shared by every connection closing).
const CLOSE_BUDGET: Duration = Duration::from_secs(1);

/// What the reactor asks of the layer above it.
pub(crate) trait Upcalls: Send + Sync {
    /// Packages arrived on `from`, in order. Returns what must drain before reading `from`
    /// again (loss-free back-pressure), usually nothing.
    fn route(&self, from: &Arc<ConnShared>, batch: Vec<PackageRef>) -> Vec<Arc<dyn Blocker>>;
    /// A connection is closed and its socket released.
    fn connection_closed(&self, conn: &Arc<ConnShared>, peer_id: u64, reason: &str);
    /// Channel housekeeping, every CHANNEL_TICK once asked for.
    fn tick(&self);
    /// Largest body accepted from a peer.
    fn max_message_size(&self) -> u64;
    /// Loss-free mode: how long a peer may take nothing while publications wait for it.
    fn stall_timeout(&self) -> Option<Duration>;
}

/// Something a paused reader waits for (a full channel, a congested connection).
pub(crate) trait Blocker: Send + Sync {
    fn blocks(&self) -> bool;
}

pub(crate) enum Command {
    /// Accept peers on `listener` for the waiting connection `conn`.
    Listen {
        conn: Arc<ConnShared>,
        listener: TcpListener,
    },
    /// A connected stream whose handshake is done (the connecting side).
    Adopt {
        conn: Arc<ConnShared>,
        stream: Arc<TcpStream>,
    },
    /// The connection's lanes have something to write.
    Flush(Arc<ConnShared>),
    /// Close (already marked closing by the caller): write the close package if `tell_peer`.
    Close {
        conn: Arc<ConnShared>,
        tell_peer: bool,
    },
    /// A channel has room again: re-check paused readers.
    Resume,
    /// Start the channel housekeeping.
    Tick,
    /// The context is going: close everything (one shared deadline) and end the thread.
    Shutdown,
}

thread_local! {
    /// The reactor whose thread this is (its handle's address), 0 elsewhere.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// The user-side handle of a context's reactor: commands in, thread lifecycle.
pub(crate) struct ReactorHandle {
    tx: Sender<Command>,
    rx: Receiver<Command>,
    waker: Mutex<Option<Arc<Waker>>>,
    /// A wake-up is already on its way: later commands need no syscall.
    wake_pending: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Dropped by the thread when it ends (`shutdown` waits on it, bounded).
    done: Mutex<Option<Receiver<()>>>,
    /// No new work after shutdown.
    stopped: AtomicBool,
    /// How long the reactor keeps polling without sleeping after an RPC step (ns).
    spin_ns: AtomicU64,
    /// Until when it does (ns, `now_ns`).
    spin_until_ns: AtomicU64,
}

/// After writing at least `STREAMING_BATCH` packages within `LINGER` (a stream, not
/// request/reply traffic), the reactor keeps polling for `LINGER` before it sleeps: in a stream
/// of small messages it otherwise fell asleep between batches and every sender had to wake it
/// (an eventfd write and a thread switch per batch, about a sixth of a 64 B publisher). Only
/// the writing side lingers: lingering after reads as well cost fan-out to 16 contexts in one
/// process 10-25 % (16 reactors polling on 2 cores), for no clear gain in a 1:1 stream.
const STREAMING_BATCH: usize = 8;
const LINGER: Duration = Duration::from_micros(20);

/// Default busy-poll window after an RPC step (see `expect_answer`).
pub(crate) const DEFAULT_SPIN: Duration = Duration::from_micros(50);

impl ReactorHandle {
    pub(crate) fn new() -> Arc<ReactorHandle> {
        let (tx, rx) = crossbeam_channel::unbounded();
        Arc::new(ReactorHandle {
            tx,
            rx,
            waker: Mutex::new(None),
            wake_pending: AtomicBool::new(false),
            thread: Mutex::new(None),
            done: Mutex::new(None),
            stopped: AtomicBool::new(false),
            spin_ns: AtomicU64::new(DEFAULT_SPIN.as_nanos() as u64),
            spin_until_ns: AtomicU64::new(0),
        })
    }

    /// Start the thread if it is not running. `node` is the context it serves.
    pub(crate) fn ensure_started(self: &Arc<Self>, node: Weak<dyn Upcalls>) -> Result<()> {
        let mut thread = self.thread.lock();
        if thread.is_some() {
            return Ok(());
        }
        if self.stopped.load(Ordering::SeqCst) {
            return Err(Error::closed("the context is closed"));
        }
        let internal = |e: io::Error| {
            Error::new(
                ErrorKind::Internal,
                format!("cannot start the I/O reactor: {e}"),
            )
        };
        let poll = Poll::new().map_err(internal)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(internal)?);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
        let mut reactor = Reactor::new(poll, self.clone(), node);
        let me = Arc::as_ptr(self) as usize;
        let handle = thread::Builder::new()
            .name("yoton-io".into())
            .spawn(move || {
                CURRENT.with(|c| c.set(me));
                let _done = done_tx;
                // A bug of ours must not leave the context's connections hanging with nobody
                // serving them: they close with the panic's text as the reason.
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reactor.serve()));
                if let Err(panic) = outcome {
                    let reason = format!(
                        "yoton I/O thread failed (a bug in yoton): {}",
                        crate::error::panic_text(&*panic)
                    );
                    reactor.handle.stopped.store(true, Ordering::SeqCst);
                    reactor.close_everything(&reason);
                }
            })
            .map_err(internal)?;
        *self.waker.lock() = Some(waker);
        *self.done.lock() = Some(done_rx);
        *thread = Some(handle);
        // Commands sent before the waker existed are waiting: make the thread look.
        self.wake();
        Ok(())
    }

    pub(crate) fn is_current_thread(&self) -> bool {
        CURRENT.with(|c| c.get()) == self as *const ReactorHandle as usize
    }

    /// Hand a command to the reactor; false if it is gone (the caller then acts itself).
    pub(crate) fn send(&self, command: Command) -> bool {
        if self.stopped.load(Ordering::SeqCst) && !matches!(command, Command::Shutdown) {
            return false;
        }
        if self.tx.send(command).is_err() {
            return false;
        }
        // The reactor drains its commands before it sleeps again: no wake-up needed from
        // its own thread, nor while one is on its way.
        if !self.is_current_thread() {
            self.wake();
        }
        true
    }

    fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Some(waker) = self.waker.lock().as_ref() {
                let _ = waker.wake();
            }
        }
    }

    /// An RPC step went out: its answer usually arrives within a round trip, so the reactor
    /// polls for it a little instead of sleeping (a wake-up costs 10-30 µs; each call has
    /// several such waits). Only this context's one reactor thread spins, for `spin`.
    pub(crate) fn expect_answer(&self) {
        let spin = self.spin_ns.load(Ordering::Relaxed);
        if spin > 0 {
            self.spin_until_ns
                .fetch_max(now_ns() + spin, Ordering::Relaxed);
        }
    }

    pub(crate) fn set_spin(&self, spin: Duration) {
        self.spin_ns.store(
            spin.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    pub(crate) fn spin(&self) -> Duration {
        Duration::from_nanos(self.spin_ns.load(Ordering::Relaxed))
    }

    /// Close every connection against one deadline and end the thread; waits for it at most
    /// `budget` (never on the reactor's own thread). Idempotent.
    pub(crate) fn shutdown(&self, budget: Duration) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.tx.send(Command::Shutdown);
        self.wake();
        if self.is_current_thread() {
            return;
        }
        let done = self.done.lock().take();
        // Disconnected once the thread's work is over; it then only has to return.
        let ended = done.map_or(true, |done| {
            done.recv_timeout(budget) != Err(crossbeam_channel::RecvTimeoutError::Timeout)
        });
        if let Some(handle) = self.thread.lock().take() {
            if ended {
                let _ = handle.join();
            }
        }
    }
}

/// A socket the reactor serves.
enum Entry {
    Listener(Listener),
    Candidate(Candidate),
    Link(Box<Link>),
    /// A closed link whose close package went out: its write side is shut and what the peer
    /// still sends is read and dropped until the peer closes too (or the close deadline), so
    /// the kernel never answers unread data with a reset that could destroy the close
    /// package before the peer reads it.
    Draining {
        stream: Arc<TcpStream>,
        deadline: Instant,
    },
}

struct Listener {
    conn: Arc<ConnShared>,
    socket: TcpListener,
    /// Candidates in arrival order (the oldest is evicted first).
    candidates: VecDeque<Token>,
}

/// An accepted socket whose handshake line has not arrived yet.
struct Candidate {
    listener: Token,
    stream: TcpStream,
    line: Vec<u8>,
    deadline: Instant,
}

/// An established connection.
struct Link {
    conn: Arc<ConnShared>,
    stream: Arc<TcpStream>,
    decoder: Decoder,
    outgoing: Outgoing,
    last_read: Instant,
    /// Reading waits for these to drain (loss-free mode). Weak: a channel the user drops
    /// while it is full must go away (and stop blocking), not be kept alive by us.
    blockers: Vec<Weak<dyn Blocker>>,
    /// Closing: write the close package (if asked) and release the socket by `deadline`.
    closing: Option<Closing>,
}

struct Closing {
    tell_peer: bool,
    close_package_loaded: bool,
    deadline: Instant,
}

struct Reactor {
    poll: Poll,
    handle: Arc<ReactorHandle>,
    node: Weak<dyn Upcalls>,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Connection (by address) → its token.
    tokens: HashMap<usize, Token>,
    /// Where reads go (see `slab`): small packages stay there.
    input: slab::Cursor,
    /// Links with unread bytes left after their turn (edge-triggered: no new event comes).
    ready: VecDeque<Token>,
    recheck_paused: bool,
    ticking: bool,
    next_tick: Instant,
    next_channel_tick: Instant,
    /// Set by Shutdown: every link closes by then, and the thread ends.
    shutdown: Option<Instant>,
    /// Streaming: until when (ns, `now_ns`) the reactor keeps polling instead of sleeping
    /// (see `LINGER`).
    linger_until_ns: u64,
    /// While lingering, `wake_pending` is held set so that senders skip the waker's syscall.
    holding_wakes: bool,
    /// Packages written since `streamed_since_ns` (see `count_streamed`).
    streamed: usize,
    streamed_since_ns: u64,
}

fn key(conn: &Arc<ConnShared>) -> usize {
    Arc::as_ptr(conn) as usize
}

impl Reactor {
    fn new(poll: Poll, handle: Arc<ReactorHandle>, node: Weak<dyn Upcalls>) -> Reactor {
        let now = Instant::now();
        Reactor {
            poll,
            handle,
            node,
            entries: Vec::new(),
            free: Vec::new(),
            tokens: HashMap::new(),
            input: slab::Cursor::new(),
            ready: VecDeque::new(),
            recheck_paused: false,
            ticking: false,
            next_tick: now + TICK,
            next_channel_tick: now + CHANNEL_TICK,
            shutdown: None,
            linger_until_ns: 0,
            holding_wakes: false,
            streamed: 0,
            streamed_since_ns: 0,
        }
    }

    /// The loop; returns once the context shut down (everything closed by then).
    fn serve(&mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let spin_until = self.handle.spin_until_ns.load(Ordering::Relaxed);
            let now_n = now_ns();
            let spinning = spin_until > now_n;
            let lingering = self.linger_until_ns > now_n;
            let mut timeout = if !self.ready.is_empty() || spinning || lingering {
                Duration::ZERO
            } else {
                self.next_tick.saturating_duration_since(now)
            };
            if !timeout.is_zero() && self.holding_wakes {
                // About to sleep: senders must wake us again, and what one sent before it saw
                // the flag cleared is drained first (the swap pairs with theirs).
                self.holding_wakes = false;
                self.handle.wake_pending.swap(false, Ordering::AcqRel);
                if !self.handle.rx.is_empty() {
                    timeout = Duration::ZERO;
                }
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    // epoll itself failing leaves nothing to serve with: close everything.
                    self.shutdown.get_or_insert(now);
                }
            }
            if (spinning || lingering) && events.is_empty() {
                thread::yield_now();
            }
            let mut input = false;
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    continue;
                }
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                input |= readable;
                self.on_event(token, readable, event.is_writable());
            }
            if spinning && input {
                // The answer polled for has most likely come: stop spinning, unless what
                // arrived was itself a step that expects an answer (the window moved on).
                let _ = self.handle.spin_until_ns.compare_exchange(
                    spin_until,
                    0,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
            self.drain_commands();
            self.serve_ready();
            if self.linger_until_ns > now_ns() {
                self.handle.wake_pending.store(true, Ordering::Release);
                self.holding_wakes = true;
            }
            if self.recheck_paused {
                self.recheck_paused = false;
                self.resume_paused();
            }
            let now = Instant::now();
            if now >= self.next_tick {
                self.next_tick = now + TICK;
                self.tick(now);
            }
            if let Some(deadline) = self.shutdown {
                if self.entries.iter().all(Option::is_none) || now >= deadline {
                    break;
                }
            }
        }
        self.close_everything(reasons::BY_CONTEXT);
    }

    // --- entries ------------------------------------------------------------------------

    fn insert(&mut self, entry: Entry, fd: i32, interest: Interest) -> Option<Token> {
        let index = self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() - 1
        });
        let token = Token(index);
        if self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), token, interest)
            .is_err()
        {
            self.free.push(index);
            return None;
        }
        self.entries[index] = Some(entry);
        Some(token)
    }

    fn remove(&mut self, token: Token) -> Option<Entry> {
        let entry = self.entries.get_mut(token.0)?.take()?;
        let fd = match &entry {
            Entry::Listener(l) => l.socket.as_raw_fd(),
            Entry::Candidate(c) => c.stream.as_raw_fd(),
            Entry::Link(l) => l.stream.as_raw_fd(),
            Entry::Draining { stream, .. } => stream.as_raw_fd(),
        };
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        self.free.push(token.0);
        Some(entry)
    }

    fn link(&mut self, token: Token) -> Option<&mut Link> {
        link_in(&mut self.entries, token)
    }

    // --- commands -----------------------------------------------------------------------

    fn drain_commands(&mut self) {
        // Cleared before draining: a command sent from now on wakes us again. A swap, not a
        // store: it reads the sender's swap that found the flag set, so that sender's command
        // is visible to the drain below (a plain store would let the drain miss it, and the
        // command would wait for the next tick).
        self.handle.wake_pending.swap(false, Ordering::AcqRel);
        while let Ok(command) = self.handle.rx.try_recv() {
            match command {
                Command::Listen { conn, listener } => self.listen(conn, listener),
                Command::Adopt { conn, stream } => self.adopt(conn, stream, Vec::new()),
                Command::Flush(conn) => {
                    if let Some(&token) = self.tokens.get(&key(&conn)) {
                        self.pump(token);
                    }
                }
                Command::Close { conn, tell_peer } => self.close(&conn, tell_peer),
                Command::Resume => self.recheck_paused = true,
                Command::Tick => self.ticking = true,
                Command::Shutdown => self.begin_shutdown(),
            }
        }
    }

    fn listen(&mut self, conn: Arc<ConnShared>, socket: TcpListener) {
        if conn.status() != Status::Waiting || self.shutdown.is_some() {
            self.finish_conn(&conn);
            return;
        }
        let fd = socket.as_raw_fd();
        let listener = Listener {
            conn: conn.clone(),
            socket,
            candidates: VecDeque::new(),
        };
        match self.insert(Entry::Listener(listener), fd, Interest::READABLE) {
            Some(token) => {
                self.tokens.insert(key(&conn), token);
                // Peers may have queued up before we registered (edge-triggered).
                self.accept(token);
            }
            None => {
                conn.begin_close("cannot watch the listening socket");
                self.finish_conn(&conn);
            }
        }
    }

    /// A handshake is done on `stream`: serve it as a link (`extra`: bytes that came after
    /// the peer's handshake line).
    fn adopt(&mut self, conn: Arc<ConnShared>, stream: Arc<TcpStream>, extra: Vec<u8>) {
        // (A connection already closing is served all the same: its Close command follows
        // and writes the close package.)
        if conn.status() == Status::Closed || self.shutdown.is_some() {
            let _ = stream.shutdown(Shutdown::Both);
            self.finish_conn(&conn);
            return;
        }
        let fd = stream.as_raw_fd();
        let link = Link {
            conn: conn.clone(),
            stream,
            decoder: Decoder::default(),
            outgoing: Outgoing::default(),
            last_read: Instant::now(),
            blockers: Vec::new(),
            closing: None,
        };
        let Some(token) = self.insert(
            Entry::Link(Box::new(link)),
            fd,
            Interest::READABLE | Interest::WRITABLE,
        ) else {
            conn.begin_close("cannot watch the socket");
            self.finish_conn(&conn);
            return;
        };
        self.tokens.insert(key(&conn), token);
        if !extra.is_empty() {
            // Decoded as if read now (at most a handshake line's worth, and the new decoder
            // keeps no tail).
            self.input.room(extra.len() + 1)[..extra.len()].copy_from_slice(&extra);
            let max_body = self.max_body();
            self.take_input(token, extra.len(), max_body);
        }
        self.pump(token);
        self.read(token);
    }

    fn close(&mut self, conn: &Arc<ConnShared>, tell_peer: bool) {
        let Some(&token) = self.tokens.get(&key(conn)) else {
            // Not served (yet, or any more): nothing to write.
            self.finish_conn(conn);
            return;
        };
        match self.entries.get_mut(token.0) {
            Some(Some(Entry::Link(link))) => {
                if link.closing.is_none() {
                    let deadline = self
                        .shutdown
                        .unwrap_or_else(|| Instant::now() + CLOSE_BUDGET);
                    link.closing = Some(Closing {
                        tell_peer,
                        close_package_loaded: false,
                        deadline,
                    });
                }
                if tell_peer {
                    self.pump(token);
                } else {
                    self.finish(token);
                }
            }
            _ => self.finish(token),
        }
    }

    fn begin_shutdown(&mut self) {
        let deadline = Instant::now() + CLOSE_BUDGET;
        self.shutdown = Some(deadline);
        let tokens: Vec<Token> = (0..self.entries.len())
            .map(Token)
            .filter(|t| self.entries[t.0].is_some())
            .collect();
        for token in tokens {
            let conn = match &self.entries[token.0] {
                Some(Entry::Listener(l)) => l.conn.clone(),
                Some(Entry::Link(l)) => l.conn.clone(),
                Some(Entry::Candidate(_)) => {
                    self.remove(token);
                    continue;
                }
                Some(Entry::Draining { .. }) | None => continue,
            };
            conn.begin_close(reasons::BY_CONTEXT);
            self.close(&conn, true);
        }
    }

    // --- accepting and host-side handshakes -------------------------------------------------

    fn accept(&mut self, token: Token) {
        loop {
            let Some(Some(Entry::Listener(listener))) = self.entries.get(token.0) else {
                return;
            };
            match listener.socket.accept() {
                Ok((stream, _)) => self.add_candidate(token, stream),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // Transient (EMFILE, ECONNABORTED): try again on the next tick.
                Err(_) => {
                    self.ready.push_back(token);
                    return;
                }
            }
        }
    }

    fn add_candidate(&mut self, listener: Token, stream: TcpStream) {
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        let full = match &self.entries[listener.0] {
            Some(Entry::Listener(l)) => {
                (l.candidates.len() >= MAX_CANDIDATES).then(|| l.candidates[0])
            }
            _ => return,
        };
        if let Some(oldest) = full {
            self.drop_candidate(oldest);
        }
        let fd = stream.as_raw_fd();
        let candidate = Candidate {
            listener,
            stream,
            line: Vec::with_capacity(64),
            deadline: Instant::now() + HANDSHAKE_BUDGET,
        };
        if let Some(token) = self.insert(Entry::Candidate(candidate), fd, Interest::READABLE) {
            if let Some(Some(Entry::Listener(l))) = self.entries.get_mut(listener.0) {
                l.candidates.push_back(token);
            }
            // The line may be there already.
            self.handshake(token);
        }
    }

    fn drop_candidate(&mut self, token: Token) {
        if let Some(Entry::Candidate(c)) = self.remove(token) {
            let _ = c.stream.shutdown(Shutdown::Both);
            if let Some(Some(Entry::Listener(l))) = self.entries.get_mut(c.listener.0) {
                l.candidates.retain(|t| *t != token);
            }
        }
    }

    /// Read what there is of a candidate's line; answer it once complete.
    fn handshake(&mut self, token: Token) {
        let Some(Some(Entry::Candidate(c))) = self.entries.get_mut(token.0) else {
            return;
        };
        let mut buf = [0u8; MAX_LINE];
        let mut extra = Vec::new();
        loop {
            let room = MAX_LINE - c.line.len();
            match SockRef::from(&c.stream).recv(wire::as_uninit(&mut buf[..room])) {
                Ok(0) => return self.drop_candidate(token),
                Ok(n) => {
                    c.line.extend_from_slice(&buf[..n]);
                    if let Some(end) = c.line.windows(2).position(|w| w == b"\r\n") {
                        extra = c.line.split_off(end + 2);
                        break;
                    }
                    if c.line.len() >= MAX_LINE {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.drop_candidate(token),
            }
        }
        let listener = c.listener;
        let Some(Some(Entry::Listener(l))) = self.entries.get(listener.0) else {
            return self.drop_candidate(token);
        };
        let conn = l.conn.clone();
        let Some(Entry::Candidate(c)) = self.remove(token) else {
            return;
        };
        if let Some(Some(Entry::Listener(l))) = self.entries.get_mut(listener.0) {
            l.candidates.retain(|t| *t != token);
        }
        let (id2, pid2) = match handshake::parse_line(&c.line) {
            Ok(peer) => peer,
            Err(e) => {
                // Failed candidates are told and closed at once (the original leaves it to the GC).
                let reply: &[u8] = match e {
                    LineError::Empty => &[],
                    LineError::NotYoton => handshake::ERROR_NOT_YOTON,
                    LineError::BadId => handshake::ERROR_BAD_ID,
                };
                let _ = tcp::send_all(&c.stream, reply);
                let _ = c.stream.shutdown(Shutdown::Both);
                return;
            }
        };
        // A bind closed meanwhile answers nothing: a client must never hear "accepted" from a
        // connection that is already gone (issue 10 item 2).
        if conn.status() != Status::Waiting {
            let _ = c.stream.shutdown(Shutdown::Both);
            return;
        }
        // The original sends its normal line even to itself, then fails.
        let sent = tcp::send_all(
            &c.stream,
            handshake::encode_line(conn.id1, conn.pid1).as_bytes(),
        );
        if sent.is_err() || id2 == conn.id1 {
            let _ = c.stream.shutdown(Shutdown::Both);
            return;
        }
        // One peer per bind: the listening socket and the other candidates go.
        if let Some(Entry::Listener(l)) = self.remove(listener) {
            for other in l.candidates {
                self.drop_candidate(other);
            }
        }
        self.tokens.remove(&key(&conn));
        let stream = Arc::new(c.stream);
        tcp::prepare_stream(&stream);
        if conn.attach(stream.clone(), id2, pid2, Status::Hosting) {
            self.adopt(conn, stream, extra);
        } else {
            let _ = stream.shutdown(Shutdown::Both);
            self.finish_conn(&conn);
        }
    }

    // --- reading ------------------------------------------------------------------------------

    fn on_event(&mut self, token: Token, readable: bool, writable: bool) {
        match self.entries.get(token.0) {
            Some(Some(Entry::Listener(_))) => self.accept(token),
            Some(Some(Entry::Candidate(_))) => self.handshake(token),
            Some(Some(Entry::Draining { .. })) => self.drain(token),
            Some(Some(Entry::Link(_))) => {
                if writable {
                    self.pump(token);
                }
                if readable {
                    self.read(token);
                }
            }
            _ => {}
        }
    }

    fn serve_ready(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(token) = self.ready.pop_front() else {
                break;
            };
            match self.entries.get(token.0) {
                Some(Some(Entry::Listener(_))) => self.accept(token),
                Some(Some(Entry::Link(_))) => self.read(token),
                _ => {}
            }
        }
    }

    /// Read from a link until the socket is empty, its turn is over, or it is paused.
    fn read(&mut self, token: Token) {
        /// What one read brought (decided while the link is borrowed, acted on after).
        enum Got {
            BigBody(Option<PackageRef>),
            Bytes(usize),
            Empty,
            Lost(String),
            Stop,
        }
        let mut turn = 0;
        let mut kept = 0;
        loop {
            let got = match link_in(&mut self.entries, token) {
                None => Got::Stop,
                Some(link) if !link.blockers.is_empty() || link.closing.is_some() => Got::Stop,
                Some(_) if turn >= READ_TURN => {
                    self.ready.push_back(token);
                    Got::Stop
                }
                Some(link) => {
                    let sock = SockRef::from(&*link.stream);
                    if let Some(room) = link.decoder.big_body_room() {
                        // A big body is read straight into its own buffer.
                        match recv(&sock, room) {
                            Ok(0) => Got::Lost(reasons::DROPPED.to_string()),
                            Ok(n) => {
                                turn += n;
                                link.last_read = Instant::now();
                                Got::BigBody(link.decoder.big_body_received(n))
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::Empty,
                            Err(e) => Got::Lost(read_error_reason(&e)),
                        }
                    } else {
                        let room = self.input.room(link.decoder.tail_len() + READ_MIN);
                        kept = link.decoder.restore_tail(room);
                        // (One byte stays free for the NUL after the last body.)
                        let last = room.len() - 1;
                        let got = match recv(&sock, wire::as_uninit(&mut room[kept..last])) {
                            Ok(0) => Got::Lost(reasons::DROPPED.to_string()),
                            Ok(n) => {
                                turn += n;
                                link.last_read = Instant::now();
                                // Acknowledge small reads at once: a sender with a tiny send
                                // buffer (the original uses 10 KiB) otherwise stalls ~40 ms on
                                // our delayed ACK for every segment.
                                if n < 64 * 1024 {
                                    let _ = sock.set_quickack(true);
                                }
                                Got::Bytes(n)
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::Empty,
                            Err(e) => Got::Lost(read_error_reason(&e)),
                        };
                        if !matches!(got, Got::Bytes(_)) {
                            // Nothing new: keep the tail for next time.
                            link.decoder.keep_tail(&room[..kept]);
                        }
                        got
                    }
                }
            };
            match got {
                Got::BigBody(pkg) => {
                    self.mark_alive(token);
                    if let Some(pkg) = pkg {
                        self.deliver(token, vec![pkg]);
                    }
                }
                Got::Bytes(n) => {
                    self.mark_alive(token);
                    // Read after the bytes arrived: a maximum set before the peer sent them
                    // applies to them.
                    let max_body = self.max_body();
                    self.take_input(token, kept + n, max_body);
                }
                Got::Lost(reason) => {
                    self.lost(token, reason);
                    break;
                }
                Got::Empty | Got::Stop => break,
            }
        }
    }

    /// The context's maximum message size now (0 once the context is gone).
    fn max_body(&self) -> u64 {
        self.node.upgrade().map_or(0, |n| n.max_message_size())
    }

    /// Decode the `filled` bytes that arrived on `token` (at the start of the free part of the
    /// input slab) and deliver the packages.
    fn take_input(&mut self, token: Token, filled: usize, max_body: u64) {
        let Some(link) = link_in(&mut self.entries, token) else {
            return;
        };
        // Room for as many packages of small bodies as the data can hold: growing the batch
        // one doubling at a time was several reallocations per read.
        let mut batch = Vec::with_capacity(filled / SMALL_PACKAGE_BYTES + 1);
        let in_place = slab::in_place_allowed();
        let decoded = link
            .decoder
            .decode(&mut self.input, filled, in_place, max_body, &mut batch);
        if !batch.is_empty() {
            self.deliver(token, batch);
        }
        match decoded {
            Ok(()) => {}
            Err(InputEnd::PeerClosed) => self.lost(token, reasons::FROM_OTHER_END.to_string()),
            Err(InputEnd::LostTrack(reason)) => self.lost(token, reason),
        }
    }

    /// Something arrived: the peer is not timed out.
    fn mark_alive(&mut self, token: Token) {
        if let Some(link) = self.link(token) {
            if link.conn.timedout.swap(false, Ordering::SeqCst) {
                link.conn.timedout_changed(false);
            }
        }
    }

    fn deliver(&mut self, token: Token, batch: Vec<PackageRef>) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let Some(conn) = self.link(token).map(|l| l.conn.clone()) else {
            return;
        };
        let blockers = node.route(&conn, batch);
        if !blockers.is_empty() {
            if let Some(link) = self.link(token) {
                link.blockers = blockers.iter().map(Arc::downgrade).collect();
            }
        }
        // (The strong handles go here, with no lock held: one may be the last.)
        drop(blockers);
    }

    /// Count packages written; at least `STREAMING_BATCH` within one `LINGER`
    /// window is a stream: keep polling for another window instead of sleeping.
    fn count_streamed(&mut self, packages: usize) {
        let now = now_ns();
        let window = LINGER.as_nanos() as u64;
        if now.saturating_sub(self.streamed_since_ns) > window {
            self.streamed_since_ns = now;
            self.streamed = 0;
        }
        self.streamed += packages;
        if self.streamed >= STREAMING_BATCH {
            self.linger_until_ns = now + window;
        }
    }

    fn resume_paused(&mut self) {
        for index in 0..self.entries.len() {
            let token = Token(index);
            let Some(link) = self.link(token) else {
                continue;
            };
            if link.blockers.is_empty() {
                continue;
            }
            link.blockers
                .retain(|b| b.upgrade().is_some_and(|b| b.blocks()));
            if link.blockers.is_empty() {
                self.ready.push_back(token);
            }
        }
    }

    // --- writing ------------------------------------------------------------------------------

    /// Write what the link's lanes hold until they are empty or the socket is full.
    fn pump(&mut self, token: Token) {
        loop {
            let Some(link) = self.link(token) else { return };
            if link.outgoing.is_empty() {
                let (written, from_lanes) = link.outgoing.take_chunks();
                let mut n = 0;
                for chunk in written {
                    n += chunk.count();
                    // (A run's buffer goes back to the pool when it is dropped.)
                    if let Chunk::Package(pkg) = chunk {
                        crate::pool::recycle(pkg);
                    }
                }
                if !from_lanes {
                    n = 0;
                }
                let conn = link.conn.clone();
                let mut out = conn.out();
                out.done += n as u64;
                if n > 0 {
                    conn.progress.notify_all();
                }
                if out.writer == Writer::Direct {
                    // A sender is writing one package; it hands the lanes back when done.
                    return;
                }
                let mut batch = Vec::new();
                let mut skip = 0;
                if let Some((pkg, sent)) = out.partial.take() {
                    skip = sent;
                    batch.push(Chunk::Package(pkg));
                } else {
                    out.take_batch(BATCH_PACKAGES, BATCH_BYTES, &mut batch);
                }
                let was_congested = conn.is_congested();
                conn.lanes_changed(&out);
                if was_congested && !conn.is_congested() {
                    self.recheck_paused = true;
                }
                if batch.is_empty() {
                    out.writer = Writer::Idle;
                    drop(out);
                    if !self.load_close_package(token) {
                        return;
                    }
                } else {
                    out.writer = Writer::Reactor;
                    drop(out);
                    self.count_streamed(batch.len());
                    let Some(link) = self.link(token) else { return };
                    link.outgoing.load(batch, skip, true);
                }
            }
            let Some(link) = self.link(token) else { return };
            let before = link.outgoing.written();
            let wrote = link.outgoing.write(&link.stream);
            if link.outgoing.written() != before {
                // Any progress counts (a stall is no byte taken at all).
                link.conn.last_write_ns.store(now_ns(), Ordering::Relaxed);
            }
            match wrote {
                Ok(Wrote::All) => {
                    if link
                        .closing
                        .as_ref()
                        .is_some_and(|c| c.close_package_loaded)
                    {
                        return self.finish(token);
                    }
                }
                Ok(Wrote::Blocked) => return,
                Err(e) => return self.lost(token, tcp::write_error_reason(&e)),
            }
        }
    }

    /// Nothing left to write: if the link is closing, load the close package (true) or
    /// finish at once when the peer is not to be told.
    fn load_close_package(&mut self, token: Token) -> bool {
        let Some(link) = self.link(token) else {
            return false;
        };
        match &mut link.closing {
            Some(closing) if closing.tell_peer && !closing.close_package_loaded => {
                closing.close_package_loaded = true;
                link.outgoing.load(
                    vec![Chunk::Package(PackageRef::new(Package::signal(
                        Header::CLOSE,
                    )))],
                    0,
                    false,
                );
                // The lanes are stopped: nobody else writes from now on.
                link.conn.out().writer = Writer::Reactor;
                true
            }
            Some(_) => {
                self.finish(token);
                false
            }
            None => false,
        }
    }

    // --- housekeeping -------------------------------------------------------------------------

    fn tick(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut heartbeat = Vec::new();
        let mut not_reading = Vec::new();
        let mut stalled = Vec::new();
        let mut gave_up = Vec::new();
        let now_write_ns = now_ns();
        let stall = self.node.upgrade().and_then(|n| n.stall_timeout());
        for (index, entry) in self.entries.iter().enumerate() {
            let token = Token(index);
            match entry {
                Some(Entry::Candidate(c)) if now >= c.deadline => expired.push(token),
                Some(Entry::Draining { deadline, .. }) if now >= *deadline => expired.push(token),
                Some(Entry::Link(link)) => {
                    if let Some(closing) = &link.closing {
                        if now >= closing.deadline {
                            expired.push(token);
                        }
                        continue;
                    }
                    let conn = &link.conn;
                    let timeout =
                        Duration::from_millis(conn.timeout_ms.load(Ordering::Relaxed).max(1));
                    let silent = now.duration_since(link.last_read);
                    if silent > timeout && !conn.timedout.swap(true, Ordering::SeqCst) {
                        conn.timedout_changed(true);
                    }
                    match conn.close_after_timedout_ms.load(Ordering::Relaxed) {
                        0 => {}
                        ms if silent >= timeout + Duration::from_millis(ms) => {
                            gave_up.push((token, Duration::from_millis(ms)));
                        }
                        _ => {}
                    }
                    let idle = Duration::from_nanos(
                        now_write_ns.saturating_sub(conn.last_write_ns.load(Ordering::Relaxed)),
                    );
                    if idle >= HEARTBEAT_INTERVAL && link.outgoing.is_empty() {
                        heartbeat.push(token);
                    }
                    if conn.out().control_bytes > CONTROL_LANE_MAX_BYTES {
                        not_reading.push(token);
                    }
                    if let Some(stall) = stall.filter(|s| idle >= *s && conn.is_congested()) {
                        stalled.push((token, stall));
                    }
                }
                _ => {}
            }
        }
        for token in expired {
            match self.entries.get(token.0) {
                Some(Some(Entry::Candidate(_))) => self.drop_candidate(token),
                _ => self.finish(token),
            }
        }
        for token in not_reading {
            self.lost(token, reasons::NOT_READING.to_string());
        }
        for (token, stall) in stalled {
            self.lost(
                token,
                format!(
                    "{} {:.1} s while messages waited for it (loss-free mode).",
                    reasons::STALLED,
                    stall.as_secs_f64()
                ),
            );
        }
        for (token, after) in gave_up {
            self.lost(
                token,
                format!(
                    "{} {:.1} s.",
                    reasons::TIMED_OUT_TOO_LONG,
                    after.as_secs_f64()
                ),
            );
        }
        for token in heartbeat {
            self.heartbeat(token);
        }
        // A safety net for paused readers (a channel closed, a peer gone).
        self.resume_paused();
        // Transient accept failures are retried here.
        if self.ticking && now >= self.next_channel_tick {
            self.next_channel_tick = now + CHANNEL_TICK;
            if let Some(node) = self.node.upgrade() {
                node.tick();
            }
        }
    }

    fn heartbeat(&mut self, token: Token) {
        let Some(link) = self.link(token) else { return };
        {
            let mut out = link.conn.out();
            if out.writer != Writer::Idle || !out.is_empty() {
                return;
            }
            out.writer = Writer::Reactor;
        }
        link.outgoing.load(
            vec![Chunk::Package(PackageRef::new(Package::signal(
                Header::HEARTBEAT,
            )))],
            0,
            false,
        );
        self.pump(token);
    }

    // --- closing ------------------------------------------------------------------------------

    /// The link failed (EOF, error, garbage, close package): close without telling the peer.
    fn lost(&mut self, token: Token, reason: String) {
        let Some(link) = self.link(token) else { return };
        link.conn.begin_close(&reason);
        self.finish(token);
    }

    /// Release the socket of `token` and tell everyone the connection is closed.
    fn finish(&mut self, token: Token) {
        let Some(entry) = self.remove(token) else {
            return;
        };
        match entry {
            Entry::Link(link) => {
                let told = link
                    .closing
                    .as_ref()
                    .is_some_and(|c| c.close_package_loaded)
                    && link.outgoing.is_empty();
                let deadline = link.closing.as_ref().map(|c| c.deadline);
                self.finish_conn(&link.conn);
                match deadline {
                    Some(deadline) if told && Instant::now() < deadline => {
                        let _ = link.stream.shutdown(Shutdown::Write);
                        let fd = link.stream.as_raw_fd();
                        let draining = Entry::Draining {
                            stream: link.stream,
                            deadline,
                        };
                        if let Some(token) = self.insert(draining, fd, Interest::READABLE) {
                            self.drain(token);
                        }
                    }
                    _ => {
                        let _ = link.stream.shutdown(Shutdown::Both);
                    }
                }
            }
            Entry::Draining { stream, .. } => {
                let _ = stream.shutdown(Shutdown::Both);
            }
            Entry::Listener(l) => {
                for other in l.candidates {
                    self.drop_candidate(other);
                }
                self.finish_conn(&l.conn);
            }
            Entry::Candidate(c) => {
                let _ = c.stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Read and drop what a closed link's peer still sends; release it at EOF.
    fn drain(&mut self, token: Token) {
        let Some(Some(Entry::Draining { stream, .. })) = self.entries.get(token.0) else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match SockRef::from(&**stream).recv(wire::as_uninit(&mut buf)) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.remove(token);
    }

    fn finish_conn(&mut self, conn: &Arc<ConnShared>) {
        self.tokens.remove(&key(conn));
        if conn.status() == Status::Closed {
            return;
        }
        let reason = conn.reason();
        let peer_id = conn.finish_close(&reason);
        if let Some(node) = self.node.upgrade() {
            node.connection_closed(conn, peer_id, &reason);
        }
        conn.closed_signal.emit(reason);
    }

    fn close_everything(&mut self, reason: &str) {
        for index in 0..self.entries.len() {
            let token = Token(index);
            match self.entries.get(index) {
                Some(Some(Entry::Link(link))) => {
                    link.conn.begin_close(reason);
                }
                Some(Some(Entry::Listener(l))) => {
                    l.conn.begin_close(reason);
                }
                _ => {}
            }
            self.finish(token);
        }
        // Commands that came too late: their connections close too.
        while let Ok(command) = self.handle.rx.try_recv() {
            match command {
                Command::Listen { conn, .. }
                | Command::Adopt { conn, .. }
                | Command::Close { conn, .. }
                | Command::Flush(conn) => {
                    conn.begin_close(reason);
                    self.finish_conn(&conn);
                }
                _ => {}
            }
        }
    }
}

fn link_in(entries: &mut [Option<Entry>], token: Token) -> Option<&mut Link> {
    match entries.get_mut(token.0) {
        Some(Some(Entry::Link(link))) => Some(link),
        _ => None,
    }
}

fn recv(sock: &SockRef<'_>, target: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
    loop {
        match sock.recv(target) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn read_error_reason(e: &io::Error) -> String {
    if tcp::is_peer_gone(e) {
        reasons::DROPPED.to_string()
    } else {
        format!("yoton.ReceivingThread, Socket error.{e}")
    }
}
