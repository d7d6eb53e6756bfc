//! `yoton request` and `yoton serve`: the one-line client/server helper (the original's
//! `yoton.clientserver`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use yoton::clientserver::{do_request, RequestServer};

use crate::common::*;

/// Send one request line to a request server and print its reply.
#[derive(Args, Debug)]
pub struct RequestArgs {
    /// The server's address, HOST:PORT
    #[arg(value_name = "HOST:PORT")]
    pub address: String,
    /// The request (one line)
    pub text: String,
    /// Seconds to wait for the reply (exit status 3 after that)
    #[arg(long, value_name = "S", default_value = "10", value_parser = parse_seconds)]
    pub timeout: f64,
}

pub fn request(args: &RequestArgs) -> Outcome {
    let reply = do_request(
        &args.address,
        &args.text,
        Some(Duration::from_secs_f64(args.timeout)),
    )
    .map_err(|e| lib_error(&format!("request to {} failed", args.address), e))?;
    println!("{}", reply.trim_end_matches(['\r', '\n']));
    Ok(())
}

/// Answer request lines (`yoton request`, or the original's `do_request`), until Ctrl-C.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen at, HOST:PORT (port 0: any free port, printed on stderr)
    #[arg(value_name = "ADDRESS")]
    pub address: String,
    /// Reply with the request itself
    #[arg(long, conflicts_with = "exec", required_unless_present = "exec")]
    pub echo: bool,
    /// Reply with the first line a shell command prints (the request is on its stdin)
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Exit (status 0) after N requests
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print connection events on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

pub fn serve(args: &ServeArgs) -> Outcome {
    let exec = args.exec.clone();
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let handler: yoton::clientserver::RequestHandler = Arc::new(move |request: &str| {
        let reply = match &exec {
            Some(cmd) => run(cmd, request),
            None => request.to_string(),
        };
        counter.fetch_add(1, Ordering::SeqCst);
        reply
    });
    let server = RequestServer::bind(&args.address, handler, true)
        .map_err(|e| lib_error(&format!("cannot listen at {}", args.address), e))?;
    server
        .start()
        .map_err(|e| lib_error("cannot start the server", e))?;
    if args.verbose || args.address.ends_with(":0") {
        eprintln!("yoton: serving at port {}", server.port());
    }
    while !stop_requested() && !matches!(args.count, Some(n) if handled.load(Ordering::SeqCst) >= n)
    {
        std::thread::sleep(POLL);
    }
    server.stop();
    Ok(())
}

/// The first line `sh -c CMD` prints with `request` on its stdin (a failure is the reply's text).
fn run(cmd: &str, request: &str) -> String {
    let child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("error: cannot run {cmd:?}: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{request}");
    }
    match child.wait_with_output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        Err(e) => format!("error: {cmd:?} failed: {e}"),
    }
}
