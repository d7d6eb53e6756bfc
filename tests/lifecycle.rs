//! No thread of a context outlives its last handle (a host may unload the library right after
//! freeing), and the process-wide timer thread ends when nothing is pending. The tests count
//! the process's threads by name, one test at a time (`ALONE`), with no exemption.

mod common;

use std::time::Duration;

use common::link;
use yoton::events::{self, Block, Timer};
use yoton::{Channel, Context, MessageType, RepMode, Value};

/// The tests of this file count process-wide threads: they run one at a time.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every thread of ours that is running, by name.
fn yoton_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            let name = name.trim().to_string();
            if name.starts_with("yoton-") {
                names.push(name);
            }
        }
    }
    names
}

/// Whether the process-wide timer thread is running.
fn timer_thread_running() -> bool {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .any(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim() == "yoton-timers")
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
    let _alone = alone();
    assert!(yoton_threads().is_empty(), "{:?}", yoton_threads());
    // Channel and connection handles outlive the context handles; the threads must not.
    let (publ, sub, req, rep, rep2, conn);
    {
        let (a, b) = (Context::new(), Context::new());
        let (_, c) = link(&a, &b);
        conn = c;
        let _waiting = a.bind("localhost:0", 1, None).unwrap(); // a bind waiting for a peer
        publ = Channel::publisher(&a, "x", MessageType::Text).unwrap();
        sub = Channel::subscriber(&b, "x", MessageType::Text).unwrap();
        sub.set_sync_mode(true).unwrap(); // channel housekeeping
        publ.send(b"hi").unwrap();
        assert_eq!(
            sub.recv(Some(Duration::from_secs(5)))
                .unwrap()
                .text()
                .unwrap(),
            "hi"
        );
        req = Channel::requester(&b, "svc").unwrap();
        rep = Channel::replier(&a, "svc").unwrap();
        rep.set_mode(RepMode::Thread).unwrap();
        let f = req.call("echo", vec![Value::Int(1)], vec![]).unwrap();
        f.result(Some(Duration::from_secs(5))).unwrap();
        // A second replier thread, left running (not closed) when the context goes.
        rep2 = Channel::replier(&b, "svc2").unwrap();
        rep2.set_mode(RepMode::Thread).unwrap();
        // (A new thread names itself once it runs: wait for that, bounded.)
        let count = |name: &str| yoton_threads().iter().filter(|n| *n == name).count();
        common::wait_for("2 reactor and 2 replier threads", || {
            count("yoton-io") == 2 && count("yoton-replier") == 2
        });
        drop((a, b));
        // Every thread of both contexts is joined by the time the last handle is dropped.
        let left = yoton_threads();
        assert!(left.is_empty(), "{left:?}");
    }
    // The handles left report the context's end cleanly.
    assert!(publ.send(b"late").is_err());
    assert!(!conn.is_connected());
    drop((publ, sub, req, rep, rep2, conn));
    assert!(yoton_threads().is_empty());
}

#[test]
fn the_timer_thread_ends_when_nothing_is_pending_and_comes_back_on_demand() {
    let _alone = alone();
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let calls = Arc::new(AtomicUsize::new(0));
    let later = |calls: &Arc<AtomicUsize>| {
        let calls = calls.clone();
        events::call_later(
            0.05,
            Box::new(move || {
                calls.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    };
    later(&calls);
    pump_until("the delayed call", || calls.load(Ordering::SeqCst) == 1);
    // A repeating timer that fired and was stopped, and one dropped while still armed far ahead
    // (its stale entry must not keep the thread alive).
    let fired = Arc::new(AtomicUsize::new(0));
    let repeating = Timer::new(0.02, false).unwrap();
    let f = fired.clone();
    repeating.signal().bind(Arc::new(move |_: &()| {
        f.fetch_add(1, Ordering::SeqCst);
    }));
    repeating.start(None, None).unwrap();
    let far = Timer::new(3600.0, true).unwrap();
    far.start(None, None).unwrap();
    pump_until("the repeating timer", || fired.load(Ordering::SeqCst) >= 2);
    repeating.stop();
    drop((repeating, far));
    common::wait_for("the timer thread to end", || !timer_thread_running());
    // Scheduling again starts it again.
    later(&calls);
    pump_until("the delayed call after a restart", || {
        calls.load(Ordering::SeqCst) == 2
    });
    common::wait_for("the timer thread to end again", || !timer_thread_running());
}
