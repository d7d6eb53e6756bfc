//! The fuzz target bodies: one function per target, each taking the raw input. Shared by the
//! cargo-fuzz targets (fuzz/fuzz_targets/*.rs, nightly) and the stable corpus replay
//! (tests/fuzz_corpus.rs), which both include this file with `#[path]`; it uses only `yoton`
//! and std. Every body asserts properties, so a violation is a crash libFuzzer reports.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use yoton::protocol::address::parse_address;
use yoton::protocol::handshake::{encode_line, parse_line, LineError};
use yoton::protocol::header::{BadControl, Header, HEADER_SIZE};
use yoton::protocol::{object, MAX_NAME_BYTES};
use yoton::{Channel, Context, MessageType, RepMode, Status, Value};

/// A target body: the raw input in, a panic on any violated property.
pub type Body = fn(&[u8]);

/// The five targets by name, for the corpus replay.
pub const TARGETS: [(&str, Body); 5] = [
    ("header", header),
    ("handshake", handshake),
    ("object", object),
    ("address", address),
    ("receive", receive),
];

/// A package header (`Header::decode`): the first 56 bytes of the input.
/// Whatever decodes re-encodes to the same bytes; a bad control word is reported as read.
pub fn header(data: &[u8]) {
    let Some(raw) = data.get(..HEADER_SIZE) else {
        return;
    };
    let raw: &[u8; HEADER_SIZE] = raw.try_into().expect("56 bytes");
    match Header::decode(raw) {
        Ok(h) => {
            assert_eq!(&h.encode(), raw);
            assert_eq!(h.connection_signal().is_some(), h.length == 0);
        }
        Err(BadControl(control)) => assert_eq!(control.to_le_bytes(), raw[..8]),
    }
}

/// A handshake line (`parse_line`, which both sides use: the host on the client's line, the
/// client on the host's reply). Whatever parses must survive `encode_line` and parse again.
pub fn handshake(data: &[u8]) {
    match parse_line(data) {
        Ok((id, pid)) => {
            let line = encode_line(id, pid);
            assert!(line.len() < 64, "{line:?}");
            assert_eq!(parse_line(line.as_bytes()), Ok((id, pid)));
        }
        Err(LineError::Empty) => assert!(data.utf8_chunks().all(|c| c.valid().is_empty())),
        Err(LineError::NotYoton | LineError::BadId) => {}
    }
}

/// The OBJECT codec (`object::decode_prefix`, `object::encode`), with the round-trip property:
/// whatever decodes re-encodes (unless it has a list or dict inside a dict key, which the
/// encoder refuses on purpose), and that encoding decodes, in full, to an equal value.
/// Equality is checked on the encodings, which compares floats bit for bit (NaN, -0.0).
pub fn object(data: &[u8]) {
    let Ok((value, used)) = object::decode_prefix(data) else {
        return;
    };
    assert!(used <= data.len());
    match object::encode(&value) {
        Ok(bytes) => {
            let (again, n) = object::decode_prefix(&bytes).expect("our own encoding decodes");
            assert_eq!(n, bytes.len(), "the re-encoding decodes in full");
            assert_eq!(object::encode(&again).expect("re-encodes"), bytes);
        }
        Err(e) => assert!(
            e.0.contains("dict key"),
            "decoded but cannot re-encode: {e}"
        ),
    }
}

/// Address parsing (`parse_address`). A parsed address, written back as
/// `protocol://host:port` (an IPv6 host in brackets), parses to the same address.
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(a) = parse_address(text) else {
        return;
    };
    assert!(!a.host.is_empty());
    let host = if a.host.contains(':') {
        format!("[{}]", a.host)
    } else {
        a.host.clone()
    };
    let again = format!("{}://{host}:{}", a.protocol, a.port);
    if again.len() <= MAX_NAME_BYTES {
        assert_eq!(parse_address(&again).as_ref(), Ok(&a), "{again:?}");
    }
}

/// The peer id the raw client claims in its handshake.
const PEER_ID: u64 = 0x0123_4567_89ab_cdef;
/// How long the host may take to notice the end of the stream: beyond it, a hang.
const CLOSE_DEADLINE: Duration = Duration::from_secs(10);

/// The receive path of a real context over loopback TCP: a `Context` binds (with pub/sub,
/// req/rep and state channels on the bases make_corpus.py uses, so the traffic reaches them),
/// a raw client sends a valid handshake line and the input in one write, then ends its side.
/// The host must close the connection (on EOF or on the bad input) within a deadline, with a
/// reason that is not an internal panic, and what reached the channels must be readable.
pub fn receive(data: &[u8]) {
    let host = Context::new();
    let channels = Receivers::new(&host);
    let conn = host.bind("localhost:0", 1, None).expect("bind");
    let mut client = TcpStream::connect(("127.0.0.1", conn.port1())).expect("connect");
    let mut stream = encode_line(PEER_ID, 4242).into_bytes();
    stream.extend_from_slice(data);
    // The host may close before it has read everything (bad header): write errors are fine.
    client.set_write_timeout(Some(CLOSE_DEADLINE)).ok();
    let _ = client.write_all(&stream);
    let _ = client.shutdown(Shutdown::Write);
    // Drain what the host sends (its line, replies, state) until it closes its side.
    client.set_read_timeout(Some(CLOSE_DEADLINE)).ok();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < CLOSE_DEADLINE {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    while conn.status() != Status::Closed {
        assert!(
            start.elapsed() < CLOSE_DEADLINE,
            "the host did not close the connection within {CLOSE_DEADLINE:?} of the stream's end"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    // The I/O thread turns a panic of its own into this close reason (libFuzzer's panic hook
    // aborts before that; the stable replay needs the check).
    let reason = conn
        .close_reason()
        .expect("a closed connection has a reason");
    assert!(!reason.contains("a bug in yoton"), "{reason}");
    channels.drain();
    host.close();
}

/// The host's channels in `receive`.
struct Receivers {
    text: Channel,
    obj: Channel,
    state_text: Channel,
    state_obj: Channel,
    _req: Channel,
    _rep: Channel,
}

impl Receivers {
    fn new(host: &Context) -> Receivers {
        let rep = Channel::replier(host, "fuzzreq").expect("replier");
        let echo: yoton::Handler = Arc::new(|args: &[Value], _: &[(Value, Value)]| {
            Ok(args.first().cloned().unwrap_or(Value::None))
        });
        rep.register("echo", echo).expect("register");
        rep.set_mode(RepMode::Thread).expect("thread mode");
        Receivers {
            text: Channel::subscriber(host, "fuzz", MessageType::Text).expect("sub"),
            obj: Channel::subscriber(host, "fuzz", MessageType::Object).expect("sub"),
            state_text: Channel::state(host, "fuzzstate", MessageType::Text).expect("state"),
            state_obj: Channel::state(host, "fuzzstate", MessageType::Object).expect("state"),
            _req: Channel::requester(host, "fuzzreq").expect("requester"),
            _rep: rep,
        }
    }

    /// Read every message as its type says (a bad body is an error, never a panic).
    fn drain(&self) {
        for m in self.text.try_iter() {
            let _ = m.text();
        }
        for m in self.obj.try_iter() {
            let _ = m.value();
        }
        let _ = self.state_text.recv_state().map(|m| m.text().map(str::len));
        let _ = self.state_obj.recv_state().map(|m| m.value());
    }
}
