//! Keepalive and the idle timeout over real sockets, with short intervals.

mod common;

use std::time::Duration;

use common::*;
use wsock::{AcceptOptions, Client, Config, Keepalive, Message};

fn keepalive_server_options(
    ping_ms: Option<u64>,
    pong_ms: u64,
    idle_ms: Option<u64>,
) -> AcceptOptions {
    let mut keepalive = Keepalive::default();
    keepalive.ping_interval = ping_ms.map(Duration::from_millis);
    keepalive.pong_timeout = Duration::from_millis(pong_ms);
    keepalive.idle_timeout = idle_ms.map(Duration::from_millis);
    AcceptOptions::default().config(Config::default().keepalive(keepalive))
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_closed_with_1011() {
    let addr = echo_server(keepalive_server_options(Some(100), 200, None)).await;
    // A raw client that completes the handshake and then neither reads nor answers.
    let mut stream = raw_websocket(addr).await;
    // The server pings after 100 ms, gives up 200 ms later; read_close_code skips the
    // ping and fails the test unless the close arrives within its patience.
    assert_eq!(read_close_code(&mut stream).await, Some(1011));
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn a_peer_that_answers_stays_connected_across_many_intervals() {
    let addr = echo_server(keepalive_server_options(Some(20), 100, None)).await;
    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    // While we read, our client answers every ping; 1 s is about 50 intervals.
    let quiet = tokio::time::timeout(Duration::from_secs(1), ws.recv()).await;
    assert!(quiet.is_err(), "the connection ended: {quiet:?}");
    ws.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        bounded(ws.recv()).await.unwrap(),
        Some(Message::text("still here"))
    );
}

#[tokio::test]
async fn a_silent_peer_hits_the_idle_timeout_with_1001() {
    let addr = echo_server(keepalive_server_options(None, 100, Some(200))).await;
    let mut stream = raw_websocket(addr).await;
    assert_eq!(read_close_code(&mut stream).await, Some(1001));
}

#[tokio::test]
async fn the_client_detects_a_server_that_stopped_answering() {
    // A "server" that completes the handshake by hand and then goes silent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent_server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = wsock::accept(stream).await.unwrap();
        // Hold the connection without ever polling it, so pings go unanswered.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(ws);
    });
    let mut keepalive = Keepalive::default();
    keepalive.ping_interval = Some(Duration::from_millis(100));
    keepalive.pong_timeout = Duration::from_millis(200);
    let mut ws = Client::new(format!("ws://{addr}/"))
        .config(
            Config::default()
                .keepalive(keepalive)
                .close_timeout(Duration::from_millis(200)),
        )
        .connect()
        .await
        .unwrap();
    let outcome = bounded(ws.recv()).await;
    assert!(
        matches!(
            outcome,
            Err(wsock::Error::Protocol(
                wsock::ProtocolError::KeepaliveTimeout { .. }
            ))
        ),
        "{outcome:?}"
    );
    silent_server.abort();
}
