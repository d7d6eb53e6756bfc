//! No thread of a context outlives its last handle (a host may unload the library right after
//! freeing). Alone in its test binary: it counts the process's threads by name.

mod common;

use std::time::Duration;

use common::link;
use yoton::{Channel, Context, MessageType, RepMode, Value};

fn yoton_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            let name = name.trim().to_string();
            // The process-wide timer thread is the one thread meant to live on.
            if name.starts_with("yoton-") && name != "yoton-timers" {
                names.push(name);
            }
        }
    }
    names
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
