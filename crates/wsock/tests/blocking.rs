//! The blocking API over real sockets on 127.0.0.1: the seed's programs in Go's style,
//! and blocking peers talking to async ones.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::{blocking_echo as echo, bounded_blocking as bounded, PATIENCE};
use wsock::blocking::{self, Conn, PayloadType};
use wsock::{AcceptOptions, Client, CloseCode, DeflateConfig, Error, Message, OriginPolicy};

fn blocking_echo_server(options: AcceptOptions) -> SocketAddr {
    common::blocking_echo_server(options, 4)
}

fn localhost_allowed() -> AcceptOptions {
    AcceptOptions::default().origin_policy(OriginPolicy::allow_list(["http://localhost"]))
}

#[test]
fn the_seeds_echo_in_gos_style() {
    let addr = blocking_echo_server(localhost_allowed());
    bounded(move || {
        let url = format!("ws://localhost:{}/echo", addr.port());
        let mut ws = blocking::dial(&url, "", "http://localhost/").unwrap();
        ws.write_all(b"hello, world!\n").unwrap();
        let mut msg = [0u8; 512];
        let n = ws.read(&mut msg).unwrap();
        assert_eq!(&msg[..n], b"hello, world!\n");
        ws.close(CloseCode::NORMAL, "").unwrap();
        assert_eq!(ws.read(&mut msg).unwrap(), 0, "EOF after the close");
    });
}

#[test]
fn a_refused_origin_is_an_error_that_says_403() {
    let addr = blocking_echo_server(AcceptOptions::default());
    let err = bounded(move || {
        let url = format!("ws://localhost:{}/echo", addr.port());
        blocking::dial(&url, "", "http://evil.example/").unwrap_err()
    });
    assert!(err.to_string().contains("403"), "{err}");
}

#[test]
fn a_long_message_is_read_over_several_calls() {
    let addr = blocking_echo_server(AcceptOptions::default());
    bounded(move || {
        let mut ws = blocking::dial(&format!("ws://{addr}/echo"), "", "").unwrap();
        let long: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        ws.set_payload_type(PayloadType::Binary);
        ws.write_all(&long).unwrap();
        ws.write_all(b"next").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let mut sizes = Vec::new();
        while got.len() < long.len() + 4 {
            let n = ws.read(&mut buf).unwrap();
            assert!(n > 0);
            sizes.push(n);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(sizes, [4096, 4096, 1808, 4], "message boundaries end reads");
        assert_eq!(&got[..long.len()], &long[..]);
        assert_eq!(&got[long.len()..], b"next");
    });
}

#[test]
fn writing_bytes_that_are_not_utf8_as_text_fails_and_loses_nothing() {
    let addr = blocking_echo_server(AcceptOptions::default());
    bounded(move || {
        let mut ws = blocking::dial(&format!("ws://{addr}/echo"), "", "").unwrap();
        let err = ws.write(&[0xff, 0xfe]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("PayloadType::Binary"), "{err}");
        ws.send(Message::text("still open")).unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::text("still open")));
        ws.set_payload_type(PayloadType::Binary);
        ws.write_all(&[0xff, 0xfe]).unwrap();
        assert_eq!(
            ws.recv().unwrap(),
            Some(Message::binary(vec![0xff, 0xfe])),
            "sent as binary"
        );
    });
}

#[test]
fn blocking_client_and_async_server_with_deflate_and_a_subprotocol() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = runtime.block_on(common::echo_server(
        AcceptOptions::default()
            .protocols(["chat"])
            .deflate(Some(DeflateConfig::default())),
    ));
    bounded(move || {
        let mut ws = Client::new(format!("ws://{addr}/echo"))
            .protocol("chat")
            .deflate(DeflateConfig::default())
            .connect_blocking()
            .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
        assert!(ws.is_compressed());
        let text = "compress me ".repeat(1000);
        ws.send(Message::text(text.clone())).unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::text(text)));
        ws.close(CloseCode::GOING_AWAY, "bye").unwrap();
        let echoed = ws.peer_close_frame().cloned().flatten().unwrap();
        assert_eq!(echoed.code, CloseCode::GOING_AWAY);
    });
    drop(runtime);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_client_and_blocking_server() {
    let addr = blocking_echo_server(
        AcceptOptions::default()
            .protocols(["chat"])
            .deflate(Some(DeflateConfig::default())),
    );
    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .protocol("chat")
        .deflate(DeflateConfig::default())
        .connect()
        .await
        .unwrap();
    assert!(ws.is_compressed());
    for len in [0usize, 125, 126, 65_536, 1 << 20] {
        let payload = vec![b'a'; len];
        ws.send(Message::binary(payload.clone())).await.unwrap();
        let reply = common::bounded(ws.recv()).await.unwrap();
        assert_eq!(reply, Some(Message::binary(payload)), "{len}");
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(
        ws.peer_close_frame().cloned().flatten().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}

#[test]
fn the_server_answers_404_and_503_and_times_out_a_silent_client() {
    let addr = blocking_echo_server(
        AcceptOptions::default().handshake_timeout(Duration::from_millis(300)),
    );
    bounded(move || {
        let err = blocking::dial(&format!("ws://{addr}/nowhere"), "", "").unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");

        let mut silent = TcpStream::connect(addr).unwrap();
        silent.set_read_timeout(Some(PATIENCE)).unwrap();
        let started = std::time::Instant::now();
        let mut byte = [0u8];
        let ended = silent.read(&mut byte);
        assert!(matches!(ended, Ok(0) | Err(_)), "dropped: {ended:?}");
        assert!(started.elapsed() >= Duration::from_millis(300));
    });
    // A fresh server, so that no connection above is still being counted.
    let addr = blocking_echo_server(AcceptOptions::default());
    bounded(move || {
        // Four connections is the limit: the fifth is refused.
        let open: Vec<Conn> = (0..4)
            .map(|_| blocking::dial(&format!("ws://{addr}/echo"), "", "").unwrap())
            .collect();
        let err = blocking::dial(&format!("ws://{addr}/echo"), "", "").unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        drop(open);
    });
}

#[test]
fn a_peer_that_breaks_the_protocol_gets_1002_and_the_handler_an_error() {
    let (report, outcome) = mpsc::channel();
    let server = blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .route("/echo", move |ws| {
            let result = echo(ws);
            let _ = report.send(result.as_ref().map_err(ToString::to_string).cloned());
            result
        });
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.serve());
    bounded(move || {
        let mut raw = TcpStream::connect(addr).unwrap();
        raw.set_read_timeout(Some(PATIENCE)).unwrap();
        raw.write_all(common::request_head(addr, "/echo", "").as_bytes())
            .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8];
            raw.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        // An unmasked frame from a client is a protocol error.
        raw.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
        let mut close = [0u8; 4];
        raw.read_exact(&mut close).unwrap();
        assert_eq!(close[0], 0x88);
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002);
        let result = outcome.recv_timeout(PATIENCE).unwrap();
        let err = result.unwrap_err();
        assert!(err.contains("1002"), "{err}");
    });
}

#[test]
fn a_client_that_stops_reading_hits_the_write_timeout() {
    let (report, outcome) = mpsc::channel();
    let config = wsock::Config::default().write_timeout(Some(Duration::from_millis(300)));
    let server = blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .options(AcceptOptions::default().config(config))
        .route("/echo", move |mut ws| {
            let result = (0..256).try_for_each(|_| ws.send(Message::binary(vec![0u8; 1 << 20])));
            let _ = report.send(matches!(result, Err(Error::Timeout { .. })));
            Ok(())
        });
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.serve());
    let _silent = bounded(move || blocking::dial(&format!("ws://{addr}/echo"), "", "").unwrap());
    assert_eq!(outcome.recv_timeout(PATIENCE), Ok(true));
}

#[cfg(feature = "tls")]
#[test]
fn wss_with_the_blocking_client_and_server() {
    let pki = common::pki::TestPki::new();
    let server = blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .tls(pki.server_tls())
        .route("/echo", echo);
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || server.serve());
    let client_tls = pki.client_tls();
    bounded(move || {
        let mut ws = Client::new(format!("wss://localhost:{port}/echo"))
            .tls(client_tls)
            .no_proxy()
            .connect_blocking()
            .unwrap();
        assert!(ws.get_ref().is_tls());
        ws.send(Message::binary(vec![9u8; 200_000])).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap().payload().len(), 200_000);
        ws.close(CloseCode::NORMAL, "").unwrap();

        let err = Client::new(format!("wss://127.0.0.1:{port}/echo"))
            .tls(pki.client_tls())
            .connect_blocking()
            .unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");
    });
}

#[test]
fn the_blocking_client_goes_through_a_proxy() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, proxy) = runtime.block_on(async {
        let addr = common::echo_server(AcceptOptions::default()).await;
        (
            addr,
            common::connect_proxy::TestProxy::start(Some("u:p")).await,
        )
    });
    let proxy_url = proxy.url(Some("u:p"));
    bounded(move || {
        let mut ws = Client::new(format!("ws://{addr}/echo"))
            .proxy(wsock::proxy::Proxy::new(&proxy_url).unwrap())
            .connect_blocking()
            .unwrap();
        ws.send(Message::text("tunnelled")).unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::text("tunnelled")));
        ws.close(CloseCode::NORMAL, "").unwrap();
    });
    assert_eq!(proxy.tunnels(), vec![addr.to_string()]);
    drop(runtime);
}

#[test]
fn a_blocking_server_sends_prepared_and_large_messages_in_order() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let big = Message::binary(vec![5u8; 100_000]);
    let prepared = wsock::PreparedMessage::new(Message::text("to everyone")).unwrap();
    let sent = [
        Message::text("first"),
        big.clone(),
        prepared.message().clone(),
    ];
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = blocking::accept(tcp).unwrap();
        ws.send(Message::text("first")).unwrap();
        ws.send(big).unwrap();
        ws.send_prepared(&prepared).unwrap();
        ws.close(CloseCode::NORMAL, "").unwrap();
    });
    bounded(move || {
        let mut ws = blocking::dial(&format!("ws://{addr}/"), "", "").unwrap();
        for expected in sent {
            assert_eq!(ws.recv().unwrap(), Some(expected));
        }
        assert_eq!(ws.recv().unwrap(), None);
    });
}

/// Small and large messages pipelined far ahead of the replies, so that the blocking
/// server's replies go out batched: every reply arrives whole and in order.
#[test]
fn a_blocking_echo_server_answers_pipelined_messages_intact_and_in_order() {
    let addr = blocking_echo_server(AcceptOptions::default());
    bounded(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(common::pipelined_echo(addr, 500, |i| {
            Message::text(i.to_string())
        }));
        runtime.block_on(common::pipelined_echo(addr, 64, common::large_message));
    });
}
