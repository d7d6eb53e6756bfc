//! The context: a node of a yoton network. It owns the connections and the channel registry,
//! assigns sequence numbers, queues packages while unconnected, and routes what arrives
//! (deduplicate, forward, deliver) — §6 of docs/protocol.md, with the robust handling of §13.

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::channels::ChannelShared;
use crate::connection::{reasons, ConnShared, Connection, DirectWriteGate, Lane, Outbound, Status};
use crate::error::{Error, ErrorKind, Result};
use crate::package::{body_from, nul_terminated, Body, Package, PackageRef};
use crate::protocol::address::parse_address;
use crate::protocol::header::{Header, SLOT_CONTEXT};
use crate::queue::PackageQueue;
pub use crate::queue::{Discard, QueueParams};
use crate::transport::reactor::{Blocker, Command, ReactorHandle, Upcalls};
use crate::transport::tcp::{self, Answer};

/// Context message sent by the connecting side after a connect (docs/protocol.md §6.7).
pub const NEW_CONNECTION: &str = "NEW_CONNECTION";
/// Context message asking the direct peer to drop the link (never sent by us, docs/protocol.md §6.7).
pub const CLOSE_CONNECTION: &str = "CLOSE_CONNECTION";
/// Default maximum body size accepted from a peer (and sent): bigger packages close the link.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 256 << 20;
/// Smallest allowed maximum message size: protocol traffic (context messages, req/rep control)
/// must always fit.
pub const MIN_MAX_MESSAGE_SIZE: u64 = 1024;
/// How long a send, or a forward, waits for a congested connection before queueing anyway.
const SEND_WAIT: Duration = Duration::from_secs(1);
/// A publication this big to one idle peer is written by its caller to the end (waiting for
/// the socket at most SEND_WAIT) instead of having its rest copied for the reactor: measured
/// at 1 MiB, 0.91-1.07x raw TCP against 0.56-0.60x with the copy; at 64 KiB the copy and the
/// reactor's write overlap and waiting was slower.
const CALLER_FINISHES: usize = 256 * 1024;
/// Sliding deduplication window (docs/protocol.md §13 #8): late packages within it are still accepted once.
const DEDUPE_WINDOW: u64 = 1024;

/// A new context id: `(milliseconds << 32) | random`, strictly increasing time part, never 0.
fn new_context_id() -> u64 {
    static LAST_TIME: Mutex<u64> = Mutex::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        & 0xFFFF_FFFF;
    let t = {
        let mut last = LAST_TIME.lock();
        let t = if now > *last {
            now
        } else {
            (*last + 1) & 0xFFFF_FFFF
        };
        let t = t.max(1);
        *last = t;
        t
    };
    let mut h = RandomState::new().build_hasher();
    h.write_u64(t);
    h.write_u32(std::process::id());
    let r = h.finish() & 0xFFFF_FFFF;
    (t << 32) | r
}

/// Per-source record of seen sequence numbers: the highest one plus a ring bitmap of the
/// DEDUPE_WINDOW below it. Anything older than the window counts as seen.
struct SeenWindow {
    max: u64,
    bits: [u64; (DEDUPE_WINDOW / 64) as usize],
    /// When a package of this source last arrived (the window expires after SEEN_EXPIRY).
    last_seen: Instant,
}

impl SeenWindow {
    fn new(now: Instant) -> SeenWindow {
        SeenWindow {
            max: 0,
            bits: [0; (DEDUPE_WINDOW / 64) as usize],
            last_seen: now,
        }
    }

    fn bit(seq: u64) -> (usize, u64) {
        let i = seq % DEDUPE_WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Record `seq`; false if it was seen already (or is too old to tell).
    fn accept(&mut self, seq: u64) -> bool {
        if seq > self.max {
            if seq - self.max >= DEDUPE_WINDOW {
                self.bits = [0; (DEDUPE_WINDOW / 64) as usize];
            } else {
                for s in self.max + 1..seq {
                    let (w, b) = Self::bit(s);
                    self.bits[w] &= !b;
                }
            }
            self.max = seq;
        } else if self.max - seq >= DEDUPE_WINDOW {
            return false;
        } else {
            let (w, b) = Self::bit(seq);
            if self.bits[w] & b != 0 {
                return false;
            }
        }
        let (w, b) = Self::bit(seq);
        self.bits[w] |= b;
        true
    }
}

/// Drop the dedupe windows of sources silent for SEEN_EXPIRY (peers gone, restarted kernels):
/// the map holds only sources heard from recently, however many came and went.
fn forget_quiet_sources(seen: &mut HashMap<u64, SeenWindow>, now: Instant) {
    seen.retain(|_, w| now.duration_since(w.last_seen) < SEEN_EXPIRY);
}

/// Routing state, guarded by one lock so sequence numbers are assigned and packages enqueued
/// atomically (no reordering or loss between concurrent senders).
struct Router {
    send_seq: u64,
    recv_seq: u64,
    connections: Vec<Arc<ConnShared>>,
    /// Packages sent while no connection exists, per lane; the first connection takes them.
    startup_control: PackageQueue,
    startup_bulk: PackageQueue,
    seen: HashMap<u64, SeenWindow>,
    /// When `seen` was last swept of sources gone quiet.
    seen_swept: Instant,
}

/// Channels by slot hash: receivers get deliveries; senders are kept for collision checks.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) receivers: HashMap<u64, Registered>,
    pub(crate) senders: HashMap<u64, Registered>,
}

/// A channel in the registry.
pub(crate) struct Registered {
    pub(crate) channel: Weak<ChannelShared>,
    /// Its traffic is control traffic (request/reply, state). Kept here so routing can choose
    /// a lane without upgrading the channel: an upgraded handle dropped under the registry
    /// lock could be the last one, whose drop takes that lock again.
    pub(crate) control: bool,
}

/// Whether a publication of `len` bytes going to `connections` peers is copied into each
/// one's bulk lane (`lane.rs`) rather than made one package they all share: small bodies to a
/// few peers, where a copy each costs less than a shared package's object and its reference
/// counting across cores. Wider fan-out shares the package: each lane's copies count against
/// its own limits, so copies to 64 peers held 2-4x the publisher's memory (28 vs 13 MiB) for no
/// gain (0.97x in A/B pairs), while 64 B to 16 peers gained 12-17 %.
fn copies_into_lanes(len: usize, connections: usize) -> bool {
    const BODY_MAX: usize = 2048;
    const BYTES_MAX: usize = 2048;
    len <= BODY_MAX && (crate::protocol::header::HEADER_SIZE + len) * connections <= BYTES_MAX
}

/// The body of a package being sent: ready-made, or bytes to copy.
pub(crate) enum Payload<'a> {
    Body(Body),
    Copy(&'a [u8]),
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::Body(Body::Owned(v)) => v.len(),
            Payload::Body(Body::Shared(b)) => (**b).as_ref().len(),
            Payload::Copy(data) => data.len(),
        }
    }
}

/// One package this context routed (see [`Context::set_route_observer`]).
#[derive(Clone, Debug)]
pub struct RoutedPackage {
    /// The package as it arrived (header fields and body).
    pub package: PackageRef,
    /// The id of the peer context it arrived from (the direct link, not the source).
    pub from_peer: u64,
    /// It was broadcast or addressed to this context (whether a local channel took it or not).
    pub delivered: bool,
    /// How many other connections it was forwarded to.
    pub forwarded_to: usize,
}

/// A read-only observer of routed packages (monitoring tools, e.g. `yoton monitor`).
pub type RouteObserver = Arc<dyn Fn(&RoutedPackage) + Send + Sync>;

/// A dedupe window is dropped once its source has been silent this long: a source that comes
/// back later just starts a new window, and the map does not grow with every peer ever seen.
const SEEN_EXPIRY: Duration = Duration::from_secs(120);

pub(crate) struct ContextInner {
    pub(crate) id: u64,
    router: Mutex<Router>,
    pub(crate) registry: RwLock<Registry>,
    params: Mutex<QueueParams>,
    max_message_size: AtomicU64,
    discarded: AtomicU64,
    /// The discard mode is `Block` (read on every send without the params lock).
    blocking: AtomicBool,
    /// The I/O thread serving every socket of this context.
    pub(crate) reactor: Arc<ReactorHandle>,
    /// Replier threads (thread mode), joined (bounded) when the context goes.
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Rate limit of direct writes by sending callers (see `ConnShared::push`).
    direct_gate: DirectWriteGate,
    /// Ourselves, for the reactor's upcalls.
    me: Weak<ContextInner>,
    /// Loss-free mode: a peer nothing could be written to for this long while publications
    /// waited for it is disconnected (ms; 0: never).
    stall_timeout_ms: AtomicU64,
    /// Wakes threads waiting for a message on any of several channels (`select`).
    pub(crate) arrivals: Arrivals,
    /// Called (on the I/O thread, no lock held) for every package routed after deduplication.
    route_observer: RwLock<Option<RouteObserver>>,
}

/// A generation count bumped after every delivery batch, for waiting on several channels at
/// once. Costs nothing while nobody waits (one atomic load per batch).
#[derive(Default)]
pub(crate) struct Arrivals {
    generation: Mutex<u64>,
    changed: parking_lot::Condvar,
    waiters: std::sync::atomic::AtomicUsize,
}

impl Arrivals {
    pub(crate) fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            *self.generation.lock() += 1;
            self.changed.notify_all();
        }
    }

    /// The current generation, to pass to `wait_after`.
    pub(crate) fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Wait until a delivery after generation `seen`, or `deadline` (None: no limit). The
    /// caller registers first (`waiting`), then reads the generation, then checks its channels.
    pub(crate) fn wait_after(&self, seen: u64, deadline: Option<Instant>) {
        let mut generation = self.generation.lock();
        while *generation == seen {
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut generation, d).timed_out() {
                        return;
                    }
                }
                None => self.changed.wait(&mut generation),
            }
        }
    }

    /// Count the caller as a waiter while the guard lives.
    pub(crate) fn waiting(&self) -> impl Drop + '_ {
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(&self.waiters)
    }
}

/// Default of `Context::set_stall_timeout`.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

impl ContextInner {
    fn router(&self) -> MutexGuard<'_, Router> {
        self.router.lock()
    }

    pub(crate) fn queue_params(&self) -> QueueParams {
        *self.params.lock()
    }

    pub(crate) fn max_message_size(&self) -> u64 {
        self.max_message_size.load(Ordering::Relaxed)
    }

    /// A requester's RPC step went out (`req?`, a request): the reactor polls for the answer
    /// a little before it sleeps.
    pub(crate) fn expect_answer(&self) {
        self.reactor.expect_answer();
    }

    pub(crate) fn count_discarded(&self, n: usize) {
        if n > 0 {
            self.discarded.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    fn start_reactor(&self) -> Result<()> {
        let node: Weak<dyn Upcalls> = self.me.clone();
        self.reactor.ensure_started(node)
    }

    /// Take the routing lock for a publication: first wait (bounded, with the lock released)
    /// until the bulk lanes it is about to go to are below their soft limits. The check itself
    /// is a flag per connection. Never waits on the reactor's thread: it must not wait for
    /// itself.
    fn router_with_room(&self) -> MutexGuard<'_, Router> {
        let router = self.router();
        // (A bind waiting for its peer cannot drain: it never makes senders wait.)
        let congested = |c: &&Arc<ConnShared>| c.status() >= Status::Hosting && c.is_congested();
        if !router.connections.iter().any(|c| congested(&c)) || self.reactor.is_current_thread() {
            return router;
        }
        let waiting: Vec<Arc<ConnShared>> = router
            .connections
            .iter()
            .filter(congested)
            .cloned()
            .collect();
        drop(router);
        let deadline = Instant::now() + SEND_WAIT;
        for c in waiting {
            c.wait_for_room(deadline);
        }
        self.router()
    }

    /// Wait (at most until `deadline`) until the out-queue of every connection with a peer
    /// holds at most `packages` (a bind still waiting for its peer cannot drain: it never
    /// makes senders wait).
    pub(crate) fn drain_out_queues(&self, packages: usize, deadline: Instant) {
        if self.reactor.is_current_thread() {
            return;
        }
        let conns: Vec<Arc<ConnShared>> = self
            .router()
            .connections
            .iter()
            .filter(|c| c.status() >= Status::Hosting)
            .cloned()
            .collect();
        for c in conns {
            c.wait_until_below(packages, deadline);
        }
    }

    /// Originate a control package (context messages, request/reply, states, sync-mode
    /// words): never discarded, never waits.
    pub(crate) fn send(&self, slot: u64, dest_id: u64, dest_seq: u64, body: Vec<u8>) -> Result<()> {
        self.originate(
            slot,
            dest_id,
            dest_seq,
            Payload::Body(Body::Owned(nul_terminated(body))),
            Lane::Control,
        )
    }

    /// Originate a publication (bulk lane): waits for room first, bounded; in loss-free mode
    /// a lane still full after the wait refuses it.
    pub(crate) fn publish(&self, slot: u64, payload: Payload<'_>) -> Result<()> {
        self.originate(slot, 0, 0, payload, Lane::Bulk)
    }

    /// Assign the next seq and queue the package on every alive connection, or on the
    /// startup queue when there is none, all under the routing lock.
    fn originate(
        &self,
        slot: u64,
        dest_id: u64,
        dest_seq: u64,
        payload: Payload<'_>,
        lane: Lane,
    ) -> Result<()> {
        let len = payload.len();
        if len == 0 {
            // An empty body would read as a heartbeat/close package: never sent.
            return Ok(());
        }
        let max = self.max_message_size();
        if len as u64 > max {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("message of {len} bytes is above the maximum message size of {max} bytes"),
            ));
        }
        let mut router = if lane == Lane::Bulk {
            self.router_with_room()
        } else {
            self.router()
        };
        if lane == Lane::Bulk && self.blocking.load(Ordering::Relaxed) {
            // Loss-free mode: a lane that is still full after the wait refuses the package
            // (the same condition the wait waited for).
            // A bind still waiting for its peer never makes senders wait, but it does not grow
            // beyond its queue limits either.
            let stuck = router.connections.iter().any(|c| match c.status() {
                Status::Waiting => c.out().bulk.is_full(),
                status => status >= Status::Hosting && c.is_congested(),
            });
            let startup_full = router.connections.is_empty() && router.startup_bulk.is_full();
            if stuck || startup_full {
                return Err(Error::timeout("the message could not be queued within the send timeout (a peer is not reading)"));
            }
        }
        router.send_seq += 1;
        let header = Header {
            slot,
            source_id: self.id,
            source_seq: router.send_seq,
            dest_id,
            dest_seq,
            length: 0,
        };
        // A big publication to one idle peer goes straight from the caller's buffer to the
        // socket, as a program writing to a socket itself would: no copy, no thread hop. A
        // body beyond the CPU caches is not copied at all: the caller waits for the socket
        // (bounded, as any publication's wait for room), since copying it costs as much as
        // the write itself and competes with the kernel's copies for memory bandwidth.
        if let Payload::Copy(data) = payload {
            if lane == Lane::Bulk
                && data.len() > crate::connection::DIRECT_WRITE_LIMIT
                && !self.reactor.is_current_thread()
            {
                let mut alive = router.connections.iter().filter(|c| c.is_alive());
                if let (Some(conn), None) = (alive.next(), alive.next()) {
                    if let Some(stream) = conn.claim_writer() {
                        let conn = conn.clone();
                        // The seq is ours and the writer claimed: later packages queue behind it.
                        drop(router);
                        let finish_by =
                            (data.len() >= CALLER_FINISHES).then(|| Instant::now() + SEND_WAIT);
                        conn.write_claimed(stream, &header, data, finish_by, || {
                            crate::pool::package(&header, data)
                        });
                        return Ok(());
                    }
                }
            }
        }
        let alive = router.connections.iter().filter(|c| c.is_alive()).count();
        let dropped = match payload {
            Payload::Copy(data)
                if lane == Lane::Bulk && alive > 0 && copies_into_lanes(data.len(), alive) =>
            {
                // Copied into each connection's bulk lane as wire bytes (`lane.rs`): no
                // package object per message.
                let mut direct = self.direct_gate.ticket(alive);
                router
                    .connections
                    .iter()
                    .filter(|c| c.is_alive())
                    .map(|c| c.push(Outbound::Copy(&header, data), lane, &mut direct))
                    .sum()
            }
            Payload::Copy(data) => {
                let pkg = crate::pool::package(&header, data);
                self.queue_shared(&mut router, pkg, lane, alive)
            }
            Payload::Body(body) => {
                let pkg = PackageRef::new(Package::with_body(&header, body));
                self.queue_shared(&mut router, pkg, lane, alive)
            }
        };
        drop(router);
        self.count_discarded(dropped);
        Ok(())
    }

    /// Queue one package on every alive connection (`alive` of them), or on the startup queue
    /// when there is none; returns the packages dropped.
    fn queue_shared(
        &self,
        router: &mut Router,
        pkg: PackageRef,
        lane: Lane,
        alive: usize,
    ) -> usize {
        let mut dropped = 0;
        if alive == 0 {
            let startup = match lane {
                Lane::Control => &mut router.startup_control,
                Lane::Bulk => &mut router.startup_bulk,
            };
            dropped += startup.push(pkg).dropped();
        } else {
            let mut direct = self.direct_gate.ticket(alive);
            // The last connection gets the package itself: a clone and a drop of its count
            // are two atomic operations on a line that was last written on another core.
            let mut pkg = Some(pkg);
            let mut targets = router
                .connections
                .iter()
                .filter(|c| c.is_alive())
                .peekable();
            while let Some(c) = targets.next() {
                let p = if targets.peek().is_some() {
                    pkg.clone()
                } else {
                    pkg.take()
                };
                if let Some(p) = p {
                    dropped += c.push(Outbound::Package(p), lane, &mut direct);
                }
            }
        }
        dropped
    }

    /// The lane a package that arrived is forwarded in: what is addressed to one context
    /// (requests, replies, acknowledgements) and what our own control channels use travels
    /// as control; unknown broadcasts as bulk.
    fn forward_lane(&self, registry: &Registry, pkg: &PackageRef) -> Lane {
        if pkg.dest_id() != 0 || pkg.slot() == SLOT_CONTEXT {
            return Lane::Control;
        }
        let control_channel =
            |map: &HashMap<u64, Registered>| map.get(&pkg.slot()).is_some_and(|r| r.control);
        if control_channel(&registry.receivers) || control_channel(&registry.senders) {
            Lane::Control
        } else {
            Lane::Bulk
        }
    }

    /// Route packages that arrived on `from`: deduplicate, forward, deliver. Returns what
    /// must drain before more is read from `from` (loss-free mode).
    fn route_batch(
        &self,
        from: &Arc<ConnShared>,
        mut batch: Vec<PackageRef>,
    ) -> Vec<Arc<dyn Blocker>> {
        // A context message (NEW_CONNECTION: state channels re-send) is handled before anything
        // that arrived after it is delivered, so a message sent after it is seen after its effect.
        let mut blockers = Vec::new();
        while let Some(at) = batch.iter().position(|p| p.slot() == SLOT_CONTEXT) {
            if at + 1 == batch.len() {
                break;
            }
            let rest = batch.split_off(at + 1);
            blockers.extend(self.route_in_order(from, batch));
            batch = rest;
        }
        blockers.extend(self.route_in_order(from, batch));
        blockers
    }

    /// Remove what must not be routed: our own packages coming back round a loop and
    /// packages seen before.
    fn drop_duplicates(&self, router: &mut Router, batch: &mut Vec<PackageRef>) {
        batch.retain(|p| p.source_id() != self.id && p.source_seq() != 0);
        let now = Instant::now();
        if now.duration_since(router.seen_swept) > SEEN_EXPIRY / 4 {
            forget_quiet_sources(&mut router.seen, now);
            router.seen_swept = now;
        }
        let Some(first) = batch.first().map(|p| p.source_id()) else {
            return;
        };
        let seen = &mut router.seen;
        if batch.iter().all(|p| p.source_id() == first) {
            // The usual batch (one peer streaming): one window lookup, not one per package.
            let window = seen.entry(first).or_insert_with(|| SeenWindow::new(now));
            window.last_seen = now;
            batch.retain(|p| window.accept(p.source_seq()));
        } else {
            batch.retain(|p| {
                let window = seen
                    .entry(p.source_id())
                    .or_insert_with(|| SeenWindow::new(now));
                window.last_seen = now;
                window.accept(p.source_seq())
            });
        }
    }

    /// `route_batch` for a batch whose context messages (if any) are all at its end. The
    /// routing lock covers dedupe, sequence numbers and forwarding; deliveries to channels
    /// happen after it is released (a channel may send while it takes a delivery), in order,
    /// since one reactor thread routes everything of this context.
    fn route_in_order(
        &self,
        from: &Arc<ConnShared>,
        mut batch: Vec<PackageRef>,
    ) -> Vec<Arc<dyn Blocker>> {
        let mut context_messages = Vec::new();
        let mut deliveries: Vec<(Arc<ChannelShared>, Vec<PackageRef>)> = Vec::new();
        let mut blockers: Vec<Arc<dyn Blocker>> = Vec::new();
        let mut dropped = 0;
        let mut forwarded_bulk = false;
        let observer = self.route_observer.read().clone();
        let from_peer = if observer.is_some() {
            from.state().endpoints.id2
        } else {
            0
        };
        let mut observed = Vec::new();
        {
            let registry = self.registry.read();
            let mut router = self.router();
            let targets: Vec<Arc<ConnShared>> = router
                .connections
                .iter()
                .filter(|c| !Arc::ptr_eq(c, from) && c.is_alive())
                .cloned()
                .collect();
            self.drop_duplicates(&mut router, &mut batch);
            let mut left = batch.len();
            for pkg in batch {
                left -= 1;
                let forward = pkg.dest_id() != self.id;
                let deliver = pkg.dest_id() == 0 || pkg.dest_id() == self.id;
                if deliver {
                    router.recv_seq += 1;
                    pkg.set_recv_seq(router.recv_seq);
                }
                if observer.is_some() {
                    observed.push(RoutedPackage {
                        package: pkg.clone(),
                        from_peer,
                        delivered: deliver,
                        forwarded_to: if forward { targets.len() } else { 0 },
                    });
                }
                if forward && !targets.is_empty() {
                    let lane = self.forward_lane(&registry, &pkg);
                    forwarded_bulk |= lane == Lane::Bulk;
                    let mut direct = self.direct_gate.ticket(targets.len());
                    for c in &targets {
                        dropped += c.push(Outbound::Package(pkg.clone()), lane, &mut direct);
                    }
                }
                if !deliver {
                    continue;
                }
                if pkg.slot() == SLOT_CONTEXT {
                    context_messages.push(pkg);
                    continue;
                }
                let same_as_last = deliveries
                    .last()
                    .is_some_and(|(c, _)| c.slot_in.hash == pkg.slot());
                if same_as_last {
                    deliveries.last_mut().expect("checked").1.push(pkg);
                } else if let Some((_, list)) = deliveries
                    .iter_mut()
                    .find(|(c, _)| c.slot_in.hash == pkg.slot())
                {
                    list.push(pkg);
                } else if let Some(channel) = registry
                    .receivers
                    .get(&pkg.slot())
                    .and_then(|r| r.channel.upgrade())
                {
                    // Most batches go to one channel: room for the rest of it at once.
                    let mut list = Vec::with_capacity(left + 1);
                    list.push(pkg);
                    deliveries.push((channel, list));
                }
            }
            // Loss-free mode: forwarding bulk data into a congested lane pauses reading from
            // `from` (control traffic never congests a lane).
            if forwarded_bulk && self.blocking.load(Ordering::Relaxed) {
                for c in targets.iter().filter(|c| c.is_congested()) {
                    blockers.push(c.clone());
                }
            }
        }
        for (channel, packages) in &mut deliveries {
            dropped += channel.deliver_all(std::mem::take(packages));
        }
        if !deliveries.is_empty() {
            self.arrivals.notify();
        }
        self.count_discarded(dropped);
        // Let each channel that got something react, once per batch; in loss-free mode a
        // full channel pauses reading from `from` until it has room again.
        for (channel, _) in &deliveries {
            channel.after_delivery();
            if channel.pause_reader_if_full() {
                blockers.push(channel.clone());
            }
        }
        // Channel handles upgraded here are dropped only now, with no lock held: the last
        // handle's drop unregisters the channel, which takes the registry lock.
        drop(deliveries);
        for pkg in context_messages {
            self.handle_context_message(from, &pkg);
        }
        if let Some(observer) = observer {
            for routed in &observed {
                observer(routed);
            }
        }
        blockers
    }

    fn handle_context_message(&self, from: &Arc<ConnShared>, pkg: &PackageRef) {
        match std::str::from_utf8(pkg.body()) {
            Ok(NEW_CONNECTION) => {
                for channel in self.channels() {
                    channel.on_new_connection();
                }
            }
            Ok(CLOSE_CONNECTION) => {
                // The original's intent (its handler crashes): drop the direct link to the sender.
                let direct = from.state().endpoints.id2 == pkg.source_id();
                if direct {
                    from.close_on_problem("Closed on request of the other end (CLOSE_CONNECTION).");
                }
            }
            // Unknown or undecodable context messages are ignored (the original prints them).
            _ => {}
        }
    }

    /// Every live channel (each once), collected so callers can act without the registry lock.
    pub(crate) fn channels(&self) -> Vec<Arc<ChannelShared>> {
        let registry = self.registry.read();
        registry
            .senders
            .values()
            .filter_map(|r| r.channel.upgrade())
            .collect()
    }

    /// Connections with a peer.
    pub(crate) fn connected_count(&self) -> usize {
        self.router()
            .connections
            .iter()
            .filter(|c| c.status() >= Status::Hosting)
            .count()
    }

    /// Start the channel housekeeping (req/rep resends and auto-cancel, sync-mode resends):
    /// the reactor runs it every 100 ms from now on.
    pub(crate) fn ensure_ticker(&self) {
        if self.start_reactor().is_ok() {
            self.reactor.send(Command::Tick);
        }
    }

    /// A new connection; the startup queues move into it if it is the first.
    fn adopt_connection(&self, conn: &Arc<ConnShared>) {
        let mut router = self.router();
        let mut queued: Vec<(Lane, PackageRef)> = router
            .startup_control
            .drain_all()
            .into_iter()
            .map(|p| (Lane::Control, p))
            .collect();
        queued.extend(
            router
                .startup_bulk
                .drain_all()
                .into_iter()
                .map(|p| (Lane::Bulk, p)),
        );
        if !queued.is_empty() {
            // In the order they were sent (all are ours: sequence order).
            queued.sort_by_key(|(_, p)| p.source_seq());
            let mut out = conn.out();
            for (lane, pkg) in queued {
                match lane {
                    Lane::Control => out.push_control(pkg),
                    Lane::Bulk => out.push_bulk_unbounded(pkg),
                }
            }
            conn.lanes_changed(&out);
        }
        router.connections.push(conn.clone());
    }

    fn connections_where(&self, keep: impl Fn(Status) -> bool) -> Vec<Connection> {
        self.router()
            .connections
            .iter()
            .filter(|c| keep(c.status()))
            .map(|c| Connection { shared: c.clone() })
            .collect()
    }

    /// A replier thread of this context: joined (bounded) when the context goes.
    pub(crate) fn track_thread(&self, handle: std::thread::JoinHandle<()>) {
        let mut threads = self.threads.lock();
        // Forget threads that are done, so long-lived contexts do not accumulate handles.
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
    }

    /// Wait until `deadline` for the tracked threads to end; any still running then (a
    /// handler that does not return) are left detached rather than hanging the caller.
    fn join_threads(&self, deadline: Instant) {
        let threads = std::mem::take(&mut *self.threads.lock());
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() == me {
                continue;
            }
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }

    /// Close every connection against one shared deadline (not one after another).
    pub(crate) fn close_all(&self) {
        let conns: Vec<Arc<ConnShared>> = self.router().connections.clone();
        let closing: Vec<Arc<ConnShared>> = conns
            .into_iter()
            .filter(|c| c.begin_close(reasons::BY_CONTEXT))
            .collect();
        for c in &closing {
            if !self.reactor.send(Command::Close {
                conn: c.clone(),
                tell_peer: true,
            }) {
                self.forget(c, c.finish_close(reasons::BY_CONTEXT), reasons::BY_CONTEXT);
            }
        }
        let deadline = Instant::now() + CLOSE_WAIT;
        for c in &closing {
            c.wait_closed(deadline);
        }
        self.close_channels();
    }

    pub(crate) fn close_channels(&self) {
        let channels: Vec<Arc<ChannelShared>> = {
            let registry = self.registry.read();
            registry
                .receivers
                .values()
                .chain(registry.senders.values())
                .filter_map(|r| r.channel.upgrade())
                .collect()
        };
        for channel in channels {
            channel.close();
        }
    }

    /// Drop a closed connection from the routing list and tell the channels that its peer
    /// is gone (requests it was running cannot be answered any more).
    fn forget(&self, conn: &Arc<ConnShared>, peer_id: u64, reason: &str) {
        self.router().connections.retain(|c| !Arc::ptr_eq(c, conn));
        if peer_id != 0 {
            for channel in self.channels() {
                channel.on_peer_lost(peer_id, reason);
            }
        }
    }
}

impl Upcalls for ContextInner {
    fn route(&self, from: &Arc<ConnShared>, batch: Vec<PackageRef>) -> Vec<Arc<dyn Blocker>> {
        self.route_batch(from, batch)
    }

    fn connection_closed(&self, conn: &Arc<ConnShared>, peer_id: u64, reason: &str) {
        self.forget(conn, peer_id, reason);
    }

    fn tick(&self) {
        for channel in self.channels() {
            channel.tick();
        }
    }

    fn max_message_size(&self) -> u64 {
        ContextInner::max_message_size(self)
    }

    fn stall_timeout(&self) -> Option<Duration> {
        let ms = self.stall_timeout_ms.load(Ordering::Relaxed);
        (self.blocking.load(Ordering::Relaxed) && ms > 0).then(|| Duration::from_millis(ms))
    }
}

/// How long `Context::close` waits for all connections to finish closing (together).
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How long dropping the last handle waits for the reactor and replier threads to end.
const SHUTDOWN_WAIT: Duration = Duration::from_millis(1500);

/// Closes the context when the last user handle goes away.
struct Owner(Arc<ContextInner>);

impl Drop for Owner {
    fn drop(&mut self) {
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        self.0.close_channels();
        // Every connection closes against one deadline inside the reactor, then it ends.
        self.0.reactor.shutdown(SHUTDOWN_WAIT);
        // Connections the reactor never saw (it was not running) close here.
        let left: Vec<Arc<ConnShared>> = self.0.router().connections.clone();
        for c in left {
            c.begin_close(reasons::BY_CONTEXT);
            let peer = c.finish_close(reasons::BY_CONTEXT);
            self.0.forget(&c, peer, reasons::BY_CONTEXT);
        }
        self.0.join_threads(deadline);
    }
}

/// A node of a yoton network. Cloning gives another handle to the same context; when the last
/// handle is dropped the context closes its connections and channels.
#[derive(Clone)]
pub struct Context {
    owner: Arc<Owner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context({})", self.id_text())
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl Context {
    /// A new context with a fresh random id and the default queue parameters. Its I/O
    /// thread starts with the first bind, connect or request/reply channel.
    pub fn new() -> Context {
        let params = QueueParams::default();
        let inner = Arc::new_cyclic(|me| ContextInner {
            id: new_context_id(),
            router: Mutex::new(Router {
                send_seq: 0,
                recv_seq: 0,
                connections: Vec::new(),
                startup_control: PackageQueue::new(params),
                startup_bulk: PackageQueue::new(params),
                seen: HashMap::new(),
                seen_swept: Instant::now(),
            }),
            registry: RwLock::new(Registry::default()),
            params: Mutex::new(params),
            max_message_size: AtomicU64::new(DEFAULT_MAX_MESSAGE_SIZE),
            discarded: AtomicU64::new(0),
            blocking: AtomicBool::new(false),
            reactor: ReactorHandle::new(),
            threads: Mutex::new(Vec::new()),
            direct_gate: DirectWriteGate::default(),
            me: me.clone(),
            stall_timeout_ms: AtomicU64::new(DEFAULT_STALL_TIMEOUT.as_millis() as u64),
            arrivals: Arrivals::default(),
            route_observer: RwLock::new(None),
        });
        Context {
            owner: Arc::new(Owner(inner)),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<ContextInner> {
        &self.owner.0
    }

    /// The 64-bit id of this context (never 0).
    pub fn id(&self) -> u64 {
        self.inner().id
    }

    /// The id as 16 lowercase hex digits (the handshake form).
    pub fn id_text(&self) -> String {
        format!("{:016x}", self.id())
    }

    /// Host a connection at `address`, trying up to `max_tries` ports. Returns at once
    /// with a *waiting* connection; the first peer to complete the handshake is accepted.
    /// Packages sent meanwhile are queued on it.
    pub fn bind(&self, address: &str, max_tries: u32, name: Option<&str>) -> Result<Connection> {
        let addr = parse_address(address)?;
        let inner = self.inner();
        inner.start_reactor()?;
        let listener = tcp::listen(&addr, max_tries)?;
        let conn = ConnShared::new(
            inner.id,
            inner.reactor.clone(),
            name.unwrap_or(""),
            inner.queue_params(),
        );
        {
            let mut st = conn.state();
            let (host, port) = tcp::socket_name(listener.local_addr().ok());
            st.endpoints.hostname1 = host;
            st.endpoints.port1 = port;
        }
        inner.adopt_connection(&conn);
        if !inner.reactor.send(Command::Listen {
            conn: conn.clone(),
            listener,
        }) {
            conn.begin_close(reasons::BY_CONTEXT);
            let peer = conn.finish_close(reasons::BY_CONTEXT);
            inner.forget(&conn, peer, reasons::BY_CONTEXT);
            return Err(Error::closed("the context is closed"));
        }
        Ok(Connection { shared: conn })
    }

    /// Connect to a context hosting at `address`, retrying for up to `timeout`, then run the
    /// handshake (at most 2 s more). On success the connection is *connected* and a
    /// `NEW_CONNECTION` message goes out to the network.
    pub fn connect(
        &self,
        address: &str,
        timeout: Duration,
        name: Option<&str>,
    ) -> Result<Connection> {
        let addr = parse_address(address)?;
        let inner = self.inner();
        inner.start_reactor()?;
        // Retry within the timeout when the host drops us mid-handshake: it evicts the oldest
        // candidate when flooded, so a later attempt can get through (issue 10 item 1).
        let deadline = Instant::now() + timeout;
        let pause = tcp::retry_pause(timeout);
        let (stream, id2, pid2) = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let stream = tcp::connect(&addr, left)?;
            match tcp::client_handshake(&stream, inner.id, std::process::id() as u64)? {
                Answer::Accepted { id, pid } => break (stream, id, pid),
                Answer::Dropped if Instant::now() + pause < deadline => thread::sleep(pause),
                Answer::Dropped => {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("Could not connect: {}", tcp::HOST_DROPPED_US),
                    ))
                }
            }
        };
        tcp::prepare_stream(&stream);
        let stream = Arc::new(stream);
        let conn = ConnShared::new(
            inner.id,
            inner.reactor.clone(),
            name.unwrap_or(""),
            inner.queue_params(),
        );
        conn.attach(stream.clone(), id2, pid2, Status::Connected);
        inner.adopt_connection(&conn);
        if !inner.reactor.send(Command::Adopt {
            conn: conn.clone(),
            stream,
        }) {
            conn.begin_close(reasons::BY_CONTEXT);
            let peer = conn.finish_close(reasons::BY_CONTEXT);
            inner.forget(&conn, peer, reasons::BY_CONTEXT);
            return Err(Error::closed("the context is closed"));
        }
        // The connection exists now, whatever happens to this announcement.
        let _ = inner.send(SLOT_CONTEXT, 0, 0, body_from(NEW_CONNECTION.as_bytes()));
        Ok(Connection { shared: conn })
    }

    /// Close every connection ("Closed by the context.") and every channel. The context stays
    /// usable: it can bind or connect again.
    pub fn close(&self) {
        self.inner().close_all();
    }

    /// Close every channel, keep the connections.
    pub fn close_channels(&self) {
        self.inner().close_channels();
    }

    /// Wait until every connected connection has written what is queued, within `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for c in self.connections() {
            c.flush(deadline.saturating_duration_since(Instant::now()))?;
        }
        Ok(())
    }

    /// Connections with a peer (hosting or connected).
    pub fn connections(&self) -> Vec<Connection> {
        self.inner().connections_where(|s| s >= Status::Hosting)
    }

    /// Connections with a peer plus those still waiting for one.
    pub fn connections_all(&self) -> Vec<Connection> {
        self.inner().connections_where(|s| s >= Status::Waiting)
    }

    /// Number of connections with a peer.
    pub fn connection_count(&self) -> usize {
        self.connections().len()
    }

    /// The first alive connection (waiting ones included) with this name.
    pub fn connection_by_name(&self, name: &str) -> Option<Connection> {
        self.connections_all()
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// Queue limits for the startup queue, channel queues and connection out-queues created
    /// from now on (the startup queue is updated at once).
    pub fn set_queue_params(&self, params: QueueParams) -> Result<()> {
        params.validate()?;
        *self.inner().params.lock() = params;
        self.inner()
            .blocking
            .store(params.discard == Discard::Block, Ordering::Relaxed);
        let mut router = self.inner().router();
        router.startup_control.set_params(params);
        router.startup_bulk.set_params(params);
        Ok(())
    }

    pub fn queue_params(&self) -> QueueParams {
        self.inner().queue_params()
    }

    /// Packages dropped so far by the discard policy of any of this context's queues.
    pub fn discarded(&self) -> u64 {
        self.inner().discarded.load(Ordering::Relaxed)
    }

    /// Largest body accepted from peers and allowed in sends. A peer announcing more is
    /// disconnected ("Lost track of the stream: ..."), with nothing allocated for it.
    pub fn set_max_message_size(&self, bytes: u64) -> Result<()> {
        if bytes < MIN_MAX_MESSAGE_SIZE {
            return Err(Error::invalid(format!(
                "the maximum message size must be at least {MIN_MAX_MESSAGE_SIZE} bytes (context messages and handshake traffic must fit)"
            )));
        }
        self.inner()
            .max_message_size
            .store(bytes, Ordering::Relaxed);
        Ok(())
    }

    pub fn max_message_size(&self) -> u64 {
        self.inner().max_message_size()
    }

    /// Packages waiting in the startup queue (sent while no connection existed).
    pub fn startup_queued(&self) -> usize {
        let router = self.inner().router();
        router.startup_control.len() + router.startup_bulk.len()
    }

    /// How long the I/O thread keeps polling instead of sleeping after a requester's
    /// request/reply step (default 50 µs; zero turns it off). Lower round-trip latency for
    /// some CPU; repliers never poll.
    pub fn set_rpc_spin(&self, spin: Duration) -> Result<()> {
        if spin > Duration::from_millis(10) {
            return Err(Error::invalid("the RPC spin must be at most 10 ms"));
        }
        self.inner().reactor.set_spin(spin);
        Ok(())
    }

    pub fn rpc_spin(&self) -> Duration {
        self.inner().reactor.spin()
    }

    /// Watch every package this context routes (after deduplication; its own sends are not
    /// included): `observer` is called on the I/O thread with no lock held, so it must be
    /// quick and must not block. None removes it. Read-only: it cannot change routing.
    pub fn set_route_observer(&self, observer: Option<RouteObserver>) {
        *self.inner().route_observer.write() = observer;
    }

    /// Loss-free mode (`Discard::Block`): a peer that nothing could be written to for
    /// `timeout` while publications waited for it is disconnected ("The other end does not
    /// read ..."), so that one stalled peer stops the publications to everyone else for a
    /// bounded time only. None: never. Default 10 s; at least 0.5 s. No effect in other modes,
    /// where a full queue discards instead.
    pub fn set_stall_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let ms = match timeout {
            None => 0,
            Some(t) if t >= Duration::from_millis(500) => {
                t.as_millis().min(u64::MAX as u128) as u64
            }
            Some(t) => {
                return Err(Error::invalid(format!(
                    "the stall timeout must be at least 0.5 s (got {t:?})"
                )))
            }
        };
        self.inner().stall_timeout_ms.store(ms, Ordering::Relaxed);
        Ok(())
    }

    pub fn stall_timeout(&self) -> Option<Duration> {
        let ms = self.inner().stall_timeout_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> SeenWindow {
        SeenWindow::new(Instant::now())
    }

    #[test]
    fn window_accepts_each_seq_once_even_out_of_order() {
        let mut w = window();
        assert!(w.accept(1));
        assert!(w.accept(3));
        assert!(!w.accept(3));
        assert!(w.accept(2), "a late package not seen yet is delivered");
        assert!(!w.accept(2));
        assert!(!w.accept(1));
        assert!(w.accept(5000));
        assert!(
            !w.accept(5000 - DEDUPE_WINDOW),
            "older than the window counts as seen"
        );
        assert!(w.accept(5000 - DEDUPE_WINDOW + 1));
        assert!(!w.accept(4));
    }

    #[test]
    fn window_wraps_its_ring_correctly() {
        let mut w = window();
        for seq in (1..=3000).step_by(2) {
            assert!(w.accept(seq));
        }
        // Even seqs inside the window are new; re-sending odd ones is a duplicate.
        for seq in (3000 - DEDUPE_WINDOW + 2..3000).step_by(2) {
            assert!(w.accept(seq), "{seq}");
            assert!(!w.accept(seq + 1), "{}", seq + 1);
        }
    }

    #[test]
    fn dedupe_windows_of_quiet_sources_expire() {
        let start = Instant::now();
        let mut seen = HashMap::new();
        // 6000 peers come and go (kernels restarting all day), one still talks.
        for id in 0..6000u64 {
            seen.insert(id, SeenWindow::new(start));
        }
        let later = start + SEEN_EXPIRY + Duration::from_secs(1);
        seen.get_mut(&7).unwrap().last_seen = later;
        forget_quiet_sources(&mut seen, later);
        assert_eq!(seen.len(), 1);
        assert!(seen.contains_key(&7));
    }

    #[test]
    fn context_ids_are_unique_and_non_zero() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| new_context_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
        let a = new_context_id();
        let b = new_context_id();
        assert!(b >> 32 > a >> 32, "the time part strictly increases");
    }
}
