//! The blocking shell keeps the async shell's clocks: idle timeout and keepalive, one
//! deadline for a whole TLS handshake on either side, and connection slots that
//! silent peers cannot keep. Over real sockets on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use wsock::{AcceptOptions, Client, Config, Keepalive};

/// Opens a WebSocket at /echo by hand, blocking; returns the stream after the 101.
fn raw_blocking_websocket(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(request_head(addr, "/echo", "").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    stream
}

/// The first frame the server sends: opcode byte and payload.
fn next_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).unwrap();
    let mut payload = vec![0u8; usize::from(header[1] & 0x7f)];
    stream.read_exact(&mut payload).unwrap();
    (header[0], payload)
}

#[test]
fn silent_peers_hit_the_idle_timeout_and_free_their_slots() {
    let mut keepalive = Keepalive::default();
    keepalive.idle_timeout = Some(Duration::from_millis(300));
    let options = AcceptOptions::default().config(Config::default().keepalive(keepalive));
    let addr = blocking_echo_server(options, 20);
    bounded_blocking(move || {
        // Every slot taken by a peer that says nothing after its handshake.
        let mut silent: Vec<TcpStream> = (0..20).map(|_| raw_blocking_websocket(addr)).collect();
        for peer in &mut silent {
            let (opcode, payload) = next_frame(peer);
            assert_eq!(opcode, 0x88);
            assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
        }
        // The slots came back: a client is served.
        let mut ws = wsock::blocking::dial(&format!("ws://{addr}/echo"), "", "").unwrap();
        ws.write_all(b"served").unwrap();
        let mut reply = [0u8; 6];
        ws.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"served");
    });
}

#[test]
fn a_quiet_peer_is_pinged() {
    let mut keepalive = Keepalive::default();
    keepalive.ping_interval = Some(Duration::from_millis(200));
    let options = AcceptOptions::default().config(Config::default().keepalive(keepalive));
    let addr = blocking_echo_server(options, 4);
    bounded_blocking(move || {
        let mut peer = raw_blocking_websocket(addr);
        let (opcode, payload) = next_frame(&mut peer);
        assert_eq!(opcode, 0x89, "a ping");
        assert_eq!(payload, b"wsock-keepalive");
    });
}

/// Sends `bytes` one at a time, `gap` apart, until the peer closes; returns how many
/// went out.
fn trickle(stream: &mut TcpStream, bytes: &[u8], gap: Duration) -> usize {
    for (sent, byte) in bytes.iter().enumerate() {
        if stream.write_all(&[*byte]).is_err() {
            return sent;
        }
        // The attacker's pace, not a wait for the code under test.
        std::thread::sleep(gap);
        let mut probe = [0u8];
        stream.set_nonblocking(true).unwrap();
        let closed = matches!(stream.read(&mut probe), Ok(0));
        stream.set_nonblocking(false).unwrap();
        if closed {
            return sent + 1;
        }
    }
    bytes.len()
}

#[test]
fn a_tls_handshake_fed_a_byte_at_a_time_ends_at_the_handshake_timeout() {
    let pki = common::pki::TestPki::new();
    let server = wsock::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .tls(pki.server_tls())
        .options(AcceptOptions::default().handshake_timeout(Duration::from_millis(500)))
        .route("/echo", blocking_echo);
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.serve());
    bounded_blocking(move || {
        let mut peer = TcpStream::connect(addr).unwrap();
        // The start of a TLS record of 512 bytes, then its body, slowly.
        let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
        hello.resize(517, 0);
        let started = Instant::now();
        let sent = trickle(&mut peer, &hello, Duration::from_millis(50));
        assert!(sent < hello.len(), "the server waited for all {sent} bytes");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn the_blocking_client_gives_up_on_a_server_that_trickles_its_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut hello = vec![0x16, 0x03, 0x03, 0x02, 0x00, 0x02];
            hello.resize(517, 0);
            trickle(&mut stream, &hello, Duration::from_millis(50));
        }
    });
    let pki = common::pki::TestPki::new();
    let client_tls = pki.client_tls();
    bounded_blocking(move || {
        let started = Instant::now();
        let error = Client::new(format!("wss://localhost:{port}/echo"))
            .tls(client_tls)
            .no_proxy()
            .connect_timeout(Duration::from_millis(500))
            .connect_blocking()
            .unwrap_err();
        assert!(matches!(error, wsock::Error::Timeout { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn the_blocking_server_keeps_a_read_budget_too() {
    const BUDGET: usize = 1 << 20;
    let server = wsock::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .read_budget_limit(BUDGET)
        .route("/echo", blocking_echo);
    let addr = server.local_addr().unwrap();
    let budget = server.read_budget();
    std::thread::spawn(move || server.serve());
    bounded_blocking(move || {
        let mut unfinished = client_frame(0x02, &[7; 100 << 10]);
        for _ in 0..5 {
            unfinished.extend(client_frame(0x00, &[7; 100 << 10]));
        }
        let mut first = raw_blocking_websocket(addr);
        first.write_all(&unfinished).unwrap();
        let started = Instant::now();
        while budget.used() < 600 << 10 {
            assert!(started.elapsed() < PATIENCE, "the first never counted");
            std::thread::yield_now();
        }
        let mut late = raw_blocking_websocket(addr);
        let _ = late.write_all(&unfinished);
        let (opcode, payload) = next_frame(&mut late);
        assert_eq!(opcode, 0x88);
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1013);
        assert!(budget.used() <= BUDGET + (128 << 10), "{}", budget.used());
    });
}
