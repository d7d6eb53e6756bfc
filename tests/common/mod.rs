//! Helpers shared by the Rust integration tests: loopback networks on free ports and
//! bounded waits (never sleeps-as-assertions).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use yoton::{Connection, Context};

pub const WAIT: Duration = Duration::from_secs(10);

/// Start (once per test binary) a thread that asks parking_lot for lock cycles every 100 ms
/// (its `deadlock_detection` feature is on in test builds) and ends the process with the
/// threads' backtraces if it finds one: a deadlock fails the run instead of hanging it.
pub fn deadlock_watch() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::thread::Builder::new()
            .name("test-deadlock-watch".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_millis(100));
                let cycles = parking_lot::deadlock::check_deadlock();
                if cycles.is_empty() {
                    continue;
                }
                // Straight to stderr: the test harness captures `eprintln!` of test threads
                // and the exit below would swallow it.
                use std::io::Write;
                let mut err = std::io::stderr();
                let _ = writeln!(
                    err,
                    "DEADLOCK: {} lock cycle(s) found by parking_lot",
                    cycles.len()
                );
                for (i, threads) in cycles.iter().enumerate() {
                    for t in threads {
                        let _ = writeln!(
                            err,
                            "cycle {i}, thread {:?}:\n{:?}",
                            t.thread_id(),
                            t.backtrace()
                        );
                    }
                }
                std::process::exit(101);
            })
            .expect("spawn the deadlock watch");
    });
}

/// Wait until `cond` holds, at most `WAIT`; panics with `what` otherwise.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    deadlock_watch();
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Bind `host` on a free port; returns the waiting connection and "127.0.0.1:<port>".
pub fn bind_any(host: &Context) -> (Connection, String) {
    deadlock_watch();
    let conn = host.bind("localhost:0", 1, None).expect("bind");
    let addr = format!("127.0.0.1:{}", conn.port1());
    (conn, addr)
}

/// Connect `client` to `host` over loopback and wait until both sides are connected.
pub fn link(host: &Context, client: &Context) -> (Connection, Connection) {
    let (hc, addr) = bind_any(host);
    let cc = client
        .connect(&addr, Duration::from_secs(5), None)
        .expect("connect");
    wait_for("the host side to be connected", || hc.is_connected());
    (hc, cc)
}

/// Read one handshake line (up to CRLF) from a raw socket, bounded.
pub fn read_line(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") && line.len() < 300 {
        match s.read(&mut b) {
            Ok(1) => line.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}
