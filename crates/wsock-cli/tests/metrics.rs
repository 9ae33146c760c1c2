//! `wsock echo --metrics`: a Prometheus scrape reflects a known sequence of events
//! (accepted and refused handshakes, messages and bytes both ways, closes by code,
//! connections open by path).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use common::*;

/// A free port on 127.0.0.1 for the exporter (the OS picks it; it is free again once
/// the probe closes).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// The scrape's text.
fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample `series` (name and labels, exactly as exported), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until every one of `expected` has its value: the server counts a close
/// when it drops the connection, just after the client is done. Fails with the last
/// scrape after [`PATIENCE`].
fn scrape_until(port: u16, expected: &[(&str, f64)]) -> String {
    let started = Instant::now();
    loop {
        let text = scrape(port);
        let missing: Vec<_> = expected
            .iter()
            .filter(|(series, value)| sample(&text, series) != Some(*value))
            .collect();
        if missing.is_empty() {
            return text;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "never saw {missing:?} in:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_scrape_reflects_what_happened() {
    let port = free_port();
    let server = EchoServer::start(&["--metrics", &format!("127.0.0.1:{port}")]);

    // Three messages echoed, then a normal close.
    let out = connect(&["--no-deflate", &server.url], "a\nbb\nccc\n");
    assert_eq!(out.stdout, "a\nbb\nccc\n", "{}", out.stderr);
    // Refused: a foreign origin, an old version, a path with no route.
    let out = connect(&[&server.url, "--origin", "http://evil.example"], "");
    assert!(out.stderr.contains("403"), "{}", out.stderr);
    let addr = server.addr();
    for (path, version) in [("/echo", "8"), ("/nope", "13")] {
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    }
    // Dropped without a closing handshake.
    drop(raw_websocket(&addr));
    // And one still open while we look.
    let held = raw_websocket(&addr);

    let text = scrape_until(
        port,
        &[
            ("wsock_handshakes_accepted_total", 3.0),
            ("wsock_handshakes_refused_total{reason=\"origin\"}", 1.0),
            ("wsock_handshakes_refused_total{reason=\"version\"}", 1.0),
            ("wsock_handshakes_refused_total{reason=\"not_found\"}", 1.0),
            ("wsock_connections_opened_total{path=\"/echo\"}", 3.0),
            ("wsock_connections_open{path=\"/echo\"}", 1.0),
            ("wsock_messages_received_total{role=\"server\"}", 3.0),
            ("wsock_messages_sent_total{role=\"server\"}", 3.0),
            ("wsock_closes_total{role=\"server\",code=\"1000\"}", 1.0),
            ("wsock_closes_total{role=\"server\",code=\"1006\"}", 1.0),
        ],
    );
    // Three text frames of 1-3 bytes each way, masked from the client: at least
    // 6+7+8 bytes in and 3+4+5 out, besides the closes.
    let received = sample(&text, "wsock_bytes_received_total{role=\"server\"}").unwrap();
    let sent = sample(&text, "wsock_bytes_sent_total{role=\"server\"}").unwrap();
    assert!(
        received >= 21.0 && sent >= 12.0,
        "{received} in, {sent} out"
    );
    // The write budget is back to nothing held once everything was written.
    assert_eq!(
        sample(&text, "wsock_budget_bytes{budget=\"write\"}"),
        Some(0.0)
    );

    drop(held);
    scrape_until(port, &[("wsock_connections_open{path=\"/echo\"}", 0.0)]);
}

#[test]
fn broadcast_reports_rooms_and_members() {
    let port = free_port();
    let mut child = std::process::Command::new(WSOCK)
        .args(["broadcast", "--listen", "127.0.0.1:0", "--metrics"])
        .arg(format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = listening_address(&mut child);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let members = runtime.block_on(async {
        let mut members = Vec::new();
        for (room, name) in [("lobby", "ann"), ("lobby", "bob"), ("den", "cy")] {
            let url = format!("ws://{addr}/ws?room={room}&name={name}");
            members.push(wsock::Client::new(url).connect().await.unwrap());
        }
        members
    });
    scrape_until(
        port,
        &[
            ("wsock_rooms", 2.0),
            ("wsock_room_members", 3.0),
            ("wsock_connections_open{path=\"/ws\"}", 3.0),
        ],
    );
    drop(members);
    scrape_until(port, &[("wsock_rooms", 0.0), ("wsock_room_members", 0.0)]);
    let _ = child.kill();
    let _ = child.wait();
}

/// The `host:port` a serving `wsock` logs that it listens on.
fn listening_address(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(start) = line.find("http://") {
                let rest = &line[start + "http://".len()..];
                let address = rest.split(['/', ' ']).next().unwrap_or_default().to_owned();
                if let Some(found) = found.take() {
                    let _ = found.send(address);
                }
            }
        }
    });
    address.recv_timeout(PATIENCE).unwrap()
}
