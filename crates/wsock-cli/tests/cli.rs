//! The `wsock` binary end to end on 127.0.0.1: `echo` serving, `connect` talking to it,
//! and the one-line errors.

mod common;

use common::*;

use std::io::Write;
use std::process::Command;
use std::sync::mpsc;

#[test]
fn connect_sends_stdin_lines_and_prints_the_echoes() {
    let server = EchoServer::start(&[]);
    let out = connect(&[&server.url], "hello\nworld ☃\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "hello\nworld ☃\n");
}

#[test]
fn subprotocol_and_headers_are_offered() {
    let server = EchoServer::start(&["--protocol", "chat"]);
    let out = connect(
        &[&server.url, "--protocol", "chat", "-H", "X-Trace: 1"],
        "x\n",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("subprotocol chat"), "{}", out.stderr);
}

#[test]
fn foreign_origin_is_refused_with_403_unless_allowed() {
    let server = EchoServer::start(&[]);
    let out = connect(&[&server.url, "--origin", "http://evil.example"], "");
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("403"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    let server = EchoServer::start(&["--allow-origin", "http://app.example"]);
    let out = connect(&[&server.url, "--origin", "http://app.example"], "hi\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "hi\n");
}

#[test]
fn unknown_path_reports_404_in_one_line() {
    let server = EchoServer::start(&[]);
    let url = server.url.replace("/echo", "/missing");
    let out = connect(&[&url], "");
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("404 Not Found"), "{}", out.stderr);
}

#[test]
fn refused_connection_is_one_line() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let out = connect(&[&format!("ws://{addr}/echo")], "");
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("wsock: could not connect"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_url_is_one_line() {
    let out = connect(&["http://127.0.0.1/"], "");
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.starts_with("wsock: invalid WebSocket URL"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_header_is_one_line() {
    let out = connect(&["ws://127.0.0.1:1/", "-H", "no colon here"], "");
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("invalid header"), "{}", out.stderr);
}

#[test]
fn deflate_bomb_gets_1009_and_the_servers_memory_stays_bounded() {
    use std::io::Read;
    use wsock_proto::{Connection, DeflateConfig, DeflateParams, Role};

    let server = EchoServer::start(&["--max-message-size", "1048576"]);
    let addr = server.addr();
    // Warm the server up with a normal compressed conversation first, so the peak
    // below measures the bomb and not first-use allocations.
    let out = connect(&[&server.url], &format!("{}\n", "warm up ".repeat(1000)));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let before = peak_rss_kib(server.child.id());

    let (mut stream, head) =
        raw_websocket_with(&addr, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert!(head.contains("permessage-deflate"));

    // 16 MiB of zeros, compressed to a few KiB, against a 1 MiB limit.
    let mut bomber = Connection::new(Role::Client);
    bomber.enable_deflate(&DeflateParams::default(), &DeflateConfig::default());
    bomber.send_binary(&vec![0u8; 16 << 20]).unwrap();
    let _ = stream.write_all(&bomber.take_output());

    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply); // the server closes after its close frame
    assert!(
        reply.len() >= 4 && reply[0] == 0x88,
        "expected a close frame, got {reply:x?}"
    );
    assert_eq!(u16::from_be_bytes([reply[2], reply[3]]), 1009);

    let after = peak_rss_kib(server.child.id());
    assert!(
        after.saturating_sub(before) < 4 * 1024,
        "peak memory grew by {} KiB for a bomb that inflates to 16 MiB",
        after.saturating_sub(before)
    );
    // And it still serves.
    let out = connect(&[&server.url], "still here\n");
    assert_eq!(out.stdout, "still here\n");
}

#[test]
fn sigterm_closes_connections_with_1001_and_exits_cleanly() {
    use std::io::Read;
    let mut server = EchoServer::start(&[]);
    let addr = server.addr();
    let mut stream = raw_websocket(&addr);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut close = [0u8; 4];
    stream.read_exact(&mut close).unwrap();
    assert_eq!(close[0], 0x88);
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1001);
    // Answer the close as a client must (masked, empty payload), then the server exits.
    stream.write_all(&[0x88, 0x80, 1, 2, 3, 4]).unwrap();
    let (done, exited) = mpsc::channel();
    let mut child = std::mem::replace(&mut server.child, Command::new("true").spawn().unwrap());
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = exited
        .recv_timeout(PATIENCE)
        .expect("wsock echo did not exit")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_client_that_never_reads_is_held_back_and_server_memory_stays_bounded() {
    let server = EchoServer::start(&[]);
    let addr = server.addr();
    let before = peak_rss_kib(server.child.id());
    let mut stream = raw_websocket(&addr);
    // 1 MiB messages echoed to a client that never reads: the server's sends back up,
    // its reads stop, TCP's window closes, and our writes block.
    let frame = masked_frame(0x82, &vec![0x5a; 1 << 20]);
    let written = write_until_blocked(&mut stream, &frame, 512);
    assert!(written < 512, "512 MiB went in without backpressure");
    let grown = peak_rss_kib(server.child.id()).saturating_sub(before);
    eprintln!("slow reader: held back after {written} MiB; server peak grew {grown} KiB");
    assert!(
        grown < 32 * 1024,
        "the server grew by {grown} KiB after {written} MiB"
    );
    // Everyone else is still served.
    let out = connect(&[&server.url], "others still served\n");
    assert_eq!(out.stdout, "others still served\n");
}

#[test]
fn a_ping_flood_from_a_client_that_never_reads_pongs_stays_bounded() {
    let server = EchoServer::start(&[]);
    let addr = server.addr();
    let before = peak_rss_kib(server.child.id());
    let mut stream = raw_websocket(&addr);
    let pings: Vec<u8> = (0..1000)
        .flat_map(|_| masked_frame(0x89, &[b'p'; 125]))
        .collect();
    // 1,000 pings of 125 bytes per write, up to 2,000 writes (about 260 MB of pings).
    let written = write_until_blocked(&mut stream, &pings, 2000);
    assert!(written < 2000, "the flood was never held back");
    let grown = peak_rss_kib(server.child.id()).saturating_sub(before);
    eprintln!(
        "ping flood: held back after {written} writes of 1,000 pings; server peak grew {grown} KiB"
    );
    assert!(grown < 32 * 1024, "the server grew by {grown} KiB");
    let out = connect(&[&server.url], "others still served\n");
    assert_eq!(out.stdout, "others still served\n");
}
