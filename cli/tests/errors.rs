//! Every failure of `yoton` ends with one line on stderr and a non-zero exit status:
//! 1 failure, 2 bad usage, 3 timeout.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::*;
use yoton::{Channel, MessageType};

/// Runs `yoton ARGS`, expects exit status `code` and one stderr line containing `what`.
fn expect_failure(args: &[&str], code: i32, what: &str) {
    let (status, out, err) = run(args);
    assert_eq!(status.code(), Some(code), "{args:?}: stderr {err:?}");
    assert_eq!(out, "", "{args:?}: nothing on stdout");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one stderr line, got {err:?}");
    assert!(lines[0].starts_with("yoton: "), "{err}");
    assert!(
        lines[0].contains(what),
        "{args:?}: {err:?} should say {what:?}"
    );
}

/// A port nothing listens at (it was free a moment ago).
fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("127.0.0.1:{port}")
}

#[test]
fn unreachable_address_fails_for_every_network_subcommand() {
    let addr = closed_port();
    for args in [
        vec!["sub", &addr, "s"],
        vec!["pub", &addr, "s", "m"],
        vec!["state", &addr, "s"],
        vec!["req", &addr, "s", "m"],
        vec!["rep", &addr, "s", "--echo"],
        vec!["monitor", &addr],
    ] {
        let mut args = args.clone();
        args.extend(["--wait", "0.2"]);
        expect_failure(&args, 1, &format!("cannot connect to {addr}"));
    }
    expect_failure(&["request", &addr, "hi", "--timeout", "1"], 1, "request to");
}

#[test]
fn a_peer_that_is_not_yoton_fails_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    });
    expect_failure(&["sub", &addr, "s", "--wait", "2"], 1, "cannot connect");
    server.join().unwrap();
}

#[test]
fn binding_a_taken_port_fails() {
    let (_ctx, conn, _addr) = host();
    let taken = format!("localhost:{}", conn.port1());
    expect_failure(&["sub", "--bind", &taken, "s"], 1, "cannot bind");
    expect_failure(&["serve", &taken, "--echo"], 1, "cannot listen");
}

#[test]
fn timeouts_exit_with_status_3() {
    let (ctx, _conn, addr) = host();
    let _publisher = Channel::publisher(&ctx, "quiet", MessageType::Text).unwrap();
    expect_failure(
        &["sub", &addr, "quiet", "--timeout", "0.3"],
        3,
        "no message on quiet",
    );
    let (_ctx, _conn, addr) = host();
    expect_failure(
        &["req", &addr, "nobody", "m", "--timeout", "0.5"],
        3,
        "no reply to m()",
    );
    let (_ctx, _conn, addr) = host();
    expect_failure(
        &["state", &addr, "unset", "--timeout", "0.3"],
        3,
        "no state on unset",
    );
    expect_failure(
        &["pub", "--bind", "localhost:0", "s", "m", "--wait", "0.2"],
        3,
        "no peer connected",
    );
}

#[test]
fn bad_input_fails_before_connecting() {
    let addr = closed_port();
    // (Nothing listens at addr: these must fail on the input, not on the connect.)
    expect_failure(
        &["pub", &addr, "s", "--type", "object", "{bad"],
        1,
        "bad JSON",
    );
    expect_failure(
        &["pub", &addr, "s", "--type", "binary", "abc"],
        1,
        "bad hex",
    );
    expect_failure(&["pub", &addr, "s", ""], 1, "empty message");
    expect_failure(&["pub", &addr, "s", "a", "-"], 1, "cannot be mixed");
    expect_failure(&["req", &addr, "s", "m", "[1,"], 1, "bad JSON");
    expect_failure(
        &["req", &addr, "s", "m", "[18446744073709551616]"],
        1,
        "64 signed bits",
    );
    expect_failure(
        &["req", &addr, "s", "m", "--kwargs", "[1]"],
        1,
        "JSON object",
    );
    expect_failure(
        &[
            "state",
            &addr,
            "s",
            "{\"$bytes\":\"00\"}",
            "--type",
            "object",
        ],
        1,
        "no bytes type",
    );
}

#[test]
fn a_failing_replier_is_a_failure() {
    let (ctx, _conn, addr) = host();
    let rep = Channel::replier(&ctx, "calc").unwrap();
    rep.register(
        "boom",
        std::sync::Arc::new(|_: &[yoton::Value], _: &[(yoton::Value, yoton::Value)]| {
            Err("it broke".to_string())
        }),
    )
    .unwrap();
    rep.set_mode(yoton::RepMode::Thread).unwrap();
    expect_failure(
        &["req", &addr, "calc", "boom"],
        1,
        "the replier failed: it broke",
    );
}

#[test]
fn bad_usage_exits_with_status_2() {
    for args in [
        vec![],
        vec!["nosuch"],
        vec!["sub", "localhost:1"],
        vec!["sub", "localhost:1", "s", "--type", "nosuch"],
        vec!["sub", "localhost:1", "s", "--bind", "--connect"],
        vec!["rep", "localhost:1", "s"],
        vec!["sub", "localhost:1", "s", "--timeout", "-1"],
    ] {
        let (status, _, err) = run(&args);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("Usage: yoton") || err.starts_with("error: "),
            "{err}"
        );
    }
}

#[test]
fn sub_fails_and_monitor_ends_when_their_peer_leaves() {
    let (ctx, conn, addr) = host();
    let publisher = Channel::publisher(&ctx, "news", MessageType::Text).unwrap();
    let mut sub = Proc::start(&["sub", &addr, "news"]);
    wait_for("yoton sub to connect", || conn.is_connected());
    publisher.send(b"last words").unwrap();
    assert_eq!(sub.line(), "last words");
    drop((publisher, conn, ctx));
    assert_eq!(sub.wait().code(), Some(1));
    let err = sub.stderr_text();
    assert!(
        err.starts_with("yoton: the connection to") && err.contains("closed (1 received)"),
        "{err}"
    );

    // A monitor whose neighbours all left ends too, but that is no failure.
    let (ctx, conn, addr) = host();
    let mut mon = Proc::start(&["monitor", &addr, "-v"]);
    wait_for("yoton monitor to connect", || conn.is_connected());
    drop((conn, ctx));
    assert_eq!(mon.wait().code(), Some(0));
    assert!(mon
        .stderr_text()
        .ends_with("yoton: every connection closed"));
}
