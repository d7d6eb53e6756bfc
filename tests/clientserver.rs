//! The client/server helper: round trips, bounds on bad clients and silent servers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use yoton::clientserver::{do_request, RequestServer};
use yoton::ErrorKind;

fn echo_server(per_connection: bool) -> (RequestServer, String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = RequestServer::bind(
        "localhost:0",
        Arc::new(move |request: &str| {
            log.lock().unwrap().push(request.to_string());
            format!("Requested: {request}")
        }),
        per_connection,
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", server.port());
    server.start().unwrap();
    (server, addr, seen)
}

#[test]
fn request_and_reply_keep_the_originals_crlf_conventions() {
    let (server, addr, seen) = echo_server(false);
    let t = Some(Duration::from_secs(5));
    assert_eq!(
        do_request(&addr, "hello", t).unwrap(),
        "Requested: hello\r\n"
    );
    assert_eq!(
        do_request(&addr, "GET / HTTP/1.0\r\n", t).unwrap(),
        "Requested: GET / HTTP/1.0\r\n"
    );
    assert_eq!(
        do_request(&addr, "héllo", t).unwrap(),
        "Requested: héllo\r\n"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["hello\r\n", "GET / HTTP/1.0\r\n", "héllo\r\n"]
    );
    assert_eq!(server.handled(), 3);
    server.stop();
    let err = do_request(&addr, "again", t).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(
        err.message()
            .starts_with("No server is listening at the given port."),
        "{}",
        err.message()
    );
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let start = Instant::now();
    let err = do_request(&addr, "anyone?", Some(Duration::from_millis(300))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(listener);
}

#[test]
fn an_http_server_reply_line_is_returned() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        s.read_to_end(&mut request).unwrap(); // the client shuts down its write side
        s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        request
    });
    let reply = do_request(&addr, "GET / HTTP/1.0\r\n", Some(Duration::from_secs(5))).unwrap();
    assert_eq!(reply, "HTTP/1.0 200 OK\r\n");
    assert_eq!(server.join().unwrap(), b"GET / HTTP/1.0\r\n");
}

#[test]
fn bad_clients_are_dropped_and_others_still_served() {
    for per_connection in [true, false] {
        let (server, addr, _) = echo_server(per_connection);
        // Never sends a line.
        let silent = TcpStream::connect(&addr).unwrap();
        // Megabytes without CRLF.
        let mut flood = TcpStream::connect(&addr).unwrap();
        let junk = vec![b'x'; 4 << 20];
        let flooder = std::thread::spawn(move || {
            let _ = flood.write_all(&junk);
        });
        let reply = do_request(&addr, "still there?", Some(Duration::from_secs(10))).unwrap();
        assert_eq!(reply, "Requested: still there?\r\n");
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.dropped() < 2 {
            assert!(
                Instant::now() < deadline,
                "bad clients were not dropped ({per_connection})"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!server.last_drop_reason().is_empty());
        flooder.join().unwrap();
        drop(silent);
        server.stop();
    }
}

#[test]
fn a_panicking_handler_drops_only_that_request() {
    let server = RequestServer::bind(
        "localhost:0",
        Arc::new(|request: &str| {
            if request.starts_with("boom") {
                panic!("boom")
            } else {
                "ok".to_string()
            }
        }),
        true,
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", server.port());
    server.start().unwrap();
    let t = Some(Duration::from_secs(5));
    assert!(do_request(&addr, "boom", t).is_err());
    assert_eq!(do_request(&addr, "fine", t).unwrap(), "ok\r\n");
    assert_eq!(server.last_drop_reason(), "the request handler panicked");
}
