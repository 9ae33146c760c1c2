//! `wsock connect` as a person uses it: on a terminal (a pty from `script`), against
//! servers that refuse it or send hostile text.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};

use common::*;

/// A server on 127.0.0.1 that answers one connection with `response` (see
/// [`answer_upgrade`]), then closes it; returns its `ws://` URL.
fn one_shot_server(response: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            answer_upgrade(&mut stream, &response);
        }
    });
    format!("ws://{addr}/echo")
}

#[test]
fn a_403_without_origin_suggests_sending_one() {
    // What Go's x/net/websocket server answers a request without Origin.
    let url = one_shot_server(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec());
    let out = connect(&[&url], "");
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("403"), "{}", out.stderr);
    assert!(out.stderr.contains("try --origin"), "{}", out.stderr);
}

#[test]
fn the_seeds_origin_is_accepted_by_wsock_echo_on_loopback() {
    let server = EchoServer::start(&[]);
    let url = server.url.replace("127.0.0.1", "localhost");
    let out = connect(&[&url, "--origin", "http://localhost/"], "hello world!\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "hello world!\n");
}

/// A 101 followed by a text message full of terminal escapes, then a close.
fn hostile_server() -> String {
    let text = "title\u{1b}]0;pwned\u{7}clip\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2Jend";
    let mut response = SWITCHING_PROTOCOLS.to_vec();
    response.extend_from_slice(&[0x81, text.len() as u8]);
    response.extend_from_slice(text.as_bytes());
    response.extend_from_slice(&[0x88, 0x02, 0x03, 0xe8]);
    one_shot_server(response)
}

/// Runs `wsock connect ARGS` on a pseudo-terminal and returns what it printed there.
fn on_a_terminal(args: &str) -> Vec<u8> {
    let command = format!("{WSOCK} connect --no-deflate {args}");
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs the client on a pty");
    let (done, output) = std::sync::mpsc::channel();
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = done.send(out);
    });
    let out = output
        .recv_timeout(PATIENCE)
        .expect("wsock connect did not finish on the terminal");
    let _ = child.wait();
    out
}

#[test]
fn control_characters_from_the_server_are_escaped_on_a_terminal() {
    let out = on_a_terminal(&hostile_server());
    let text = String::from_utf8_lossy(&out);
    assert!(!out.contains(&0x1b) && !out.contains(&0x07), "{text:?}");
    assert!(text.contains(r"title\x1b]0;pwned\x07clip"), "{text:?}");
    assert!(text.contains(r"\x1b[2Jend"), "{text:?}");
}

#[test]
fn raw_prints_them_as_they_came() {
    let out = on_a_terminal(&format!("--raw {}", hostile_server()));
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("title\u{1b}]0;pwned\u{7}clip"), "{text:?}");
}
