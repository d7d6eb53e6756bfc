//! A connection between two contexts: its status and properties, its two outgoing lanes, and
//! the user-side half of closing and flushing. The socket itself belongs to the context's
//! reactor (`transport::reactor`), which drains the lanes; user threads only queue packages
//! (or, for an idle connection, write a small one directly) and hand commands to the reactor.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::events::Signal;
use crate::lane::BulkLane;
use crate::package::{Package, PackageRef};
use crate::protocol::header::Header;
use crate::queue::QueueParams;
use crate::transport::reactor::{Command, ReactorHandle};
use crate::transport::wire::Chunk;

/// Connection status, ordered as in the original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Status {
    Closed = 0,
    Closing = 1,
    /// Bound, waiting for a peer.
    Waiting = 2,
    /// Bound side, peer connected.
    Hosting = 3,
    /// Connecting side.
    Connected = 4,
}

/// Which outgoing lane a package travels in.
///
/// Both lanes are written in the order packages were queued, not control first: the
/// original yoton keeps only the highest sequence number per source, so a control package
/// written ahead of older bulk packages of the same source would make every one of them
/// count as a duplicate there (and, beyond 1024, in our own dedupe window too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Context messages, request/reply traffic, sync-mode words, states: never discarded,
    /// outside the queue limits, never makes a sender wait.
    Control,
    /// Pub/sub data: bounded by the queue parameters, discarded by policy, back-pressured.
    Bulk,
}

/// Packages up to this size may be written directly by the sending caller (see `push`);
/// bigger publications to a single peer go through `write_big`.
pub(crate) const DIRECT_WRITE_LIMIT: usize = 16 * 1024;
/// Average spacing of direct writes from one context, and the burst allowed.
const DIRECT_WRITE_SPACING_NS: u64 = 50_000;
const DIRECT_WRITE_BURST: u64 = 3;
/// Packages going to more connections than this are never written directly.
const DIRECT_WRITE_MAX_FANOUT: usize = 4;
/// A peer that leaves this much control traffic unread is not a peer any more: the
/// connection closes (the control lane is never discarded, so it needs an outer bound).
pub(crate) const CONTROL_LANE_MAX_BYTES: usize = 64 << 20;
/// Soft bulk-lane limits: above them senders wait (back-pressure), below them they never do.
/// 2 MiB (not 8) keeps the big messages in flight few enough to be recycled while still in a
/// cache (with the 2 MiB pause of loss-free channels and the kept big buffers of the pool:
/// 64 KiB pub/sub 23-26k -> 38-40k msgs/s in same-run pairs).
pub(crate) const SOFT_PACKAGES: usize = 4096;
pub(crate) const SOFT_BYTES: usize = 2 << 20;
/// Time base of `now_ns`.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// A monotonic clock in nanoseconds (for lock-free deadlines in atomics).
pub(crate) fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Nagle-like rate limit of direct writes, one per context: sporadic traffic (request/reply
/// steps) is written at once by the sending caller; a stream falls back to batching by the
/// reactor, far cheaper per message. Never for wide fan-out: a write syscall per subscriber
/// in the caller's thread costs more than the latency it saves.
///
/// A token bucket (GCRA): one direct write per DIRECT_WRITE_SPACING_NS on average, bursts of
/// DIRECT_WRITE_BURST, so an RPC step that sends two packages at once (a request and its
/// `req-`) writes both directly.
#[derive(Default)]
pub(crate) struct DirectWriteGate {
    /// Theoretical arrival time of the next write at the average rate (ns since EPOCH).
    next_ns: AtomicU64,
}

impl DirectWriteGate {
    fn try_pass(&self) -> bool {
        let now = now_ns();
        let slack = (DIRECT_WRITE_BURST - 1) * DIRECT_WRITE_SPACING_NS;
        let mut next = self.next_ns.load(Ordering::Relaxed);
        loop {
            if next > now + slack {
                return false;
            }
            let granted = next.max(now) + DIRECT_WRITE_SPACING_NS;
            match self.next_ns.compare_exchange_weak(
                next,
                granted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => next = current,
            }
        }
    }

    /// The permission of one package, going to `fanout` connections, to be written directly.
    pub(crate) fn ticket(&self, fanout: usize) -> DirectTicket<'_> {
        if fanout > DIRECT_WRITE_MAX_FANOUT {
            DirectTicket::Never
        } else {
            DirectTicket::Unasked(self)
        }
    }
}

/// Asks the gate at most once, on the first idle connection: one package goes directly to
/// every idle connection or to none.
pub(crate) enum DirectTicket<'a> {
    Unasked(&'a DirectWriteGate),
    Decided(bool),
    /// Wide fan-out, or a package that must go through the reactor (flush markers).
    Never,
}

impl DirectTicket<'_> {
    /// May a package of `lane` be written directly? Control traffic (request/reply steps,
    /// states) may whenever the fan-out is narrow: it is sporadic and latency-bound (an RPC
    /// call sends three control packages in a few tens of µs), and the rate limit is there to
    /// make streams batch.
    fn granted(&mut self, lane: Lane) -> bool {
        match *self {
            DirectTicket::Never => false,
            _ if lane == Lane::Control => true,
            DirectTicket::Unasked(gate) => {
                let granted = gate.try_pass();
                *self = DirectTicket::Decided(granted);
                granted
            }
            DirectTicket::Decided(granted) => granted,
        }
    }
}

/// Default and minimum of the `timedout` detection timeout.
pub const MIN_TIMEOUT: f64 = 0.5;
/// How long `close()` waits for the reactor to write the close package and drop the socket.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The close reasons of the original, plus ours.
pub mod reasons {
    pub const ON_COMMAND: &str = "Closed on command.";
    pub const BY_CONTEXT: &str = "Closed by the context.";
    pub const UNSPECIFIED: &str = "Unspecified problem";
    pub const FROM_OTHER_END: &str = "Closed from other end.";
    pub const DROPPED: &str = "Other end dropped the connection.";
    pub const LOST_TRACK: &str = "Lost track of the stream.";
    pub const TIMED_OUT: &str = "Connection timed out.";
    /// Followed by the time, e.g. "... for 30.0 s.".
    pub const TIMED_OUT_TOO_LONG: &str = "Connection timed out and stayed so for";
    pub const NOT_READING: &str =
        "The other end does not read: its unread control traffic exceeded the limit.";
    pub const STALLED: &str = "The other end does not read: nothing could be written to it for";
}

/// Peer-side properties, known once the handshake is done.
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoints {
    pub hostname1: String,
    pub port1: u16,
    pub hostname2: String,
    pub port2: u16,
    pub id2: u64,
    pub pid2: u64,
}

#[derive(Debug)]
pub(crate) struct ConnState {
    /// Change only through `set_status` (keeps the lock-free mirror in step).
    pub status: Status,
    pub reason: Option<String>,
    pub endpoints: Endpoints,
    pub name: String,
}

impl ConnState {
    pub(crate) fn set_status(&mut self, status: Status, mirror: &AtomicU8) {
        self.status = status;
        mirror.store(status as u8, Ordering::Release);
    }
}

/// What a sender queues: a package, or the parts of a small publication to copy (into the
/// bulk lane's current run, or into a package for the control lane).
pub(crate) enum Outbound<'a> {
    Package(PackageRef),
    Copy(&'a Header, &'a [u8]),
}

impl Outbound<'_> {
    fn cost(&self) -> usize {
        match self {
            Outbound::Package(pkg) => pkg.cost(),
            Outbound::Copy(_, data) => crate::protocol::header::HEADER_SIZE + data.len(),
        }
    }

    fn into_package(self) -> PackageRef {
        match self {
            Outbound::Package(pkg) => pkg,
            Outbound::Copy(header, data) => crate::pool::package(header, data),
        }
    }
}

/// Who may write to the socket right now. One writer at a time keeps packages whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writer {
    /// Nobody: a sender may write directly, or hand the connection to the reactor.
    Idle,
    /// A sending thread is writing one package directly.
    Direct,
    /// The reactor owns the writing side: it has a flush command pending or bytes in flight,
    /// and looks at the lanes again before it lets go.
    Reactor,
}

/// The outgoing side of a connection: two lanes and the bookkeeping of flushes. Batches take
/// both lanes in queueing order: a control package remembers how many bulk packages had been
/// queued before it, and goes out once that many have left the bulk lane (only the rarer
/// control packages carry this; a second ring per bulk package cost a cache miss per message
/// and subscriber in wide fan-out).
pub(crate) struct OutQueue {
    /// Control packages, each with the value of `bulk_in` when it was queued.
    control: VecDeque<(u64, PackageRef)>,
    pub control_bytes: usize,
    pub bulk: BulkLane,
    /// Bulk packages ever queued, and ever gone from the lane (taken, evicted or dropped).
    bulk_in: u64,
    bulk_out: u64,
    /// Packages ever accepted into a lane.
    pub pushed: u64,
    /// Packages that left the lanes for good (written, or discarded by policy).
    pub done: u64,
    /// Closing: nothing more is queued or written (but the close package).
    pub stopped: bool,
    pub writer: Writer,
    /// A package a direct write only partly sent, and how many bytes went out: the reactor
    /// finishes it before anything else.
    pub partial: Option<(PackageRef, usize)>,
    /// The socket, for direct writes (None until connected and again once closed, so a
    /// closed connection releases its descriptor even while user handles remain).
    pub stream: Option<Arc<TcpStream>>,
}

impl OutQueue {
    pub(crate) fn new(params: QueueParams) -> OutQueue {
        OutQueue {
            control: VecDeque::new(),
            control_bytes: 0,
            bulk: BulkLane::new(params),
            bulk_in: 0,
            bulk_out: 0,
            pushed: 0,
            done: 0,
            stopped: false,
            writer: Writer::Idle,
            partial: None,
            stream: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.control.is_empty() && self.bulk.is_empty() && self.partial.is_none()
    }

    /// The bulk lane is above its soft limits: senders of bulk data wait.
    pub(crate) fn congested(&self) -> bool {
        self.bulk.len() > SOFT_PACKAGES || self.bulk.bytes() > SOFT_BYTES
    }

    /// Nobody writes, nothing waits, a socket exists: a sender may write directly.
    fn idle(&self) -> bool {
        self.writer == Writer::Idle && self.is_empty() && !self.stopped && self.stream.is_some()
    }

    /// Take the writing side for one direct write (only when `idle`); `release_writer` gives
    /// it back.
    fn claim_direct(&mut self) -> Arc<TcpStream> {
        self.writer = Writer::Direct;
        self.pushed += 1;
        self.stream.clone().expect("claimed only when idle")
    }

    /// Packages queued in both lanes.
    pub(crate) fn len(&self) -> usize {
        self.control.len() + self.bulk.len()
    }

    /// Queue a control package (never discarded).
    pub(crate) fn push_control(&mut self, pkg: PackageRef) {
        self.bulk.seal();
        self.control_bytes += pkg.cost();
        self.control.push_back((self.bulk_in, pkg));
        self.pushed += 1;
    }

    /// Queue a bulk package (or a copy of a small publication) under the discard policy;
    /// returns packages dropped.
    pub(crate) fn push_bulk(&mut self, item: Outbound<'_>) -> usize {
        let pushed = match item {
            Outbound::Package(pkg) => self.bulk.push(pkg),
            Outbound::Copy(header, data) => self.bulk.push_copy(header, data),
        };
        // Packages evicted from the front count as done for flush purposes.
        self.bulk_out += pushed.evicted as u64;
        self.done += pushed.evicted as u64;
        if pushed.accepted {
            self.bulk_in += 1;
            self.pushed += 1;
        }
        pushed.dropped()
    }

    /// Queue a bulk package beyond the limits (what the startup queue held).
    pub(crate) fn push_bulk_unbounded(&mut self, pkg: PackageRef) {
        self.bulk.push_unbounded(pkg);
        self.bulk_in += 1;
        self.pushed += 1;
    }

    /// Drop everything queued (closing); the dropped packages count as done.
    fn clear(&mut self) {
        let n = self.control.len() + self.bulk.clear();
        self.control.clear();
        self.bulk_out = self.bulk_in;
        self.control_bytes = 0;
        self.done += n as u64;
    }

    /// Take the next write batch, both lanes in queueing order, within the limits.
    pub(crate) fn take_batch(
        &mut self,
        max_packages: usize,
        max_bytes: usize,
        batch: &mut Vec<Chunk>,
    ) {
        let mut bytes = 0;
        while batch.len() < max_packages && bytes < max_bytes {
            let control_first = match self.control.front() {
                Some((bulk_before, _)) => *bulk_before <= self.bulk_out || self.bulk.is_empty(),
                None => false,
            };
            let chunk = if control_first {
                let (_, pkg) = self.control.pop_front().expect("checked");
                self.control_bytes -= pkg.cost();
                Chunk::Package(pkg)
            } else {
                let Some(chunk) = self.bulk.pop() else { break };
                self.bulk_out += chunk.count() as u64;
                chunk
            };
            bytes += chunk.cost();
            batch.push(chunk);
        }
    }
}

/// Shared state of one connection; `Connection` is the user's handle to it.
pub(crate) struct ConnShared {
    pub(crate) id1: u64,
    pub(crate) pid1: u64,
    pub(crate) state: Mutex<ConnState>,
    pub(crate) out: Mutex<OutQueue>,
    /// Wakes threads waiting for room in the bulk lane, for a flush, or for the close.
    pub(crate) progress: Condvar,
    /// The context's reactor, which owns the socket.
    pub(crate) reactor: Arc<ReactorHandle>,
    pub(crate) timedout: AtomicBool,
    /// Mirror of `state.status`, written under the state lock, read lock-free on hot paths.
    status_mirror: AtomicU8,
    /// Mirror of `out.congested()`, kept in step under the out lock, read lock-free by
    /// senders deciding whether to wait.
    congested: AtomicBool,
    /// When a byte was last written (ns, `now_ns`): the reactor sends heartbeats when idle.
    pub(crate) last_write_ns: AtomicU64,
    /// Emitted through the event loop when the connection closes, with the reason.
    pub(crate) closed_signal: Signal<String>,
    /// Emitted through the event loop when the `timedout` state changes.
    pub(crate) timedout_signal: Signal<bool>,
    /// Timeout in milliseconds (atomic so the reactor reads it without a lock).
    pub(crate) timeout_ms: AtomicU64,
    /// Close a connection that stayed `timedout` this long (ms; 0: never, the default).
    pub(crate) close_after_timedout_ms: AtomicU64,
}

impl ConnShared {
    pub(crate) fn new(
        id1: u64,
        reactor: Arc<ReactorHandle>,
        name: &str,
        params: QueueParams,
    ) -> Arc<ConnShared> {
        Arc::new(ConnShared {
            id1,
            pid1: std::process::id() as u64,
            state: Mutex::new(ConnState {
                status: Status::Waiting,
                reason: None,
                endpoints: Endpoints::default(),
                name: name.to_string(),
            }),
            out: Mutex::new(OutQueue::new(params)),
            progress: Condvar::new(),
            reactor,
            timedout: AtomicBool::new(false),
            status_mirror: AtomicU8::new(Status::Waiting as u8),
            congested: AtomicBool::new(false),
            last_write_ns: AtomicU64::new(now_ns()),
            closed_signal: Signal::new(),
            timedout_signal: Signal::new(),
            timeout_ms: AtomicU64::new((MIN_TIMEOUT * 1000.0) as u64),
            close_after_timedout_ms: AtomicU64::new(0),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock()
    }

    pub(crate) fn out(&self) -> MutexGuard<'_, OutQueue> {
        self.out.lock()
    }

    pub(crate) fn status(&self) -> Status {
        match self.status_mirror.load(Ordering::Acquire) {
            0 => Status::Closed,
            1 => Status::Closing,
            2 => Status::Waiting,
            3 => Status::Hosting,
            _ => Status::Connected,
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.status() >= Status::Waiting
    }

    /// The bulk lane is above its soft limits (lock-free).
    pub(crate) fn is_congested(&self) -> bool {
        self.congested.load(Ordering::Relaxed)
    }

    /// Call with the out lock held after a lane changed: keeps the congestion mirror in step
    /// and wakes waiters when there is something for them to see.
    pub(crate) fn lanes_changed(&self, out: &OutQueue) {
        // Written only when it changes (under the out lock, so no update is lost): an atomic
        // swap on every push was an eighth of the push's cost.
        let now = out.congested();
        if self.congested.load(Ordering::Relaxed) == now {
            return;
        }
        self.congested.store(now, Ordering::Relaxed);
        if !now {
            self.progress.notify_all();
        }
    }

    /// Queue a package (or a copy of a small publication) in `lane`, applying the bulk
    /// discard policy. Returns packages dropped. Never blocks (bulk senders wait for room
    /// first, outside every lock: `wait_for_room`). An idle connection gets a small package
    /// written at once by the caller when `direct` allows it: a hop to the reactor costs more
    /// than the write.
    pub(crate) fn push(
        self: &Arc<Self>,
        item: Outbound<'_>,
        lane: Lane,
        direct: &mut DirectTicket<'_>,
    ) -> usize {
        let mut out = self.out();
        if out.stopped {
            return 1;
        }
        if out.idle() && item.cost() <= DIRECT_WRITE_LIMIT && direct.granted(lane) {
            let stream = out.claim_direct();
            drop(out);
            match item {
                Outbound::Package(pkg) => {
                    self.write_claimed(stream, &pkg.header(), pkg.body(), None, || pkg.clone())
                }
                Outbound::Copy(header, data) => {
                    self.write_claimed(stream, header, data, None, || {
                        crate::pool::package(header, data)
                    })
                }
            }
            return 0;
        }
        let dropped = match lane {
            Lane::Control => {
                out.push_control(item.into_package());
                0
            }
            Lane::Bulk => {
                let dropped = out.push_bulk(item);
                self.lanes_changed(&out);
                dropped
            }
        };
        if out.writer == Writer::Idle {
            out.writer = Writer::Reactor;
            drop(out);
            self.reactor.send(Command::Flush(self.clone()));
        }
        dropped
    }

    /// Claim the socket for a direct write if the connection is idle (connected, lanes empty,
    /// nobody writing): its stream, with the writer set to `Direct`. Release with
    /// `release_writer` (`write_big` does).
    pub(crate) fn claim_writer(&self) -> Option<Arc<TcpStream>> {
        let mut out = self.out();
        (out.idle() && self.status() >= Status::Hosting).then(|| out.claim_direct())
    }

    /// Write one package (`header`, body `data`) from the caller's thread, the writer claimed:
    /// as far as the socket takes it now, or with `finish_by`, waiting for the socket until
    /// then (given up early if the connection closes). `package` gives the package whose rest
    /// the reactor then writes, in order: a publication is copied only in that case.
    pub(crate) fn write_claimed(
        self: &Arc<Self>,
        stream: Arc<TcpStream>,
        header: &Header,
        data: &[u8],
        finish_by: Option<Instant>,
        package: impl FnOnce() -> PackageRef,
    ) {
        let alive = || self.is_alive();
        let finish = finish_by.map(|deadline| (deadline, &alive as &dyn Fn() -> bool));
        let sent = crate::transport::wire::write_parts(&stream, header, data, finish);
        drop(stream);
        let mut out = self.out();
        if sent == Some(crate::protocol::header::HEADER_SIZE + data.len()) {
            out.done += 1;
            self.last_write_ns.store(now_ns(), Ordering::Relaxed);
        } else {
            out.partial = Some((package(), sent.unwrap_or(0)));
        }
        self.release_writer(out);
    }

    /// A direct write finished: hand what is queued meanwhile to the reactor, or go idle.
    fn release_writer(self: &Arc<Self>, mut out: MutexGuard<'_, OutQueue>) {
        if out.stopped {
            // A close may be waiting for the socket to be free: let the reactor go on with it
            // (what this writer left unwritten is dropped with the rest of the queue).
            out.partial = None;
            out.writer = Writer::Idle;
            drop(out);
            self.progress.notify_all();
            self.reactor.send(Command::Flush(self.clone()));
            return;
        }
        if out.is_empty() {
            out.writer = Writer::Idle;
            return;
        }
        out.writer = Writer::Reactor;
        drop(out);
        self.reactor.send(Command::Flush(self.clone()));
    }

    /// Wait (at most until `deadline`) until the bulk lane is below its soft limits.
    pub(crate) fn wait_for_room(&self, deadline: Instant) {
        let mut out = self.out();
        while out.congested() && !out.stopped {
            if self.progress.wait_until(&mut out, deadline).timed_out() {
                return;
            }
        }
    }

    /// Wait (at most until `deadline`) until at most `packages` are queued in the lanes.
    pub(crate) fn wait_until_below(&self, packages: usize, deadline: Instant) {
        let mut out = self.out();
        while out.len() > packages && !out.stopped {
            if self.progress.wait_until(&mut out, deadline).timed_out() {
                return;
            }
        }
    }

    /// `close()`: tell the peer (close package) and stop. Queued packages are dropped, as in
    /// the original; the reactor writes the close package after any package it is in the
    /// middle of, and releases the socket. Waits for that at most CLOSE_WAIT.
    pub(crate) fn close(self: &Arc<Self>, reason: &str) {
        if self.begin_close(reason) {
            self.reactor.send(Command::Close {
                conn: self.clone(),
                tell_peer: true,
            });
            self.wait_closed(Instant::now() + CLOSE_WAIT);
        }
    }

    /// `close_on_problem()`: close without telling the peer.
    pub(crate) fn close_on_problem(self: &Arc<Self>, reason: &str) {
        if self.begin_close(reason) {
            self.reactor.send(Command::Close {
                conn: self.clone(),
                tell_peer: false,
            });
            self.wait_closed(Instant::now() + CLOSE_WAIT);
        }
    }

    /// Move to Closing with `reason` and drop what is queued; false if already closing.
    pub(crate) fn begin_close(&self, reason: &str) -> bool {
        {
            let mut st = self.state();
            if st.status <= Status::Closing {
                return false;
            }
            st.set_status(Status::Closing, &self.status_mirror);
            st.reason = Some(reason.to_string());
        }
        let mut out = self.out();
        out.clear();
        out.stopped = true;
        self.lanes_changed(&out);
        self.progress.notify_all();
        true
    }

    /// The handshake is done: record the peer and the socket and set `status`. False if the
    /// connection closed meanwhile (or has a peer already).
    pub(crate) fn attach(
        &self,
        stream: Arc<TcpStream>,
        id2: u64,
        pid2: u64,
        status: Status,
    ) -> bool {
        {
            let mut st = self.state();
            if st.status != Status::Waiting {
                return false;
            }
            let (h1, p1) = crate::transport::tcp::socket_name(stream.local_addr().ok());
            let (h2, p2) = crate::transport::tcp::socket_name(stream.peer_addr().ok());
            st.endpoints = Endpoints {
                hostname1: h1,
                port1: p1,
                hostname2: h2,
                port2: p2,
                id2,
                pid2,
            };
            st.set_status(status, &self.status_mirror);
        }
        self.out().stream = Some(stream);
        true
    }

    /// Wait until the reactor finished the close (bounded; the reactor enforces its own
    /// deadline too). Never waits on the reactor's own thread.
    pub(crate) fn wait_closed(&self, deadline: Instant) {
        if self.reactor.is_current_thread() {
            return;
        }
        let mut out = self.out();
        while self.status() != Status::Closed {
            if self.progress.wait_until(&mut out, deadline).timed_out() {
                return;
            }
        }
    }

    /// The socket is gone (the reactor dropped it): status Closed, waiters woken. Returns
    /// the peer's context id. The caller tells the context and emits `closed_signal`.
    pub(crate) fn finish_close(&self, reason: &str) -> u64 {
        let peer_id = {
            let mut st = self.state();
            st.set_status(Status::Closed, &self.status_mirror);
            if st.reason.is_none() {
                st.reason = Some(reason.to_string());
            }
            st.endpoints.id2
        };
        let mut out = self.out();
        out.clear();
        out.stopped = true;
        out.stream = None;
        out.partial = None;
        self.lanes_changed(&out);
        drop(out);
        self.progress.notify_all();
        peer_id
    }

    /// The reason the connection is closing or closed with.
    pub(crate) fn reason(&self) -> String {
        self.state()
            .reason
            .clone()
            .unwrap_or_else(|| reasons::UNSPECIFIED.to_string())
    }

    /// The `timedout` state changed (the reactor calls this once per change).
    pub(crate) fn timedout_changed(&self, timedout: bool) {
        self.timedout_signal.emit(timedout);
    }

    /// Wait until every package queued so far has been written: queues a heartbeat like the
    /// original, then waits for the reactor to get past it.
    pub(crate) fn flush(self: &Arc<Self>, timeout: Duration) -> Result<()> {
        if self.status() < Status::Hosting {
            return Err(Error::closed(
                "cannot flush: the connection is not connected",
            ));
        }
        // `done` counts every package that left the lanes, so reaching `pushed` as of now
        // means everything queued before went out.
        self.push(
            Outbound::Package(PackageRef::new(Package::signal(Header::HEARTBEAT))),
            Lane::Bulk,
            &mut DirectTicket::Never,
        );
        let target = self.out().pushed;
        let deadline = Instant::now() + timeout;
        let mut out = self.out();
        loop {
            if out.done >= target {
                return Ok(());
            }
            if out.stopped {
                return Err(Error::closed(
                    "the connection closed before the flush completed",
                ));
            }
            if self.progress.wait_until(&mut out, deadline).timed_out() {
                return Err(Error::timeout("Sending the packages timed out."));
            }
        }
    }
}

/// A paused reader (loss-free mode) waits while this connection's bulk lane is congested.
impl crate::transport::reactor::Blocker for ConnShared {
    fn blocks(&self) -> bool {
        self.is_alive() && self.is_congested()
    }
}

/// A user's handle to a connection. Cloning is cheap; dropping it does not close anything
/// (the context owns its connections).
#[derive(Clone)]
pub struct Connection {
    pub(crate) shared: Arc<ConnShared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.state();
        f.debug_struct("Connection")
            .field("name", &st.name)
            .field("status", &st.status)
            .field("hostname1", &st.endpoints.hostname1)
            .field("port1", &st.endpoints.port1)
            .finish()
    }
}

impl Connection {
    pub fn status(&self) -> Status {
        self.shared.status()
    }
    /// Waiting, hosting or connected.
    pub fn is_alive(&self) -> bool {
        self.status() >= Status::Waiting
    }
    /// Hosting or connected.
    pub fn is_connected(&self) -> bool {
        self.status() >= Status::Hosting
    }
    /// Bound and waiting for a peer.
    pub fn is_waiting(&self) -> bool {
        self.status() == Status::Waiting
    }
    /// True while nothing has arrived from the peer for longer than `timeout`.
    pub fn is_timedout(&self) -> bool {
        self.shared.timedout.load(Ordering::SeqCst)
    }
    pub fn hostname1(&self) -> String {
        self.shared.state().endpoints.hostname1.clone()
    }
    pub fn port1(&self) -> u16 {
        self.shared.state().endpoints.port1
    }
    pub fn hostname2(&self) -> String {
        self.shared.state().endpoints.hostname2.clone()
    }
    pub fn port2(&self) -> u16 {
        self.shared.state().endpoints.port2
    }
    /// Own context id.
    pub fn id1(&self) -> u64 {
        self.shared.id1
    }
    /// Peer context id (0 until connected).
    pub fn id2(&self) -> u64 {
        self.shared.state().endpoints.id2
    }
    pub fn pid1(&self) -> u64 {
        self.shared.pid1
    }
    /// Peer process id, as the peer announced it (0 until connected).
    pub fn pid2(&self) -> u64 {
        self.shared.state().endpoints.pid2
    }
    pub fn name(&self) -> String {
        self.shared.state().name.clone()
    }
    pub fn set_name(&self, name: &str) {
        self.shared.state().name = name.to_string();
    }
    /// The `timedout` detection timeout in seconds.
    pub fn timeout(&self) -> f64 {
        self.shared.timeout_ms.load(Ordering::SeqCst) as f64 / 1000.0
    }
    /// Set the timeout; at least 0.5 s as in the original.
    pub fn set_timeout(&self, seconds: f64) -> Result<()> {
        if seconds.is_nan() || seconds < MIN_TIMEOUT || !seconds.is_finite() {
            return Err(Error::invalid(format!(
                "timeout must be at least {MIN_TIMEOUT:.2} (got {seconds})"
            )));
        }
        self.shared
            .timeout_ms
            .store((seconds * 1000.0).round() as u64, Ordering::SeqCst);
        Ok(())
    }
    /// Close the connection once it has been `timedout` for `after` (None: never, the
    /// default, as in the original, where a silent peer is reported but never dropped).
    /// Useful where a link may stay down: TCP itself gives up on unacknowledged data only
    /// after many minutes (tcp_retries2), and never on an idle connection.
    pub fn set_close_after_timedout(&self, after: Option<Duration>) -> Result<()> {
        let ms = match after {
            None => 0,
            Some(d) if d >= Duration::from_millis(100) => {
                d.as_millis().min(u64::MAX as u128) as u64
            }
            Some(d) => {
                return Err(Error::invalid(format!(
                    "close-after-timedout must be at least 0.1 s, or never (got {d:?})"
                )))
            }
        };
        self.shared
            .close_after_timedout_ms
            .store(ms, Ordering::SeqCst);
        Ok(())
    }
    /// See `set_close_after_timedout`.
    pub fn close_after_timedout(&self) -> Option<Duration> {
        match self.shared.close_after_timedout_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
    /// Why the connection closed (None while alive).
    pub fn close_reason(&self) -> Option<String> {
        let st = self.shared.state();
        if st.status == Status::Closed {
            st.reason.clone()
        } else {
            None
        }
    }
    /// Close, telling the peer with a close package. Default reason "Closed on command.".
    pub fn close(&self, reason: Option<&str>) {
        self.shared.close(reason.unwrap_or(reasons::ON_COMMAND));
    }
    /// Close without telling the peer. Default reason "Unspecified problem".
    pub fn close_on_problem(&self, reason: Option<&str>) {
        self.shared
            .close_on_problem(reason.unwrap_or(reasons::UNSPECIFIED));
    }
    /// Wait until everything queued so far is written to the socket.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.shared.flush(timeout)
    }
    /// Packages waiting in the outgoing lanes.
    pub fn queued(&self) -> usize {
        self.shared.out().len()
    }
    /// Emitted (through the event loop) when the connection closes, with the reason.
    pub fn closed_signal(&self) -> &Signal<String> {
        &self.shared.closed_signal
    }
    /// Emitted (through the event loop) when `is_timedout` changes, with the new state.
    pub fn timedout_signal(&self) -> &Signal<bool> {
        &self.shared.timedout_signal
    }
    /// Two handles to the same connection.
    pub fn same_as(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::testing;
    use crate::queue::Discard;
    use crate::transport::wire::chunk_seqs;

    fn out_queue(max_packages: usize) -> OutQueue {
        OutQueue::new(QueueParams {
            max_packages,
            max_bytes: 1 << 20,
            discard: Discard::Old,
        })
    }

    fn package(seq: u64) -> PackageRef {
        testing::package(seq, b"xxxxxxxx")
    }

    fn bulk(out: &mut OutQueue, seq: u64) -> usize {
        out.push_bulk(Outbound::Package(package(seq)))
    }

    /// A small publication copied into the bulk lane's run.
    fn copy(out: &mut OutQueue, seq: u64) -> usize {
        out.push_bulk(Outbound::Copy(&testing::header(seq), b"copied"))
    }

    fn take_all(out: &mut OutQueue) -> Vec<u64> {
        let mut batch = Vec::new();
        out.take_batch(usize::MAX, usize::MAX, &mut batch);
        chunk_seqs(&batch)
    }

    #[test]
    fn lanes_are_written_in_queueing_order() {
        let mut out = out_queue(100);
        out.push_control(package(1));
        bulk(&mut out, 2);
        copy(&mut out, 3);
        out.push_control(package(4));
        out.push_control(package(5));
        copy(&mut out, 6);
        out.push_control(package(7));
        let mut batch = Vec::new();
        out.take_batch(3, usize::MAX, &mut batch);
        assert_eq!(chunk_seqs(&batch), [1, 2, 3]);
        copy(&mut out, 8);
        copy(&mut out, 9);
        out.push_control(package(10));
        assert_eq!(take_all(&mut out), [4, 5, 6, 7, 8, 9, 10]);
        assert!(out.is_empty());
        assert_eq!(out.control_bytes, 0);
        assert_eq!((out.pushed, out.len()), (10, 0));
    }

    #[test]
    fn order_survives_evictions_and_clearing() {
        // Two bulk packages at most, the oldest evicted: a control package queued after an
        // evicted one still waits for the bulk packages older than it that remain.
        let mut out = out_queue(2);
        bulk(&mut out, 1);
        copy(&mut out, 2);
        out.push_control(package(3));
        assert_eq!(copy(&mut out, 4), 1); // evicts 1
        out.push_control(package(5));
        assert_eq!(bulk(&mut out, 6), 1); // evicts 2
        assert_eq!(take_all(&mut out), [3, 4, 5, 6]);

        copy(&mut out, 7);
        out.push_control(package(8));
        out.clear();
        out.push_control(package(9));
        copy(&mut out, 10);
        out.push_control(package(11));
        assert_eq!(take_all(&mut out), [9, 10, 11]);
    }
}
