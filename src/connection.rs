//! A connection between two contexts: its status, properties, outgoing queue and closing
//! logic. The socket work (handshake, sending and receiving threads) lives in `transport`.

use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::context::ContextInner;
use crate::error::{Error, Result};
use crate::events::Signal;
use crate::package::{Package, PackageRef};
use crate::protocol::header::Header;
use crate::queue::{PackageQueue, QueueParams};

/// Connection status, ordered as in the original (§7.1).
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

/// Packages up to this size may be written directly by the sending caller (see `push`).
const DIRECT_WRITE_LIMIT: usize = 16 * 1024;

/// Average spacing of direct writes from one context, and the burst allowed.
const DIRECT_WRITE_SPACING_NS: u64 = 50_000;
const DIRECT_WRITE_BURST: u64 = 3;
/// Packages going to more connections than this are never written directly.
const DIRECT_WRITE_MAX_FANOUT: usize = 4;
/// Time base of `now_ns`.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nagle-like rate limit of direct writes, one per context: sporadic traffic (request/reply
/// steps) is written at once by the sending caller; a stream falls back to batching by the
/// sending threads, far cheaper per message. Per context, not per connection, and never for
/// wide fan-out: a publisher with 16 subscribers otherwise made a write syscall per subscriber
/// (each waking a peer) for most messages and spent its time in them.
///
/// A token bucket (GCRA): one direct write per DIRECT_WRITE_SPACING_NS on average, bursts of
/// DIRECT_WRITE_BURST, so an RPC step that sends two packages at once (a request and its
/// `req-`) writes both without waking the sending thread.
#[derive(Default)]
pub(crate) struct DirectWriteGate {
    /// Theoretical arrival time of the next write at the average rate (ns since EPOCH).
    next_ns: AtomicU64,
}

/// A monotonic clock in nanoseconds (for lock-free deadlines in atomics).
pub(crate) fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

impl DirectWriteGate {
    fn try_pass(&self) -> bool {
        let now = now_ns();
        let slack = (DIRECT_WRITE_BURST - 1) * DIRECT_WRITE_SPACING_NS;
        let mut next = self.next_ns.load(Ordering::Relaxed);
        loop {
            // A stream finds the bucket empty here, with a single load.
            if next > now + slack {
                return false;
            }
            let granted = next.max(now) + DIRECT_WRITE_SPACING_NS;
            match self.next_ns.compare_exchange_weak(next, granted, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(current) => next = current,
            }
        }
    }

    /// The permission of one package, going to `fanout` connections, to be written directly.
    /// Wide fan-out always goes through the sending threads: a write per connection in the
    /// caller's thread costs more than the latency it saves.
    pub(crate) fn ticket(&self, fanout: usize) -> DirectTicket<'_> {
        if fanout > DIRECT_WRITE_MAX_FANOUT {
            DirectTicket::Decided(false)
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
}

impl DirectTicket<'_> {
    fn granted(&mut self) -> bool {
        if let DirectTicket::Unasked(gate) = *self {
            *self = DirectTicket::Decided(gate.try_pass());
        }
        matches!(self, DirectTicket::Decided(true))
    }
}

/// Outcome of a direct write attempt.
pub(crate) enum DirectWrite {
    Written,
    /// Not a byte went out: the socket buffer is full, or the socket is broken (the sending
    /// thread's write then fails the same way and closes the connection).
    NotWritten,
    /// Only this many bytes went out.
    Partial(usize),
}

/// Default and minimum of the `timedout` detection timeout (§7.3).
pub const MIN_TIMEOUT: f64 = 0.5;
/// How long an outgoing side may stay idle before a heartbeat goes out (well under 0.5 s).
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);
/// How long `close()` waits for the close package to be written.
const CLOSE_WRITE_BUDGET: Duration = Duration::from_secs(1);

/// The close reasons of the original (§7.4), plus ours.
pub mod reasons {
    pub const ON_COMMAND: &str = "Closed on command.";
    pub const BY_CONTEXT: &str = "Closed by the context.";
    pub const UNSPECIFIED: &str = "Unspecified problem";
    pub const FROM_OTHER_END: &str = "Closed from other end.";
    pub const DROPPED: &str = "Other end dropped the connection.";
    pub const LOST_TRACK: &str = "Lost track of the stream.";
    pub const TIMED_OUT: &str = "Connection timed out.";
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

impl OutQueue {
    /// The sending side is closing or gone: nothing more will be written.
    pub(crate) fn stopped(&self) -> bool {
        self.close_requested || self.stop || self.sender_exited
    }
}

impl ConnState {
    pub(crate) fn set_status(&mut self, status: Status, mirror: &AtomicU8) {
        self.status = status;
        mirror.store(status as u8, Ordering::Release);
    }
}

/// The outgoing side: the queue the sending thread drains, and flush bookkeeping.
pub(crate) struct OutQueue {
    pub queue: PackageQueue,
    /// Packages ever accepted into the queue.
    pub pushed: u64,
    /// Packages that left the queue for good (written, or discarded by policy).
    pub done: u64,
    /// `close()` asked the sending thread to write a close package and stop.
    pub close_requested: bool,
    /// The connection is closed: the sending thread stops without writing anything.
    pub stop: bool,
    /// The sending thread is gone (or never started).
    pub sender_exited: bool,
    /// The sending thread is waiting for work: only then does a push need to wake it (a
    /// condvar notify is a syscall even with nobody waiting).
    pub sender_waiting: bool,
    /// Threads waiting in `wait_for_space` or `flush`.
    pub progress_waiters: usize,
    /// Someone (the sending thread, or a sender writing directly) is writing to the socket.
    pub writing: bool,
    /// A package a direct write only partly sent, and how many bytes went out: the sending
    /// thread finishes it before anything else.
    pub partial: Option<(PackageRef, usize)>,
}

/// Shared state of one connection; `Connection` is the user's handle to it.
pub(crate) struct ConnShared {
    pub(crate) context: Weak<ContextInner>,
    pub(crate) id1: u64,
    pub(crate) pid1: u64,
    pub(crate) state: Mutex<ConnState>,
    pub(crate) out: Mutex<OutQueue>,
    /// Wakes the sending thread (new package, close).
    pub(crate) out_ready: Condvar,
    /// Wakes pushers waiting for space and flushers waiting for `done`.
    pub(crate) out_progress: Condvar,
    /// Soft limits of the out-queue: above them, senders wait (back-pressure) before pushing.
    pub(crate) soft_packages: usize,
    pub(crate) soft_bytes: usize,
    pub(crate) stream: Mutex<Option<Arc<TcpStream>>>,
    /// The stream, for direct writes by senders (set once when connected).
    pub(crate) direct: OnceLock<Arc<TcpStream>>,
    pub(crate) listener: Mutex<Option<Arc<socket2::Socket>>>,
    pub(crate) timedout: AtomicBool,
    /// Mirror of `state.status`, written under the state lock, read lock-free on hot paths.
    status_mirror: AtomicU8,
    /// The out-queue is above its soft limits (kept in step under the out lock; read
    /// lock-free by senders deciding whether to wait).
    pub(crate) congested: AtomicBool,
    /// Emitted through the event loop when the connection closes, with the reason.
    pub(crate) closed_signal: Signal<String>,
    /// Emitted through the event loop when the `timedout` state changes.
    pub(crate) timedout_signal: Signal<bool>,
    /// Timeout in milliseconds (atomic so the receiving thread can read it without a lock).
    pub(crate) timeout_ms: AtomicU64,
}

impl ConnShared {
    pub(crate) fn new(context: &Arc<ContextInner>, name: &str, params: QueueParams) -> Arc<ConnShared> {
        Arc::new(ConnShared {
            context: Arc::downgrade(context),
            id1: context.id,
            pid1: std::process::id() as u64,
            state: Mutex::new(ConnState {
                status: Status::Waiting,
                reason: None,
                endpoints: Endpoints::default(),
                name: name.to_string(),
            }),
            out: Mutex::new(OutQueue {
                queue: PackageQueue::new(params),
                pushed: 0,
                done: 0,
                close_requested: false,
                stop: false,
                sender_exited: true,
                sender_waiting: false,
                progress_waiters: 0,
                writing: false,
                partial: None,
            }),
            out_ready: Condvar::new(),
            out_progress: Condvar::new(),
            soft_packages: context.soft_limits().0,
            soft_bytes: context.soft_limits().1,
            stream: Mutex::new(None),
            direct: OnceLock::new(),
            listener: Mutex::new(None),
            timedout: AtomicBool::new(false),
            status_mirror: AtomicU8::new(Status::Waiting as u8),
            congested: AtomicBool::new(false),
            closed_signal: Signal::new(),
            timedout_signal: Signal::new(),
            timeout_ms: AtomicU64::new((MIN_TIMEOUT * 1000.0) as u64),
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

    pub(crate) fn status_mirror(&self) -> &AtomicU8 {
        &self.status_mirror
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.status() >= Status::Waiting
    }

    /// Queue a package for sending, applying the discard policy. Returns packages dropped.
    /// Never blocks (callers wait for space first, outside their locks: `wait_for_space`).
    pub(crate) fn push(&self, pkg: PackageRef, direct: &mut DirectTicket<'_>) -> usize {
        let mut out = self.out();
        if out.close_requested || out.stop {
            return 1;
        }
        if out.queue.is_empty() && !out.writing && !out.sender_exited && pkg.cost() <= DIRECT_WRITE_LIMIT && direct.granted() {
            if let Some(stream) = self.direct.get() {
                // Idle connection: write in the caller's thread instead of waking the sending
                // thread (a thread hop costs more than the write). Latency for RPC.
                out.writing = true;
                out.pushed += 1;
                drop(out);
                let outcome = crate::transport::tcp::write_direct(stream, &pkg);
                let mut out = self.out();
                out.writing = false;
                match outcome {
                    DirectWrite::Written => out.done += 1,
                    // The socket is full, or broken: let the sending thread do it, in order. A
                    // broken socket fails its write too and the sending thread closes the
                    // connection; closing here would take the routing lock our caller holds.
                    DirectWrite::NotWritten => out.queue.push_unbounded(pkg),
                    // Never block the caller: the sending thread writes the rest first.
                    DirectWrite::Partial(sent) => out.partial = Some((pkg, sent)),
                }
                // Wake the sending thread only if there is work for it (it also waits while
                // merely idle: waking it for nothing costs a context switch per message).
                let wake = out.sender_waiting && (!out.queue.is_empty() || out.partial.is_some());
                out.sender_waiting &= !wake;
                drop(out);
                if wake {
                    self.out_ready.notify_one();
                }
                return 0;
            }
        }
        let pushed = out.queue.push(pkg);
        if pushed.accepted {
            out.pushed += 1;
        }
        // Packages evicted from the front count as done for flush purposes.
        out.done += pushed.evicted as u64;
        self.update_congestion(&out);
        // One wake per sleep: until the sending thread runs, later pushes need not notify (a
        // notify is a futex syscall even when the thread is already woken).
        let wake = std::mem::take(&mut out.sender_waiting);
        drop(out);
        if wake {
            self.out_ready.notify_one();
        }
        pushed.dropped()
    }

    /// Recompute the congestion flag (call with the out lock held, after the queue changed).
    pub(crate) fn update_congestion(&self, out: &OutQueue) {
        let congested = out.queue.len() > self.soft_packages || out.queue.bytes() > self.soft_bytes;
        self.congested.store(congested, Ordering::Relaxed);
    }

    /// True while the out-queue is above its soft limits (lock-free).
    pub(crate) fn is_congested(&self) -> bool {
        self.congested.load(Ordering::Relaxed)
    }

    /// Wake threads waiting for space or for a flush, if there are any.
    pub(crate) fn notify_progress(&self, out: &OutQueue) {
        if out.progress_waiters > 0 {
            self.out_progress.notify_all();
        }
    }

    /// Wait for the sending thread's progress until `done(out)` holds or `deadline` passes;
    /// returns the guard and whether `done` held.
    fn wait_progress<'a>(
        &self,
        mut out: MutexGuard<'a, OutQueue>,
        deadline: Instant,
        done: impl Fn(&OutQueue) -> bool,
    ) -> (MutexGuard<'a, OutQueue>, bool) {
        loop {
            if done(&out) {
                return (out, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (out, false);
            }
            out.progress_waiters += 1;
            self.out_progress.wait_for(&mut out, deadline - now);
            out.progress_waiters -= 1;
        }
    }

    /// Wait (at most until `deadline`) until the out-queue is below its soft limits.
    pub(crate) fn wait_for_space(&self, deadline: Instant) {
        let _ = self.wait_progress(self.out(), deadline, |out| {
            out.stopped() || (out.queue.len() <= self.soft_packages && out.queue.bytes() <= self.soft_bytes)
        });
    }

    /// Wait (at most until `deadline`) until the out-queue holds at most `packages`.
    pub(crate) fn wait_until_below(&self, packages: usize, deadline: Instant) {
        let _ = self.wait_progress(self.out(), deadline, |out| out.stopped() || out.queue.len() <= packages);
    }

    /// `close()`: tell the peer (close package) and stop. No-op if already closing or closed.
    pub(crate) fn close(self: &Arc<Self>, reason: &str) {
        let previous = {
            let mut st = self.state();
            if st.status <= Status::Closing {
                return;
            }
            let previous = st.status;
            st.set_status(Status::Closing, &self.status_mirror);
            st.reason = Some(reason.to_string());
            previous
        };
        if previous >= Status::Hosting {
            // Pending packages are dropped (as in the original); the close package goes out
            // through the sending thread so it never interleaves with a half-written package.
            let deadline = Instant::now() + CLOSE_WRITE_BUDGET;
            let mut out = self.out();
            let cleared = out.queue.clear() as u64;
            out.done += cleared;
            out.close_requested = true;
            self.out_ready.notify_all();
            let _ = self.wait_progress(out, deadline, |out| out.sender_exited);
        }
        self.finish_close(reason);
    }

    /// `close_on_problem()`: close without telling the peer. Used by the IO threads.
    pub(crate) fn close_on_problem(self: &Arc<Self>, reason: &str) {
        {
            let mut st = self.state();
            match st.status {
                Status::Closed => return,
                // A close() is under way; it owns the reason and finishes the job.
                Status::Closing => return,
                _ => st.set_status(Status::Closing, &self.status_mirror),
            }
            st.reason = Some(reason.to_string());
        }
        self.finish_close(reason);
    }

    fn finish_close(self: &Arc<Self>, reason: &str) {
        {
            let mut out = self.out();
            let cleared = out.queue.clear() as u64;
            out.done += cleared;
            out.stop = true;
        }
        self.out_ready.notify_all();
        self.out_progress.notify_all();
        if let Some(stream) = self.stream.lock().as_ref() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(listener) = self.listener.lock().take() {
            // Wakes a blocked accept() on Linux.
            let _ = listener.shutdown(Shutdown::Both);
        }
        let peer_id = {
            let mut st = self.state();
            st.set_status(Status::Closed, &self.status_mirror);
            st.reason = Some(reason.to_string());
            st.endpoints.id2
        };
        if let Some(ctx) = self.context.upgrade() {
            ctx.forget_connection(self, peer_id, reason);
        }
        self.closed_signal.emit(reason.to_string());
    }

    /// The `timedout` state changed (the receiving thread calls this once per change).
    pub(crate) fn timedout_changed(&self, timedout: bool) {
        self.timedout_signal.emit(timedout);
    }

    /// Wait until every package queued so far has been written (`flush`, §7.5): pushes a
    /// heartbeat like the original, then waits for the sending thread to get past it.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<()> {
        if self.status() < Status::Hosting {
            return Err(Error::closed("cannot flush: the connection is not connected"));
        }
        let target = {
            let mut out = self.out();
            out.queue.push_unbounded(Arc::new(Package::signal(Header::HEARTBEAT)));
            out.pushed += 1;
            out.pushed
        };
        self.out_ready.notify_all();
        let deadline = Instant::now() + timeout;
        let (out, _) = self.wait_progress(self.out(), deadline, |out| out.done >= target || out.stopped());
        if out.done >= target {
            Ok(())
        } else if out.stopped() {
            Err(Error::closed("the connection closed before the flush completed"))
        } else {
            Err(Error::timeout("Sending the packages timed out."))
        }
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
    /// True while nothing has arrived from the peer for longer than `timeout` (§7.3).
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
            return Err(Error::invalid(format!("timeout must be at least {MIN_TIMEOUT:.2} (got {seconds})")));
        }
        self.shared.timeout_ms.store((seconds * 1000.0).round() as u64, Ordering::SeqCst);
        Ok(())
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
        self.shared.close_on_problem(reason.unwrap_or(reasons::UNSPECIFIED));
    }
    /// Wait until everything queued so far is written to the socket.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.shared.flush(timeout)
    }
    /// Packages waiting in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.shared.out().queue.len()
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
