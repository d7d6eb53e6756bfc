//! `yoton bench`: the command line and JSON output of the programs in bench/
//! (bench/bench_common.h), pub/sub (also fan-out and loss-free) and req/rep.

mod common;

use std::net::TcpListener;

use common::*;
use serde_json::Value as Json;

/// `n` consecutive ports that were free a moment ago.
fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = first.local_addr().unwrap().port();
        if base as u32 + n as u32 > 65535 {
            continue;
        }
        let rest: Vec<_> = (1..n)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// The JSON line a bench run ends with.
fn last_json(p: &mut Proc) -> Json {
    let out = p.rest_of_stdout();
    let line = out.lines().last().expect("a JSON line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn pair(receiver: &[&str], sender: &[&str]) -> (Json, Json) {
    let mut r = Proc::start(receiver);
    let mut s = Proc::start(sender);
    assert!(s.wait().success(), "{}", s.stderr_text());
    assert!(r.wait().success(), "{}", r.stderr_text());
    (last_json(&mut r), last_json(&mut s))
}

#[test]
fn bench_pub_sub_counts_every_message() {
    for (n, mode, system) in [
        ("n=1", "mode=sync", "yoton-cli-sync"),
        ("n=2", "mode=block", "yoton-cli-block"),
    ] {
        let port = free_ports(2);
        let addr = format!("127.0.0.1:{port}");
        let args = |role| ["bench", role, &addr, "100", "3000", n, mode, "timeout=30"];
        let (sub, publ) = pair(&args("sub"), &args("pub"));
        let fanout: u64 = n[2..].parse().unwrap();
        assert_eq!(sub["system"], system);
        assert_eq!(sub["role"], "sub");
        assert_eq!(sub["ok"], true, "{sub}");
        assert_eq!(sub["received"], 3000 * fanout, "{sub}");
        assert_eq!(sub["lost"], 0);
        assert_eq!(sub["gaps"], 0);
        assert_eq!(sub["bytes"], 300_000 * fanout);
        assert_eq!(sub["per_sub"].as_array().unwrap().len() as u64, fanout);
        assert!(sub["msgs_per_s"].as_f64().unwrap() > 0.0);
        assert!(sub["t_last"].as_f64().unwrap() >= sub["t_first"].as_f64().unwrap());
        assert_eq!(publ["ok"], true, "{publ}");
        assert_eq!(publ["sent"], 3000);
        assert!(publ["rss_kib"].as_i64().unwrap() > 0);
    }
}

#[test]
fn bench_req_rep_times_the_calls() {
    let addr = format!("127.0.0.1:{}", free_ports(1));
    let (rep, req) = pair(
        &["bench", "rep", &addr, "64", "50", "warmup=5"],
        &["bench", "req", &addr, "64", "50", "warmup=5"],
    );
    assert_eq!(req["ok"], true, "{req}");
    assert_eq!(req["calls"], 50);
    let median = req["median_us"].as_f64().unwrap();
    assert!(
        median > 0.0 && median <= req["p99_us"].as_f64().unwrap(),
        "{req}"
    );
    assert_eq!(rep["ok"], true, "{rep}");
    assert_eq!(rep["served"], 55, "warm-up and timed calls");
    assert!(rep["loop_wall_s"].as_f64().unwrap() > 0.0, "{rep}");
}

#[test]
fn bench_usage_and_failures() {
    for args in [
        vec!["bench", "pub", "127.0.0.1:1", "4", "10"],
        vec!["bench", "sub", "127.0.0.1", "64", "10"],
        vec!["bench", "req", "127.0.0.1:1", "64", "10", "mode=zc"],
        vec!["bench", "req", "127.0.0.1:1", "64", "10", "bogus=1"],
    ] {
        let (status, _, err) = run(&args);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
    }
    // Nobody there: one JSON line with "ok": false, status 1.
    let addr = format!("127.0.0.1:{}", free_ports(1));
    let (status, out, _) = run(&["bench", "req", &addr, "64", "10", "timeout=2"]);
    assert_eq!(status.code(), Some(1));
    let json: Json = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json["ok"], false);
    assert!(
        json["error"].as_str().unwrap().contains("connect"),
        "{json}"
    );
}
