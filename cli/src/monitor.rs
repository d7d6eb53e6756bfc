//! `yoton monitor`: join the network and print a line per package this node routes.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use yoton::protocol::hash::slot_of;
use yoton::protocol::header::{REQREP_SEQ_REF, SLOT_CONTEXT};
use yoton::{Context, RoutedPackage};

use crate::common::*;

/// Message type names as they appear in slot names, and the command line's names for them.
const TYPES: [(&str, &str); 3] = [("txt", "text"), ("bin", "binary"), ("obj", "object")];
/// Pattern extensions of slot names (docs/protocol.md §5.1).
const PATTERNS: [&str; 5] = ["pub-sub", "sub-pub", "req-rep", "rep-req", "state"];

/// Join the network and print a line per package routed through this node.
#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// Addresses to bind (with --bind) or connect to: a monitor in the middle of a network
    /// needs one per neighbour, since every yoton connection links two nodes
    #[arg(value_name = "ADDRESS", required = true)]
    pub addresses: Vec<String>,
    /// Host a connection at each ADDRESS
    #[arg(long, conflicts_with = "connect")]
    pub bind: bool,
    /// Connect to each ADDRESS (the default)
    #[arg(long)]
    pub connect: bool,
    /// Seconds to keep trying each connect
    #[arg(long, value_name = "S", default_value = "5", value_parser = parse_seconds)]
    pub wait: f64,
    /// Print connection events on stderr
    #[arg(short, long)]
    pub verbose: bool,
    /// A slot base name to show by name (repeatable); other slots show as their hash
    #[arg(long = "slot", value_name = "NAME")]
    pub slots: Vec<String>,
    /// Exit (status 0) after N packages
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Exit (status 0) after S seconds (it also ends, with status 0, once every connection
    /// has closed)
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub duration: Option<f64>,
}

/// A known slot: its full name and message type.
struct Known {
    name: String,
    ty: &'static str,
}

fn known_slots(bases: &[String]) -> HashMap<u64, Known> {
    let mut known = HashMap::new();
    for base in bases {
        for (wire, ty) in TYPES {
            for pattern in PATTERNS {
                let name = format!("{base}.{wire}.{pattern}");
                known.insert(slot_of(&name), Known { name, ty });
            }
        }
    }
    known
}

pub fn monitor(args: &MonitorArgs) -> Outcome {
    let known = known_slots(&args.slots);
    let context = Context::new();
    // The observer runs on the I/O thread: it only hands the package over.
    let (tx, rx) = mpsc::channel::<(SystemTime, RoutedPackage)>();
    let tx = std::sync::Mutex::new(tx);
    context.set_route_observer(Some(Arc::new(move |routed: &RoutedPackage| {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send((SystemTime::now(), routed.clone()));
        }
    })));
    let mut conns = Vec::new();
    for address in &args.addresses {
        let join = Join {
            address: address.clone(),
            bind: args.bind,
            connect: args.connect,
            wait: args.wait,
            verbose: args.verbose,
        };
        conns.push(join.join(&context)?);
    }
    let end = seconds(args.duration).map(|d| std::time::Instant::now() + d);
    let mut out = std::io::stdout().lock();
    let mut shown = 0u64;
    while !stop_requested() && !matches!(args.count, Some(n) if shown >= n) {
        if end.is_some_and(|e| std::time::Instant::now() >= e) {
            break;
        }
        match rx.recv_timeout(POLL * 5) {
            Ok((at, routed)) => {
                writeln!(out, "{}", line(at, &routed, &known))
                    .and_then(|_| out.flush())
                    .map_err(|e| fail(format!("cannot write to stdout: {e}")))?;
                shown += 1;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Its neighbours left (each bind takes one peer): nothing more can come.
                if conns.iter().all(|c| !c.is_alive()) {
                    if args.verbose {
                        eprintln!("yoton: every connection closed");
                    }
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    context.set_route_observer(None);
    context.close();
    Ok(())
}

/// One line: time (UTC), source id, sequence number, slot hash, slot name, size, type.
fn line(at: SystemTime, routed: &RoutedPackage, known: &HashMap<u64, Known>) -> String {
    let p = &routed.package;
    let (name, ty) = match known.get(&p.slot()) {
        Some(k) => (k.name.as_str(), k.ty),
        None if p.slot() == SLOT_CONTEXT => ("(context)", "text"),
        // Request/reply traffic addresses its packages with sequence numbers above this.
        None if p.dest_seq() >= REQREP_SEQ_REF => ("?", "req/rep"),
        None => ("?", "?"),
    };
    format!(
        "{} src={:016x} seq={} slot={:016x} name={} size={} type={}{}",
        clock(at),
        p.source_id(),
        p.source_seq(),
        p.slot(),
        name,
        p.body().len(),
        ty,
        if p.dest_id() != 0 {
            format!(" dest={:016x}", p.dest_id())
        } else {
            String::new()
        }
    )
}

/// HH:MM:SS.mmm (UTC).
fn clock(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let day = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3600,
        day % 3600 / 60,
        day % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_given_by_name_resolve_with_their_type() {
        let known = known_slots(&["news".to_string()]);
        let k = &known[&slot_of("news.obj.state")];
        assert_eq!((k.name.as_str(), k.ty), ("news.obj.state", "object"));
        assert_eq!(known.len(), 15);
        assert_eq!(
            clock(UNIX_EPOCH + Duration::from_millis(3_723_004)),
            "01:02:03.004"
        );
    }
}
