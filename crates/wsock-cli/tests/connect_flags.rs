//! `wsock connect`'s daily-tool flags end to end on 127.0.0.1: --binary, --raw-stdin,
//! --json, --timestamps, -n/--count, --ping-interval and --reconnect.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::*;

#[test]
fn binary_sends_each_line_as_a_binary_message() {
    let server = EchoServer::start(&[]);
    let out = connect(&[&server.url, "--binary"], "hi\nyo\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "[binary, 2 bytes] 68 69\n[binary, 2 bytes] 79 6f\n"
    );
}

#[test]
fn raw_stdin_sends_all_of_the_input_as_one_message() {
    let server = EchoServer::start(&[]);
    let out = connect(&[&server.url, "--raw-stdin"], "a\nb\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "a\nb\n\n");
    let out = connect(&[&server.url, "--raw-stdin", "--binary"], "a\nb\n");
    assert_eq!(out.stdout, "[binary, 4 bytes] 61 0a 62 0a\n");
}

#[test]
fn json_messages_are_indented_and_other_text_is_not() {
    let server = EchoServer::start(&[]);
    let out = connect(&[&server.url, "--json"], "{\"a\":[1,2]}\nplain\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "{\n  \"a\": [\n    1,\n    2\n  ]\n}\nplain\n");
}

#[test]
fn timestamps_prefix_each_message() {
    let server = EchoServer::start(&[]);
    let out = connect(&[&server.url, "--timestamps"], "hi\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let (stamp, text) = out.stdout.trim_end().split_once(' ').unwrap();
    assert_eq!(text, "hi");
    // 2026-11-30T04:31:12.345Z
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99.999Z", "{stamp}");
}

#[test]
fn count_exits_after_that_many_messages_and_closes_normally() {
    let server = EchoServer::start(&[]);
    let out = connect(&[&server.url, "-n", "2"], "one\ntwo\nthree\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "one\ntwo\n");
}

#[test]
fn count_keeps_the_connection_open_after_the_input_ends() {
    // The server speaks first and later: input is empty, yet both messages arrive.
    let (url, _) = scripted_server(vec![Script::says(&["first", "second"])]);
    let out = connect(&["--no-deflate", &url, "--count", "2"], "");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "first\nsecond\n");
}

#[test]
fn ping_interval_pings_a_quiet_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        answer_upgrade(&mut stream, SWITCHING_PROTOCOLS);
        // The client's first frame, after a second of silence: FIN + ping, masked.
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).unwrap();
        let mut rest = vec![0u8; 4 + usize::from(header[1] & 0x7f)];
        stream.read_exact(&mut rest).unwrap();
        stream.write_all(&[0x81, 3]).unwrap();
        stream.write_all(b"bye").unwrap();
        header
    });
    let out = connect(
        &["--no-deflate", &url, "--ping-interval", "1", "-n", "1"],
        "",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "bye\n");
    let header = server.join().unwrap();
    assert_eq!(header[0], 0x89, "the first frame is a ping");
    assert_eq!(header[1] & 0x80, 0x80, "client frames are masked");
}

#[test]
fn reconnect_says_why_and_carries_on_counting() {
    // The first connection says one thing and is closed with 1012; the second says
    // another. The client must come back for it.
    let first = Script::says(&["one"]).then_closes(1012, "restart");
    let (url, served) = scripted_server(vec![first, Script::says(&["two"])]);
    let out = connect(&["--no-deflate", &url, "--reconnect", "-n", "2"], "");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "one\ntwo\n");
    assert!(
        out.stderr
            .contains("the server closed the connection (1012 restart)\nreconnecting in"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("connected to").count(),
        2,
        "{}",
        out.stderr
    );
    assert_eq!(served.recv_timeout(PATIENCE).unwrap(), 2);
}

#[test]
fn without_reconnect_a_server_close_ends_the_program() {
    let closes = || Script::says(&[]).then_closes(1001, "");
    // A second script is there to serve a reconnection that must not come.
    let (url, _) = scripted_server(vec![closes(), closes()]);
    let out = connect(&["--no-deflate", &url, "-n", "5"], "");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("connected to").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("reconnecting"), "{}", out.stderr);
}

/// What a scripted server does with one connection: accept the upgrade, send these
/// texts, and maybe close with a code and reason.
struct Script {
    texts: Vec<String>,
    close: Option<(u16, String)>,
}

impl Script {
    fn says(texts: &[&str]) -> Self {
        let texts = texts.iter().map(|t| (*t).to_owned()).collect();
        Self { texts, close: None }
    }

    fn then_closes(mut self, code: u16, reason: &str) -> Self {
        self.close = Some((code, reason.to_owned()));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = SWITCHING_PROTOCOLS.to_vec();
        for text in &self.texts {
            out.extend_from_slice(&[0x81, text.len() as u8]);
            out.extend_from_slice(text.as_bytes());
        }
        if let Some((code, reason)) = &self.close {
            out.extend_from_slice(&[0x88, 2 + reason.len() as u8]);
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
        out
    }
}

/// A server that plays `scripts` to its connections in turn, then reads each until
/// the client's close frame, answers it if the script did not close first, and ends
/// the connection. Returns its URL and a channel that gives the number of
/// connections served once the last script is done.
fn scripted_server(scripts: Vec<Script>) -> (String, std::sync::mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (done, served) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut count = 0;
        for script in scripts {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            count += 1;
            answer_upgrade(&mut stream, &script.bytes());
            if read_until_close(&mut stream) && script.close.is_none() {
                let _ = stream.write_all(&[0x88, 0]);
            }
        }
        let _ = done.send(count);
    });
    (url, served)
}

/// Reads a client's frames (payloads under 64 KiB) until its close frame; false if the
/// connection ended (or timed out) first.
fn read_until_close(stream: &mut std::net::TcpStream) -> bool {
    loop {
        let mut header = [0u8; 2];
        if stream.read_exact(&mut header).is_err() {
            return false;
        }
        let mut length = usize::from(header[1] & 0x7f);
        if length == 126 {
            let mut extended = [0u8; 2];
            if stream.read_exact(&mut extended).is_err() {
                return false;
            }
            length = usize::from(u16::from_be_bytes(extended));
        }
        let mut rest = vec![0u8; 4 + length];
        if stream.read_exact(&mut rest).is_err() {
            return false;
        }
        if header[0] & 0x0f == 0x8 {
            return true;
        }
    }
}
