//! `yoton sub`, `yoton pub` and `yoton state`.

use std::io::{BufRead, Read, Write};
use std::time::{Duration, Instant};

use clap::Args;
use yoton::{Channel, Context, ErrorKind};

use crate::common::*;

/// Print the messages published on SLOT.
#[derive(Args, Debug)]
pub struct SubArgs {
    #[command(flatten)]
    pub join: Join,
    /// Slot base name (the name the publishers use)
    pub slot: String,
    /// Message type of the channel
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value = "text")]
    pub ty: Type,
    /// How to print each message (default: raw for text, hex for binary, json for object)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Exit (status 0) after N messages
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Exit with status 3 when no message came for S seconds
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub timeout: Option<f64>,
}

pub fn sub(args: &SubArgs) -> Outcome {
    let context = Context::new();
    let channel = Channel::subscriber(&context, &args.slot, args.ty.message_type())
        .map_err(|e| lib_error("cannot create the subscriber", e))?;
    let conn = args.join.join(&context)?;
    let format = args.format.unwrap_or(args.ty.default_format());
    let idle = seconds(args.timeout);
    let mut out = std::io::stdout().lock();
    let mut received = 0u64;
    let mut last = Instant::now();
    let mut announced = false;
    while !matches!(args.count, Some(n) if received >= n) {
        if stop_requested() {
            break;
        }
        if !announced && conn.is_connected() {
            announced = true;
            if args.join.bind {
                args.join
                    .note(&format!("peer {:016x} connected", conn.id2()));
            }
        }
        if idle.is_some_and(|t| last.elapsed() >= t) {
            context.close();
            return Err(timeout(format!(
                "no message on {} for {} s ({received} received)",
                args.slot,
                args.timeout.unwrap_or(0.0)
            )));
        }
        match channel.recv(Some(POLL * 5)) {
            Ok(message) => {
                write_body(&mut out, args.ty, format, message.data())?;
                received += 1;
                last = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {
                // (Checked once the queue is empty: what arrived before the close is printed.)
                if !conn.is_alive() {
                    context.close();
                    return Err(fail(format!(
                        "the connection to {} closed ({received} received): {}",
                        args.join.address,
                        conn.close_reason().unwrap_or_default()
                    )));
                }
            }
            Err(e) => return Err(lib_error("cannot receive", e)),
        }
    }
    context.close();
    Ok(())
}

/// Publish messages on SLOT: the MESSAGE arguments, or stdin with `-`.
#[derive(Args, Debug)]
pub struct PubArgs {
    #[command(flatten)]
    pub join: Join,
    /// Slot base name
    pub slot: String,
    /// Messages to publish; `-` reads stdin: one message per line, or all of stdin as one
    /// message with --whole (binary with --format raw: always all of stdin)
    #[arg(value_name = "MESSAGE", required = true)]
    pub messages: Vec<String>,
    /// Message type of the channel
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value = "text")]
    pub ty: Type,
    /// How the messages are written (default: raw for text, hex for binary, json for object)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// With `-`: all of stdin is one message
    #[arg(long)]
    pub whole: bool,
    /// Send the MESSAGE arguments N times over
    #[arg(long, value_name = "N", default_value = "1")]
    pub count: u64,
    /// Seconds to wait between two messages
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub interval: Option<f64>,
    /// Seconds to wait, before exiting, for what was sent to be written to the peer
    #[arg(long, value_name = "S", default_value = "5", value_parser = parse_seconds)]
    pub linger: f64,
}

pub fn publish(args: &PubArgs) -> Outcome {
    let format = args.format.unwrap_or(args.ty.default_format());
    let from_stdin = args.messages.iter().any(|m| m == "-");
    if from_stdin && args.messages.len() > 1 {
        return Err(fail("`-` (stdin) cannot be mixed with MESSAGE arguments"));
    }
    if from_stdin && args.count != 1 {
        return Err(fail(
            "--count repeats MESSAGE arguments; it does not apply to stdin",
        ));
    }
    // Arguments are checked before anything goes out: a bad one sends nothing.
    let bodies = if from_stdin {
        Vec::new()
    } else {
        let bodies = args
            .messages
            .iter()
            .map(|m| parse_body(args.ty, format, m.as_bytes()))
            .collect::<Outcome<Vec<_>>>()?;
        check_not_empty(&bodies)?;
        bodies
    };
    let context = Context::new();
    let channel = Channel::publisher(&context, &args.slot, args.ty.message_type())
        .map_err(|e| lib_error("cannot create the publisher", e))?;
    args.join.join_with_peer(&context)?;
    let interval = seconds(args.interval);
    let mut first = true;
    let mut send = |body: &[u8]| -> Outcome {
        if stop_requested() {
            return Err(interrupted());
        }
        if let (Some(pause), false) = (interval, first) {
            pause_for(pause)?;
        }
        first = false;
        channel
            .send(body)
            .map_err(|e| lib_error("cannot publish", e))
    };
    if from_stdin {
        let whole = args.whole || (args.ty == Type::Binary && format == Format::Raw);
        let stdin = std::io::stdin();
        if whole {
            let mut all = Vec::new();
            stdin
                .lock()
                .read_to_end(&mut all)
                .map_err(|e| fail(format!("cannot read stdin: {e}")))?;
            let body = parse_body(args.ty, format, &all)?;
            check_not_empty(std::slice::from_ref(&body))?;
            send(&body)?;
        } else {
            for line in stdin.lock().split(b'\n') {
                let mut line = line.map_err(|e| fail(format!("cannot read stdin: {e}")))?;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.is_empty() {
                    continue; // an empty message cannot be sent (it would read as a close)
                }
                send(&parse_body(args.ty, format, &line)?)?;
            }
        }
    } else {
        for _ in 0..args.count {
            for body in &bodies {
                send(body)?;
            }
        }
    }
    finish(&context, Duration::from_secs_f64(args.linger))
}

fn check_not_empty(bodies: &[Vec<u8>]) -> Outcome {
    if bodies.iter().any(|b| b.is_empty()) {
        return Err(fail(
            "an empty message cannot be sent (yoton reads it as a close)",
        ));
    }
    Ok(())
}

/// Sleep `pause`, in steps, ending early on Ctrl-C.
fn pause_for(pause: Duration) -> Outcome {
    let end = Instant::now() + pause;
    while Instant::now() < end {
        if stop_requested() {
            return Err(interrupted());
        }
        std::thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
    }
    Ok(())
}

/// Print the state of SLOT (waiting for it up to --timeout), or set it to VALUE.
#[derive(Args, Debug)]
pub struct StateArgs {
    #[command(flatten)]
    pub join: Join,
    /// Slot base name
    pub slot: String,
    /// The new state; without it, the current state is printed
    pub value: Option<String>,
    /// Message type of the channel
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value = "text")]
    pub ty: Type,
    /// How the state is written (default: raw for text, hex for binary, json for object)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Seconds to wait for the state to arrive (exit status 3 if none came)
    #[arg(long, value_name = "S", default_value = "5", value_parser = parse_seconds)]
    pub timeout: f64,
    /// Keep printing the state each time it changes (until Ctrl-C)
    #[arg(long, conflicts_with = "value")]
    pub follow: bool,
}

pub fn state(args: &StateArgs) -> Outcome {
    let format = args.format.unwrap_or(args.ty.default_format());
    let new_state = match &args.value {
        Some(v) => {
            let body = parse_body(args.ty, format, v.as_bytes())?;
            check_not_empty(std::slice::from_ref(&body))?;
            Some(body)
        }
        None => None,
    };
    let context = Context::new();
    let channel = Channel::state(&context, &args.slot, args.ty.message_type())
        .map_err(|e| lib_error("cannot create the state channel", e))?;
    let Some(body) = new_state else {
        let conn = args.join.join(&context)?;
        return show_state(args, &context, &channel, &conn, format);
    };
    args.join.join_with_peer(&context)?;
    channel
        .send_state(&body)
        .map_err(|e| lib_error("cannot set the state", e))?;
    finish(&context, Duration::from_secs_f64(args.timeout.max(1.0)))
}

/// Wait for the state and print it (with --follow, every change until Ctrl-C).
fn show_state(
    args: &StateArgs,
    context: &Context,
    channel: &Channel,
    conn: &yoton::Connection,
    format: Format,
) -> Outcome {
    // A connecting node announces itself; the peers' state channels answer with their state.
    let deadline = Instant::now() + Duration::from_secs_f64(args.timeout);
    let mut out = std::io::stdout().lock();
    let mut shown: Option<Vec<u8>> = None;
    loop {
        if stop_requested() {
            break;
        }
        let current = channel
            .recv_state()
            .map_err(|e| lib_error("cannot read the state", e))?;
        let data = current.data();
        if !data.is_empty() && shown.as_deref() != Some(data) {
            write_body(&mut out, args.ty, format, data)?;
            shown = Some(data.to_vec());
            if !args.follow {
                break;
            }
        }
        if shown.is_none() && !conn.is_alive() {
            context.close();
            return Err(fail(format!(
                "the connection to {} closed before a state came: {}",
                args.join.address,
                conn.close_reason().unwrap_or_default()
            )));
        }
        if shown.is_none() && Instant::now() >= deadline {
            context.close();
            return Err(timeout(format!(
                "no state on {} within {} s",
                args.slot, args.timeout
            )));
        }
        std::thread::sleep(POLL);
    }
    out.flush().ok();
    context.close();
    if shown.is_none() {
        return Err(interrupted());
    }
    Ok(())
}
