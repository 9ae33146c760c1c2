//! Helpers for the tests that run the `wsock` binary.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const WSOCK: &str = env!("CARGO_BIN_EXE_wsock");
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `wsock echo` on a free port; returns the process and its URL, read from its log.
pub struct EchoServer {
    pub child: Child,
    pub url: String,
}

impl EchoServer {
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with_env(extra, &[])
    }

    /// [`start`](Self::start) with `env` added to the server's environment.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(WSOCK)
            .args(["echo", "--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (found, url) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            // Keep draining the log so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(start) = line.find("ws://") {
                    let url = line[start..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(found) = found.take() {
                        let _ = found.send(url);
                    }
                }
            }
        });
        let url = url
            .recv_timeout(PATIENCE)
            .expect("wsock echo never said where it listens");
        Self { child, url }
    }
}

impl EchoServer {
    /// The `host:port` the server listens on.
    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("ws://")
            .trim_end_matches("/echo")
            .to_owned()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn connect(args: &[&str], stdin: &str) -> Outcome {
    run("connect", args, stdin)
}

/// Runs `wsock SUBCOMMAND ARGS...` with `stdin`, for at most [`PATIENCE`].
pub fn run(subcommand: &str, args: &[&str], stdin: &str) -> Outcome {
    let mut child = Command::new(WSOCK)
        .arg(subcommand)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = outcome
        .recv_timeout(PATIENCE)
        .expect("wsock did not exit in time")
        .unwrap();
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The process's peak resident memory, from /proc.
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:")
}

/// The process's resident memory now, from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/PID/status"))
}

/// A 101 accepting a WebSocket with no extension or subprotocol, for
/// [`answer_upgrade`].
pub const SWITCHING_PROTOCOLS: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\n\r\n";

/// Plays a server by hand: reads a client's upgrade request from `stream`, then writes
/// `response` with `ACCEPT` replaced by the Sec-WebSocket-Accept for the request's key.
pub fn answer_upgrade(stream: &mut std::net::TcpStream, response: &[u8]) {
    use std::io::Read;
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim())
        })
        .unwrap_or_default();
    let accept = wsock_proto::handshake::accept_key(key.as_bytes());
    let at = response.windows(6).position(|w| w == b"ACCEPT");
    let response = match at {
        Some(at) => [&response[..at], accept.as_bytes(), &response[at + 6..]].concat(),
        None => response.to_vec(),
    };
    let _ = stream.write_all(&response);
}

/// Opens a WebSocket to `wsock echo` by hand: the stream after the 101 head.
pub fn raw_websocket(addr: &str) -> std::net::TcpStream {
    raw_websocket_with(addr, "").0
}

/// Like [`raw_websocket`], with `extra` header lines; also returns the response head.
pub fn raw_websocket_with(addr: &str, extra: &str) -> (std::net::TcpStream, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET /echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    (stream, String::from_utf8_lossy(&head).into_owned())
}

/// A masked client frame (the mask is all zeros, which RFC 6455 allows).
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// Writes `frame` until the socket refuses more for a second (backpressure), at most
/// `max` times; returns how many were written whole.
pub fn write_until_blocked(stream: &mut std::net::TcpStream, frame: &[u8], max: usize) -> usize {
    stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    for written in 0..max {
        if stream.write_all(frame).is_err() {
            return written;
        }
    }
    max
}

/// This process's soft limit on open files.
pub fn open_file_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(0)
}
