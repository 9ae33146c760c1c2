//! Connection limits and graceful shutdown over real sockets.

mod common;

use std::time::Duration;

use common::*;
use wsock::{Client, CloseCode, CloseFrame, Message, Server};

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001_and_serve_returns() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route("/echo", echo);
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve());

    let mut clients = Vec::new();
    for i in 0..5 {
        let mut ws = Client::new(format!("ws://{addr}/echo"))
            .connect()
            .await
            .unwrap();
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        assert!(bounded(ws.recv()).await.unwrap().is_some());
        clients.push(ws);
    }
    handle.shutdown();
    for ws in &mut clients {
        assert_eq!(bounded(ws.recv()).await.unwrap(), None);
        assert_eq!(
            ws.peer_close_frame().cloned().flatten(),
            Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "the server is shutting down"
            ))
        );
    }
    bounded(serving).await.unwrap().unwrap();
    // The listener is gone: new connections are refused.
    assert!(Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .is_err());
}

#[tokio::test]
async fn a_connection_still_in_its_handshake_does_not_hold_the_shutdown() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .options(wsock::AcceptOptions::default().handshake_timeout(PATIENCE * 10))
        .shutdown_timeout(PATIENCE * 10)
        .route("/echo", echo);
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve());
    // What a browser's preconnect looks like: a connection that sends nothing.
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    handle.shutdown();
    assert_eq!(bounded(ws.recv()).await.unwrap(), None);
    // Well before the handshake timeout (ten times the test's patience).
    bounded(serving).await.unwrap().unwrap();
    drop(silent);
}

#[tokio::test]
async fn shutdown_gives_up_on_peers_that_never_answer_the_close() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route("/echo", echo)
        .shutdown_timeout(Duration::from_millis(300));
    let addr = server.local_addr().unwrap();
    let handle = server.shutdown_handle();
    let serving = tokio::spawn(server.serve());
    // A raw client that completes the handshake and then never reads or answers.
    let _silent = raw_websocket(addr).await;
    handle.shutdown();
    bounded(serving).await.unwrap().unwrap();
}

#[tokio::test]
async fn connections_over_the_limit_get_503_and_the_rest_are_served() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route("/echo", echo)
        .max_connections(2);
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    let mut first = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    let _second = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    let (status, response) = raw_request(addr, request_head(addr, "/echo", "").as_bytes()).await;
    assert_eq!(status, 503, "{response}");
    first.send(Message::text("still served")).await.unwrap();
    assert_eq!(
        bounded(first.recv()).await.unwrap(),
        Some(Message::text("still served"))
    );
    // Once one leaves, a new client gets in.
    first.close(CloseCode::NORMAL, "").await.unwrap();
    let mut admitted = None;
    for _ in 0..100 {
        // The server reaps the finished task as it accepts; retry a bounded number of times.
        match Client::new(format!("ws://{addr}/echo")).connect().await {
            Ok(ws) => {
                admitted = Some(ws);
                break;
            }
            Err(_) => tokio::task::yield_now().await,
        }
    }
    assert!(admitted.is_some(), "a freed slot was never reused");
}

#[tokio::test]
async fn the_global_write_budget_caps_unsent_output_across_connections() {
    use tokio::sync::mpsc;
    use wsock::{AcceptOptions, Config};
    const MESSAGE: usize = 256 << 10;
    const BUDGET: usize = 1 << 20;
    let (blocked_tx, mut blocked) = mpsc::unbounded_channel();
    // Each connection alone could queue 64 MiB; together they may queue about 1 MiB.
    let options = AcceptOptions::default().config(Config::default().write_buffer_limit(64 << 20));
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .options(options)
        .write_budget_limit(BUDGET)
        .route("/flood", move |mut ws| {
            let blocked = blocked_tx.clone();
            async move {
                let payload = bytes::Bytes::from(vec![0u8; MESSAGE]);
                loop {
                    let send = ws.send(Message::Binary(payload.clone()));
                    match tokio::time::timeout(Duration::from_millis(300), send).await {
                        Ok(result) => result?,
                        Err(_) => {
                            // Held back: report it and keep the connection as it is.
                            let _ = blocked.send(());
                            std::future::pending::<()>().await;
                        }
                    }
                }
            }
        });
    let addr = server.local_addr().unwrap();
    let budget = server.write_budget();
    tokio::spawn(server.serve());
    let mut readers_that_never_read = Vec::new();
    for _ in 0..4 {
        let head = request_head(addr, "/flood", "");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
            .await
            .unwrap();
        readers_that_never_read.push(stream);
    }
    for _ in 0..4 {
        bounded(blocked.recv()).await.unwrap();
    }
    let queued = budget.queued();
    assert!(queued > 0, "the budget counts queued output");
    assert!(
        queued <= BUDGET + 4 * (MESSAGE + 14),
        "{queued} bytes queued against a budget of {BUDGET}"
    );
}
