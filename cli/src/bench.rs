//! `yoton bench pub|sub|req|rep HOST:PORT SIZE COUNT [key=value ...]`: the command line,
//! workload and JSON output of the benchmark programs in bench/ (bench/bench_common.h,
//! bench/yoton_bench.c), on the Rust API, so a user can measure their own link. Same slots
//! and types as bench/yoton_bench.c and bench/pyyoton_bench.py: any side can be any of them.
//!
//! pub/sub: BINARY channels on slot base "bench"; each subscriber context binds one port
//! (PORT..PORT+n-1) and publishes "ready" on the TEXT slot base "bench_ready"; the publisher
//! connects to all, waits for n ready messages, then sends COUNT messages whose first 8 bytes
//! are the sequence number (little endian). req/rep: OBJECT RPC on "bench": bench(s) returns
//! s (a string of SIZE bytes), stop() ends the replier.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{json, Value as Json};
use yoton::{Channel, Context, Discard, ErrorKind, MessageType, QueueParams, RepMode, Value};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Pub,
    Sub,
    Req,
    Rep,
}

/// Measure a link with the workload and JSON output of the programs in bench/.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// pub and req connect, sub and rep bind
    #[arg(value_enum)]
    pub role: Role,
    /// Address: HOST:PORT (fan-out: the subscribers bind PORT..PORT+n-1)
    #[arg(value_name = "HOST:PORT")]
    pub address: String,
    /// Message size in bytes (pub/sub: at least 8, the sequence number)
    pub size: usize,
    /// Number of messages (pub/sub) or timed calls (req)
    pub count: u64,
    /// Options as in bench/: n=N (fan-out), mode=block|sync, timeout=S (hard deadline,
    /// default 60), idle=S (sub: stop after S s of silence, default 2), warmup=W (req/rep)
    #[arg(value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

/// The parsed options (bench_args of bench_common.h).
struct Opts {
    system: &'static str,
    role: &'static str,
    host: String,
    port: u16,
    size: usize,
    count: u64,
    n: u16,
    block: bool,
    sync: bool,
    timeout: f64,
    idle: f64,
    warmup: u64,
}

fn usage(what: &str) -> crate::common::Failure {
    crate::common::Failure {
        code: 2,
        message: format!("bench: {what} (see yoton bench --help)"),
    }
}

fn parse(args: &BenchArgs) -> Result<Opts, crate::common::Failure> {
    let (host, port) = args
        .address
        .rsplit_once(':')
        .ok_or_else(|| usage("the address must be HOST:PORT"))?;
    let port: u16 = port.parse().map_err(|_| usage("bad port"))?;
    let role = match args.role {
        Role::Pub => "pub",
        Role::Sub => "sub",
        Role::Req => "req",
        Role::Rep => "rep",
    };
    let mut o = Opts {
        system: "yoton-cli",
        role,
        host: host.to_string(),
        port,
        size: args.size,
        count: args.count,
        n: 1,
        block: false,
        sync: false,
        timeout: 60.0,
        idle: 2.0,
        warmup: (args.count / 10).clamp(5, 1000),
    };
    for kv in &args.options {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| usage(&format!("bad option {kv}")))?;
        let bad = || usage(&format!("bad value in {kv}"));
        match k {
            "n" => o.n = v.parse().map_err(|_| bad())?,
            "timeout" => o.timeout = v.parse().map_err(|_| bad())?,
            "idle" => o.idle = v.parse().map_err(|_| bad())?,
            "warmup" => o.warmup = v.parse().map_err(|_| bad())?,
            "mode" => match v {
                "block" => (o.block, o.system) = (true, "yoton-cli-block"),
                "sync" => (o.sync, o.system) = (true, "yoton-cli-sync"),
                _ => return Err(usage(&format!("mode {v} is not supported (block, sync)"))),
            },
            _ => return Err(usage(&format!("unknown option {kv}"))),
        }
    }
    if port == 0 || o.count == 0 || !(1..=256).contains(&o.n) {
        return Err(usage("PORT, COUNT and n must be positive (n at most 256)"));
    }
    if matches!(args.role, Role::Pub | Role::Sub) && o.size < 8 {
        return Err(usage(
            "pub/sub messages carry an 8-byte sequence number: SIZE >= 8",
        ));
    }
    if !(o.timeout.is_finite() && o.timeout > 1.0) {
        return Err(usage("timeout must be more than 1 second"));
    }
    Ok(o)
}

// --- clocks and process figures (bench_common.h) ------------------------------------------

/// CLOCK_MONOTONIC, seconds: system-wide, so a runner can combine processes.
fn now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage fills the zeroed struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    }
}

/// Process CPU time (user + system, all threads), seconds.
fn cpu_seconds() -> f64 {
    let ru = rusage();
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Peak RSS (VmHWM), KiB.
fn peak_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(rusage().ru_maxrss)
}

/// The output: one JSON line on stdout (the last line of the run).
fn emit(measured: Json, o: &Opts) {
    let mut fields = json!({"system": o.system, "role": o.role});
    if let (Some(all), Json::Object(measured)) = (fields.as_object_mut(), measured) {
        all.extend(measured);
    }
    fields["rss_kib"] = json!(peak_rss_kib());
    fields["ru_maxrss_kib"] = json!(rusage().ru_maxrss);
    fields["cpu_s"] = json!(round(cpu_seconds(), 3));
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{fields}");
    let _ = out.flush();
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// A failure: one JSON line with "ok": false, exit status 1.
fn fail_json(o: &Opts, what: &str) -> crate::common::Failure {
    emit(json!({"ok": false, "error": what}), o);
    crate::common::Failure {
        code: 1,
        message: format!("bench {}: {what}", o.role),
    }
}

/// The hard self-deadline: past it, a JSON line with "ok": false and exit status 3.
fn arm_deadline(timeout: f64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(timeout));
        println!("{{\"ok\": false, \"error\": \"hard timeout (self-deadline)\"}}");
        std::process::exit(3);
    });
}

pub fn bench(args: &BenchArgs) -> crate::common::Outcome {
    let o = parse(args)?;
    arm_deadline(o.timeout);
    // Seconds left before the deadline, minus a margin for reporting.
    let deadline = now() + o.timeout - 1.0;
    let run = Run { o: &o, deadline };
    let result = match args.role {
        Role::Sub => run.sub(),
        Role::Pub => run.publish(),
        Role::Rep => run.rep(),
        Role::Req => run.req(),
    };
    result.map_err(|e| fail_json(&o, &e))?
}

struct Run<'a> {
    o: &'a Opts,
    deadline: f64,
}

type Step<T = crate::common::Outcome> = Result<T, String>;

fn lib(what: &str) -> impl Fn(yoton::Error) -> String + '_ {
    move |e| format!("{what}: {}", e.message())
}

impl Run<'_> {
    fn left(&self) -> f64 {
        self.deadline - now()
    }

    fn context(&self) -> Step<Context> {
        let ctx = Context::new();
        if self.o.block {
            let params = QueueParams {
                discard: Discard::Block,
                ..QueueParams::default()
            };
            ctx.set_queue_params(params).map_err(lib("queue params"))?;
        }
        Ok(ctx)
    }

    fn addr(&self, i: u16) -> String {
        format!("{}:{}", self.o.host, self.o.port as u32 + i as u32)
    }

    // --- pub/sub ----------------------------------------------------------------------------

    fn sub(&self) -> Step {
        let o = self.o;
        let mut receivers = Vec::new();
        for i in 0..o.n {
            let ctx = self.context()?;
            let sub =
                Channel::subscriber(&ctx, "bench", MessageType::Binary).map_err(lib("sub"))?;
            if o.sync {
                sub.set_sync_mode(true).map_err(lib("sync mode"))?;
            }
            let ready =
                Channel::publisher(&ctx, "bench_ready", MessageType::Text).map_err(lib("ready"))?;
            ctx.bind(&self.addr(i), 1, None).map_err(lib("bind"))?;
            // Held in the bind's queue until the publisher connects.
            ready
                .send(format!("ready {} {i}", std::process::id()).as_bytes())
                .map_err(lib("ready"))?;
            receivers.push((ctx, sub, ready));
        }
        let results: Vec<(Rx, Option<String>)> = std::thread::scope(|s| {
            let threads: Vec<_> = receivers
                .iter()
                .map(|(_, sub, _)| s.spawn(move || self.receive(sub)))
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or((Rx::default(), Some("panic".into()))))
                .collect()
        });
        let discarded: u64 = receivers.iter().map(|(c, _, _)| c.discarded()).sum();
        drop(receivers); // hangs up: the publisher may leave
        let received: u64 = results.iter().map(|(r, _)| r.received).sum();
        let mut note = results
            .iter()
            .find_map(|(_, e)| e.clone())
            .unwrap_or_default();
        let ok = note.is_empty() && received > 0;
        if received == 0 && note.is_empty() {
            note = "nothing received".into();
        }
        if discarded > 0 && note.is_empty() {
            note = format!("queue discarded {discarded}");
        }
        let rx: Vec<&Rx> = results.iter().map(|(r, _)| r).collect();
        let with = || rx.iter().filter(|r| r.received > 0);
        let t0 = with().map(|r| r.t_first).fold(f64::INFINITY, f64::min);
        let t1 = with().map(|r| r.t_last).fold(f64::NEG_INFINITY, f64::max);
        let (t0, t1) = if t0.is_finite() { (t0, t1) } else { (0.0, 0.0) };
        let counted: u64 = with().map(|r| r.n_at_last - 1).sum();
        let bytes: u64 = rx.iter().map(|r| r.bytes).sum();
        let gaps: u64 = rx.iter().map(|r| r.gaps).sum();
        let el = t1 - t0;
        let util = rx
            .iter()
            .find(|r| r.t_sample > r.t_first + 0.05)
            .map_or(-1.0, |r| {
                (r.cpu_sample - r.cpu_first) / (r.t_sample - r.t_first)
            });
        let rate = if el > 0.0 { counted as f64 / el } else { 0.0 };
        let mbs = if el > 0.0 && received > 0 {
            rate * bytes as f64 / received as f64 / 1e6
        } else {
            0.0
        };
        let expected = o.count * o.n as u64;
        emit(
            json!({
                "ok": ok, "size": o.size, "count": o.count, "n": o.n, "received": received,
                "bytes": bytes, "elapsed": round(el, 6), "t_first": round(t0, 6),
                "t_last": round(t1, 6), "counted": counted, "msgs_per_s": round(rate, 1),
                "mb_per_s": round(mbs, 3), "lost": expected as i64 - received as i64,
                "gaps": gaps, "cpu_util": round(util, 3), "note": note,
                "per_sub": rx.iter().map(|r| r.received).collect::<Vec<_>>(),
            }),
            o,
        );
        if ok {
            Ok(Ok(()))
        } else {
            Ok(Err(crate::common::fail(format!("bench sub: {note}"))))
        }
    }

    /// One receiver: until COUNT messages, the last sequence number, or `idle` s of silence.
    fn receive(&self, sub: &Channel) -> (Rx, Option<String>) {
        let mut rx = Rx::default();
        while self.left() > 0.0 {
            match sub.recv(Some(Duration::from_millis(500))) {
                Ok(m) => {
                    if rx.add(m.data(), self.o.count) {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Timeout => {
                    if rx.received > 0 && now() - rx.t_last > self.o.idle {
                        break;
                    }
                }
                Err(e) => return (rx, Some(format!("recv error: {}", e.message()))),
            }
        }
        (rx, None)
    }

    fn publish(&self) -> Step {
        let o = self.o;
        let ctx = self.context()?;
        let publisher =
            Channel::publisher(&ctx, "bench", MessageType::Binary).map_err(lib("pub"))?;
        let ready =
            Channel::subscriber(&ctx, "bench_ready", MessageType::Text).map_err(lib("ready"))?;
        for i in 0..o.n {
            let wait = Duration::from_secs_f64(self.left().clamp(0.0, 10.0));
            ctx.connect(&self.addr(i), wait, None)
                .map_err(lib("connect"))?;
        }
        let mut readies = 0;
        while readies < o.n && self.left() > 0.0 {
            if ready.recv(Some(Duration::from_millis(200))).is_ok() {
                readies += 1;
            }
        }
        if readies < o.n {
            return Err("subscribers did not report ready".into());
        }
        let mut buf = vec![b'x'; o.size];
        let (mut sent, mut retries, mut note, mut ok) = (0u64, 0u64, String::new(), true);
        let (t0, cpu0) = (now(), cpu_seconds());
        while sent < o.count {
            buf[..8].copy_from_slice(&sent.to_le_bytes());
            let mut r = publisher.send(&buf);
            // Loss-free mode: a send refused after 1 s of a full queue is tried again.
            while matches!(&r, Err(e) if e.kind() == ErrorKind::Timeout)
                && o.block
                && self.left() > 0.0
            {
                retries += 1;
                r = publisher.send(&buf);
            }
            if let Err(e) = r {
                (ok, note) = (false, format!("send: {}", e.message()));
                break;
            }
            sent += 1;
            if sent & 1023 == 0 && self.left() < 0.0 {
                (ok, note) = (false, "deadline while sending".into());
                break;
            }
        }
        let t1 = now();
        if retries > 0 && note.is_empty() {
            note = format!("{retries} sends refused after 1 s, retried");
        }
        // Deliver what is queued, then wait (bounded) for the subscribers to hang up.
        if ctx
            .flush(Duration::from_secs_f64(self.left().clamp(0.0, 30.0)))
            .is_err()
            && ok
        {
            note = "flush timed out".into();
        }
        while self.left() > 0.0 && ctx.connection_count() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (el, t, cpu) = (t1 - t0, now(), cpu_seconds());
        emit(
            json!({
                "ok": ok, "size": o.size, "count": o.count, "n": o.n, "sent": sent,
                "send_elapsed": round(el, 6),
                "send_msgs_per_s": round(if el > 0.0 { sent as f64 / el } else { 0.0 }, 1),
                "cpu_util": round(if t > t0 { (cpu - cpu0) / (t - t0) } else { -1.0 }, 3),
                "note": note,
            }),
            o,
        );
        Ok(if ok {
            Ok(())
        } else {
            Err(crate::common::fail(format!("bench pub: {note}")))
        })
    }

    // --- req/rep ----------------------------------------------------------------------------

    fn rep(&self) -> Step {
        let o = self.o;
        let ctx = Context::new();
        let rep = Channel::replier(&ctx, "bench").map_err(lib("rep"))?;
        let served = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // The window of the timed calls: (t, cpu) at the first timed call and at stop().
        let window = Arc::new(Mutex::new([(-1.0f64, 0.0f64); 2]));
        let (s, w, warmup) = (served.clone(), window.clone(), o.warmup);
        rep.register(
            "bench",
            Arc::new(move |args: &[Value], _: &[(Value, Value)]| {
                if s.load(Ordering::SeqCst) == warmup {
                    window_mark(&w, 0);
                }
                s.fetch_add(1, Ordering::SeqCst);
                args.first()
                    .cloned()
                    .ok_or_else(|| "bench() takes one argument".to_string())
            }),
        )
        .map_err(lib("register"))?;
        let (st, w) = (stop.clone(), window.clone());
        rep.register(
            "stop",
            Arc::new(move |_: &[Value], _: &[(Value, Value)]| {
                window_mark(&w, 1);
                st.store(true, Ordering::SeqCst);
                Ok(Value::None)
            }),
        )
        .map_err(lib("register"))?;
        rep.set_mode(RepMode::Thread).map_err(lib("rep mode"))?;
        ctx.bind(&self.addr(0), 1, None).map_err(lib("bind"))?;
        while !stop.load(Ordering::SeqCst) && self.left() > 0.0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let ok = stop.load(Ordering::SeqCst);
        // Let the stop reply out, then wait (bounded) for the requester to hang up.
        let _ = ctx.flush(Duration::from_secs(2));
        let t_stop = now();
        while now() - t_stop < 3.0 && self.left() > 0.0 && ctx.connection_count() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let [(t0, c0), (t1, c1)] = *window.lock().expect("window lock");
        let w = if t0 >= 0.0 && t1 > t0 { t1 - t0 } else { 0.0 };
        let c = if w > 0.0 { c1 - c0 } else { 0.0 };
        emit(
            json!({
                "ok": ok, "size": o.size, "served": served.load(Ordering::SeqCst),
                "loop_wall_s": round(w, 4), "loop_cpu_s": round(c, 4),
                "cpu_util": round(if w > 0.0 { c / w } else { -1.0 }, 3),
                "note": if ok { "" } else { "no stop request" },
            }),
            o,
        );
        Ok(if ok {
            Ok(())
        } else {
            Err(crate::common::fail("bench rep: no stop request"))
        })
    }

    fn req(&self) -> Step {
        let o = self.o;
        let ctx = Context::new();
        let req = Channel::requester(&ctx, "bench").map_err(lib("req"))?;
        let wait = Duration::from_secs_f64(self.left().clamp(0.0, 10.0));
        ctx.connect(&self.addr(0), wait, None)
            .map_err(lib("connect"))?;
        let payload = Value::Str("x".repeat(o.size));
        let call = |method: &str, args: Vec<Value>, expect: Option<usize>| -> Step<()> {
            let v = req
                .call(method, args, vec![])
                .and_then(|f| f.result(Some(Duration::from_secs(10))))
                .map_err(lib("call"))?;
            match (expect, v.as_str()) {
                (Some(n), Some(s)) if s.len() == n => Ok(()),
                (Some(_), _) => Err("call: a wrong reply".into()),
                (None, _) => Ok(()),
            }
        };
        for _ in 0..o.warmup {
            call("bench", vec![payload.clone()], Some(o.size))
                .map_err(|e| format!("warmup {e}"))?;
        }
        let mut lat = Vec::with_capacity(o.count as usize);
        let (mut ok, mut note) = (true, String::new());
        let (w0, cpu0) = (now(), cpu_seconds());
        while (lat.len() as u64) < o.count && self.left() > 0.0 {
            let t = now();
            if let Err(e) = call("bench", vec![payload.clone()], Some(o.size)) {
                (ok, note) = (false, e);
                break;
            }
            lat.push(now() - t);
        }
        let (w1, cpu1) = (now(), cpu_seconds());
        if (lat.len() as u64) < o.count && ok {
            (ok, note) = (false, format!("deadline after {} calls", lat.len()));
        }
        let _ = call("stop", vec![], None);
        lat.sort_by(f64::total_cmp);
        let n = lat.len();
        let pick = |q: f64| {
            if n > 0 {
                lat[((n - 1) as f64 * q + 0.5) as usize]
            } else {
                0.0
            }
        };
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => lat[n / 2],
            _ => 0.5 * (lat[n / 2 - 1] + lat[n / 2]),
        };
        let mean = if n > 0 {
            lat.iter().sum::<f64>() / n as f64
        } else {
            0.0
        };
        let (wall, loop_cpu) = (w1 - w0, cpu1 - cpu0);
        let us = |s: f64| round(s * 1e6, 2);
        emit(
            json!({
                "ok": ok, "size": o.size, "count": o.count, "calls": n,
                "median_us": us(median), "p99_us": us(pick(0.99)), "mean_us": us(mean),
                "min_us": us(pick(0.0)), "max_us": us(pick(1.0)), "wall_s": round(wall, 4),
                "calls_per_s": round(if wall > 0.0 { n as f64 / wall } else { 0.0 }, 1),
                "loop_cpu_s": round(loop_cpu, 4),
                "cpu_util": round(if wall > 0.0 { loop_cpu / wall } else { -1.0 }, 3),
                "note": note,
            }),
            o,
        );
        Ok(if ok {
            Ok(())
        } else {
            Err(crate::common::fail(format!("bench req: {note}")))
        })
    }
}

fn window_mark(w: &Mutex<[(f64, f64); 2]>, i: usize) {
    if let Ok(mut w) = w.lock() {
        w[i] = (now(), cpu_seconds());
    }
}

/// A receiver's bookkeeping (bench_rx of bench_common.h).
#[derive(Default)]
struct Rx {
    received: u64,
    bytes: u64,
    t_first: f64,
    t_last: f64,
    n_at_last: u64,
    next_seq: u64,
    gaps: u64,
    cpu_first: f64,
    t_sample: f64,
    cpu_sample: f64,
}

impl Rx {
    /// Account one message; true when this receiver is done (COUNT, or the last seq). The
    /// clock is read for the first, the last, every 64th and every big message (as in C).
    fn add(&mut self, data: &[u8], count: u64) -> bool {
        let seq = data
            .get(..8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        self.received += 1;
        self.bytes += data.len() as u64;
        if seq > self.next_seq {
            self.gaps += seq - self.next_seq;
        }
        self.next_seq = seq + 1;
        let done = self.received >= count || seq + 1 >= count;
        if self.received == 1 {
            (self.t_first, self.t_last, self.n_at_last) = (now(), now(), 1);
            self.cpu_first = cpu_seconds();
        } else if done || self.received & 63 == 0 || data.len() >= 16384 {
            self.t_last = now();
            self.n_at_last = self.received;
            if self.received & 1023 == 0 || data.len() >= 16384 {
                (self.t_sample, self.cpu_sample) = (self.t_last, cpu_seconds());
            }
        }
        done
    }
}
