//! CPU cost of an idle connected pair: two contexts linked over loopback in this process,
//! nothing sent for `--seconds`; prints the process's CPU time per wall second (all threads).
//!
//!   cargo run --release --example idle_cpu -- [--seconds 20]

use std::time::{Duration, Instant};

use yoton::Context;

/// CPU time of this process (all threads), in seconds: the scheduler's own accounting,
/// in nanoseconds (/proc/self/stat counts in 10 ms clock ticks, too coarse for an idle pair).
#[allow(unsafe_code)]
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(20.0);
    let (a, b) = (Context::new(), Context::new());
    let host = a.bind("localhost:0", 1, None).expect("bind");
    b.connect(
        &format!("127.0.0.1:{}", host.port1()),
        Duration::from_secs(5),
        None,
    )
    .expect("connect");
    while !host.is_connected() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    println!(
        "{{\"idle_pair_seconds\": {wall:.1}, \"cpu_seconds\": {cpu:.4}, \"cpu_percent\": {:.3}}}",
        100.0 * cpu / wall
    );
}
