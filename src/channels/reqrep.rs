//! Request/reply (docs/protocol.md §9.3): the requester broadcasts a pre-request `req?`, sends the request to
//! the first replier that acknowledges with `req!`, then broadcasts `req-`; the replier
//! answers with the result (or an error tuple). A busy replier does not acknowledge, so free
//! ones get the work: load balancing falls out of the protocol.

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::{Channel, ChannelExt, ChannelKind, ChannelShared, MessageType};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::future::{Future, FutureShared, FutureStatus};
use crate::package::{body_from, PackageRef};
use crate::protocol::header::REQREP_SEQ_REF;
use crate::protocol::object;
use crate::value::Value;

/// Marker of an error reply: `("yoton_ERROR_HANDLING_REQUEST", text)` (docs/protocol.md §9.3.5).
pub const ERROR_MARKER: &str = "yoton_ERROR_HANDLING_REQUEST";
/// `req?` is re-broadcast this often while no replier has taken the request.
pub(crate) const RESEND_INTERVAL: Duration = Duration::from_millis(500);
/// Default auto-cancel timeout of a waiting request.
pub const DEFAULT_AUTO_CANCEL: Duration = Duration::from_secs(10);
/// A replier drops its acknowledged pre-request if no request followed within this time.
const REPLIER_FAILSAFE: Duration = Duration::from_secs(10);
/// Longest `sleep` the built-in `echo` honours (it is a test helper, not a way to park us).
const ECHO_MAX_SLEEP: f64 = 60.0;
/// A replier thread re-checks its channel this often.
const REPLIER_POLL: Duration = Duration::from_millis(500);

/// A method handler of a replier: positional args and keyword args in, a value or an error
/// text out.
pub type Handler =
    Arc<dyn Fn(&[Value], &[(Value, Value)]) -> std::result::Result<Value, String> + Send + Sync>;

/// How a replier processes requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepMode {
    /// Requests wait in the queue; nothing is acknowledged (the default).
    Off,
    /// Requests are handled when yoton events are processed.
    Event,
    /// Requests are handled in the channel's own thread.
    Thread,
}

pub(crate) struct ReqState {
    next_id: u64,
    futures: HashMap<u64, Arc<FutureShared>>,
    default_auto_cancel: Option<Duration>,
}

pub(crate) struct ReqExt {
    state: Mutex<ReqState>,
}

impl ReqExt {
    pub(crate) fn new() -> ReqExt {
        ReqExt {
            state: Mutex::new(ReqState {
                next_id: 0,
                futures: HashMap::new(),
                default_auto_cancel: Some(DEFAULT_AUTO_CANCEL),
            }),
        }
    }
    fn state(&self) -> MutexGuard<'_, ReqState> {
        self.state.lock()
    }
}

/// A package to send once the locks are released: (dest_id, dest_seq, body).
type Outgoing = (u64, u64, Vec<u8>);

fn pre_request_body(action: &str) -> Vec<u8> {
    body_from(action.as_bytes())
}

/// Broadcast `req-` for a future (after a user cancel).
pub(crate) fn broadcast_cancel(future: &FutureShared) {
    let Some(channel) = future.channel.as_ref().and_then(Weak::upgrade) else {
        return;
    };
    let id = future.state().request_id;
    // Under the requester lock, like every pre-request word (see `req_tick`).
    let _req = channel.req().state();
    let _ = channel.send_raw(0, id + REQREP_SEQ_REF, pre_request_body("req-"));
}

impl ChannelShared {
    fn req(&self) -> &ReqExt {
        match &self.ext {
            ChannelExt::Req(r) => r,
            _ => unreachable!("not a requester"),
        }
    }

    fn rep(&self) -> &RepExt {
        match &self.ext {
            ChannelExt::Rep(r) => r,
            _ => unreachable!("not a replier"),
        }
    }

    /// Send on the outgoing slot, bypassing the message type (pre-request traffic is raw).
    pub(crate) fn send_raw(&self, dest_id: u64, dest_seq: u64, body: Vec<u8>) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed(format!(
                "Cannot send from closed {}.",
                self.kind.class_name()
            )));
        }
        self.context
            .send(self.slot_out.hash, dest_id, dest_seq, body)
    }

    fn send_all(&self, outgoing: Vec<Outgoing>) {
        for (dest_id, dest_seq, body) in outgoing {
            // A closed channel cannot send; closing it cancelled its waiting futures.
            let _ = self.send_raw(dest_id, dest_seq, body);
        }
    }

    /// Requester: handle acknowledgements and replies that arrived (docs/protocol.md §9.3.3 step 2).
    pub(crate) fn req_process_inbox(&self) {
        let own_id = self.context.id;
        let mut outgoing: Vec<Outgoing> = Vec::new();
        let mut finished: Vec<(Arc<FutureShared>, Result<Value>)> = Vec::new();
        {
            let mut req = self.req().state();
            // (pop in its own statement: a `while let` would hold the inbox lock in the body)
            loop {
                let next = self.take(&mut self.inbox());
                let Some(pkg) = next else { break };
                if pkg.dest_id() != own_id {
                    continue;
                }
                if pkg.dest_seq() > REQREP_SEQ_REF {
                    let id = pkg.dest_seq() - REQREP_SEQ_REF;
                    let Some(future) = req.futures.get(&id) else {
                        continue;
                    };
                    let mut st = future.state();
                    if st.replier != 0 || st.status != FutureStatus::Waiting {
                        continue; // a later ack, or cancelled meanwhile
                    }
                    st.status = FutureStatus::Running;
                    st.replier = pkg.source_id();
                    outgoing.push((pkg.source_id(), id, std::mem::take(&mut st.request)));
                    outgoing.push((0, id + REQREP_SEQ_REF, pre_request_body("req-")));
                } else if pkg.dest_seq() > 0 {
                    let id = pkg.dest_seq();
                    // Only the replier that was sent the request may answer it (docs/protocol.md §13 #18).
                    let from_replier = req
                        .futures
                        .get(&id)
                        .is_some_and(|f| f.state().replier == pkg.source_id());
                    if from_replier {
                        let future = req.futures.remove(&id).expect("checked above");
                        finished.push((future, decode_reply(&pkg)));
                    }
                }
            }
            // Sent under the requester lock (see `req_tick`).
            if !outgoing.is_empty() {
                self.send_all(outgoing);
                self.context.expect_answer();
            }
        }
        for (future, outcome) in finished {
            future.finish(outcome);
        }
    }

    /// Requester housekeeping, every tick: resend `req?`, auto-cancel, forget done futures.
    pub(crate) fn req_tick(&self) {
        let now = Instant::now();
        let mut outgoing = Vec::new();
        let mut cancelled = Vec::new();
        {
            let mut req = self.req().state();
            req.futures.retain(|id, future| {
                let mut st = future.state();
                match st.status {
                    FutureStatus::Waiting => {
                        if st.auto_cancel.is_some_and(|t| now >= st.first_send + t) {
                            drop(st);
                            cancelled.push(future.clone());
                            outgoing.push((0, id + REQREP_SEQ_REF, pre_request_body("req-")));
                            return false;
                        }
                        if now >= st.next_send {
                            st.next_send = now + RESEND_INTERVAL;
                            outgoing.push((0, id + REQREP_SEQ_REF, pre_request_body("req?")));
                        }
                        true
                    }
                    FutureStatus::Running => true,
                    _ => false,
                }
            });
            // Sent under the requester lock, so pre-request words leave in the order they were
            // decided: a `req?` resend that went out after the `req-` of the same request (the
            // ack arrived in between) would leave a Python replier holding a stale
            // acknowledgement for 10 s, deaf to every other request.
            self.send_all(outgoing);
        }
        for future in cancelled {
            future.cancel_local();
        }
        self.req_process_inbox();
    }

    /// The requester closes (or its last handle goes): waiting requests are cancelled (with a
    /// `req-` while it can still send), running ones fail — nothing is left waiting forever.
    pub(crate) fn req_shutdown(&self, can_send: bool) {
        let futures: Vec<(u64, Arc<FutureShared>)> = self.req().state().futures.drain().collect();
        for (id, future) in futures {
            let (_, sent) = future.cancel_local();
            if sent && can_send {
                let _ = self.context.send(
                    self.slot_out.hash,
                    0,
                    id + REQREP_SEQ_REF,
                    pre_request_body("req-"),
                );
            }
            future.finish(Err(Error::closed(
                "the requester was closed while the request was running",
            )));
        }
    }

    /// A direct peer went away: requests it was running can no longer be answered.
    pub(crate) fn req_peer_lost(&self, peer_id: u64, reason: &str) {
        let lost: Vec<Arc<FutureShared>> = {
            let mut req = self.req().state();
            let ids: Vec<u64> = req
                .futures
                .iter()
                .filter(|(_, f)| {
                    let st = f.state();
                    st.status == FutureStatus::Running && st.replier == peer_id
                })
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| req.futures.remove(&id))
                .collect()
        };
        for future in lost {
            future.finish(Err(Error::new(
                ErrorKind::Io,
                format!("the replier's connection closed while it handled the request ({reason})"),
            )));
        }
    }
}

fn decode_reply(pkg: &PackageRef) -> Result<Value> {
    match object::decode(pkg.body()) {
        Ok(Value::Tuple(items))
            if items.len() == 2 && items[0] == Value::Str(ERROR_MARKER.into()) =>
        {
            let text = match &items[1] {
                Value::Str(s) => s.clone(),
                other => other.repr(),
            };
            Err(Error::new(ErrorKind::Remote, text))
        }
        Ok(value) => Ok(value),
        Err(e) => Err(Error::encoding(format!(
            "the reply could not be decoded: {e}"
        ))),
    }
}

pub(crate) struct RepState {
    /// Pre-requests waiting to be acknowledged: (requester id, dest_seq).
    pending: VecDeque<(u64, u64)>,
    /// The acknowledged pre-request and when it was acknowledged.
    current: Option<((u64, u64), Instant)>,
    mode: RepMode,
    thread_running: bool,
}

pub(crate) struct RepExt {
    state: Mutex<RepState>,
    handlers: RwLock<HashMap<String, Handler>>,
    /// Serialises request handling: one request at a time per replier.
    busy: Mutex<()>,
    /// The thread holding `busy` (a leaf lock, held for an instant): a handler that frees its
    /// own channel must not wait for itself.
    handling_thread: Mutex<Option<ThreadId>>,
}

/// A replier's turn at handling requests: the `busy` lock, with the thread recorded.
struct Busy<'a> {
    _guard: MutexGuard<'a, ()>,
    thread: &'a Mutex<Option<ThreadId>>,
}

impl<'a> Busy<'a> {
    fn new(rep: &'a RepExt, guard: MutexGuard<'a, ()>) -> Busy<'a> {
        *rep.handling_thread.lock() = Some(thread::current().id());
        Busy {
            _guard: guard,
            thread: &rep.handling_thread,
        }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        *self.thread.lock() = None;
    }
}

impl RepExt {
    pub(crate) fn new() -> RepExt {
        RepExt {
            state: Mutex::new(RepState {
                pending: VecDeque::new(),
                current: None,
                mode: RepMode::Off,
                thread_running: false,
            }),
            handlers: RwLock::new(HashMap::new()),
            busy: Mutex::new(()),
            handling_thread: Mutex::new(None),
        }
    }
    fn state(&self) -> MutexGuard<'_, RepState> {
        self.state.lock()
    }
}

impl ChannelShared {
    /// Replier: handle every queued package, acknowledging the next pre-request after each
    /// (docs/protocol.md §9.3.4). Returns the number of packages handled.
    pub(crate) fn rep_process_queue(self: &Arc<Self>) -> usize {
        let _busy = Busy::new(self.rep(), self.rep().busy.lock());
        let mut handled = 0;
        loop {
            // (pop in its own statement: a `while let` would hold the inbox lock in the body)
            let next = self.take(&mut self.inbox());
            let Some(pkg) = next else { break };
            self.rep_handle_package(&pkg);
            self.rep_acknowledge_next();
            handled += 1;
        }
        self.rep_acknowledge_next();
        handled
    }

    pub(crate) fn rep_mode(&self) -> RepMode {
        self.rep().state().mode
    }

    pub(crate) fn rep_has_current(&self) -> bool {
        self.rep().state().current.is_some() || !self.inbox().queue.is_empty()
    }

    /// From the reactor (thread mode): if the replier is idle, handle the pre-request
    /// traffic at the front of its queue and acknowledge the next one right away, saving a
    /// thread hop per call. Actual requests are left to the replier's own thread.
    pub(crate) fn rep_fast_path(self: &Arc<Self>) {
        if self.rep_mode() != RepMode::Thread {
            return;
        }
        let Some(_busy) = self.rep().busy.try_lock().map(|g| Busy::new(self.rep(), g)) else {
            return;
        };
        loop {
            let next = {
                let mut inbox = self.inbox();
                match inbox.queue.front() {
                    Some(pkg) if pkg.dest_seq() > REQREP_SEQ_REF => self.take(&mut inbox),
                    _ => None,
                }
            };
            let Some(pkg) = next else { break };
            self.rep_handle_package(&pkg);
        }
        self.rep_acknowledge_next();
    }

    fn rep_handle_package(self: &Arc<Self>, pkg: &PackageRef) {
        let key = (pkg.source_id(), pkg.dest_seq());
        if pkg.dest_seq() > REQREP_SEQ_REF {
            let mut st = self.rep().state();
            st.pending.retain(|p| *p != key);
            match pkg.body() {
                b"req-" if st.current.is_some_and(|(c, _)| c == key) => st.current = None,
                b"req?" => st.pending.push_back(key),
                _ => {}
            }
            return;
        }
        self.rep().state().current = None;
        let reply = self.rep_call(pkg.body());
        let body = match object::encode(&reply) {
            Ok(body) => body,
            // Better than the original (which sends nothing): tell the requester (docs/protocol.md §13 #17).
            Err(e) => object::encode(&error_reply(&format!(
                "the reply could not be encoded: {e}"
            )))
            .expect("error tuples encode"),
        };
        // Sent even if the channel was closed while the handler ran (a handler may free its
        // own channel): the request was taken, and the requester would otherwise wait its
        // whole timeout for an answer that exists.
        let _ = self
            .context
            .send(self.slot_out.hash, pkg.source_id(), pkg.dest_seq(), body);
    }

    /// After closing a replier: wait up to `wait` for a handler in flight on another thread,
    /// then release the registered handlers (and their user data) on the calling thread.
    /// Returns false, releasing nothing, if the handler still runs then or if this is the
    /// handler's own thread; the handlers are then released when the channel's last
    /// reference goes, right after the handler returns.
    pub(crate) fn rep_release_handlers(&self, wait: Duration) -> bool {
        let rep = self.rep();
        if *rep.handling_thread.lock() == Some(thread::current().id()) {
            return false;
        }
        let Some(guard) = rep.busy.try_lock_for(wait) else {
            return false;
        };
        let handlers = std::mem::take(&mut *self.rep().handlers.write());
        drop(guard);
        // User data is released here, with no lock held.
        drop(handlers);
        true
    }

    /// Decode a request and run its handler; any failure becomes an error tuple.
    fn rep_call(&self, body: &[u8]) -> Value {
        let (name, args, kwargs) = match object::decode(body) {
            Ok(Value::Tuple(mut items)) if items.len() == 3 => {
                let kwargs = items.pop().expect("3 items");
                let args = items.pop().expect("3 items");
                let name = items.pop().expect("3 items");
                match (name, args, kwargs) {
                    (Value::Str(name), Value::Tuple(args), Value::Dict(kwargs)) => {
                        (name, args, kwargs)
                    }
                    _ => {
                        return error_reply(
                            "Invalid request: expected (name, args tuple, kwargs dict).",
                        )
                    }
                }
            }
            Ok(_) => {
                return error_reply("Invalid request: expected (name, args tuple, kwargs dict).")
            }
            Err(e) => return error_reply(&format!("Invalid request: {e}")),
        };
        let handler = self.rep().handlers.read().get(&name).cloned();
        let outcome = match handler {
            Some(handler) => catch_unwind(AssertUnwindSafe(|| handler(&args, &kwargs)))
                .unwrap_or_else(|panic| {
                    Err(format!(
                        "the handler of '{name}' panicked: {}",
                        crate::error::panic_text(&*panic)
                    ))
                }),
            None if name == "echo" => echo(self.context.id, &args, &kwargs),
            // Closed with its handlers released while this request waited in the queue.
            None if self.is_closed() => {
                Err("The replier was closed before it handled the request.".to_string())
            }
            None => Err(format!("Method '{name}' not implemented.")),
        };
        outcome.unwrap_or_else(|text| error_reply(&text))
    }

    fn rep_acknowledge_next(&self) {
        let ack = {
            let mut st = self.rep().state();
            if st
                .current
                .is_some_and(|(_, at)| at.elapsed() > REPLIER_FAILSAFE)
            {
                st.current = None;
            }
            if st.current.is_some() {
                return;
            }
            let Some(next) = st.pending.pop_front() else {
                return;
            };
            st.current = Some((next, Instant::now()));
            next
        };
        // No spin here: only a requester, whose caller waits for the reply, polls. The
        // replier's spin for the request after its `req!` cost 0.35 of a core in a
        // back-to-back RPC loop and bought no latency (same-run medians 119-126 µs either way).
        let _ = self.send_raw(ack.0, ack.1, pre_request_body("req!"));
    }
}

fn error_reply(text: &str) -> Value {
    Value::Tuple(vec![
        Value::Str(ERROR_MARKER.into()),
        Value::Str(text.into()),
    ])
}

/// The built-in `echo(arg1, sleep=0)`: replies `(arg1, hex(context id))` like the original.
fn echo(
    context_id: u64,
    args: &[Value],
    kwargs: &[(Value, Value)],
) -> std::result::Result<Value, String> {
    let arg1 = args.first().cloned().unwrap_or(Value::None);
    let sleep = args.get(1).or_else(|| {
        kwargs
            .iter()
            .rev()
            .find(|(k, _)| *k == Value::Str("sleep".into()))
            .map(|(_, v)| v)
    });
    let seconds = match sleep {
        None => 0.0,
        Some(Value::Int(i)) => *i as f64,
        Some(Value::Float(f)) => *f,
        Some(other) => {
            return Err(format!(
                "echo: sleep must be a number, not {}",
                other.repr()
            ))
        }
    };
    if seconds.is_finite() && seconds > 0.0 {
        thread::sleep(Duration::from_secs_f64(seconds.min(ECHO_MAX_SLEEP)));
    }
    Ok(Value::Tuple(vec![
        arg1,
        Value::Str(format!("{context_id:#x}")),
    ]))
}

impl Channel {
    /// A requester on slot base `base` (always OBJECT).
    pub fn requester(context: &Context, base: &str) -> Result<Channel> {
        Channel::new(context, ChannelKind::Req, base, MessageType::Object)
    }

    /// A replier on slot base `base` (always OBJECT), in mode `Off` until `set_mode`.
    pub fn replier(context: &Context, base: &str) -> Result<Channel> {
        Channel::new(context, ChannelKind::Rep, base, MessageType::Object)
    }

    /// Call `method(*args, **kwargs)` on whichever replier takes it first. Returns at once
    /// with a future; the request is auto-cancelled if no replier takes it within the
    /// channel's default timeout (10 s; see `set_default_auto_cancel`).
    pub fn call(
        &self,
        method: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Future> {
        self.expect_kind(&[ChannelKind::Req], "call")?;
        self.check_open()?;
        let kwargs = Value::Dict(
            kwargs
                .into_iter()
                .map(|(k, v)| (Value::Str(k), v))
                .collect(),
        );
        let request = Value::Tuple(vec![
            Value::Str(method.to_string()),
            Value::Tuple(args),
            kwargs,
        ]);
        let body = object::encode(&request)
            .map_err(|e| Error::encoding(format!("the request cannot be encoded: {e}")))?;
        let future = {
            let mut req = self.shared.req().state();
            req.next_id += 1;
            let id = req.next_id;
            let future = FutureShared::new(
                Some(Arc::downgrade(&self.shared)),
                id,
                body,
                req.default_auto_cancel,
            );
            req.futures.insert(id, future.clone());
            future
        };
        self.shared.context.ensure_ticker();
        let id = future.state().request_id;
        self.shared
            .send_raw(0, id + REQREP_SEQ_REF, pre_request_body("req?"))?;
        self.shared.context.expect_answer();
        Ok(Future { shared: future })
    }

    /// Auto-cancel timeout given to new requests of this requester (None: never).
    pub fn set_default_auto_cancel(&self, timeout: Option<Duration>) -> Result<()> {
        self.expect_kind(&[ChannelKind::Req], "set_default_auto_cancel")?;
        self.shared.req().state().default_auto_cancel = timeout;
        Ok(())
    }

    /// Number of requests not finished yet (waiting or running).
    pub fn requests_in_flight(&self) -> Result<usize> {
        self.expect_kind(&[ChannelKind::Req], "requests_in_flight")?;
        Ok(self.shared.req().state().futures.len())
    }

    /// Register (or replace) the handler of `method`. Only registered methods and the built-in
    /// `echo` can be called; anything else gets `"Method '<name>' not implemented."`.
    pub fn register(&self, method: &str, handler: Handler) -> Result<()> {
        self.expect_kind(&[ChannelKind::Rep], "register")?;
        if method.is_empty() {
            return Err(Error::invalid("the method name is empty"));
        }
        self.shared
            .rep()
            .handlers
            .write()
            .insert(method.to_string(), handler);
        Ok(())
    }

    /// Remove the handler of `method`; returns whether there was one.
    pub fn unregister(&self, method: &str) -> Result<bool> {
        self.expect_kind(&[ChannelKind::Rep], "unregister")?;
        Ok(self.shared.rep().handlers.write().remove(method).is_some())
    }

    pub fn mode(&self) -> Result<RepMode> {
        self.expect_kind(&[ChannelKind::Rep], "mode")?;
        Ok(self.shared.rep().state().mode)
    }

    /// Choose how requests are processed. `Thread` starts the channel's thread (it can be
    /// stopped and started again, unlike the original's).
    pub fn set_mode(&self, mode: RepMode) -> Result<()> {
        self.expect_kind(&[ChannelKind::Rep], "set_mode")?;
        self.check_open()?;
        let start_thread = {
            let mut st = self.shared.rep().state();
            st.mode = mode;
            let start = mode == RepMode::Thread && !st.thread_running;
            if start {
                st.thread_running = true;
            }
            start
        };
        match mode {
            RepMode::Thread if start_thread => {
                let weak = Arc::downgrade(&self.shared);
                let spawned = thread::Builder::new()
                    .name("yoton-replier".into())
                    .spawn(move || replier_thread(weak));
                match spawned {
                    // Joined (bounded) when the context goes: no thread outlives it.
                    Ok(handle) => self.shared.context.track_thread(handle),
                    Err(e) => {
                        self.shared.rep().state().thread_running = false;
                        return Err(Error::new(
                            ErrorKind::Internal,
                            format!("cannot start the replier thread: {e}"),
                        ));
                    }
                }
            }
            RepMode::Event => {
                self.shared.context.ensure_ticker();
                // Requests that queued up while off are handled at the next event processing.
                self.shared.after_delivery();
            }
            _ => {}
        }
        // Wake a replier thread that should stop (or re-check its mode).
        self.shared.arrived.notify_all();
        Ok(())
    }

    /// Close a replier and release its handlers (and their user data) on the calling thread,
    /// waiting up to `wait` for a handler running on another thread. Returns false if the
    /// handler still runs then, or if this is called from the handler itself: the handlers are
    /// then released right after it returns, on its thread. Other kinds: `close`, true.
    pub fn close_and_release(&self, wait: Duration) -> bool {
        self.close();
        self.shared.kind != ChannelKind::Rep || self.shared.rep_release_handlers(wait)
    }

    /// Handle every queued request now, in the calling thread (whatever the mode). Returns
    /// how many packages were processed.
    pub fn handle_pending_requests(&self) -> Result<usize> {
        self.expect_kind(&[ChannelKind::Rep], "handle_pending_requests")?;
        Ok(self.shared.rep_process_queue())
    }
}

/// The loop of a replier in thread mode: wait for packages, handle them, repeat; exits when
/// the mode changes, the channel closes, or its last handle is dropped.
fn replier_thread(weak: Weak<ChannelShared>) {
    loop {
        let Some(channel) = weak.upgrade() else {
            return;
        };
        {
            let st = channel.rep().state();
            if st.mode != RepMode::Thread || channel.is_closed() {
                drop(st);
                channel.rep().state().thread_running = false;
                return;
            }
        }
        let has_work = channel.wait_for_pending(REPLIER_POLL);
        if has_work || channel.rep().state().current.is_some() {
            channel.rep_process_queue();
        }
    }
}
