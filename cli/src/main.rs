//! `yoton`: poke at a live yoton network from the command line (docs/cli.md).

mod bench;
mod clientserver;
mod common;
mod hex;
mod json;
mod monitor;
mod pubsub;
mod reqrep;

use clap::{Parser, Subcommand};

/// Talk to a live yoton network: subscribe, publish, read or set states, call or answer
/// requests, watch the traffic. Exit status: 0 done, 1 failure, 2 bad usage, 3 timeout,
/// 130 interrupted.
#[derive(Parser, Debug)]
#[command(name = "yoton", version = yoton::VERSION, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print the messages published on a slot
    Sub(pubsub::SubArgs),
    /// Publish messages on a slot (arguments, or stdin)
    Pub(pubsub::PubArgs),
    /// Print the state of a slot, or set it
    State(pubsub::StateArgs),
    /// Call a method on a replier and print the result as JSON
    Req(reqrep::ReqArgs),
    /// Answer requests (echo, or a shell command)
    Rep(reqrep::RepArgs),
    /// Join the network and print a line per package routed through this node
    Monitor(monitor::MonitorArgs),
    /// Send one line to a request server and print the reply
    Request(clientserver::RequestArgs),
    /// Run a request server (echo, or a shell command)
    Serve(clientserver::ServeArgs),
    /// Measure a link: the workload and JSON output of the programs in bench/
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    common::install_interrupt_handler();
    let outcome = match &cli.command {
        Cmd::Sub(a) => pubsub::sub(a),
        Cmd::Pub(a) => pubsub::publish(a),
        Cmd::State(a) => pubsub::state(a),
        Cmd::Req(a) => reqrep::req(a),
        Cmd::Rep(a) => reqrep::rep(a),
        Cmd::Monitor(a) => monitor::monitor(a),
        Cmd::Request(a) => clientserver::request(a),
        Cmd::Serve(a) => clientserver::serve(a),
        Cmd::Bench(a) => bench::bench(a),
    };
    if let Err(failure) = outcome {
        // One line, whatever the text (a Python replier's error ends with its traceback line).
        let text: Vec<&str> = failure.message.lines().map(str::trim).collect();
        eprintln!("yoton: {}", text.join(" / "));
        std::process::exit(failure.code);
    }
}
