//! What every subcommand shares: the failure type and exit statuses, joining the network
//! (--bind / --connect), Ctrl-C, message types and the formats of message bodies.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use yoton::{Connection, Context, ErrorKind, MessageType};

/// Exit status of a failure (unreachable, refused, bad input, remote error, ...).
pub const EXIT_FAILURE: i32 = 1;
/// Exit status when nothing came within the time given (--timeout, --wait).
pub const EXIT_TIMEOUT: i32 = 3;
/// Exit status of a command interrupted (Ctrl-C) before it finished its work.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Why a command failed: the one line printed on stderr and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

pub type Outcome<T = ()> = Result<T, Failure>;

pub fn fail(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_FAILURE,
        message: message.into(),
    }
}

pub fn timeout(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_TIMEOUT,
        message: message.into(),
    }
}

pub fn interrupted() -> Failure {
    Failure {
        code: EXIT_INTERRUPTED,
        message: "interrupted".into(),
    }
}

/// A library error with what we were doing; timeouts keep their own exit status.
pub fn lib_error(doing: &str, e: yoton::Error) -> Failure {
    let message = format!("{doing}: {}", e.message());
    if e.kind() == ErrorKind::Timeout {
        timeout(message)
    } else {
        fail(message)
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Ctrl-C (and SIGTERM) set a flag that every waiting loop checks: the command then closes
/// its connections and ends instead of dying mid-write.
pub fn install_interrupt_handler() {
    // A second Ctrl-C while we close ends the process at once.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED);
        }
    });
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// How long waiting loops sleep between checks of the stop flag and of their condition.
pub const POLL: Duration = Duration::from_millis(20);

/// An optional number of seconds as a duration (values checked by clap's parser).
pub fn seconds(s: Option<f64>) -> Option<Duration> {
    s.map(Duration::from_secs_f64)
}

pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .parse()
        .map_err(|_| format!("not a number of seconds: {text}"))?;
    if !(0.0..1e9).contains(&s) {
        return Err(format!("seconds must be between 0 and 1e9, not {text}"));
    }
    Ok(s)
}

/// How a command joins the network; shared by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct Join {
    /// Address of the other node: HOST:PORT or PORT (yoton syntax, e.g. localhost:5000;
    /// `publichost` binds on all interfaces)
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Host the connection at ADDRESS and wait for a peer to connect
    #[arg(long, conflicts_with = "connect")]
    pub bind: bool,
    /// Connect to the node hosting at ADDRESS (the default)
    #[arg(long)]
    pub connect: bool,
    /// Seconds to keep trying to connect, or (with --bind) to wait for a peer before giving
    /// up, for commands that need a peer to do their work
    #[arg(long, value_name = "S", default_value = "5", value_parser = parse_seconds)]
    pub wait: f64,
    /// Print connection events on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

impl Join {
    /// Bind or connect `context` as asked. A bind returns at once (waiting for its peer).
    pub fn join(&self, context: &Context) -> Outcome<Connection> {
        if self.bind {
            let conn = context
                .bind(&self.address, 1, None)
                .map_err(|e| lib_error(&format!("cannot bind {}", self.address), e))?;
            self.note(&format!("hosting at {}:{}", conn.hostname1(), conn.port1()));
            Ok(conn)
        } else {
            let conn = context
                .connect(&self.address, Duration::from_secs_f64(self.wait), None)
                .map_err(|e| lib_error(&format!("cannot connect to {}", self.address), e))?;
            self.note(&format!(
                "connected to {} (peer {:016x})",
                self.address,
                conn.id2()
            ));
            Ok(conn)
        }
    }

    /// Join, and with --bind wait (up to --wait) until a peer connected.
    pub fn join_with_peer(&self, context: &Context) -> Outcome<Connection> {
        let conn = self.join(context)?;
        if self.bind {
            let deadline = Instant::now() + Duration::from_secs_f64(self.wait);
            self.wait_for_peer(&conn, Some(deadline))?;
        }
        Ok(conn)
    }

    /// Wait until a bind has its peer (None: no deadline).
    pub fn wait_for_peer(&self, conn: &Connection, deadline: Option<Instant>) -> Outcome {
        while !conn.is_connected() {
            if stop_requested() {
                return Err(interrupted());
            }
            if !conn.is_alive() {
                return Err(fail(format!(
                    "the connection at {} closed: {}",
                    self.address,
                    conn.close_reason().unwrap_or_default()
                )));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timeout(format!(
                    "no peer connected to {} in time",
                    self.address
                )));
            }
            std::thread::sleep(POLL);
        }
        self.note(&format!("peer {:016x} connected", conn.id2()));
        Ok(())
    }

    pub fn note(&self, what: &str) {
        if self.verbose {
            eprintln!("yoton: {what}");
        }
    }
}

/// Flush what is queued (bounded) and close: what a command sent reaches its peer.
pub fn finish(context: &Context, how_long: Duration) -> Outcome {
    let flushed = context.flush(how_long);
    context.close();
    flushed.map_err(|e| lib_error("cannot deliver what was sent", e))
}

/// The message type of a channel, as the command line names it.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Text,
    Binary,
    Object,
}

impl Type {
    pub fn message_type(self) -> MessageType {
        match self {
            Type::Text => MessageType::Text,
            Type::Binary => MessageType::Binary,
            Type::Object => MessageType::Object,
        }
    }

    /// The format used when none is given: text as is, binary as hex, objects as JSON.
    pub fn default_format(self) -> Format {
        match self {
            Type::Text => Format::Raw,
            Type::Binary => Format::Hex,
            Type::Object => Format::Json,
        }
    }
}

/// How message bodies are written (and read by `pub` and `state`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The body as it is (text: one line per message; binary: the bytes, unseparated)
    Raw,
    /// The body's bytes as lowercase hex, one line per message
    Hex,
    /// One JSON value per line (text: a JSON string; binary: {"$bytes": hex}; object: docs/cli.md)
    Json,
}

/// Write one message body in `format` (a line, except raw binary).
pub fn write_body(out: &mut impl Write, ty: Type, format: Format, body: &[u8]) -> Outcome {
    let line = match format {
        Format::Hex => crate::hex::encode(body),
        Format::Raw => {
            let write = if ty == Type::Binary {
                out.write_all(body)
            } else {
                out.write_all(body).and_then(|_| out.write_all(b"\n"))
            };
            return write
                .and_then(|_| out.flush())
                .map_err(|e| fail(format!("cannot write to stdout: {e}")));
        }
        Format::Json => match ty {
            Type::Text => serde_json::Value::String(String::from_utf8_lossy(body).into_owned()),
            Type::Binary => crate::json::bytes_to_json(body),
            Type::Object => match yoton::protocol::object::decode(body) {
                Ok(v) => crate::json::to_json(&v),
                Err(e) => return Err(fail(format!("undecodable OBJECT message: {e}"))),
            },
        }
        .to_string(),
    };
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(|e| fail(format!("cannot write to stdout: {e}")))
}

/// The body of a message given as `input` in `format` for a channel of type `ty`.
pub fn parse_body(ty: Type, format: Format, input: &[u8]) -> Outcome<Vec<u8>> {
    let text = || std::str::from_utf8(input).map_err(|_| fail("the message is not UTF-8 text"));
    match (format, ty) {
        (Format::Hex, _) => crate::hex::decode(text()?).map_err(fail),
        (Format::Raw, Type::Object) => {
            Err(fail("object messages are given as JSON (--format json)"))
        }
        (Format::Raw, _) => Ok(input.to_vec()),
        (Format::Json, Type::Object) => {
            let value = crate::json::parse_value(text()?).map_err(fail)?;
            yoton::protocol::object::encode(&value).map_err(|e| fail(format!("cannot encode: {e}")))
        }
        (Format::Json, Type::Text) => match serde_json::from_str(text()?) {
            Ok(serde_json::Value::String(s)) => Ok(s.into_bytes()),
            Ok(_) => Err(fail("a text message in JSON must be a JSON string")),
            Err(e) => Err(fail(format!("bad JSON: {e}"))),
        },
        (Format::Json, Type::Binary) => {
            let json: serde_json::Value =
                serde_json::from_str(text()?).map_err(|e| fail(format!("bad JSON: {e}")))?;
            match json.get("$bytes").and_then(|h| h.as_str()) {
                Some(hex) => crate::hex::decode(hex).map_err(fail),
                None => Err(fail(
                    "a binary message in JSON must be {\"$bytes\": \"<hex>\"}",
                )),
            }
        }
    }
}
