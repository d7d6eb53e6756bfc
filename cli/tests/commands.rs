//! Every subcommand of `yoton` against peers made with the library's Rust API (the same
//! engine as the C library): what it prints, what it sends, and that it exits as documented.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use yoton::clientserver::RequestServer;
use yoton::{Channel, Context, MessageType, RepMode, Value};

#[test]
fn every_subcommand_has_help() {
    let (status, out, _) = run(&["--help"]);
    assert!(status.success());
    let subcommands = [
        "sub", "pub", "state", "req", "rep", "monitor", "request", "serve",
    ];
    for name in subcommands {
        assert!(
            out.contains(&format!("  {name} ")),
            "{name} listed in --help: {out}"
        );
        let (status, help, _) = run(&[name, "--help"]);
        assert!(status.success(), "{name} --help");
        assert!(help.contains(&format!("Usage: yoton {name}")), "{help}");
    }
}

#[test]
fn sub_prints_text_binary_and_object_messages() {
    for (ty, format, expected) in [
        ("text", None, "héllo wörld"),
        ("text", Some("json"), "\"héllo wörld\""),
        ("binary", None, "00ff10"),
        ("binary", Some("json"), "{\"$bytes\":\"00ff10\"}"),
        (
            "object",
            None,
            "{\"$tuple\":[1,2.5,null,{\"$float\":\"inf\"},{\"k\":[true]}]}",
        ),
    ] {
        let (ctx, conn, addr) = host();
        let mt = match ty {
            "text" => MessageType::Text,
            "binary" => MessageType::Binary,
            _ => MessageType::Object,
        };
        let publisher = Channel::publisher(&ctx, "news", mt).unwrap();
        let mut args = vec!["sub", &addr, "news", "--type", ty, "--count", "2"];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        let mut sub = Proc::start(&args);
        wait_for("yoton sub to connect", || conn.is_connected());
        for _ in 0..2 {
            match ty {
                "text" => publisher.send("héllo wörld".as_bytes()).unwrap(),
                "binary" => publisher.send(&[0, 255, 16]).unwrap(),
                _ => publisher
                    .send_value(&Value::Tuple(vec![
                        Value::Int(1),
                        Value::Float(2.5),
                        Value::None,
                        Value::Float(f64::INFINITY),
                        Value::dict([("k", Value::list([true]))]),
                    ]))
                    .unwrap(),
            }
        }
        assert_eq!(sub.line(), expected, "{ty} {format:?}");
        assert_eq!(sub.line(), expected);
        assert!(sub.wait().success(), "exits after --count");
    }
}

#[test]
fn sub_with_bind_waits_for_a_publisher() {
    let mut sub = Proc::start(&["sub", "--bind", "localhost:0", "-v", "news", "--count", "1"]);
    let (ctx, conn) = connect_to(&mut sub);
    let publisher = Channel::publisher(&ctx, "news", MessageType::Text).unwrap();
    sub.wait_stderr("connected");
    publisher.send(b"over the bind").unwrap();
    assert_eq!(sub.line(), "over the bind");
    assert!(sub.wait().success());
    drop(conn);
}

#[test]
fn pub_sends_arguments_repeated_and_stdin_lines() {
    let (ctx, _conn, addr) = host();
    let sub = Channel::subscriber(&ctx, "news", MessageType::Text).unwrap();
    let (status, _, err) = run(&[
        "pub",
        &addr,
        "news",
        "a",
        "b",
        "--count",
        "2",
        "--interval",
        "0.01",
    ]);
    assert!(status.success(), "{err}");
    let got: Vec<String> = (0..4)
        .map(|_| sub.recv(T).unwrap().text().unwrap().to_string())
        .collect();
    assert_eq!(got, ["a", "b", "a", "b"]);

    let (ctx, _conn, addr) = host();
    let sub = Channel::subscriber(&ctx, "news", MessageType::Text).unwrap();
    let (status, _, err) = run_with_stdin(
        &["pub", &addr, "news", "-"],
        "one\r\ntwo ✓\n\nthree".as_bytes(),
    );
    assert!(status.success(), "{err}");
    let got: Vec<String> = (0..3)
        .map(|_| sub.recv(T).unwrap().text().unwrap().to_string())
        .collect();
    assert_eq!(
        got,
        ["one", "two ✓", "three"],
        "one message per non-empty line"
    );

    let (ctx, _conn, addr) = host();
    let sub = Channel::subscriber(&ctx, "news", MessageType::Text).unwrap();
    let (status, _, err) = run_with_stdin(&["pub", &addr, "news", "-", "--whole"], b"x\ny\n");
    assert!(status.success(), "{err}");
    assert_eq!(
        sub.recv(T).unwrap().text().unwrap(),
        "x\ny\n",
        "all of stdin, one message"
    );
}

#[test]
fn pub_sends_binary_and_object_messages() {
    let (ctx, _conn, addr) = host();
    let bin = Channel::subscriber(&ctx, "raw", MessageType::Binary).unwrap();
    let (status, _, err) = run_with_stdin(
        &[
            "pub", &addr, "raw", "-", "--type", "binary", "--format", "raw",
        ],
        &[0, 1, 2, 10, 255],
    );
    assert!(status.success(), "{err}");
    assert_eq!(
        bin.recv(T).unwrap().data(),
        &[0, 1, 2, 10, 255],
        "all of stdin, as is"
    );

    let (ctx, _conn, addr) = host();
    let obj = Channel::subscriber(&ctx, "obj", MessageType::Object).unwrap();
    let json = r#"{"$dict": [[1, {"$tuple": []}], ["k", {"$float": "-inf"}]]}"#;
    let (status, _, err) = run(&["pub", &addr, "obj", "--type", "object", json, "[1, 2.0]"]);
    assert!(status.success(), "{err}");
    assert_eq!(
        obj.recv(T).unwrap().value().unwrap(),
        Value::Dict(vec![
            (Value::Int(1), Value::Tuple(vec![])),
            (Value::Str("k".into()), Value::Float(f64::NEG_INFINITY)),
        ])
    );
    assert_eq!(
        obj.recv(T).unwrap().value().unwrap(),
        Value::list([Value::Int(1), Value::Float(2.0)])
    );
}

#[test]
fn pub_with_bind_waits_for_its_peer() {
    let mut publ = Proc::start(&[
        "pub",
        "--bind",
        "localhost:0",
        "-v",
        "news",
        "hello",
        "--wait",
        "15",
    ]);
    let port = publ.bound_port();
    let ctx = Context::new();
    let sub = Channel::subscriber(&ctx, "news", MessageType::Text).unwrap();
    ctx.connect(&format!("127.0.0.1:{port}"), Duration::from_secs(5), None)
        .unwrap();
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "hello");
    assert!(publ.wait().success());
}

#[test]
fn state_prints_the_current_state_and_sets_it() {
    let (ctx, conn, addr) = host();
    let state = Channel::state(&ctx, "mode", MessageType::Object).unwrap();
    state
        .send_state_value(&Value::tuple([Value::Str("idle".into()), Value::Int(3)]))
        .unwrap();
    let (status, out, err) = run(&["state", &addr, "mode", "--type", "object"]);
    assert!(status.success(), "{err}");
    assert_eq!(out, "{\"$tuple\":[\"idle\",3]}\n");
    wait_for("the first yoton to leave", || !conn.is_alive());

    let (ctx, _conn, addr) = host();
    let state = Channel::state(&ctx, "mode", MessageType::Text).unwrap();
    let (status, _, err) = run(&["state", &addr, "mode", "busy"]);
    assert!(status.success(), "{err}");
    wait_for("the new state", || {
        state.recv_state().unwrap().data() == b"busy"
    });
}

#[test]
fn state_follow_prints_each_change() {
    let (ctx, conn, addr) = host();
    let state = Channel::state(&ctx, "mode", MessageType::Text).unwrap();
    state.send_state(b"one").unwrap();
    let mut follow = Proc::start(&["state", &addr, "mode", "--follow"]);
    assert_eq!(follow.line(), "one");
    state.send_state(b"two").unwrap();
    assert_eq!(follow.line(), "two");
    follow.signal("INT");
    assert!(
        follow.wait().success(),
        "Ctrl-C ends --follow with status 0"
    );
    wait_for("the connection to close", || !conn.is_alive());
}

#[test]
fn req_calls_a_replier_and_prints_json() {
    let (ctx, _conn, addr) = host();
    let rep = Channel::replier(&ctx, "calc").unwrap();
    rep.register(
        "add",
        Arc::new(|args: &[Value], kwargs: &[(Value, Value)]| {
            let scale = kwargs.first().and_then(|(_, v)| v.as_int()).unwrap_or(1);
            Ok(Value::Int(
                scale * args.iter().filter_map(Value::as_int).sum::<i64>(),
            ))
        }),
    )
    .unwrap();
    rep.register(
        "ident",
        Arc::new(|args: &[Value], _: &[(Value, Value)]| Ok(args[0].clone())),
    )
    .unwrap();
    rep.set_mode(RepMode::Thread).unwrap();
    let (status, out, err) = run(&[
        "req",
        &addr,
        "calc",
        "add",
        "[3, 4]",
        "--kwargs",
        "{\"scale\": 10}",
    ]);
    assert!(status.success(), "{err}");
    assert_eq!(out, "70\n");
}

#[test]
fn req_round_trips_values_through_ident() {
    let (ctx, _conn, addr) = host();
    let rep = Channel::replier(&ctx, "calc").unwrap();
    rep.register(
        "ident",
        Arc::new(|args: &[Value], _: &[(Value, Value)]| Ok(args[0].clone())),
    )
    .unwrap();
    rep.set_mode(RepMode::Thread).unwrap();
    // One argument that is not an array is the argument itself.
    let value = r#"{"$dict":[[{"$tuple":[1,2]},[null,-0.0,{"$float":"nan"}]],["s","✓"]]}"#;
    let (status, out, err) = run(&["req", &addr, "calc", "ident", value]);
    assert!(status.success(), "{err}");
    assert_eq!(out.trim(), value);
}

#[test]
fn rep_echo_and_exec_answer_requests() {
    let mut rep = Proc::start(&[
        "rep",
        "--bind",
        "localhost:0",
        "-v",
        "calc",
        "--echo",
        "--count",
        "2",
    ]);
    let (ctx, _conn) = connect_to(&mut rep);
    let req = Channel::requester(&ctx, "calc").unwrap();
    let one = req.call("call", vec![Value::Int(5)], vec![]).unwrap();
    assert_eq!(one.result(T).unwrap(), Value::Int(5));
    let two = req
        .call("echo", vec![Value::Int(1), Value::Str("x".into())], vec![])
        .unwrap();
    assert_eq!(
        two.result(T).unwrap(),
        Value::tuple([Value::Int(1), Value::Str("x".into())])
    );
    assert!(rep.wait().success(), "exits after --count");

    let script =
        r#"read req; echo "$YOTON_METHOD" >&2; printf '%s' "$req" | sed 's/^/[/; s/$/, 42]/'"#;
    let mut rep = Proc::start(&[
        "rep",
        "--bind",
        "localhost:0",
        "-v",
        "calc",
        "--exec",
        script,
        "--method",
        "twice",
    ]);
    let (ctx, _conn) = connect_to(&mut rep);
    let req = Channel::requester(&ctx, "calc").unwrap();
    let f = req
        .call(
            "twice",
            vec![Value::Int(7)],
            vec![("k".into(), Value::None)],
        )
        .unwrap();
    let result = f.result(T).unwrap();
    assert_eq!(
        result,
        Value::list([
            Value::dict([
                ("method", Value::Str("twice".into())),
                ("args", Value::list([7])),
                ("kwargs", Value::dict([("k", Value::None)])),
            ]),
            Value::Int(42),
        ]),
        "the command got the request as JSON and its output is the reply"
    );
    let f = req.call("other", vec![], vec![]).unwrap();
    let e = f.result(T).unwrap_err();
    assert!(
        e.message().contains("Method 'other' not implemented"),
        "{e:?}"
    );
    rep.signal("INT");
    assert!(rep.wait().success(), "Ctrl-C ends rep with status 0");
}

#[test]
fn rep_exec_failure_is_an_error_reply() {
    let mut rep = Proc::start(&[
        "rep",
        "--bind",
        "localhost:0",
        "-v",
        "calc",
        "--exec",
        "echo broken >&2; exit 4",
    ]);
    let (ctx, _conn) = connect_to(&mut rep);
    let req = Channel::requester(&ctx, "calc").unwrap();
    let e = req
        .call("call", vec![], vec![])
        .unwrap()
        .result(T)
        .unwrap_err();
    assert_eq!(e.kind(), yoton::ErrorKind::Remote);
    assert!(e.message().contains("broken"), "{e:?}");
}

#[test]
fn monitor_prints_the_packages_it_routes_on_a_three_node_network() {
    // a - monitor - b: a publishes and calls, b subscribes and replies; all goes through it.
    let mut mon = Proc::start(&[
        "monitor",
        "--bind",
        "localhost:0",
        "localhost:0",
        "-v",
        "--slot",
        "news",
    ]);
    let ports = mon.bound_ports(2);
    let (a, b) = (Context::new(), Context::new());
    let sub = Channel::subscriber(&b, "news", MessageType::Text).unwrap();
    let rep = Channel::replier(&b, "calc").unwrap();
    rep.set_mode(RepMode::Thread).unwrap();
    let publisher = Channel::publisher(&a, "news", MessageType::Text).unwrap();
    let req = Channel::requester(&a, "calc").unwrap();
    a.connect(
        &format!("127.0.0.1:{}", ports[0]),
        Duration::from_secs(5),
        None,
    )
    .unwrap();
    b.connect(
        &format!("127.0.0.1:{}", ports[1]),
        Duration::from_secs(5),
        None,
    )
    .unwrap();
    // Routed through the monitor: b's announcement reaches a.
    let mut lines = Vec::new();
    let mut next_until = |what: &dyn Fn(&str) -> bool, lines: &mut Vec<String>| loop {
        let line = mon.line();
        lines.push(line.clone());
        if what(&line) {
            return line;
        }
        assert!(lines.len() < 1000, "no such line in {lines:?}");
    };
    let b_id = format!("src={:016x}", b.id());
    next_until(
        &|l| l.contains(&b_id) && l.contains("name=(context)"),
        &mut lines,
    );
    publisher.send(b"hello").unwrap();
    assert_eq!(sub.recv(T).unwrap().text().unwrap(), "hello");
    let a_id = format!("src={:016x}", a.id());
    let line = next_until(&|l| l.contains("name=news.txt.pub-sub"), &mut lines);
    assert!(line.contains(&a_id), "{line}");
    assert!(line.contains(" size=5 type=text"), "{line}");
    assert!(
        line.contains(&format!(
            "slot={:016x}",
            yoton::protocol::hash::slot_of("news.txt.pub-sub")
        )),
        "{line}"
    );
    // hh:mm:ss.mmm first, then the sequence number.
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[0].len(), 12, "{line}");
    assert!(fields[2].starts_with("seq=") && fields[2][4..].parse::<u64>().is_ok());
    // A request: names not given with --slot show as "?", the req/rep traffic as such.
    let f = req.call("echo", vec![Value::Int(1)], vec![]).unwrap();
    assert!(f.result(T).is_ok());
    next_until(
        &|l| l.contains("name=? ") && l.contains("type=req/rep"),
        &mut lines,
    );
    mon.signal("INT");
    assert!(mon.wait().success(), "Ctrl-C ends monitor with status 0");
}

#[test]
fn request_and_serve_use_the_line_protocol() {
    let server = RequestServer::bind(
        "localhost:0",
        Arc::new(|req: &str| format!("got {}", req.trim())),
        false,
    )
    .unwrap();
    server.start().unwrap();
    let addr = format!("127.0.0.1:{}", server.port());
    let (status, out, err) = run(&["request", &addr, "ping ✓"]);
    assert!(status.success(), "{err}");
    assert_eq!(out, "got ping ✓\n");
    server.stop();

    let mut serve = Proc::start(&[
        "serve",
        "localhost:0",
        "--exec",
        "tr a-z A-Z",
        "--count",
        "1",
    ]);
    let port = serve.wait_stderr("serving at port ");
    let port = port.rsplit(' ').next().unwrap().to_string();
    let reply = yoton::clientserver::do_request(&format!("127.0.0.1:{port}"), "shout", T).unwrap();
    assert_eq!(reply, "SHOUT\r\n");
    assert!(serve.wait().success(), "exits after --count");
}

#[test]
fn ctrl_c_ends_sub_cleanly() {
    let (_ctx, conn, addr) = host();
    let mut sub = Proc::start(&["sub", &addr, "news"]);
    wait_for("yoton sub to connect", || conn.is_connected());
    sub.signal("INT");
    assert!(sub.wait().success(), "stderr: {}", sub.stderr_text());
    wait_for("the connection to close", || !conn.is_alive());
    assert_eq!(
        conn.close_reason().as_deref(),
        Some("Closed from other end.")
    );
    assert_eq!(sub.stderr_text(), "", "nothing on stderr");
}
