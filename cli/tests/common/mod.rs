//! Helpers of the CLI tests: run the built `yoton` with bounded waits, read its output line by
//! line, and make peers with the library's Rust API.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use yoton::{Connection, Context};

/// Upper bound of every wait of these tests.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn yoton() -> Command {
    Command::new(env!("CARGO_BIN_EXE_yoton"))
}

/// Run `yoton ARGS` to the end (bounded); returns (status, stdout, stderr).
pub fn run(args: &[&str]) -> (ExitStatus, String, String) {
    run_with_stdin(args, b"")
}

pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> (ExitStatus, String, String) {
    let mut p = Proc::start(args);
    p.write_stdin(stdin);
    p.close_stdin();
    let status = p.wait();
    (status, p.rest_of_stdout(), p.stderr_text())
}

/// A running `yoton`, its stdout and stderr read by threads (line by line).
pub struct Proc {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    err_seen: Vec<String>,
}

fn lines(reader: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    pub fn start(args: &[&str]) -> Proc {
        let mut child = yoton()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run yoton");
        let out = lines(child.stdout.take().expect("stdout"));
        let err = lines(child.stderr.take().expect("stderr"));
        Proc {
            child,
            out,
            err,
            err_seen: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn write_stdin(&mut self, data: &[u8]) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            stdin.write_all(data).expect("write to yoton's stdin");
        }
    }

    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// The next stdout line (bounded wait).
    pub fn line(&mut self) -> String {
        match self.out.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(_) => panic!("no output line from yoton; stderr: {}", self.stderr_text()),
        }
    }

    /// Wait for a stderr line containing `what` (needs -v); returns it.
    pub fn wait_stderr(&mut self, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.err_seen.iter().find(|l| l.contains(what)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(left) {
                Ok(line) => self.err_seen.push(line),
                Err(_) => panic!("yoton never said {what:?}; stderr: {:?}", self.err_seen),
            }
        }
    }

    /// The port a `--bind HOST:0 -v` command is hosting at.
    pub fn bound_port(&mut self) -> u16 {
        self.bound_ports(1)[0]
    }

    /// The ports of the first `n` "hosting at" lines (`yoton monitor --bind A B -v`).
    pub fn bound_ports(&mut self, n: usize) -> Vec<u16> {
        let port = |l: &String| l.rsplit(':').next().unwrap().trim().parse::<u16>().unwrap();
        let hosting = |seen: &Vec<String>| {
            seen.iter()
                .filter(|l| l.contains("hosting at "))
                .map(port)
                .collect::<Vec<u16>>()
        };
        let deadline = Instant::now() + WAIT;
        while hosting(&self.err_seen).len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(left) {
                Ok(line) => self.err_seen.push(line),
                Err(_) => panic!("yoton did not bind {n} ports; stderr: {:?}", self.err_seen),
            }
        }
        hosting(&self.err_seen)
    }

    /// Wait for the exit (bounded: the process is killed and the test fails after WAIT).
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("yoton did not exit in time; stderr: {}", self.stderr_text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every stdout line not read yet (after the exit).
    pub fn rest_of_stdout(&mut self) -> String {
        let mut text = String::new();
        while let Ok(line) = self.out.recv_timeout(WAIT) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Stderr so far; once the process has exited, all of it (read to the end, bounded).
    pub fn stderr_text(&mut self) -> String {
        let exited = matches!(self.child.try_wait(), Ok(Some(_)));
        loop {
            let next = if exited {
                self.err.recv_timeout(WAIT).ok()
            } else {
                self.err.try_recv().ok()
            };
            match next {
                Some(line) => self.err_seen.push(line),
                None => break,
            }
        }
        self.err_seen.join("\n")
    }

    /// Send a signal (e.g. "INT") to this process only.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Wait until `cond` holds (bounded).
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A Rust-API context hosting on a free port: (context, connection, "127.0.0.1:port").
pub fn host() -> (Context, Connection, String) {
    let ctx = Context::new();
    let conn = ctx.bind("localhost:0", 1, None).expect("bind");
    let addr = format!("127.0.0.1:{}", conn.port1());
    (ctx, conn, addr)
}

/// Connect a Rust-API context to a `yoton --bind localhost:0 -v` process.
pub fn connect_to(p: &mut Proc) -> (Context, Connection) {
    let port = p.bound_port();
    let ctx = Context::new();
    let conn = ctx
        .connect(&format!("127.0.0.1:{port}"), Duration::from_secs(5), None)
        .expect("connect to yoton");
    (ctx, conn)
}

pub const T: Option<Duration> = Some(Duration::from_secs(20));
