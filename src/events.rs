//! The event system (docs/protocol.md §10): one process-wide event queue whose events run only on the thread
//! that processes them (`process_events`, `start_event_loop`, or a host loop that embeds
//! ours). Beyond the original, for native hosts: a level-triggered wakeup file descriptor,
//! readable exactly while events are pending, and the time until the next timer.
//!
//! Signals queue one event per bound handler (`emit`) or call them at once (`emit_now`);
//! timers are signals emitted by one shared timer thread, which runs only while something is
//! pending (plus a short grace).

use parking_lot::{Condvar, Mutex};
use std::collections::{BinaryHeap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A queued event: a closure run on the processing thread.
pub type Event = Box<dyn FnOnce() + Send>;

/// What the embedding host's callback gets called with: nothing; it must arrange for
/// `process_events` to be called on its loop's thread.
pub type EmbedCallback = Arc<dyn Fn() + Send + Sync>;

struct Queue {
    events: VecDeque<Event>,
    /// An embed notification was sent since the last `process_events`.
    notified: bool,
}

struct EventLoop {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// Wakeup pair: one byte sits in `reader` exactly while events are pending.
    reader: UnixStream,
    writer: UnixStream,
    embed: Mutex<Option<EmbedCallback>>,
    running: AtomicBool,
    stop: AtomicBool,
    /// A thread is inside `process_events`: callbacks run on one thread at a time.
    processing: AtomicBool,
    timers: Mutex<TimerQueue>,
    timers_changed: Condvar,
}

fn event_loop() -> &'static EventLoop {
    static LOOP: OnceLock<EventLoop> = OnceLock::new();
    LOOP.get_or_init(|| {
        let (reader, writer) =
            UnixStream::pair().expect("cannot create the yoton wakeup socket pair");
        reader
            .set_nonblocking(true)
            .expect("non-blocking wakeup socket");
        writer
            .set_nonblocking(true)
            .expect("non-blocking wakeup socket");
        EventLoop {
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                notified: false,
            }),
            ready: Condvar::new(),
            reader,
            writer,
            embed: Mutex::new(None),
            running: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            processing: AtomicBool::new(false),
            timers: Mutex::new(TimerQueue::default()),
            timers_changed: Condvar::new(),
        }
    })
}

/// Queue an event at the back (or the front). Safe from any thread.
pub fn post(event: Event, front: bool) {
    let el = event_loop();
    let notify = {
        let mut q = el.queue.lock();
        if q.events.is_empty() {
            // Level-triggered wakeup: the byte stays until the queue is drained.
            let _ = (&el.writer).write(&[1]);
        }
        if front {
            q.events.push_front(event);
        } else {
            q.events.push_back(event);
        }
        !std::mem::replace(&mut q.notified, true)
    };
    el.ready.notify_all();
    if notify {
        let callback = el.embed.lock().clone();
        if let Some(callback) = callback {
            callback();
        }
    }
}

/// Take the next event; the wakeup byte is consumed when the queue becomes empty.
fn pop(el: &EventLoop, until: Option<Instant>, block_forever: bool) -> Option<Event> {
    let mut q = el.queue.lock();
    loop {
        if let Some(event) = q.events.pop_front() {
            if q.events.is_empty() {
                let mut buf = [0u8; 64];
                while matches!((&el.reader).read(&mut buf), Ok(n) if n > 0) {}
            }
            return Some(event);
        }
        if el.stop.load(Ordering::SeqCst) && !block_forever {
            return None;
        }
        let now = Instant::now();
        match (until, block_forever) {
            (_, true) => el.ready.wait(&mut q),
            (Some(deadline), false) if now < deadline => {
                el.ready.wait_for(&mut q, deadline - now);
            }
            _ => return None,
        }
        if block_forever && el.stop.load(Ordering::SeqCst) && q.events.is_empty() {
            return None;
        }
    }
}

thread_local! {
    /// This thread is inside `process_events` (re-entrant calls are refused).
    static IN_EVENTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How long `process_events` may wait for the first event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Block {
    /// Do not wait.
    No,
    /// Wait until an event arrives (or `stop_event_loop`).
    Forever,
    /// Wait at most this long.
    For(Duration),
}

/// Run every queued event on the calling thread; `block` applies to the first one only.
/// Returns the number of events processed. Calls from inside an event on the same thread
/// (re-entrant) are refused, and so are calls while another thread processes events: the
/// callbacks are promised to run on one thread at a time, in order.
pub fn process_events(block: Block) -> Result<usize> {
    let el = event_loop();
    if IN_EVENTS.with(|flag| flag.get()) {
        return Err(Error::invalid(
            "process_events was called from inside an event (re-entrant call)",
        ));
    }
    if el.processing.swap(true, Ordering::SeqCst) {
        return Err(Error::invalid(
            "another thread is processing yoton events: callbacks run on one thread at a time",
        ));
    }
    IN_EVENTS.with(|flag| flag.set(true));
    struct Done(&'static EventLoop);
    impl Drop for Done {
        fn drop(&mut self) {
            IN_EVENTS.with(|flag| flag.set(false));
            self.0.processing.store(false, Ordering::SeqCst);
        }
    }
    let _done = Done(el);
    el.queue.lock().notified = false;
    let (wait, forever) = match block {
        Block::No => (None, false),
        Block::Forever => (None, true),
        Block::For(d) => (Some(Instant::now() + d), false),
    };
    let mut count = 0;
    let Some(first) = pop(el, wait, forever) else {
        return Ok(0);
    };
    run_event(first);
    count += 1;
    while let Some(event) = pop(el, None, false) {
        run_event(event);
        count += 1;
    }
    Ok(count)
}

fn run_event(event: Event) {
    // A panicking callback must not take the host's loop down; it is dropped like the
    // original drops handler exceptions (printed there).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(event));
}

/// Process events until `stop_event_loop` is called. A nested call returns at once.
pub fn start_event_loop() -> Result<()> {
    let el = event_loop();
    if el.running.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    // (The stop flag is cleared on exit, not here: a stop arriving right after the swap above
    // must end this loop, not be lost.)
    let result = (|| {
        while !el.stop.load(Ordering::SeqCst) {
            process_events(Block::For(Duration::from_secs(3)))?;
        }
        Ok(())
    })();
    el.running.store(false, Ordering::SeqCst);
    el.stop.store(false, Ordering::SeqCst);
    result
}

/// Make `start_event_loop` return, and wake a `process_events(Block::Forever)` (safe from any
/// thread and from inside an event). A stop while no loop runs only does the wake-up.
pub fn stop_event_loop() {
    let el = event_loop();
    if el.running.load(Ordering::SeqCst) {
        el.stop.store(true, Ordering::SeqCst);
    }
    post(Box::new(|| {}), false);
}

/// Whether `start_event_loop` is running.
pub fn event_loop_running() -> bool {
    event_loop().running.load(Ordering::SeqCst)
}

/// Let a host loop drive ours: `callback` is invoked (from whichever thread posts) for the
/// first event queued after each `process_events` call; it must arrange for
/// `process_events` to run on the host's thread. None disables embedding.
pub fn embed_event_loop(callback: Option<EmbedCallback>) {
    let el = event_loop();
    *el.embed.lock() = callback;
    let pending = {
        let mut q = el.queue.lock();
        q.notified = !q.events.is_empty();
        !q.events.is_empty()
    };
    // Events already waiting would otherwise never be announced.
    if pending {
        if let Some(callback) = el.embed.lock().clone() {
            callback();
        }
    }
}

/// A file descriptor that is readable exactly while events are pending (level-triggered).
/// Add it to `poll`/`epoll`/a GLib or Qt socket notifier; never read from it yourself.
pub fn wakeup_fd() -> RawFd {
    event_loop().reader.as_raw_fd()
}

/// Number of events waiting.
pub fn pending_events() -> usize {
    event_loop().queue.lock().events.len()
}

/// The largest delay or timer interval accepted, in seconds (about 31.7 years): a larger one
/// is a mistake (and would overflow the clock), so it is refused rather than clamped.
pub const MAX_SECONDS: f64 = 1e9;

/// Run `event` on the processing thread after `delay`: zero queues it at the back, a negative
/// delay at the front. NaN, infinite and beyond-MAX_SECONDS delays are refused.
pub fn call_later(delay: f64, event: Event) -> Result<()> {
    if delay.is_nan() || delay.abs() > MAX_SECONDS {
        return Err(Error::invalid(format!(
            "call_later needs a finite delay of at most {MAX_SECONDS:e} s, not {delay}"
        )));
    }
    if delay == 0.0 {
        post(event, false);
    } else if delay < 0.0 {
        post(event, true);
    } else {
        let once = Mutex::new(Some(event));
        schedule(
            Instant::now() + Duration::from_secs_f64(delay),
            Arc::new(move || {
                if let Some(event) = once.lock().take() {
                    post(event, false);
                }
            }),
            None,
        );
    }
    Ok(())
}

// ---- timers -------------------------------------------------------------------------------

/// Something due at a time, run by the timer thread (it must only post or be quick).
type Due = Arc<dyn Fn() + Send + Sync>;

/// Whether a scheduled entry is still wanted (a stopped or restarted timer's is not).
type Live = Arc<dyn Fn() -> bool + Send + Sync>;

struct Entry {
    at: Instant,
    seq: u64,
    action: Due,
    live: Option<Live>,
}

impl Entry {
    fn is_live(&self) -> bool {
        self.live.as_ref().map_or(true, |live| live())
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // BinaryHeap is a max-heap: the earliest entry must compare greatest.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct TimerQueue {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// A timer thread serves the queue and has not decided to exit (both under this lock).
    thread_running: bool,
}

/// How long the timer thread lingers with nothing pending before it ends. It must end on its
/// own: a host may unload the library once its handles are freed, and no thread of ours may
/// be left running then. The grace spares a respawn per call in a burst of `call_later`s.
const IDLE_GRACE: Duration = Duration::from_secs(1);

#[cfg(not(test))]
fn idle_grace() -> Duration {
    IDLE_GRACE
}

#[cfg(test)]
static TEST_IDLE_GRACE: Mutex<Duration> = Mutex::new(IDLE_GRACE);

/// Unit tests shorten the grace to make the exit race frequent.
#[cfg(test)]
fn idle_grace() -> Duration {
    *TEST_IDLE_GRACE.lock()
}

fn schedule(at: Instant, action: Due, live: Option<Live>) {
    let el = event_loop();
    let mut timers = el.timers.lock();
    timers.seq += 1;
    let seq = timers.seq;
    timers.heap.push(Entry {
        at,
        seq,
        action,
        live,
    });
    // The thread decides to exit under this lock, so either it sees the new entry or it has
    // already cleared the flag and we start a new one.
    if !timers.thread_running {
        thread::Builder::new()
            .name("yoton-timers".into())
            .spawn(timer_thread)
            .expect("cannot spawn the yoton timer thread");
        timers.thread_running = true;
    }
    drop(timers);
    el.timers_changed.notify_all();
}

fn timer_thread() {
    let el = event_loop();
    let mut timers = el.timers.lock();
    let mut idle_since: Option<Instant> = None;
    loop {
        // A stopped or dropped timer leaves its entry behind and does not tell us: discard such
        // entries as they surface, so they neither run nor keep this thread alive.
        while timers.heap.peek().is_some_and(|e| !e.is_live()) {
            timers.heap.pop();
        }
        let now = Instant::now();
        let Some(at) = timers.heap.peek().map(|e| e.at) else {
            let idle = now - *idle_since.get_or_insert(now);
            if idle >= idle_grace() {
                // Under the lock `schedule` takes: an entry pushed after this starts a new thread.
                timers.thread_running = false;
                return;
            }
            el.timers_changed.wait_for(&mut timers, idle_grace() - idle);
            continue;
        };
        idle_since = None;
        if at <= now {
            let entry = timers.heap.pop().expect("peeked");
            drop(timers);
            (entry.action)();
            drop(entry); // what it owns is dropped outside the lock
            timers = el.timers.lock();
        } else {
            // Wake at least once per grace to notice a timer that was stopped meanwhile.
            el.timers_changed
                .wait_for(&mut timers, (at - now).min(idle_grace()));
        }
    }
}

/// Time until the next timer or delayed call is due (None if there is none; zero if overdue).
/// A host loop without threads of its own can use it as its poll timeout.
pub fn time_until_next_timer() -> Option<Duration> {
    let timers = event_loop().timers.lock();
    // Stopped timers leave their entry in the heap (it is skipped when due): ignore them.
    let next = timers
        .heap
        .iter()
        .filter(|e| e.is_live())
        .map(|e| e.at)
        .min()?;
    Some(next.saturating_duration_since(Instant::now()))
}

// ---- signals ------------------------------------------------------------------------------

/// A bound handler of a signal.
pub type SignalHandler<A> = Arc<dyn Fn(&A) + Send + Sync>;

struct SignalShared<A> {
    handlers: Mutex<Vec<(u64, SignalHandler<A>)>>,
    next_id: AtomicU64,
}

impl<A> SignalShared<A> {
    /// The ids bound now (handlers are looked up again when called: one may unbind another).
    fn ids(&self) -> Vec<u64> {
        self.handlers.lock().iter().map(|(id, _)| *id).collect()
    }

    /// The handler bound as `id`, if it still is.
    fn handler(&self, id: u64) -> Option<SignalHandler<A>> {
        self.handlers
            .lock()
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, h)| h.clone())
    }
}

/// A signal carrying an argument of type `A`. Handlers run on the event-processing thread
/// (`emit`) or at once on the caller's thread (`emit_now`). Cloning gives another handle.
pub struct Signal<A> {
    shared: Arc<SignalShared<A>>,
}

impl<A> Clone for Signal<A> {
    fn clone(&self) -> Self {
        Signal {
            shared: self.shared.clone(),
        }
    }
}

impl<A: Clone + Send + Sync + 'static> Default for Signal<A> {
    fn default() -> Self {
        Signal::new()
    }
}

impl<A: Clone + Send + Sync + 'static> Signal<A> {
    pub fn new() -> Signal<A> {
        Signal {
            shared: Arc::new(SignalShared {
                handlers: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// Bind a handler; returns its id for `unbind`.
    pub fn bind(&self, handler: SignalHandler<A>) -> u64 {
        let id = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        self.shared.handlers.lock().push((id, handler));
        id
    }

    /// Unbind one handler (returns whether it was bound). A queued emission of it that has
    /// not run yet is skipped.
    pub fn unbind(&self, id: u64) -> bool {
        let mut handlers = self.shared.handlers.lock();
        let before = handlers.len();
        handlers.retain(|(i, _)| *i != id);
        handlers.len() != before
    }

    /// Unbind every handler.
    pub fn unbind_all(&self) {
        self.shared.handlers.lock().clear();
    }

    pub fn handler_count(&self) -> usize {
        self.shared.handlers.lock().len()
    }

    /// Queue one event per bound handler (safe from any thread).
    pub fn emit(&self, arg: A) {
        for id in self.shared.ids() {
            let weak: Weak<SignalShared<A>> = Arc::downgrade(&self.shared);
            let arg = arg.clone();
            post(
                Box::new(move || {
                    // Look the handler up when the event runs: unbound (or dropped) means skip.
                    if let Some(handler) = weak.upgrade().and_then(|s| s.handler(id)) {
                        handler(&arg);
                    }
                }),
                false,
            );
        }
    }

    /// Call every bound handler now, on this thread. A handler unbound by an earlier one
    /// (during this emission) is not called.
    pub fn emit_now(&self, arg: A) {
        for id in self.shared.ids() {
            if let Some(handler) = self.shared.handler(id) {
                handler(&arg);
            }
        }
    }
}

/// A timer: a signal (no argument) emitted after `interval`, once or repeatedly. Repeating
/// timers re-arm at expiry + interval, like the original.
#[derive(Clone)]
pub struct Timer {
    signal: Signal<()>,
    state: Arc<Mutex<TimerState>>,
}

struct TimerState {
    interval: Duration,
    oneshot: bool,
    /// Incremented on every start/stop: a stale scheduled expiry is ignored.
    generation: u64,
    running: bool,
}

impl Timer {
    /// A stopped timer. The interval must be positive and finite.
    pub fn new(interval: f64, oneshot: bool) -> Result<Timer> {
        let interval = positive_interval(interval)?;
        Ok(Timer {
            signal: Signal::new(),
            state: Arc::new(Mutex::new(TimerState {
                interval,
                oneshot,
                generation: 0,
                running: false,
            })),
        })
    }

    /// The signal the timer emits.
    pub fn signal(&self) -> &Signal<()> {
        &self.signal
    }

    /// (Re)start, optionally changing the interval (seconds) and mode.
    pub fn start(&self, interval: Option<f64>, oneshot: Option<bool>) -> Result<()> {
        let interval = interval.map(positive_interval).transpose()?;
        let (generation, at) = {
            let mut st = self.state.lock();
            if let Some(i) = interval {
                st.interval = i;
            }
            if let Some(o) = oneshot {
                st.oneshot = o;
            }
            st.generation += 1;
            st.running = true;
            (st.generation, Instant::now() + st.interval)
        };
        self.arm(generation, at);
        Ok(())
    }

    pub fn stop(&self) {
        let mut st = self.state.lock();
        st.generation += 1;
        st.running = false;
    }

    pub fn running(&self) -> bool {
        self.state.lock().running
    }

    pub fn interval(&self) -> Duration {
        self.state.lock().interval
    }

    fn arm(&self, generation: u64, at: Instant) {
        let weak_state = Arc::downgrade(&self.state);
        let weak_signal = Arc::downgrade(&self.signal.shared);
        let live_state = Arc::downgrade(&self.state);
        let live: Live = Arc::new(move || {
            live_state.upgrade().is_some_and(|st| {
                let st = st.lock();
                st.running && st.generation == generation
            })
        });
        schedule(
            at,
            Arc::new(move || {
                let (Some(state), Some(shared)) = (weak_state.upgrade(), weak_signal.upgrade())
                else {
                    return;
                };
                let timer = Timer {
                    signal: Signal { shared },
                    state,
                };
                let rearm = {
                    let mut st = timer.state.lock();
                    if st.generation != generation || !st.running {
                        return;
                    }
                    if st.oneshot {
                        st.running = false;
                        None
                    } else {
                        Some(at + st.interval)
                    }
                };
                timer.signal.emit(());
                if let Some(next) = rearm {
                    timer.arm(generation, next);
                }
            }),
            Some(live),
        );
    }
}

fn positive_interval(seconds: f64) -> Result<Duration> {
    if seconds > 0.0 && seconds <= MAX_SECONDS {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(Error::invalid(format!(
            "a timer interval must be positive and at most {MAX_SECONDS:e} s, not {seconds}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn timer_thread_running() -> bool {
        event_loop().timers.lock().thread_running
    }

    /// Entries scheduled while the timer thread is deciding to exit (or has just exited) still
    /// run: with a 1 ms grace nearly every round below races the exit.
    #[test]
    fn events_timer_thread_exit_races_with_schedule() {
        *TEST_IDLE_GRACE.lock() = Duration::from_millis(1);
        let (tx, rx) = mpsc::channel();
        for round in 0..300u64 {
            let tx = Mutex::new(tx.clone());
            let delay = Duration::from_micros(round % 4 * 300);
            schedule(
                Instant::now() + delay,
                Arc::new(move || {
                    let _ = tx.lock().send(round);
                }),
                None,
            );
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(5)),
                Ok(round),
                "round {round} never ran"
            );
            // Vary the pause around the grace so the next schedule lands before, during and
            // after the thread's exit decision.
            thread::sleep(Duration::from_micros(round % 7 * 250));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while timer_thread_running() {
            assert!(Instant::now() < deadline, "the timer thread did not end");
            thread::sleep(Duration::from_millis(1));
        }
        *TEST_IDLE_GRACE.lock() = IDLE_GRACE;
    }
}
