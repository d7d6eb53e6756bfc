//! Publish/subscribe (docs/protocol.md §9.2): `send` broadcasts on `B.T.pub-sub`; every subscriber on that slot
//! anywhere in the network queues it.

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Channel, ChannelExt, ChannelKind, ChannelShared, Message, MessageType};
use crate::context::Context;
use crate::context::Payload;
use crate::error::{Error, Result};
use crate::package::{body_from, Body, PackageRef, SharedBytes};
use crate::protocol::object;
use crate::value::Value;

impl Channel {
    /// A publisher on slot base `base`.
    pub fn publisher(context: &Context, base: &str, msg_type: MessageType) -> Result<Channel> {
        Channel::new(context, ChannelKind::Pub, base, msg_type)
    }

    /// A subscriber on slot base `base`.
    pub fn subscriber(context: &Context, base: &str, msg_type: MessageType) -> Result<Channel> {
        Channel::new(context, ChannelKind::Sub, base, msg_type)
    }

    /// Publish raw body bytes, checked against the message type (UTF-8 for TEXT, a valid
    /// value for OBJECT). An empty message is skipped silently, as in the original (docs/protocol.md §2.2).
    pub fn send(&self, data: &[u8]) -> Result<()> {
        self.expect_kind(&[ChannelKind::Pub], "send")?;
        self.check_open()?;
        self.shared.msg_type.validate(data)?;
        self.shared.pub_wait_if_locked();
        self.shared
            .context
            .publish(self.shared.slot_out.hash, Payload::Copy(data))
    }

    /// Publish bytes without copying them: `bytes` is released when every connection has
    /// written it (zero-copy, for big messages). Checked like `send`.
    pub fn send_shared(&self, bytes: SharedBytes) -> Result<()> {
        self.expect_kind(&[ChannelKind::Pub], "send_shared")?;
        self.check_open()?;
        self.shared.msg_type.validate((*bytes).as_ref())?;
        self.shared.pub_wait_if_locked();
        self.shared.context.publish(
            self.shared.slot_out.hash,
            Payload::Body(Body::Shared(bytes)),
        )
    }

    /// Publish an OBJECT value (OBJECT channels only).
    pub fn send_value(&self, value: &Value) -> Result<()> {
        self.expect_kind(&[ChannelKind::Pub], "send_value")?;
        if self.shared.msg_type != MessageType::Object {
            return Err(Error::invalid("send_value needs an OBJECT channel"));
        }
        self.check_open()?;
        let mut body = Vec::new();
        object::encode_into(value, &mut body).map_err(|e| Error::encoding(e.0))?;
        self.shared.pub_wait_if_locked();
        self.shared.context.publish(
            self.shared.slot_out.hash,
            Payload::Body(Body::Owned(crate::package::nul_terminated(body))),
        )
    }

    /// Receive the oldest message: wait up to `timeout` (`Some(ZERO)`: do not wait; `None`:
    /// until one arrives or the channel closes). TEXT messages that are not valid UTF-8 are
    /// taken off the queue and reported as an `Encoding` error.
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Message> {
        self.expect_kind(&[ChannelKind::Sub], "recv")?;
        let pkg = self.shared.pop_wait(timeout);
        self.shared.sub_sync_check();
        let pkg = pkg?;
        let message = Message::new(pkg);
        if self.shared.msg_type == MessageType::Text {
            message.text()?;
        }
        Ok(message)
    }

    /// Iterate over the pending messages without waiting (the original's iteration), ending
    /// when the queue is empty.
    pub fn try_iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(move || loop {
            match self.recv(Some(Duration::ZERO)) {
                Ok(m) => return Some(m),
                Err(e) if e.kind() == crate::ErrorKind::Encoding => continue,
                Err(_) => return None,
            }
        })
    }

    /// Every pending message, without waiting. Invalid TEXT messages are skipped.
    pub fn recv_all(&self) -> Result<Vec<Message>> {
        self.expect_kind(&[ChannelKind::Sub], "recv_all")?;
        Ok(self.try_iter().collect())
    }

    /// Receive several messages at once, their bodies copied one after the other into `buf`
    /// (one call and one copy for many small messages). Waits up to `timeout` for the first
    /// message, as `recv`; then takes, oldest first and without waiting, every pending
    /// message that still fits in `buf`, at most `lens.len()`. `lens[i]` gets the body length
    /// of message `i`, `seqs[i]` (if given: at least as long as `lens`) its `recv_seq`.
    /// A message that does not fit stays queued: if it is the oldest, nothing is taken and
    /// the result is `Batch::TooSmall`. TEXT messages that are not valid UTF-8 are dropped,
    /// as `recv_all` skips them.
    pub fn recv_batch(
        &self,
        timeout: Option<Duration>,
        buf: &mut [u8],
        lens: &mut [usize],
        mut seqs: Option<&mut [u64]>,
    ) -> Result<Batch> {
        self.expect_kind(&[ChannelKind::Sub], "recv_batch")?;
        if lens.is_empty() {
            return Err(Error::invalid("recv_batch: room for no message (count 0)"));
        }
        if seqs.as_ref().is_some_and(|s| s.len() < lens.len()) {
            return Err(Error::invalid(
                "recv_batch: fewer sequence numbers than lengths",
            ));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let taken = self.take_fitting(left, buf.len(), lens.len());
            self.shared.sub_sync_check();
            let taken = match taken? {
                Fitting::Taken(taken) => taken,
                Fitting::TooSmall(needed) => return Ok(Batch::TooSmall { needed }),
            };
            // The copies happen outside the inbox lock: the reactor keeps delivering.
            let (mut count, mut bytes) = (0, 0);
            for pkg in taken {
                let body = pkg.body();
                let valid =
                    self.shared.msg_type != MessageType::Text || std::str::from_utf8(body).is_ok();
                if valid {
                    buf[bytes..bytes + body.len()].copy_from_slice(body);
                    lens[count] = body.len();
                    if let Some(seqs) = seqs.as_deref_mut() {
                        seqs[count] = pkg.recv_seq();
                    }
                    count += 1;
                    bytes += body.len();
                }
                crate::pool::recycle(pkg);
            }
            if count > 0 {
                return Ok(Batch::Taken { count, bytes });
            }
            // Only invalid TEXT was pending: wait on for a valid message, within the timeout.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::timeout("no message within the timeout"));
            }
        }
    }

    /// Take (under the inbox lock, after waiting up to `timeout` for one) the oldest pending
    /// packages whose bodies fit in `cap` bytes together, at most `max_count`.
    fn take_fitting(
        &self,
        timeout: Option<Duration>,
        cap: usize,
        max_count: usize,
    ) -> Result<Fitting> {
        let mut inbox = self.shared.wait_pending(timeout)?;
        let mut taken = Vec::with_capacity(max_count.min(inbox.queue.len()));
        let mut room = cap;
        while taken.len() < max_count {
            let Some(next) = inbox.queue.get(0) else {
                break;
            };
            let len = next.body().len();
            if len > room {
                if taken.is_empty() {
                    return Ok(Fitting::TooSmall(len));
                }
                break;
            }
            room -= len;
            taken.push(self.shared.take(&mut inbox).expect("front exists"));
        }
        Ok(Fitting::Taken(taken))
    }
}

/// What [`Channel::recv_batch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// `count` messages were taken; their bodies fill the first `bytes` bytes of the buffer.
    Taken { count: usize, bytes: usize },
    /// The oldest pending message has a body of `needed` bytes, more than the buffer holds:
    /// nothing was taken (it stays queued).
    TooSmall { needed: usize },
}

/// What `take_fitting` took off the queue.
enum Fitting {
    Taken(Vec<PackageRef>),
    TooSmall(usize),
}

/// Sync-mode thresholds and timings of the original (docs/protocol.md §9.2.3).
const SYNC_HIGH_WATER: usize = 32;
const SYNC_LOW_WATER: usize = 16;
const SYNC_RESEND: Duration = Duration::from_secs(4);
const PUB_LOCK_EXPIRY: Duration = Duration::from_secs(10);
const PUB_LOCK_WAIT: Duration = Duration::from_secs(1);
/// Out-queue depth a throttled publisher waits for (the original's "tiny size").
const SYNC_IN_FLIGHT: usize = 64;

/// Publisher side of sync mode: which subscribers (by context id) said "full".
pub(crate) struct PubExt {
    lock: Mutex<PubLock>,
    unlocked: Condvar,
    /// Some subscriber said "full" (a lock-free hint so unthrottled sends skip the mutex).
    maybe_locked: AtomicBool,
    /// Some subscriber ever sent a sync-mode control message.
    sync_seen: AtomicBool,
}

struct PubLock {
    full: HashSet<u64>,
    locked_until: Option<Instant>,
}

impl PubExt {
    /// A subscriber on our slot uses sync mode (it sent a control message): keep little in
    /// flight, like the original's 64-package out-queues, so its back-pressure can work.
    fn sync_subscribers(&self) -> bool {
        self.sync_seen.load(Ordering::Relaxed)
    }
}

impl PubExt {
    pub(crate) fn new() -> PubExt {
        PubExt {
            lock: Mutex::new(PubLock {
                full: HashSet::new(),
                locked_until: None,
            }),
            unlocked: Condvar::new(),
            maybe_locked: AtomicBool::new(false),
            sync_seen: AtomicBool::new(false),
        }
    }
    fn guard(&self) -> MutexGuard<'_, PubLock> {
        self.lock.lock()
    }
}

/// Subscriber side: sync state (None = off) and the `ref` of the last select.
pub(crate) struct SubExt {
    sync: Mutex<Option<SyncState>>,
    /// `sync` is Some (kept in step under its lock; read lock-free on every receive).
    sync_on: AtomicBool,
    selected_ref: Mutex<u64>,
}

struct SyncState {
    full: bool,
    resend_at: Instant,
}

impl SubExt {
    pub(crate) fn new() -> SubExt {
        SubExt {
            sync: Mutex::new(None),
            sync_on: AtomicBool::new(false),
            selected_ref: Mutex::new(0),
        }
    }
    fn sync(&self) -> MutexGuard<'_, Option<SyncState>> {
        self.sync.lock()
    }
}

impl ChannelShared {
    fn pub_ext(&self) -> &PubExt {
        match &self.ext {
            ChannelExt::Pub(p) => p,
            _ => unreachable!("not a publisher"),
        }
    }

    fn sub_ext(&self) -> &SubExt {
        match &self.ext {
            ChannelExt::Sub(s) => s,
            _ => unreachable!("not a subscriber"),
        }
    }

    /// A control message from a subscriber in sync mode: "full" locks, anything else unlocks
    /// for that subscriber. Called under the routing lock: no sending here.
    pub(crate) fn pub_control(&self, pkg: &PackageRef) {
        let Ok(text) = std::str::from_utf8(pkg.body()) else {
            return;
        };
        let ext = self.pub_ext();
        ext.sync_seen.store(true, Ordering::Relaxed);
        let mut lock = ext.guard();
        if text == "full" {
            lock.full.insert(pkg.source_id());
        } else {
            lock.full.remove(&pkg.source_id());
        }
        if lock.full.is_empty() {
            lock.locked_until = None;
            ext.maybe_locked.store(false, Ordering::Relaxed);
            drop(lock);
            ext.unlocked.notify_all();
        } else {
            lock.locked_until = Some(Instant::now() + PUB_LOCK_EXPIRY);
            ext.maybe_locked.store(true, Ordering::Relaxed);
        }
    }

    /// Before a publish: while a subscriber said "full", wait up to 1 s (the lock only slows
    /// the publisher down, it never blocks it for good).
    fn pub_wait_if_locked(&self) {
        let ext = self.pub_ext();
        if ext.sync_subscribers() {
            self.context
                .drain_out_queues(SYNC_IN_FLIGHT, Instant::now() + PUB_LOCK_WAIT);
        }
        if !ext.maybe_locked.load(Ordering::Relaxed) {
            return;
        }
        let mut lock = ext.guard();
        let Some(until) = lock.locked_until else {
            return;
        };
        let now = Instant::now();
        if now >= until {
            lock.locked_until = None;
            lock.full.clear();
            return;
        }
        let deadline = now + PUB_LOCK_WAIT;
        while lock.locked_until.is_some() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            ext.unlocked.wait_for(&mut lock, deadline - now);
        }
        drop(lock);
        // While throttled, also keep what is already in flight small (the original's out-queues
        // push back above 64 packages): otherwise a full out-queue keeps flooding the subscriber.
        self.context
            .drain_out_queues(SYNC_IN_FLIGHT, deadline.max(Instant::now() + PUB_LOCK_WAIT));
    }

    /// Subscriber sync check (docs/protocol.md §9.2.3): tell publishers "full" above the high-water mark, "ok"
    /// below the low-water mark, and repeat the current word every 4 s.
    pub(crate) fn sub_sync_check(&self) {
        // The word is sent under the sync lock: the reactor and a reader both check,
        // and a "full" overtaken by an older "ok" would leave the publisher running unthrottled.
        if !self.sub_ext().sync_on.load(Ordering::Relaxed) {
            return;
        }
        let mut sync = self.sub_ext().sync();
        let word = {
            let Some(state) = sync.as_mut() else { return };
            let pending = self.inbox().queue.len();
            let now = Instant::now();
            let change = if !state.full && pending > SYNC_HIGH_WATER {
                Some(true)
            } else if state.full && pending < SYNC_LOW_WATER {
                Some(false)
            } else if now >= state.resend_at {
                Some(state.full)
            } else {
                None
            };
            let Some(full) = change else { return };
            // Control messages only make sense with a peer; try again later otherwise.
            if self.context.connected_count() == 0 {
                return;
            }
            state.full = full;
            state.resend_at = now + SYNC_RESEND;
            if full {
                "full"
            } else {
                "ok"
            }
        };
        let _ = self
            .context
            .send(self.slot_out.hash, 0, 0, body_from(word.as_bytes()));
        drop(sync);
    }
}

impl Channel {
    /// Sync mode (docs/protocol.md §9.2.3): the subscriber asks publishers to slow down while more than 32
    /// messages are pending, and lets them go again below 16. Works with publishers of either
    /// implementation.
    pub fn set_sync_mode(&self, on: bool) -> Result<()> {
        self.expect_kind(&[ChannelKind::Sub], "set_sync_mode")?;
        let mut sync = self.shared.sub_ext().sync();
        let was_full = sync.as_ref().is_some_and(|s| s.full);
        *sync = if on {
            Some(SyncState {
                full: false,
                resend_at: Instant::now(),
            })
        } else {
            None
        };
        self.shared.sub_ext().sync_on.store(on, Ordering::Relaxed);
        if on {
            drop(sync);
            self.shared.context.ensure_ticker();
            self.shared.sub_sync_check();
        } else if was_full {
            // Under the sync lock, like every control word (see `sub_sync_check`).
            self.shared
                .context
                .send(self.shared.slot_out.hash, 0, 0, body_from(b"ok"))?;
        }
        Ok(())
    }

    /// Whether sync mode is on.
    pub fn sync_mode(&self) -> Result<bool> {
        self.expect_kind(&[ChannelKind::Sub], "sync_mode")?;
        Ok(self.shared.sub_ext().sync().is_some())
    }

    /// Of several subscribers of one context, the one holding the oldest pending message
    /// (None if none has any). Then `recv_selected` on it returns, in order, its messages that
    /// are older than any pending in the others (docs/protocol.md §9.2.4).
    pub fn select_sub_channel(channels: &[&Channel]) -> Result<Option<Channel>> {
        let mut best_first = u64::MAX;
        let mut reference = u64::MAX;
        let mut chosen: Option<&Channel> = None;
        for channel in channels {
            channel.expect_kind(&[ChannelKind::Sub], "select_sub_channel")?;
            channel.shared.sub_sync_check();
            let inbox = channel.shared.inbox();
            let (Some(first), Some(last)) = (inbox.queue.front(), inbox.queue.back()) else {
                continue;
            };
            let (first, end) = (first.recv_seq(), last.recv_seq() + 1);
            if first < best_first {
                reference = reference.min(best_first).min(end);
                best_first = first;
                chosen = Some(channel);
            } else {
                reference = reference.min(first);
            }
        }
        Ok(chosen.map(|channel| {
            *channel.shared.sub_ext().selected_ref.lock() = reference;
            (*channel).clone()
        }))
    }

    /// Like `select_sub_channel`, but waits up to `timeout` (None: no limit) for a message on
    /// any of the channels, which must all belong to one context. Ok(None) if none came.
    pub fn select_sub_channel_wait(
        channels: &[&Channel],
        timeout: Option<Duration>,
    ) -> Result<Option<Channel>> {
        let Some(first) = channels.first() else {
            return Ok(None);
        };
        let context = &first.shared.context;
        if channels
            .iter()
            .any(|c| !Arc::ptr_eq(&c.shared.context, context))
        {
            return Err(Error::invalid(
                "select: the channels must belong to one context",
            ));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let _waiting = context.arrivals.waiting();
        loop {
            let seen = context.arrivals.generation();
            if let Some(chosen) = Channel::select_sub_channel(channels)? {
                return Ok(Some(chosen));
            }
            if channels.iter().all(|c| c.is_closed()) {
                return Err(Error::closed("select: every channel is closed"));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            context.arrivals.wait_after(seen, deadline);
        }
    }

    /// After `select_sub_channel` chose this channel: its pending messages older than any
    /// pending in the other channels, in order.
    pub fn recv_selected(&self) -> Result<Vec<Message>> {
        self.expect_kind(&[ChannelKind::Sub], "recv_selected")?;
        let reference = *self.shared.sub_ext().selected_ref.lock();
        let mut out = Vec::new();
        {
            let mut inbox = self.shared.inbox();
            while inbox
                .queue
                .front()
                .is_some_and(|p| p.recv_seq() <= reference)
            {
                out.push(Message::new(
                    self.shared.take(&mut inbox).expect("front exists"),
                ));
            }
        }
        self.shared.sub_sync_check();
        Ok(out)
    }
}
