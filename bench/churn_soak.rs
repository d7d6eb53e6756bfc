//! Churn soak: one long-lived host context while client contexts come and go (1–4 alive at a
//! time), each using every pattern (pub/sub both ways, a state channel on both ends, RPC,
//! timers), then closing. Prints one JSON line every `--sample` seconds with the process's
//! RSS and thread count, and a summary at the end: RSS must stay flat after warm-up.
//!
//!   cargo run --release --example churn_soak -- [--seconds 600] [--sample 10] [--pace 0.02]
//!
//! `--pace S` sleeps S seconds between cycles (0: as fast as possible).

use std::time::{Duration, Instant};

use yoton::events::{self, Block};
use yoton::{Channel, Context, MessageType, RepMode, Value};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One client's life: connect, use every pattern, close.
fn client_cycle(addr: &str, n: u64) -> Result<(), yoton::Error> {
    let ctx = Context::new();
    ctx.connect(addr, Duration::from_secs(5), None)?;
    let sub = Channel::subscriber(&ctx, "news", MessageType::Text)?;
    let publ = Channel::publisher(&ctx, "up", MessageType::Binary)?;
    let state = Channel::state(&ctx, "st", MessageType::Object)?;
    let req = Channel::requester(&ctx, "svc")?;
    for i in 0..20u64 {
        publ.send(&vec![(i % 251) as u8; 64 + (i as usize * 97) % 4000])?;
        state.send_state_value(&Value::Int((n * 100 + i) as i64))?;
    }
    let f = req.call("echo", vec![Value::Int(n as i64)], vec![])?;
    f.result(Some(Duration::from_secs(5)))?;
    while sub.recv(Some(Duration::ZERO)).is_ok() {}
    events::call_later(0.01, Box::new(|| {}))?;
    events::process_events(Block::No)?;
    ctx.flush(Duration::from_secs(2)).ok();
    Ok(())
}

fn main() {
    let seconds = arg("--seconds", 600.0);
    let sample = arg("--sample", 10.0);
    let pace = Duration::from_secs_f64(arg("--pace", 0.02));
    let host = Context::new();
    let news = Channel::publisher(&host, "news", MessageType::Text).unwrap();
    let up = Channel::subscriber(&host, "up", MessageType::Binary).unwrap();
    let state = Channel::state(&host, "st", MessageType::Object).unwrap();
    let rep = Channel::replier(&host, "svc").unwrap();
    rep.set_mode(RepMode::Thread).unwrap();
    let start = Instant::now();
    let mut next_sample = start;
    let (mut cycles, mut errors) = (0u64, 0u64);
    let mut samples: Vec<(f64, u64)> = Vec::new();
    while start.elapsed().as_secs_f64() < seconds {
        // 1–4 clients at a time, each on its own bind of the host.
        let alive = 1 + (cycles % 4) as usize;
        let mut workers = Vec::new();
        for k in 0..alive {
            let bind = host.bind("localhost:0", 1, None).unwrap();
            let addr = format!("127.0.0.1:{}", bind.port1());
            let n = cycles * 4 + k as u64;
            workers.push(std::thread::spawn(move || client_cycle(&addr, n)));
        }
        for i in 0..50u64 {
            let _ = news.send(format!("news {i}").as_bytes());
        }
        let _ = state.send_state_value(&Value::Int(cycles as i64));
        for w in workers {
            match w.join() {
                Ok(Ok(())) => {}
                _ => errors += 1,
            }
        }
        while up.recv(Some(Duration::ZERO)).is_ok() {}
        cycles += 1;
        std::thread::sleep(pace);
        if Instant::now() >= next_sample {
            let t = start.elapsed().as_secs_f64();
            let rss = rss_kib();
            samples.push((t, rss));
            println!("{{\"t\": {t:.1}, \"rss_kib\": {rss}, \"threads\": {}, \"cycles\": {cycles}, \"errors\": {errors}, \"connections\": {}}}", threads(), host.connection_count());
            next_sample += Duration::from_secs_f64(sample);
        }
    }
    // Flat after warm-up: compare the first sample after 20 % of the run with the last.
    let warm = samples
        .iter()
        .find(|(t, _)| *t >= seconds * 0.2)
        .copied()
        .unwrap_or((0.0, 0));
    let last = samples.last().copied().unwrap_or((0.0, 0));
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "{{\"summary\": true, \"seconds\": {seconds}, \"cycles\": {cycles}, \"errors\": {errors}, \"rss_after_warmup_kib\": {}, \"rss_last_kib\": {}, \"rss_max_kib\": {max}, \"growth_kib\": {}}}",
        warm.1,
        last.1,
        last.1 as i64 - warm.1 as i64
    );
}
