//! Futures: the pending result of a request (docs/protocol.md §9.3.3). The requester side fills them from
//! replies; the executor-side methods (`set_result`, ...) let users complete their own.

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::channels::ChannelShared;
use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;

/// The original's future states, in its numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum FutureStatus {
    Waiting = 0,
    Running = 1,
    Cancelled = 2,
    Error = 3,
    Success = 4,
}

pub(crate) struct FutureState {
    pub status: FutureStatus,
    pub result: Option<Value>,
    pub error: Option<Error>,
    /// Requester bookkeeping (unused for detached futures).
    pub request_id: u64,
    pub request: Vec<u8>,
    pub replier: u64,
    pub first_send: Instant,
    pub next_send: Instant,
    pub auto_cancel: Option<Duration>,
}

/// A done-callback: gets the future, runs through the event loop.
pub type DoneCallback = Box<dyn FnOnce(&Future) + Send>;

pub(crate) struct FutureShared {
    pub(crate) state: Mutex<FutureState>,
    callbacks: Mutex<Vec<DoneCallback>>,
    /// Ourselves, to hand `Future`s to callbacks.
    me: Weak<FutureShared>,
    done: Condvar,
    /// The requester channel, to broadcast `req-` on cancel (None for detached futures).
    pub(crate) channel: Option<Weak<ChannelShared>>,
}

impl FutureShared {
    pub(crate) fn new(
        channel: Option<Weak<ChannelShared>>,
        request_id: u64,
        request: Vec<u8>,
        auto_cancel: Option<Duration>,
    ) -> Arc<FutureShared> {
        let now = Instant::now();
        Arc::new_cyclic(|me| FutureShared {
            state: Mutex::new(FutureState {
                status: FutureStatus::Waiting,
                result: None,
                error: None,
                request_id,
                request,
                replier: 0,
                first_send: now,
                next_send: now + crate::channels::reqrep::RESEND_INTERVAL,
                auto_cancel,
            }),
            done: Condvar::new(),
            callbacks: Mutex::new(Vec::new()),
            me: me.clone(),
            channel,
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, FutureState> {
        self.state.lock()
    }

    /// Finish with a result or an error, if not done yet. Returns whether it did.
    pub(crate) fn finish(&self, outcome: Result<Value>) -> bool {
        let mut st = self.state();
        if st.status >= FutureStatus::Cancelled {
            return false;
        }
        match outcome {
            Ok(v) => {
                st.result = Some(v);
                st.status = FutureStatus::Success;
            }
            Err(e) => {
                st.error = Some(e);
                st.status = FutureStatus::Error;
            }
        }
        drop(st);
        self.done.notify_all();
        self.run_callbacks();
        true
    }

    /// Queue the done-callbacks as events (each runs once).
    fn run_callbacks(&self) {
        let callbacks = std::mem::take(&mut *self.callbacks.lock());
        if callbacks.is_empty() {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        for callback in callbacks {
            let future = Future { shared: me.clone() };
            crate::events::post(Box::new(move || callback(&future)), false);
        }
    }

    /// Cancel if still waiting (docs/protocol.md §9.3.3): true if cancelled now or already done, false while
    /// running. The caller broadcasts `req-` when `sent_cancel` is returned true.
    pub(crate) fn cancel_local(&self) -> (bool, bool) {
        let mut st = self.state();
        match st.status {
            FutureStatus::Running => (false, false),
            FutureStatus::Waiting => {
                st.status = FutureStatus::Cancelled;
                drop(st);
                self.done.notify_all();
                self.run_callbacks();
                (true, true)
            }
            _ => (true, false),
        }
    }

    /// Wait until done or `timeout` passes; returns the status then. (Polling here before
    /// sleeping, like the reactor does, was measured: no faster in same-run pairs, more CPU.)
    fn wait(&self, timeout: Option<Duration>) -> FutureStatus {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.state();
        while st.status < FutureStatus::Cancelled {
            match deadline {
                None => self.done.wait(&mut st),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    self.done.wait_for(&mut st, deadline - now);
                }
            }
        }
        st.status
    }
}

/// The future result of a request. Cloning gives another handle to the same future.
#[derive(Clone)]
pub struct Future {
    pub(crate) shared: Arc<FutureShared>,
}

impl std::fmt::Debug for Future {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Future({:?})", self.status())
    }
}

impl Default for Future {
    fn default() -> Self {
        Future::new()
    }
}

impl Future {
    /// A future not tied to any request: complete it yourself with `set_result` and friends.
    pub fn new() -> Future {
        Future {
            shared: FutureShared::new(None, 0, Vec::new(), None),
        }
    }

    pub fn status(&self) -> FutureStatus {
        self.shared.state().status
    }
    /// Cancelled, failed or succeeded.
    pub fn done(&self) -> bool {
        self.status() >= FutureStatus::Cancelled
    }
    pub fn running(&self) -> bool {
        self.status() == FutureStatus::Running
    }
    pub fn cancelled(&self) -> bool {
        self.status() == FutureStatus::Cancelled
    }

    /// Cancel a request that no replier has taken yet. False while it is running; true if it
    /// is cancelled now or was already done.
    pub fn cancel(&self) -> bool {
        let (ok, sent) = self.shared.cancel_local();
        if sent {
            crate::channels::reqrep::broadcast_cancel(&self.shared);
        }
        ok
    }

    /// Wait up to `timeout` (None: forever) for the result. Errors: `Timeout`, `Cancelled`,
    /// `Remote` (the replier's error text), `Encoding` (undecodable reply), `Io` (the
    /// replier's connection closed while it ran the request).
    pub fn result(&self, timeout: Option<Duration>) -> Result<Value> {
        match self.shared.wait(timeout) {
            FutureStatus::Success => Ok(self.shared.state().result.clone().unwrap_or(Value::None)),
            FutureStatus::Error => Err(self
                .shared
                .state()
                .error
                .clone()
                .unwrap_or_else(|| Error::new(ErrorKind::Remote, ""))),
            FutureStatus::Cancelled => Err(Error::new(
                ErrorKind::Cancelled,
                "the request was cancelled",
            )),
            _ => Err(Error::timeout(
                "the request did not finish within the timeout",
            )),
        }
    }

    /// The error of a failed request (None if it succeeded). Waits like `result`.
    pub fn exception(&self, timeout: Option<Duration>) -> Result<Option<Error>> {
        match self.result(timeout) {
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Cancelled) => Err(e),
            Err(e) => Ok(Some(e)),
        }
    }

    /// The result if it comes within `timeout`; otherwise cancel and return None. A request a
    /// replier is already running cannot be cancelled: that gives `Timeout`.
    pub fn result_or_cancel(&self, timeout: Duration) -> Result<Option<Value>> {
        match self.result(Some(timeout)) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::Timeout => {
                if self.cancel() && self.cancelled() {
                    Ok(None)
                } else {
                    // Finished meanwhile, or running: report what is true now.
                    match self.result(Some(Duration::ZERO)) {
                        Ok(v) => Ok(Some(v)),
                        Err(e) => Err(e),
                    }
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Cancel automatically if no replier took the request within `timeout` from the call
    /// (None: never). The default comes from the channel (10 s).
    pub fn set_auto_cancel_timeout(&self, timeout: Option<Duration>) {
        self.shared.state().auto_cancel = timeout;
    }

    /// Executor side: move from waiting to running. False if it was cancelled.
    pub fn set_running_or_notify_cancel(&self) -> Result<bool> {
        let mut st = self.shared.state();
        match st.status {
            FutureStatus::Waiting => {
                st.status = FutureStatus::Running;
                Ok(true)
            }
            FutureStatus::Cancelled => Ok(false),
            other => Err(Error::invalid(format!("the future is already {other:?}"))),
        }
    }

    /// Executor side: complete with a value.
    pub fn set_result(&self, value: Value) -> Result<()> {
        if self.shared.finish(Ok(value)) {
            Ok(())
        } else {
            Err(Error::invalid("the future is already done"))
        }
    }

    /// Executor side: complete with an error text (reported as `Remote`).
    pub fn set_exception(&self, text: &str) -> Result<()> {
        if self.shared.finish(Err(Error::new(ErrorKind::Remote, text))) {
            Ok(())
        } else {
            Err(Error::invalid("the future is already done"))
        }
    }

    /// Call `callback` with this future once it is done (cancelled, failed or succeeded),
    /// through the event loop; at once (queued) if it is done already.
    pub fn add_done_callback(&self, callback: DoneCallback) {
        let mut callbacks = self.shared.callbacks.lock();
        if self.done() {
            drop(callbacks);
            let future = self.clone();
            crate::events::post(Box::new(move || callback(&future)), false);
        } else {
            callbacks.push(callback);
        }
    }

    /// Two handles to the same future.
    pub fn same_as(&self, other: &Future) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
