//! `Client::reconnecting` over real sockets on 127.0.0.1: back after a server restart
//! on the same port, and a bounded end against a port nobody serves, in both shells.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use wsock::{Backoff, Client, Error, Message, Server};

/// Short delays, so that the tests wait milliseconds rather than seconds.
fn quick(url: String) -> wsock::Reconnecting {
    let ms = Duration::from_millis;
    Client::new(url)
        .reconnecting()
        .backoff(Backoff::new(ms(10), ms(40)))
        .max_failures(4)
}

/// Serves /echo at `addr` until the returned handle shuts it down.
async fn serve_at(
    addr: &str,
) -> (
    SocketAddr,
    wsock::ShutdownHandle,
    tokio::task::JoinHandle<()>,
) {
    let server = Server::bind(addr).await.unwrap().route("/echo", echo);
    let bound = server.local_addr().unwrap();
    let shutdown = server.shutdown_handle();
    let task = tokio::spawn(async move {
        let _ = server.serve().await;
    });
    (bound, shutdown, task)
}

async fn assert_echoes(ws: &mut wsock::WebSocket, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
    let reply = bounded(ws.recv()).await.unwrap().unwrap();
    assert_eq!(reply.as_text(), Some(text));
}

#[tokio::test]
async fn a_restarted_server_is_found_again_on_its_port() {
    let (addr, shutdown, task) = serve_at("127.0.0.1:0").await;
    let mut connections = quick(format!("ws://{addr}/echo"));
    let mut first = bounded(connections.next()).await.unwrap();
    assert_echoes(&mut first, "before").await;

    shutdown.shutdown();
    // The server says goodbye with 1001, then stops listening.
    assert!(bounded(first.recv()).await.unwrap().is_none());
    assert_eq!(
        first.peer_close_frame().unwrap().as_ref().unwrap().code,
        wsock::CloseCode::GOING_AWAY
    );
    bounded(task).await.unwrap();

    let (_, _restarted, _task) = serve_at(&addr.to_string()).await;
    let mut second = bounded(connections.next()).await.unwrap();
    assert_echoes(&mut second, "after").await;
}

#[tokio::test]
async fn nobody_listening_ends_in_gave_up_with_the_last_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut retries = Vec::new();
    let (heard, seen) = std::sync::mpsc::channel();
    let mut connections = quick(format!("ws://{closed}/echo")).on_retry(move |retry| {
        let _ = heard.send((retry.failures, retry.error.is_some()));
    });
    let error = bounded(connections.next()).await.unwrap_err();
    assert!(
        matches!(error, Error::GaveUp { attempts: 4, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("could not connect"), "{error}");
    while let Ok(retry) = seen.try_recv() {
        retries.push(retry);
    }
    assert_eq!(retries, vec![(1, true), (2, true), (3, true)]);
}

#[test]
fn the_blocking_shell_reconnects_and_gives_up_alike() {
    bounded_blocking(|| {
        let addr = blocking_echo_server(wsock::AcceptOptions::default(), 10);
        let mut connections = quick(format!("ws://{addr}/echo"));
        let mut conn = connections.next_blocking().unwrap();
        conn.send(Message::text("blocking")).unwrap();
        assert_eq!(conn.recv().unwrap().unwrap().as_text(), Some("blocking"));

        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut nowhere = quick(format!("ws://{closed}/echo"));
        let error = nowhere.next_blocking().unwrap_err();
        assert!(matches!(error, Error::GaveUp { .. }), "{error}");
    });
}
