//! No thread of a context outlives its last handle (a host may unload the library right after
//! freeing). Alone in its test binary: it counts the process's threads by name.

mod common;

use std::time::Duration;

use common::link;
use yoton::events::{self, Block, Timer};
use yoton::{Channel, Context, MessageType, RepMode, Value};

fn yoton_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            let name = name.trim().to_string();
            // The process-wide timer thread outlives contexts by design (it ends when no timer
            // is pending; see the test below).
            if name.starts_with("yoton-") && name != "yoton-timers" {
                names.push(name);
            }
        }
    }
    names
}

/// Whether the process-wide timer thread is running (`yoton_threads` leaves it out).
fn timer_thread_running() -> bool {
    std::fs::read_dir("/proc/self/task").unwrap().flatten().any(|task| {
        std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.trim() == "yoton-timers")
    })
}

/// Process events until `cond` holds (bounded).
fn pump_until(what: &str, mut cond: impl FnMut() -> bool) {
    common::wait_for(what, || {
        events::process_events(Block::No).unwrap();
        cond()
    });
}

#[test]
fn dropping_the_last_handle_joins_every_context_thread() {
    assert!(yoton_threads().is_empty(), "{:?}", yoton_threads());
    {
        let (a, b) = (Context::new(), Context::new());
        link(&a, &b);
        let _waiting = a.bind("localhost:0", 1, None).unwrap(); // an accept thread
        let publ = Channel::publisher(&a, "x", MessageType::Text).unwrap();
        let sub = Channel::subscriber(&b, "x", MessageType::Text).unwrap();
        sub.set_sync_mode(true).unwrap(); // the ticker
        publ.send(b"hi").unwrap();
        assert_eq!(sub.recv(Some(Duration::from_secs(5))).unwrap().text().unwrap(), "hi");
        let req = Channel::requester(&b, "svc").unwrap();
        let rep = Channel::replier(&a, "svc").unwrap();
        rep.set_mode(RepMode::Thread).unwrap();
        let f = req.call("echo", vec![Value::Int(1)], vec![]).unwrap();
        f.result(Some(Duration::from_secs(5))).unwrap();
        rep.close();
        assert!(!yoton_threads().is_empty());
        // Channel handles may outlive the context handles; the threads must not.
        drop((a, b));
        let left = yoton_threads();
        // The replier thread notices its closed channel within its poll interval.
        assert!(left.iter().all(|n| n == "yoton-replier"), "{left:?}");
    }
    common::wait_for("the replier thread to end", || yoton_threads().is_empty());
}

#[test]
fn the_timer_thread_ends_when_nothing_is_pending_and_comes_back_on_demand() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let calls = Arc::new(AtomicUsize::new(0));
    let later = |calls: &Arc<AtomicUsize>| {
        let calls = calls.clone();
        events::call_later(0.05, Box::new(move || { calls.fetch_add(1, Ordering::SeqCst); })).unwrap();
    };
    later(&calls);
    pump_until("the delayed call", || calls.load(Ordering::SeqCst) == 1);
    // A repeating timer that fired and was stopped, and one dropped while still armed far ahead
    // (its stale entry must not keep the thread alive).
    let fired = Arc::new(AtomicUsize::new(0));
    let repeating = Timer::new(0.02, false).unwrap();
    let f = fired.clone();
    repeating.signal().bind(Arc::new(move |_: &()| { f.fetch_add(1, Ordering::SeqCst); }));
    repeating.start(None, None).unwrap();
    let far = Timer::new(3600.0, true).unwrap();
    far.start(None, None).unwrap();
    pump_until("the repeating timer", || fired.load(Ordering::SeqCst) >= 2);
    repeating.stop();
    drop((repeating, far));
    common::wait_for("the timer thread to end", || !timer_thread_running());
    // Scheduling again starts it again.
    later(&calls);
    pump_until("the delayed call after a restart", || calls.load(Ordering::SeqCst) == 2);
    common::wait_for("the timer thread to end again", || !timer_thread_running());
}
