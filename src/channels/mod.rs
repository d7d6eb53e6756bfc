//! Channels: the user-facing side. One `Channel` type covers every pattern (like a zmq
//! socket type); pattern-specific operations live in their modules and check the kind.
//! A channel is registered on its context by slot hash: an *outgoing* slot it sends on and
//! an *incoming* slot it receives on (docs/protocol.md §5.1).

mod message;
pub mod pubsub;
pub mod reqrep;
pub mod simple;
pub mod state;

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use message::{Message, MessageType};

use crate::context::{Context, ContextInner, Registered};
use crate::error::{Error, Result};
use crate::events::{self, Signal};
use crate::package::PackageRef;
use crate::protocol::hash::slot_of;
use crate::queue::{Discard, PackageQueue};

/// The messaging pattern of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Pub,
    Sub,
    Req,
    Rep,
    State,
}

impl ChannelKind {
    /// (outgoing, incoming) pattern extensions of the slot names (docs/protocol.md §5.1).
    fn patterns(self) -> (&'static str, &'static str) {
        match self {
            ChannelKind::Pub => ("pub-sub", "sub-pub"),
            ChannelKind::Sub => ("sub-pub", "pub-sub"),
            ChannelKind::Req => ("req-rep", "rep-req"),
            ChannelKind::Rep => ("rep-req", "req-rep"),
            ChannelKind::State => ("state", "state"),
        }
    }

    /// The original's class name, used in error messages.
    pub fn class_name(self) -> &'static str {
        match self {
            ChannelKind::Pub => "PubChannel",
            ChannelKind::Sub => "SubChannel",
            ChannelKind::Req => "ReqChannel",
            ChannelKind::Rep => "RepChannel",
            ChannelKind::State => "StateChannel",
        }
    }
}

/// A full slot name (as the user wrote it) and its hash.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub name: String,
    pub hash: u64,
}

pub(crate) struct InQueue {
    pub queue: PackageQueue,
    pub closed: bool,
    /// The reactor stopped reading a connection because this queue is full (loss-free
    /// mode): the next take that makes room tells it to resume.
    pub reader_paused: bool,
}

/// In loss-free mode, a channel holding this many bytes of unread messages pauses reading
/// from the network even before its queue is full: nothing is lost either way, and memory
/// stays at a few big messages instead of the queue's byte limit (256 MiB by default). 2 MiB
/// rather than 8: the big bodies then cycle through buffers that are still in a cache (see
/// `connection::SOFT_BYTES`).
const PAUSE_READER_BYTES: usize = 2 << 20;

impl InQueue {
    /// Loss-free mode: the reactor must stop reading the connection that delivered here.
    fn holds_back_reader(&self) -> bool {
        self.queue.params().discard == Discard::Block
            && !self.closed
            && (self.queue.is_full() || self.queue.bytes() > PAUSE_READER_BYTES)
    }
}

/// Pattern-specific state of a channel.
pub(crate) enum ChannelExt {
    Pub(pubsub::PubExt),
    Sub(pubsub::SubExt),
    Req(reqrep::ReqExt),
    Rep(reqrep::RepExt),
    State(state::StateExt),
}

impl ChannelExt {
    fn new(kind: ChannelKind) -> ChannelExt {
        match kind {
            ChannelKind::Pub => ChannelExt::Pub(pubsub::PubExt::new()),
            ChannelKind::Sub => ChannelExt::Sub(pubsub::SubExt::new()),
            ChannelKind::Req => ChannelExt::Req(reqrep::ReqExt::new()),
            ChannelKind::Rep => ChannelExt::Rep(reqrep::RepExt::new()),
            ChannelKind::State => ChannelExt::State(state::StateExt::new()),
        }
    }
}

/// What every channel shares with the context's registry and routing.
pub(crate) struct ChannelShared {
    pub(crate) context: Arc<ContextInner>,
    pub(crate) kind: ChannelKind,
    pub(crate) msg_type: MessageType,
    pub(crate) slot_out: Slot,
    pub(crate) slot_in: Slot,
    pub(crate) inbox: Mutex<InQueue>,
    pub(crate) arrived: Condvar,
    pub(crate) ext: ChannelExt,
    /// Emitted (through the event loop) after messages arrived; bursts coalesce into one.
    pub(crate) received: Signal<()>,
    received_queued: AtomicBool,
}

impl ChannelShared {
    pub(crate) fn inbox(&self) -> MutexGuard<'_, InQueue> {
        self.inbox.lock()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inbox().closed
    }

    /// Packages for our incoming slot arrived, in order (called by routing, under its lock:
    /// must not send or block). Returns how many packages the queue policy dropped.
    pub(crate) fn deliver_all(&self, packages: Vec<PackageRef>) -> usize {
        match self.kind {
            // Sync-mode control from subscribers: publishers have no queue.
            ChannelKind::Pub => {
                packages.iter().for_each(|pkg| self.pub_control(pkg));
                0
            }
            ChannelKind::State => {
                if let Some(last) = packages.into_iter().last() {
                    self.state_deliver(last);
                }
                0
            }
            ChannelKind::Sub | ChannelKind::Req | ChannelKind::Rep => {
                let mut inbox = self.inbox();
                if inbox.closed {
                    return 0;
                }
                let dropped = packages
                    .into_iter()
                    .map(|pkg| inbox.queue.push(pkg).dropped())
                    .sum();
                drop(inbox);
                self.arrived.notify_all();
                dropped
            }
        }
    }

    /// After a batch was delivered, outside the routing locks: react (may send), and queue
    /// one `received` event unless one is already waiting.
    pub(crate) fn after_delivery(self: &Arc<Self>) {
        match self.kind {
            ChannelKind::Sub => self.sub_sync_check(),
            ChannelKind::Req => self.req_process_inbox(),
            ChannelKind::Rep => self.rep_fast_path(),
            _ => {}
        }
        let event_mode = self.kind == ChannelKind::Rep && self.rep_mode() == reqrep::RepMode::Event;
        if (event_mode || self.received.handler_count() > 0)
            && !self.received_queued.swap(true, Ordering::SeqCst)
        {
            let weak = Arc::downgrade(self);
            events::post(
                Box::new(move || {
                    let Some(channel) = weak.upgrade() else {
                        return;
                    };
                    channel.received_queued.store(false, Ordering::SeqCst);
                    if channel.kind == ChannelKind::Rep
                        && channel.rep_mode() == reqrep::RepMode::Event
                    {
                        channel.rep_process_queue();
                    }
                    channel.received.emit_now(());
                }),
                false,
            );
        }
    }

    /// Periodic housekeeping (every 100 ms from the context's ticker thread).
    pub(crate) fn tick(self: &Arc<Self>) {
        match self.kind {
            ChannelKind::Sub => self.sub_sync_check(),
            ChannelKind::Req => self.req_tick(),
            // An event-mode replier also re-checks through the loop (its 10 s failsafe).
            ChannelKind::Rep
                if self.rep_mode() == reqrep::RepMode::Event && self.rep_has_current() =>
            {
                self.after_delivery()
            }
            _ => {}
        }
    }

    /// A new context joined the network (a `NEW_CONNECTION` arrived): state channels re-send.
    pub(crate) fn on_new_connection(&self) {
        if self.kind == ChannelKind::State {
            let _ = self.state_send_last();
        }
    }

    /// The direct peer with context id `peer_id` disconnected.
    pub(crate) fn on_peer_lost(&self, peer_id: u64, reason: &str) {
        if self.kind == ChannelKind::Req {
            self.req_peer_lost(peer_id, reason);
        }
    }

    /// Wait up to `timeout` until something is queued; true if something is.
    pub(crate) fn wait_for_pending(&self, timeout: Duration) -> bool {
        let inbox = self.inbox();
        if !inbox.queue.is_empty() || inbox.closed {
            return !inbox.queue.is_empty();
        }
        let mut inbox = inbox;
        self.arrived.wait_for(&mut inbox, timeout);
        !inbox.queue.is_empty()
    }

    /// Unregister; messages already queued can still be received.
    pub(crate) fn close(&self) {
        {
            let mut inbox = self.inbox();
            if inbox.closed {
                return;
            }
            inbox.closed = true;
        }
        self.arrived.notify_all();
        self.context.arrivals.notify();
        if self.kind == ChannelKind::Req {
            self.req_shutdown(true);
        }
        self.unregister();
    }

    fn unregister(&self) {
        let me = self as *const ChannelShared;
        let mut guard = self.context.registry.write();
        let registry = &mut *guard;
        for (map, hash) in [
            (&mut registry.senders, self.slot_out.hash),
            (&mut registry.receivers, self.slot_in.hash),
        ] {
            if map
                .get(&hash)
                .is_some_and(|r| std::ptr::eq(r.channel.as_ptr(), me))
            {
                map.remove(&hash);
            }
        }
    }

    /// Pop one package; resumes a reader the reactor paused for room (loss-free mode).
    pub(crate) fn take(&self, inbox: &mut InQueue) -> Option<PackageRef> {
        let pkg = inbox.queue.pop()?;
        // The next reads: the next package (its Arc block, loaded by the previous take) and
        // its body, and the one after it.
        if let Some(next) = inbox.queue.get(0) {
            next.prefetch(true);
        }
        if let Some(after) = inbox.queue.get(1) {
            after.prefetch(false);
        }
        if inbox.reader_paused && !inbox.holds_back_reader() {
            inbox.reader_paused = false;
            self.context
                .reactor
                .send(crate::transport::reactor::Command::Resume);
        }
        Some(pkg)
    }

    /// Loss-free mode (`Block`): after a delivery, a full queue pauses reading from the
    /// connection it came through, so TCP pushes back on the sender. True if it does.
    pub(crate) fn pause_reader_if_full(&self) -> bool {
        let mut inbox = self.inbox();
        let full = inbox.holds_back_reader();
        inbox.reader_paused |= full;
        full
    }

    /// Take the oldest pending package, waiting up to `timeout` (None: until one arrives or
    /// the channel closes).
    pub(crate) fn pop_wait(&self, timeout: Option<Duration>) -> Result<PackageRef> {
        let mut inbox = self.wait_pending(timeout)?;
        Ok(self
            .take(&mut inbox)
            .expect("wait_pending returns a non-empty queue"))
    }

    /// The inbox, locked, once it holds a package: waits up to `timeout` (None: until one
    /// arrives or the channel closes).
    pub(crate) fn wait_pending(
        &self,
        timeout: Option<Duration>,
    ) -> Result<MutexGuard<'_, InQueue>> {
        let mut inbox = self.inbox();
        // Fast path first: no clock read when a package is already waiting.
        if !inbox.queue.is_empty() {
            return Ok(inbox);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if !inbox.queue.is_empty() {
                return Ok(inbox);
            }
            if inbox.closed {
                return Err(Error::closed(format!(
                    "the {} is closed",
                    self.kind.class_name()
                )));
            }
            let limit = match deadline {
                None => None,
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Error::timeout("no message within the timeout"));
                    }
                    Some(deadline - now)
                }
            };
            match limit {
                None => self.arrived.wait(&mut inbox),
                Some(limit) => {
                    self.arrived.wait_for(&mut inbox, limit);
                }
            }
        }
    }
}

/// A paused reader (loss-free mode) waits while this channel's queue is full.
impl crate::transport::reactor::Blocker for ChannelShared {
    fn blocks(&self) -> bool {
        let inbox = self.inbox();
        inbox.holds_back_reader()
    }
}

impl Drop for ChannelShared {
    fn drop(&mut self) {
        if self.kind == ChannelKind::Req {
            self.req_shutdown(false);
        }
        self.unregister();
    }
}

/// A channel of any kind. Cloning gives another handle; the channel is unregistered when it
/// is closed or when the last handle is dropped.
#[derive(Clone)]
pub struct Channel {
    pub(crate) shared: Arc<ChannelShared>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}({})",
            self.shared.kind.class_name(),
            self.shared.slot_out.name
        )
    }
}

impl Channel {
    /// Create a channel of `kind` on slot base `base` with message type `msg_type`.
    /// Fails with `"Slot not free: <name>"` if this context already has a channel there.
    pub fn new(
        context: &Context,
        kind: ChannelKind,
        base: &str,
        msg_type: MessageType,
    ) -> Result<Channel> {
        if base.trim().is_empty() {
            return Err(Error::invalid("the slot base name is empty"));
        }
        if base.len() > crate::protocol::MAX_NAME_BYTES {
            return Err(Error::invalid(format!(
                "the slot base name is {} bytes long, above the limit of {} bytes",
                base.len(),
                crate::protocol::MAX_NAME_BYTES
            )));
        }
        if matches!(kind, ChannelKind::Req | ChannelKind::Rep) && msg_type != MessageType::Object {
            return Err(Error::invalid(
                "request/reply channels always use the OBJECT message type",
            ));
        }
        let (out_pattern, in_pattern) = kind.patterns();
        let slot = |pattern: &str| {
            let name = format!("{base}.{}.{pattern}", msg_type.name());
            Slot {
                hash: slot_of(&name),
                name,
            }
        };
        let inner = context.inner().clone();
        let shared = Arc::new(ChannelShared {
            kind,
            slot_out: slot(out_pattern),
            slot_in: slot(in_pattern),
            msg_type,
            inbox: Mutex::new(InQueue {
                queue: PackageQueue::new(inner.queue_params()),
                closed: false,
                reader_paused: false,
            }),
            arrived: Condvar::new(),
            ext: ChannelExt::new(kind),
            received: Signal::new(),
            received_queued: AtomicBool::new(false),
            context: inner,
        });
        let taken = {
            let mut registry = shared.context.registry.write();
            let live = |map: &std::collections::HashMap<u64, Registered>, slot: &Slot| {
                map.get(&slot.hash)
                    .is_some_and(|r| r.channel.strong_count() > 0)
            };
            let entry = || Registered {
                channel: Arc::downgrade(&shared),
                control: !matches!(kind, ChannelKind::Pub | ChannelKind::Sub),
            };
            if live(&registry.senders, &shared.slot_out) {
                Some(shared.slot_out.name.clone())
            } else if live(&registry.receivers, &shared.slot_in) {
                Some(shared.slot_in.name.clone())
            } else {
                registry.senders.insert(shared.slot_out.hash, entry());
                registry.receivers.insert(shared.slot_in.hash, entry());
                None
            }
        };
        // (`shared` is dropped, and so unregisters, only after the registry lock is released.)
        if let Some(name) = taken {
            return Err(Error::invalid(format!("Slot not free: {name}")));
        }
        Ok(Channel { shared })
    }

    pub fn kind(&self) -> ChannelKind {
        self.shared.kind
    }

    pub fn message_type(&self) -> &MessageType {
        &self.shared.msg_type
    }

    /// The full outgoing slot name, as written (not normalised).
    pub fn slot_outgoing(&self) -> &str {
        &self.shared.slot_out.name
    }

    /// The full incoming slot name, as written.
    pub fn slot_incoming(&self) -> &str {
        &self.shared.slot_in.name
    }

    /// Messages waiting to be received.
    pub fn pending(&self) -> usize {
        self.shared.inbox().queue.len()
    }

    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Unregister the channel. Queued messages can still be received; sends fail.
    pub fn close(&self) {
        self.shared.close();
    }

    /// The `received` signal: emitted through the event loop after messages arrived (a burst
    /// of arrivals gives one emission).
    pub fn received(&self) -> &Signal<()> {
        &self.shared.received
    }

    /// Two handles to the same channel.
    pub fn same_as(&self, other: &Channel) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    pub(crate) fn expect_kind(&self, kinds: &[ChannelKind], operation: &str) -> Result<()> {
        if kinds.contains(&self.shared.kind) {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "{operation} is not available on a {}",
                self.shared.kind.class_name()
            )))
        }
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed(format!(
                "Cannot send from closed {}.",
                self.shared.kind.class_name()
            )))
        } else {
            Ok(())
        }
    }
}
