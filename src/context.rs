//! The context: a node of a yoton network. It owns the connections and the channel registry,
//! assigns sequence numbers, queues packages while unconnected, and routes what arrives
//! (deduplicate, forward, deliver) — §6 of PROTOCOL.md, with the robust handling of §13.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use parking_lot::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::channels::ChannelShared;
use crate::connection::{reasons, ConnShared, Connection, DirectWriteGate, Status};
use crate::error::{Error, ErrorKind, Result};
use crate::package::{body_from, nul_terminated, Body, Package, PackageRef};
use crate::protocol::address::parse_address;
use crate::protocol::header::{Header, SLOT_CONTEXT};
use crate::queue::PackageQueue;
pub use crate::queue::{Discard, QueueParams};
use crate::transport::tcp;

/// Context message sent by the connecting side after a connect (§6.7).
pub const NEW_CONNECTION: &str = "NEW_CONNECTION";
/// Context message asking the direct peer to drop the link (never sent by us, §6.7).
pub const CLOSE_CONNECTION: &str = "CLOSE_CONNECTION";
/// Default maximum body size accepted from a peer (and sent): bigger packages close the link.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 256 << 20;
/// Smallest allowed maximum message size: protocol traffic (context messages, req/rep control)
/// must always fit.
pub const MIN_MAX_MESSAGE_SIZE: u64 = 1024;
/// How long a send, or a forward, waits for a congested connection before queueing anyway.
const SEND_WAIT: Duration = Duration::from_secs(1);
/// Soft out-queue limits: above them senders wait (back-pressure), below them they never do.
const DEFAULT_SOFT_PACKAGES: usize = 4096;
const DEFAULT_SOFT_BYTES: usize = 8 << 20;
/// Period of the housekeeping thread.
const TICK: Duration = Duration::from_millis(100);
/// Sliding deduplication window (§13 #8): late packages within it are still accepted once.
const DEDUPE_WINDOW: u64 = 1024;

/// A new context id: `(milliseconds << 32) | random`, strictly increasing time part, never 0.
fn new_context_id() -> u64 {
    static LAST_TIME: Mutex<u64> = Mutex::new(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0) & 0xFFFF_FFFF;
    let t = {
        let mut last = LAST_TIME.lock();
        let t = if now > *last { now } else { (*last + 1) & 0xFFFF_FFFF };
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
#[derive(Default)]
struct SeenWindow {
    max: u64,
    bits: [u64; (DEDUPE_WINDOW / 64) as usize],
}

impl SeenWindow {
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

/// Routing state, guarded by one lock so sequence numbers are assigned and packages enqueued
/// atomically (§13 #7, #20).
struct Router {
    send_seq: u64,
    recv_seq: u64,
    connections: Vec<Arc<ConnShared>>,
    startup: PackageQueue,
    seen: HashMap<u64, SeenWindow>,
}

/// Channels by slot hash: receivers get deliveries; senders are kept for collision checks.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) receivers: HashMap<u64, Weak<ChannelShared>>,
    pub(crate) senders: HashMap<u64, Weak<ChannelShared>>,
}

/// The body of a package being sent: ready-made, or bytes to copy.
pub(crate) enum Payload<'a> {
    Body(Body),
    Copy(&'a [u8]),
}

/// How long receiving threads busy-poll after an RPC step (see `expect_answer`).
const BUSY_POLL_NS: u64 = 150_000;

pub(crate) struct ContextInner {
    pub(crate) id: u64,
    router: Mutex<Router>,
    pub(crate) registry: RwLock<Registry>,
    params: Mutex<QueueParams>,
    max_message_size: AtomicU64,
    discarded: AtomicU64,
    ticker_started: AtomicBool,
    /// The discard mode is `Block` (read on every send without the params lock).
    blocking: AtomicBool,
    /// IO and accept threads, joined (bounded) when the last user handle goes away, so no
    /// thread of ours outlives the context (a host may unload the library right after).
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// A user handle still exists (the ticker stops once the last one is gone).
    owned: AtomicBool,
    /// Rate limit of direct writes by sending callers (see `ConnShared::push`).
    direct_gate: DirectWriteGate,
    /// Until when (ns, `crate::connection::now_ns`) receiving threads busy-poll before they
    /// block: a request/reply step was just sent and its answer is due within a round trip.
    busy_poll_until_ns: AtomicU64,
}

impl ContextInner {
    fn router(&self) -> MutexGuard<'_, Router> {
        self.router.lock()
    }

    pub(crate) fn queue_params(&self) -> QueueParams {
        *self.params.lock()
    }

    pub(crate) fn soft_limits(&self) -> (usize, usize) {
        (DEFAULT_SOFT_PACKAGES, DEFAULT_SOFT_BYTES)
    }

    pub(crate) fn max_message_size(&self) -> u64 {
        self.max_message_size.load(Ordering::Relaxed)
    }

    /// An RPC step went out (`req?`, `req!`, a request): its answer usually arrives within a
    /// round trip, so the receiving threads poll for it a little before they sleep. A wake-up
    /// on this machine costs 10-30 µs; each RPC call has three such waits.
    pub(crate) fn expect_answer(&self) {
        self.busy_poll_until_ns.fetch_max(crate::connection::now_ns() + BUSY_POLL_NS, Ordering::Relaxed);
    }

    /// Deadline of the current busy-poll window (ns), if one is open.
    pub(crate) fn busy_poll_until(&self) -> Option<u64> {
        let until = self.busy_poll_until_ns.load(Ordering::Relaxed);
        (until > crate::connection::now_ns()).then_some(until)
    }

    pub(crate) fn count_discarded(&self, n: usize) {
        if n > 0 {
            self.discarded.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Wait (bounded) until the out-queues we are about to push to are below their soft limits.
    /// The check itself is lock-free per connection; only congested ones are waited on.
    fn wait_for_space<'a>(&'a self, router: MutexGuard<'a, Router>, except: Option<&Arc<ConnShared>>) -> MutexGuard<'a, Router> {
        let congested = |c: &&Arc<ConnShared>| except.map_or(true, |e| !Arc::ptr_eq(c, e)) && c.is_congested();
        if !router.connections.iter().any(|c| congested(&c)) {
            return router;
        }
        let waiting: Vec<Arc<ConnShared>> = router.connections.iter().filter(congested).cloned().collect();
        drop(router);
        let deadline = Instant::now() + SEND_WAIT;
        for c in waiting {
            c.wait_for_space(deadline);
        }
        self.router()
    }

    /// Wait (at most until `deadline`) until every out-queue holds at most `packages`.
    pub(crate) fn drain_out_queues(&self, packages: usize, deadline: Instant) {
        let conns: Vec<Arc<ConnShared>> = self.router().connections.clone();
        for c in conns {
            c.wait_until_below(packages, deadline);
        }
    }

    /// Originate a package: assign the next seq and enqueue it on every alive connection, or on
    /// the startup queue when there is none (§6.3), all under the routing lock.
    pub(crate) fn send(&self, slot: u64, dest_id: u64, dest_seq: u64, body: Vec<u8>) -> Result<()> {
        self.send_body(slot, dest_id, dest_seq, Payload::Body(Body::Owned(nul_terminated(body))))
    }

    /// `send` of a copy of `data` (into a recycled package when it is small: `pool`).
    pub(crate) fn send_copy(&self, slot: u64, dest_id: u64, dest_seq: u64, data: &[u8]) -> Result<()> {
        self.send_body(slot, dest_id, dest_seq, Payload::Copy(data))
    }

    /// `send` for any payload (a zero-copy body included).
    pub(crate) fn send_body(&self, slot: u64, dest_id: u64, dest_seq: u64, payload: Payload<'_>) -> Result<()> {
        let len = match &payload {
            Payload::Body(Body::Owned(v)) => v.len(),
            Payload::Body(Body::Shared(b)) => (**b).as_ref().len(),
            Payload::Copy(data) => data.len(),
        };
        if len == 0 {
            // An empty body would read as a heartbeat/close package (§2.2): never sent.
            return Ok(());
        }
        let max = self.max_message_size();
        if len as u64 > max {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("message of {len} bytes is above the maximum message size of {max} bytes"),
            ));
        }
        let mut router = self.wait_for_space(self.router(), None);
        if self.blocking.load(Ordering::Relaxed) {
            // Loss-free mode: a queue that is still full after the wait refuses the package.
            let stuck = router.connections.iter().any(|c| c.is_alive() && c.is_congested());
            let startup_full = router.connections.is_empty() && router.startup.is_full();
            if stuck || startup_full {
                return Err(Error::timeout("the message could not be queued within the send timeout (a peer is not reading)"));
            }
        }
        router.send_seq += 1;
        let header = Header { slot, source_id: self.id, source_seq: router.send_seq, dest_id, dest_seq, length: 0 };
        let pkg = match payload {
            Payload::Body(body) => Arc::new(Package::with_body(&header, body)),
            Payload::Copy(data) => crate::pool::package(&header, data),
        };
        let mut dropped = 0;
        let mut sent = false;
        let fanout = router.connections.iter().filter(|c| c.is_alive()).count();
        let mut direct = self.direct_gate.ticket(fanout);
        for c in router.connections.iter().filter(|c| c.is_alive()) {
            dropped += c.push(pkg.clone(), &mut direct);
            sent = true;
        }
        if !sent {
            dropped += router.startup.push(pkg).dropped();
        }
        drop(router);
        self.count_discarded(dropped);
        Ok(())
    }

    /// Route packages that arrived on `from` (§6.5): deduplicate, forward, deliver.
    pub(crate) fn route_batch(&self, from: &Arc<ConnShared>, mut batch: Vec<PackageRef>) {
        // A context message (NEW_CONNECTION: state channels re-send) is handled before anything
        // that arrived after it is delivered, so a message sent after it is seen after its effect.
        while let Some(at) = batch.iter().position(|p| p.slot == SLOT_CONTEXT) {
            if at + 1 == batch.len() {
                break;
            }
            let rest = batch.split_off(at + 1);
            self.route_in_order(from, batch);
            batch = rest;
        }
        self.route_in_order(from, batch);
    }

    /// Remove what must not be routed: our own packages coming back round a loop (§13 #9) and
    /// packages seen before (§6.5).
    fn drop_duplicates(&self, seen: &mut HashMap<u64, SeenWindow>, batch: &mut Vec<PackageRef>) {
        batch.retain(|p| p.source_id != self.id && p.source_seq != 0);
        let Some(first) = batch.first().map(|p| p.source_id) else { return };
        if batch.iter().all(|p| p.source_id == first) {
            // The usual batch (one peer streaming): one window lookup, not one per package.
            let window = seen.entry(first).or_default();
            batch.retain(|p| window.accept(p.source_seq));
        } else {
            batch.retain(|p| seen.entry(p.source_id).or_default().accept(p.source_seq));
        }
    }

    /// `route_batch` for a batch whose context messages (if any) are all at its end.
    fn route_in_order(&self, from: &Arc<ConnShared>, mut batch: Vec<PackageRef>) {
        let mut context_messages = Vec::new();
        // Deliveries grouped by channel, handed over under one inbox lock per channel. Channel
        // handles upgraded here are dropped only after the locks are released: the last
        // handle's drop unregisters the channel, which takes the registry lock.
        let mut deliveries: Vec<(Arc<ChannelShared>, Vec<PackageRef>)> = Vec::new();
        let mut dropped = 0;
        {
            let mut router = self.wait_for_space(self.router(), Some(from));
            let registry = self.registry.read();
            let targets: Vec<Arc<ConnShared>> =
                router.connections.iter().filter(|c| !Arc::ptr_eq(c, from) && c.is_alive()).cloned().collect();
            self.drop_duplicates(&mut router.seen, &mut batch);
            for mut pkg in batch {
                let forward = pkg.dest_id != self.id;
                let deliver = pkg.dest_id == 0 || pkg.dest_id == self.id;
                if deliver {
                    router.recv_seq += 1;
                    // Fresh from the parser: nobody else holds it yet.
                    if let Some(p) = Arc::get_mut(&mut pkg) {
                        p.recv_seq = router.recv_seq;
                    }
                }
                if forward {
                    let mut direct = self.direct_gate.ticket(targets.len());
                    for c in &targets {
                        dropped += c.push(pkg.clone(), &mut direct);
                    }
                }
                if !deliver {
                    continue;
                }
                if pkg.slot == SLOT_CONTEXT {
                    context_messages.push(pkg);
                    continue;
                }
                let same_as_last = deliveries.last().is_some_and(|(c, _)| c.slot_in.hash == pkg.slot);
                if same_as_last {
                    deliveries.last_mut().expect("checked").1.push(pkg);
                } else if let Some((_, list)) = deliveries.iter_mut().find(|(c, _)| c.slot_in.hash == pkg.slot) {
                    list.push(pkg);
                } else if let Some(channel) = registry.receivers.get(&pkg.slot).and_then(Weak::upgrade) {
                    deliveries.push((channel, vec![pkg]));
                }
            }
            // Still under the routing lock, so recv_seq order holds within every channel.
            for (channel, packages) in &mut deliveries {
                dropped += channel.deliver_all(std::mem::take(packages));
            }
        }
        self.count_discarded(dropped);
        // Let each channel that got something react, once per batch, outside the locks; in
        // discard mode Block, stop reading until a full channel has room again.
        for (channel, _) in &deliveries {
            channel.after_delivery();
            channel.wait_for_room(|| from.is_alive());
        }
        drop(deliveries);
        // Handled outside the locks: they may send.
        for pkg in context_messages {
            self.handle_context_message(from, &pkg);
        }
    }

    fn handle_context_message(&self, from: &Arc<ConnShared>, pkg: &Package) {
        match std::str::from_utf8(pkg.body()) {
            Ok(NEW_CONNECTION) => {
                for channel in self.channels() {
                    channel.on_new_connection();
                }
            }
            Ok(CLOSE_CONNECTION) => {
                // The original's intent (its handler crashes): drop the direct link to the sender.
                let direct = from.state().endpoints.id2 == pkg.source_id;
                if direct {
                    from.close_on_problem("Closed on request of the other end (CLOSE_CONNECTION).");
                }
            }
            // Unknown or undecodable context messages are ignored (the original prints them).
            _ => {}
        }
    }

    /// A connection closed: drop it from the routing list and tell the channels that its peer
    /// is gone (requests it was running cannot be answered any more).
    pub(crate) fn forget_connection(&self, conn: &Arc<ConnShared>, peer_id: u64, reason: &str) {
        self.router().connections.retain(|c| !Arc::ptr_eq(c, conn));
        if peer_id != 0 {
            for channel in self.channels() {
                channel.on_peer_lost(peer_id, reason);
            }
        }
    }

    /// Every live channel (each once), collected so callers can act without the registry lock.
    pub(crate) fn channels(&self) -> Vec<Arc<ChannelShared>> {
        let registry = self.registry.read();
        registry.senders.values().filter_map(Weak::upgrade).collect()
    }

    /// Connections with a peer.
    pub(crate) fn connected_count(&self) -> usize {
        self.router().connections.iter().filter(|c| c.status() >= Status::Hosting).count()
    }

    /// Start the housekeeping thread (req/rep resends and auto-cancel, sync-mode resends) if it
    /// is not running. It holds only a weak reference and ends with the context.
    pub(crate) fn ensure_ticker(self: &Arc<Self>) {
        if self.ticker_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("yoton-ticker".into()).spawn(move || loop {
            std::thread::sleep(TICK);
            let Some(ctx) = weak.upgrade() else { return };
            if !ctx.owned.load(Ordering::SeqCst) {
                return;
            }
            for channel in ctx.channels() {
                channel.tick();
            }
        });
        match spawned {
            Ok(handle) => self.track_thread(handle),
            Err(_) => self.ticker_started.store(false, Ordering::SeqCst),
        }
    }

    /// Add a new connection; the startup queue moves into it if it is the first (§6.4).
    fn adopt_connection(&self, conn: &Arc<ConnShared>) {
        let mut router = self.router();
        let queued = router.startup.drain_all();
        if !queued.is_empty() {
            let mut out = conn.out();
            for pkg in queued {
                out.queue.push_unbounded(pkg);
                out.pushed += 1;
            }
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

    pub(crate) fn track_thread(&self, handle: std::thread::JoinHandle<()>) {
        let mut threads = self.threads.lock();
        // Forget threads that are done, so long-lived contexts do not accumulate handles.
        threads.retain(|t| !t.is_finished());
        threads.push(handle);
    }

    /// Wait up to `budget` for the tracked threads to end (they do within milliseconds of a
    /// close); any still running then are left detached rather than hanging the caller.
    fn join_threads(&self, budget: Duration) {
        let threads = std::mem::take(&mut *self.threads.lock());
        let me = std::thread::current().id();
        let deadline = Instant::now() + budget;
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

    pub(crate) fn close_all(&self) {
        let conns: Vec<Arc<ConnShared>> = self.router().connections.clone();
        for c in conns {
            c.close(reasons::BY_CONTEXT);
        }
        self.close_channels();
    }

    pub(crate) fn close_channels(&self) {
        let channels: Vec<Arc<ChannelShared>> = {
            let registry = self.registry.read();
            registry.receivers.values().chain(registry.senders.values()).filter_map(Weak::upgrade).collect()
        };
        for channel in channels {
            channel.close();
        }
    }
}

/// Closes the context when the last user handle goes away.
struct Owner(Arc<ContextInner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.owned.store(false, Ordering::SeqCst);
        self.0.close_all();
        self.0.join_threads(Duration::from_secs(2));
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
    /// A new context with a fresh random id and the default queue parameters.
    pub fn new() -> Context {
        let params = QueueParams::default();
        let inner = Arc::new(ContextInner {
            id: new_context_id(),
            router: Mutex::new(Router {
                send_seq: 0,
                recv_seq: 0,
                connections: Vec::new(),
                startup: PackageQueue::new(params),
                seen: HashMap::new(),
            }),
            registry: RwLock::new(Registry::default()),
            params: Mutex::new(params),
            max_message_size: AtomicU64::new(DEFAULT_MAX_MESSAGE_SIZE),
            discarded: AtomicU64::new(0),
            ticker_started: AtomicBool::new(false),
            blocking: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            owned: AtomicBool::new(true),
            direct_gate: DirectWriteGate::default(),
            busy_poll_until_ns: AtomicU64::new(0),
        });
        Context { owner: Arc::new(Owner(inner)) }
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

    /// Host a connection at `address`, trying up to `max_tries` ports (§4.6). Returns at once
    /// with a *waiting* connection; the first peer to complete the handshake is accepted.
    /// Packages sent meanwhile are queued on it.
    pub fn bind(&self, address: &str, max_tries: u32, name: Option<&str>) -> Result<Connection> {
        let addr = parse_address(address)?;
        let listener = Arc::new(tcp::listen(&addr, max_tries)?);
        let inner = self.inner();
        let conn = ConnShared::new(inner, name.unwrap_or(""), inner.queue_params());
        {
            let mut st = conn.state();
            let (host, port) = tcp::socket_name(listener.local_addr().ok().and_then(|a| a.as_socket()));
            st.endpoints.hostname1 = host;
            st.endpoints.port1 = port;
        }
        *conn.listener.lock() = Some(listener.clone());
        inner.adopt_connection(&conn);
        if let Err(e) = tcp::start_accepting(conn.clone(), listener) {
            conn.close_on_problem(e.message());
            return Err(e);
        }
        Ok(Connection { shared: conn })
    }

    /// Connect to a context hosting at `address`, retrying for up to `timeout`, then run the
    /// handshake (at most 2 s more). On success the connection is *connected* and a
    /// `NEW_CONNECTION` message goes out to the network.
    pub fn connect(&self, address: &str, timeout: Duration, name: Option<&str>) -> Result<Connection> {
        let mut addr = parse_address(address)?;
        if addr.host.is_empty() {
            addr.host = "127.0.0.1".into();
        }
        let stream = tcp::connect(&addr, timeout)?;
        let inner = self.inner();
        let (id2, pid2) = tcp::client_handshake(&stream, inner.id, std::process::id() as u64)?;
        let conn = ConnShared::new(inner, name.unwrap_or(""), inner.queue_params());
        inner.adopt_connection(&conn);
        tcp::establish(&conn, stream, id2, pid2, Status::Connected);
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
        self.connections_all().into_iter().find(|c| c.name() == name)
    }

    /// Queue limits for the startup queue, channel queues and connection out-queues created
    /// from now on (the startup queue is updated at once).
    pub fn set_queue_params(&self, params: QueueParams) -> Result<()> {
        params.validate()?;
        *self.inner().params.lock() = params;
        self.inner().blocking.store(params.discard == Discard::Block, Ordering::Relaxed);
        self.inner().router().startup.set_params(params);
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
        self.inner().max_message_size.store(bytes, Ordering::Relaxed);
        Ok(())
    }

    pub fn max_message_size(&self) -> u64 {
        self.inner().max_message_size()
    }

    /// Packages waiting in the startup queue (sent while no connection existed).
    pub fn startup_queued(&self) -> usize {
        self.inner().router().startup.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> SeenWindow {
        SeenWindow::default()
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
        assert!(!w.accept(5000 - DEDUPE_WINDOW), "older than the window counts as seen");
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
    fn context_ids_are_unique_and_non_zero() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| new_context_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
        let a = new_context_id();
        let b = new_context_id();
        assert!(b >> 32 > a >> 32, "the time part strictly increases");
    }
}
