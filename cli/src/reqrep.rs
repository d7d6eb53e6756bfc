//! `yoton req` (call a method on whichever replier takes it) and `yoton rep` (answer).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use yoton::{Channel, Context, ErrorKind, RepMode, Value};

use crate::common::*;
use crate::json::{from_json, parse_value, to_json};

/// Call METHOD on a replier of SLOT and print the result as JSON.
#[derive(Args, Debug)]
pub struct ReqArgs {
    #[command(flatten)]
    pub join: Join,
    /// Slot base name
    pub slot: String,
    /// The method to call
    pub method: String,
    /// Positional arguments: a JSON array (any other JSON value is the one argument)
    #[arg(value_name = "ARGS_JSON")]
    pub args: Option<String>,
    /// Keyword arguments: a JSON object
    #[arg(long, value_name = "JSON")]
    pub kwargs: Option<String>,
    /// Seconds to wait for the result (exit status 3 after that)
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_seconds)]
    pub timeout: f64,
}

pub fn req(args: &ReqArgs) -> Outcome {
    let positional = match args
        .args
        .as_deref()
        .map(parse_value)
        .transpose()
        .map_err(fail)?
    {
        None => Vec::new(),
        Some(Value::List(items)) => items,
        Some(one) => vec![one],
    };
    let kwargs = match args
        .kwargs
        .as_deref()
        .map(parse_value)
        .transpose()
        .map_err(fail)?
    {
        None => Vec::new(),
        Some(Value::Dict(pairs)) => pairs
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => Ok((k, v)),
                _ => Err(fail("keyword argument names must be strings")),
            })
            .collect::<Outcome<Vec<_>>>()?,
        Some(_) => return Err(fail("--kwargs must be a JSON object")),
    };
    let context = Context::new();
    let channel = Channel::requester(&context, &args.slot)
        .map_err(|e| lib_error("cannot create the requester", e))?;
    args.join.join_with_peer(&context)?;
    let limit = Duration::from_secs_f64(args.timeout);
    let future = channel
        .call(&args.method, positional, kwargs)
        .map_err(|e| lib_error("cannot send the request", e))?;
    future.set_auto_cancel_timeout(Some(limit));
    let started = std::time::Instant::now();
    let result = loop {
        if stop_requested() {
            future.cancel();
            context.close();
            return Err(interrupted());
        }
        match future.result(Some(POLL * 5)) {
            Err(e) if e.kind() == ErrorKind::Timeout && started.elapsed() < limit => continue,
            other => break other,
        }
    };
    context.close();
    match result {
        Ok(value) => {
            println!("{}", to_json(&value));
            Ok(())
        }
        Err(e) => match e.kind() {
            ErrorKind::Timeout | ErrorKind::Cancelled => {
                future.cancel();
                Err(timeout(format!(
                    "no reply to {}() on {} within {} s",
                    args.method, args.slot, args.timeout
                )))
            }
            ErrorKind::Remote => Err(fail(format!("the replier failed: {}", e.message()))),
            _ => Err(lib_error("the request failed", e)),
        },
    }
}

/// Answer the requests sent to SLOT, until Ctrl-C (or --count).
#[derive(Args, Debug)]
pub struct RepArgs {
    #[command(flatten)]
    pub join: Join,
    /// Slot base name
    pub slot: String,
    /// Answer with the arguments: the one positional argument, or all of them as a tuple
    #[arg(long, conflicts_with = "exec", required_unless_present = "exec")]
    pub echo: bool,
    /// Answer with a shell command: it gets {"method", "args", "kwargs"} as JSON on stdin and
    /// its stdout, parsed as JSON, is the result (a non-zero exit is an error reply with its
    /// stderr)
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// A method to answer (repeatable; default: echo and call). yoton repliers answer only
    /// the methods they know: others get "Method ... not implemented."
    #[arg(long = "method", value_name = "NAME", default_values = ["echo", "call"])]
    pub methods: Vec<String>,
    /// Exit (status 0) after answering N requests (requests queued by then are answered too)
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print a line per request on stderr
    #[arg(long)]
    pub log: bool,
}

pub fn rep(args: &RepArgs) -> Outcome {
    let context = Context::new();
    let channel = Channel::replier(&context, &args.slot)
        .map_err(|e| lib_error("cannot create the replier", e))?;
    let answered = Arc::new(AtomicU64::new(0));
    for method in &args.methods {
        let name = method.clone();
        let exec = args.exec.clone();
        let log = args.log;
        let answered = answered.clone();
        let handler: yoton::Handler = Arc::new(move |positional, kwargs| {
            let reply = match &exec {
                Some(cmd) => run_exec(cmd, &name, positional, kwargs),
                None => Ok(echo(positional)),
            };
            if log {
                let shown = match &reply {
                    Ok(v) => to_json(v).to_string(),
                    Err(e) => format!("error: {e}"),
                };
                eprintln!(
                    "yoton: {name}{} -> {shown}",
                    to_json(&Value::Tuple(positional.to_vec()))
                );
            }
            answered.fetch_add(1, Ordering::SeqCst);
            reply
        });
        channel
            .register(method, handler)
            .map_err(|e| lib_error(&format!("cannot register {method}"), e))?;
    }
    channel
        .set_mode(RepMode::Thread)
        .map_err(|e| lib_error("cannot start the replier", e))?;
    let conn = args.join.join(&context)?;
    while !stop_requested() {
        if args
            .count
            .is_some_and(|n| answered.load(Ordering::SeqCst) >= n)
        {
            // The replier thread sends a reply after its handler returned: stop it, then wait
            // for it (handling what is queued takes the lock it holds while it works), then
            // let the replies go out.
            let _ = channel.set_mode(RepMode::Off);
            let _ = channel.handle_pending_requests();
            return finish(&context, Duration::from_secs(5));
        }
        if !conn.is_alive() {
            context.close();
            return Err(fail(format!(
                "the connection to {} closed: {}",
                args.join.address,
                conn.close_reason().unwrap_or_default()
            )));
        }
        std::thread::sleep(POLL);
    }
    context.close();
    Ok(())
}

/// The --echo answer: the one argument, or every argument as a tuple.
fn echo(positional: &[Value]) -> Value {
    match positional {
        [one] => one.clone(),
        all => Value::Tuple(all.to_vec()),
    }
}

/// The --exec answer: run `sh -c CMD` with the request as JSON on stdin.
fn run_exec(
    cmd: &str,
    method: &str,
    positional: &[Value],
    kwargs: &[(Value, Value)],
) -> Result<Value, String> {
    let request = serde_json::json!({
        "method": method,
        "args": positional.iter().map(to_json).collect::<Vec<_>>(),
        "kwargs": to_json(&Value::Dict(kwargs.to_vec())),
    });
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("YOTON_METHOD", method)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin is fine.
        let _ = writeln!(stdin, "{request}");
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let text = stdout.trim();
    if text.is_empty() {
        return Ok(Value::None);
    }
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("{cmd:?} did not print JSON ({e}): {text}"))?;
    from_json(&json)
}
