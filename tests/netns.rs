//! Three hosts on real (virtual) links, not loopback (issue 10 item 11): network namespaces
//! A, B and C joined by veth pairs A–B and B–C, that this test creates and deletes itself. B
//! is a pure router: A and C share no link, and every package between them is forwarded by
//! B's context. Where the kernel has `netem`, the links get 50 ms delay and 1 % loss.
//!
//! Checked: pub/sub, state and RPC deliver everything, in order; with the B–C link down,
//! both ends of that link report `timedout` within their timeout; with it up again,
//! `timedout` clears, what was queued meanwhile arrives, nothing lost or duplicated.
//!
//! Needs root (or CAP_NET_ADMIN) and the `ip` tool; skipped with a message otherwise.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use yoton::{Channel, Connection, Context, MessageType, RepMode, Value};

/// The test's namespaces and links; deleted on drop (also when the test fails).
struct Net {
    ns: [String; 3],
    /// Device names: A's end, B's end towards A, B's end towards C, C's end.
    dev: [String; 4],
    netem: bool,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

const A_IP: &str = "10.201.1.1";
const B_IP_A: &str = "10.201.1.2";
const B_IP_C: &str = "10.201.2.1";
const C_IP: &str = "10.201.2.2";

impl Net {
    fn create() -> Result<Net, String> {
        let p = std::process::id();
        let net = Net {
            ns: [format!("yt{p}a"), format!("yt{p}b"), format!("yt{p}c")],
            dev: [
                format!("yt{p}ab"),
                format!("yt{p}ba"),
                format!("yt{p}bc"),
                format!("yt{p}cb"),
            ],
            netem: false,
        };
        let [a, b, c] = net.ns.clone();
        let [ab, ba, bc, cb] = net.dev.clone();
        let (a, b, c, ab, ba, bc, cb) = (&a, &b, &c, &ab, &ba, &bc, &cb);
        for ns in &net.ns {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        for (x, xdev, y, ydev, xip, yip) in
            [(a, ab, b, ba, A_IP, B_IP_A), (b, bc, c, cb, B_IP_C, C_IP)]
        {
            ip(&["link", "add", xdev, "type", "veth", "peer", "name", ydev])?;
            ip(&["link", "set", xdev, "netns", x])?;
            ip(&["link", "set", ydev, "netns", y])?;
            ip(&["-n", x, "addr", "add", &format!("{xip}/24"), "dev", xdev])?;
            ip(&["-n", y, "addr", "add", &format!("{yip}/24"), "dev", ydev])?;
            ip(&["-n", x, "link", "set", xdev, "up"])?;
            ip(&["-n", y, "link", "set", ydev, "up"])?;
        }
        let mut net = net;
        // 50 ms delay and 1 % loss on every device (both directions of both links).
        net.netem = [(a, ab), (b, ba), (b, bc), (c, cb)]
            .iter()
            .all(|(ns, dev)| {
                Command::new("tc")
                    .args(["-n", ns, "qdisc", "add", "dev", dev, "root", "netem"])
                    .args(["delay", "50ms", "loss", "1%"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            });
        Ok(net)
    }

    /// Set the B–C link down or up (B's end).
    fn link_bc(&self, up: bool) {
        ip(&[
            "-n",
            &self.ns[1],
            "link",
            "set",
            &self.dev[2],
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it (and so their peers).
        for ns in &self.ns {
            let _ = ip(&["netns", "delete", ns]);
        }
    }
}

/// Run `f` on a thread inside network namespace `ns`: the sockets it creates (binds and
/// connects) live there; everything else about the contexts is namespace-free.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on this thread only, with a namespace fd we hold open.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Receive `n` texts "prefix-i" in order, nothing else, within the deadline.
fn receive_in_order(sub: &Channel, prefix: &str, range: std::ops::Range<usize>) {
    for i in range {
        let msg = sub
            .recv(Some(Duration::from_secs(20)))
            .unwrap_or_else(|e| panic!("{prefix}-{i}: {e}"));
        assert_eq!(msg.text().unwrap(), format!("{prefix}-{i}"));
    }
}

#[test]
fn three_hosts_with_a_router_survive_delay_loss_and_a_link_outage() {
    common::deadlock_watch();
    let net = match Net::create() {
        Ok(net) => net,
        Err(why) => {
            eprintln!("skipped: cannot create network namespaces here ({why})");
            return;
        }
    };
    if !net.netem {
        eprintln!(
            "note: tc netem is not available in this kernel: the links have no added delay or loss"
        );
    }
    let (a, b, c) = (Context::new(), Context::new(), Context::new());
    // B hosts both links; A and C connect to it from their own namespaces.
    let (b_to_a, b_to_c) = {
        let b = b.clone();
        in_ns(&net.ns[1], move || {
            (
                b.bind(&format!("{B_IP_A}:0"), 1, None).unwrap(),
                b.bind(&format!("{B_IP_C}:0"), 1, None).unwrap(),
            )
        })
    };
    let connect = |ctx: &Context, ns: &str, addr: String| -> Connection {
        let ctx = ctx.clone();
        in_ns(ns, move || {
            ctx.connect(&addr, Duration::from_secs(10), None).unwrap()
        })
    };
    let a_to_b = connect(&a, &net.ns[0], format!("{B_IP_A}:{}", b_to_a.port1()));
    let c_to_b = connect(&c, &net.ns[2], format!("{B_IP_C}:{}", b_to_c.port1()));
    for conn in [&b_to_a, &b_to_c, &a_to_b, &c_to_b] {
        conn.set_timeout(1.0).unwrap();
    }
    assert_eq!(a_to_b.hostname2(), B_IP_A);
    assert_eq!(c_to_b.hostname2(), B_IP_C);

    // Channels on A and C only: B routes.
    let publisher = Channel::publisher(&a, "news", MessageType::Text).unwrap();
    let subscriber = Channel::subscriber(&c, "news", MessageType::Text).unwrap();
    let state_a = Channel::state(&a, "weather", MessageType::Text).unwrap();
    let state_c = Channel::state(&c, "weather", MessageType::Text).unwrap();
    let replier = Channel::replier(&a, "calc").unwrap();
    replier
        .register(
            "add",
            Arc::new(|args: &[Value], _: &[(Value, Value)]| match args {
                [Value::Int(x), Value::Int(y)] => Ok(Value::Int(x + y)),
                _ => Err("add(int, int)".into()),
            }),
        )
        .unwrap();
    replier.set_mode(RepMode::Thread).unwrap();
    let requester = Channel::requester(&c, "calc").unwrap();

    // 1. Everything arrives, in order, across the router (and the delay/loss, if any).
    // The subscription reaches A's publisher through B first: wait until a probe gets through.
    wait_until(
        "the first publication through B",
        Duration::from_secs(20),
        || {
            publisher.send(b"probe").unwrap();
            subscriber
                .recv(Some(Duration::from_millis(200)))
                .is_ok_and(|m| m.text().unwrap() == "probe")
        },
    );
    while subscriber.recv(Some(Duration::ZERO)).is_ok() {}
    for i in 0..300 {
        publisher.send(format!("m-{i}").as_bytes()).unwrap();
    }
    receive_in_order(&subscriber, "m", 0..300);
    state_a.send_state(b"sunny").unwrap();
    wait_until("the state at C", Duration::from_secs(20), || {
        state_c.recv_state().unwrap().text().unwrap() == "sunny"
    });
    for i in 0..20i64 {
        let f = requester
            .call("add", vec![Value::Int(i), Value::Int(1000)], vec![])
            .unwrap();
        assert_eq!(
            f.result(Some(Duration::from_secs(20))).unwrap(),
            Value::Int(i + 1000)
        );
    }

    // 2. The B–C link goes down: both of its ends report timedout (1 s timeout), A's link
    // does not. Publications and a state sent meanwhile wait in B's queue.
    let down_at = Instant::now();
    net.link_bc(false);
    wait_until(
        "timedout on both ends of B–C",
        Duration::from_secs(10),
        || b_to_c.is_timedout() && c_to_b.is_timedout(),
    );
    let noticed = down_at.elapsed();
    assert!(noticed >= Duration::from_millis(900), "{noticed:?}");
    assert!(!a_to_b.is_timedout() && !b_to_a.is_timedout());
    for i in 300..400 {
        publisher.send(format!("m-{i}").as_bytes()).unwrap();
    }
    state_a.send_state(b"stormy").unwrap();
    let pending = requester
        .call("add", vec![Value::Int(1), Value::Int(2)], vec![])
        .unwrap();

    // 3. Up again: timedout clears, the queued traffic arrives, nothing lost or duplicated.
    net.link_bc(true);
    wait_until("timedout to clear", Duration::from_secs(30), || {
        !b_to_c.is_timedout() && !c_to_b.is_timedout()
    });
    receive_in_order(&subscriber, "m", 300..400);
    assert_eq!(
        pending.result(Some(Duration::from_secs(30))).unwrap(),
        Value::Int(3)
    );
    wait_until("the new state at C", Duration::from_secs(20), || {
        state_c.recv_state().unwrap().text().unwrap() == "stormy"
    });
    publisher.send(b"last").unwrap();
    assert_eq!(
        subscriber
            .recv(Some(Duration::from_secs(20)))
            .unwrap()
            .text()
            .unwrap(),
        "last"
    );
    assert!(
        subscriber.recv(Some(Duration::ZERO)).is_err(),
        "a duplicate arrived"
    );
    for ctx in [&a, &b, &c] {
        ctx.close();
    }
    drop(net);
}
