//! CPU cost of an idle connected pair: two contexts linked over loopback in this process,
//! nothing sent for `--seconds`; prints the process's CPU time per wall second (all threads).
//!
//!   cargo run --release --example idle_cpu -- [--seconds 20]

use std::time::{Duration, Instant};

use yoton::Context;

/// utime + stime of this process, in seconds (from /proc/self/stat, clock ticks of 100 Hz).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
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
        "{{\"idle_pair_seconds\": {wall:.1}, \"cpu_seconds\": {cpu:.3}, \"cpu_percent\": {:.3}}}",
        100.0 * cpu / wall
    );
}
