//! The event system: queue order, blocking, embedding, the wakeup fd, timers, signals, and
//! connection/channel/future signals. The event loop is process-wide, so these tests run one
//! at a time (SERIAL).

mod common;

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::link;
use yoton::events::{self, Block, Signal, Timer};
use yoton::{Channel, Context, MessageType, RepMode, Value};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Start from an empty queue.
    while events::process_events(Block::No).unwrap() > 0 {}
    guard
}

/// Process events until `cond` holds (bounded).
fn pump_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        events::process_events(Block::For(Duration::from_millis(20))).unwrap();
    }
}

fn readable(fd: i32) -> bool {
    // SAFETY: the fd stays open for the whole process (the event loop is never torn down).
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let probe = socket2::Socket::from(fd.try_clone_to_owned().unwrap());
    let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    probe.peek(&mut b).is_ok()
}

#[test]
fn call_later_order_front_and_back_and_bad_delays() {
    let _s = serial();
    let log = Arc::new(Mutex::new(Vec::new()));
    for (delay, name) in [(0.0, "a"), (0.0, "b"), (-1.0, "front")] {
        let log = log.clone();
        events::call_later(delay, Box::new(move || log.lock().unwrap().push(name))).unwrap();
    }
    assert_eq!(events::pending_events(), 3);
    assert_eq!(events::process_events(Block::No).unwrap(), 3);
    assert_eq!(*log.lock().unwrap(), ["front", "a", "b"]);
    assert!(events::call_later(f64::NAN, Box::new(|| {})).is_err());
    assert!(events::call_later(f64::NEG_INFINITY, Box::new(|| {})).is_err());
    // A delayed call: not before its time, and the timer query sees it.
    let hit = Arc::new(AtomicUsize::new(0));
    let h = hit.clone();
    events::call_later(
        0.2,
        Box::new(move || {
            h.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .unwrap();
    assert!(events::time_until_next_timer().unwrap() <= Duration::from_millis(200));
    assert_eq!(events::process_events(Block::No).unwrap(), 0);
    pump_until("the delayed call", || hit.load(Ordering::SeqCst) == 1);
    // Blocking for a bounded time with nothing queued returns 0.
    assert_eq!(
        events::process_events(Block::For(Duration::from_millis(30))).unwrap(),
        0
    );
}

#[test]
fn wakeup_fd_is_readable_exactly_while_events_are_pending_under_a_burst() {
    let _s = serial();
    let fd = events::wakeup_fd();
    assert!(!readable(fd));
    let ran = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ran = ran.clone();
            thread::spawn(move || {
                for _ in 0..250 {
                    let ran = ran.clone();
                    events::call_later(
                        0.0,
                        Box::new(move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                        }),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    // Drain while the burst is going on: after every drain the fd tells the truth.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ran.load(Ordering::SeqCst) < 1000 {
        assert!(Instant::now() < deadline);
        if readable(fd) {
            events::process_events(Block::No).unwrap();
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(events::pending_events(), 0);
    assert!(!readable(fd));
    events::call_later(0.0, Box::new(|| {})).unwrap();
    assert!(readable(fd));
    events::process_events(Block::No).unwrap();
    assert!(!readable(fd));
}

#[test]
fn embedding_callback_fires_once_per_processing_round() {
    let _s = serial();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    events::embed_event_loop(Some(Arc::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
    })));
    for _ in 0..5 {
        events::call_later(0.0, Box::new(|| {})).unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    events::process_events(Block::No).unwrap();
    events::call_later(0.0, Box::new(|| {})).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    events::embed_event_loop(None);
    events::process_events(Block::No).unwrap();
}

#[test]
fn start_and_stop_from_inside_a_callback_and_reentrancy_is_refused() {
    let _s = serial();
    let reentrant = Arc::new(Mutex::new(None));
    let r = reentrant.clone();
    events::call_later(
        0.05,
        Box::new(move || {
            *r.lock().unwrap() = Some(events::process_events(Block::No).is_err());
            events::stop_event_loop();
        }),
    )
    .unwrap();
    events::start_event_loop().unwrap();
    assert_eq!(*reentrant.lock().unwrap(), Some(true));
    assert!(!events::event_loop_running());
}

#[test]
fn timers_fire_in_order_repeat_and_stop() {
    let _s = serial();
    let log = Arc::new(Mutex::new(Vec::new()));
    let fast = Timer::new(0.05, false).unwrap();
    let slow = Timer::new(0.3, true).unwrap();
    let (l1, l2) = (log.clone(), log.clone());
    fast.signal()
        .bind(Arc::new(move |_: &()| l1.lock().unwrap().push("fast")));
    slow.signal()
        .bind(Arc::new(move |_: &()| l2.lock().unwrap().push("slow")));
    slow.start(None, None).unwrap();
    fast.start(None, None).unwrap();
    assert!(fast.running() && slow.running());
    pump_until("the one-shot timer", || {
        log.lock().unwrap().contains(&"slow")
    });
    assert!(!slow.running());
    let fast_before_slow = log
        .lock()
        .unwrap()
        .iter()
        .take_while(|n| **n == "fast")
        .count();
    assert!(
        fast_before_slow >= 2,
        "the 50 ms timer fires several times before the 300 ms one: {:?}",
        log.lock().unwrap()
    );
    fast.stop();
    events::process_events(Block::For(Duration::from_millis(100))).unwrap();
    let n = log.lock().unwrap().len();
    events::process_events(Block::For(Duration::from_millis(150))).unwrap();
    assert_eq!(log.lock().unwrap().len(), n, "no emission after stop");
    assert!(Timer::new(0.0, true).is_err());
    assert!(Timer::new(f64::NAN, true).is_err());
}

#[test]
fn signals_emit_queued_emit_now_and_unbind() {
    let _s = serial();
    let sig: Signal<i64> = Signal::new();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let id = sig.bind(Arc::new(move |v: &i64| g.lock().unwrap().push(*v)));
    sig.emit(1);
    assert!(got.lock().unwrap().is_empty(), "emit only queues");
    sig.emit_now(2);
    assert_eq!(*got.lock().unwrap(), [2]);
    events::process_events(Block::No).unwrap();
    assert_eq!(*got.lock().unwrap(), [2, 1]);
    sig.emit(3);
    assert!(sig.unbind(id));
    events::process_events(Block::No).unwrap();
    assert_eq!(
        *got.lock().unwrap(),
        [2, 1],
        "no callback after unbind, even for a queued emit"
    );
}

#[test]
fn channel_connection_and_future_signals_run_on_the_processing_thread() {
    let _s = serial();
    let me: ThreadId = thread::current().id();
    let (a, b) = (Context::new(), Context::new());
    let (hc, cc) = link(&a, &b);
    let threads = Arc::new(Mutex::new(Vec::new()));
    // received
    let publ = Channel::publisher(&a, "ev", MessageType::Text).unwrap();
    let sub = Channel::subscriber(&b, "ev", MessageType::Text).unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let (r, t) = (received.clone(), threads.clone());
    sub.received().bind(Arc::new(move |_: &()| {
        r.fetch_add(1, Ordering::SeqCst);
        t.lock().unwrap().push(thread::current().id());
    }));
    for i in 0..10 {
        publ.send(format!("{i}").as_bytes()).unwrap();
    }
    pump_until("received", || {
        received.load(Ordering::SeqCst) >= 1 && sub.pending() == 10
    });
    // replier in event mode + future done callback
    let rep = Channel::replier(&a, "evsvc").unwrap();
    rep.set_mode(RepMode::Event).unwrap();
    let req = Channel::requester(&b, "evsvc").unwrap();
    let f = req.call("echo", vec![Value::Int(5)], vec![]).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let (d, t) = (done.clone(), threads.clone());
    f.add_done_callback(Box::new(move |fut| {
        assert!(fut.done());
        d.fetch_add(1, Ordering::SeqCst);
        t.lock().unwrap().push(thread::current().id());
    }));
    pump_until("the event-mode reply and the done callback", || {
        done.load(Ordering::SeqCst) == 1
    });
    assert_eq!(
        f.result(Some(Duration::ZERO)).unwrap().repr(),
        format!("(5, '{:#x}')", a.id())
    );
    // closed
    let reason = Arc::new(Mutex::new(String::new()));
    let (r, t) = (reason.clone(), threads.clone());
    hc.closed_signal().bind(Arc::new(move |why: &String| {
        *r.lock().unwrap() = why.clone();
        t.lock().unwrap().push(thread::current().id());
    }));
    cc.close(Some("bye"));
    pump_until("closed", || !reason.lock().unwrap().is_empty());
    assert_eq!(*reason.lock().unwrap(), "Closed from other end.");
    assert!(
        threads.lock().unwrap().iter().all(|t| *t == me),
        "callbacks ran on another thread"
    );
}
