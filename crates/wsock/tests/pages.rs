//! `Server::http`: a page and its WebSocket on one port, with the server's
//! protections; over real sockets on 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsock::{AcceptOptions, Client, Message, Server};

async fn page_server(options: AcceptOptions) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .options(options)
        .http("/", |request| {
            let body = format!("page for {}", request.method());
            http::Response::builder()
                .header("Content-Type", "text/plain")
                .body(Bytes::from(body))
                .unwrap()
        })
        .route("/echo", echo);
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    addr
}

async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    bounded(stream.read_to_end(&mut response)).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_page_and_its_websocket_share_one_port() {
    let addr = page_server(AcceptOptions::default()).await;
    let page = exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(lower.contains("content-length: 12\r\n"), "{page}");
    assert!(lower.contains("connection: close\r\n"), "{page}");
    assert!(page.ends_with("\r\n\r\npage for GET"), "{page}");

    let head = exchange(addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );

    let missing = exchange(addr, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let plain_at_the_websocket = exchange(addr, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        plain_at_the_websocket.starts_with("HTTP/1.1 400"),
        "{plain_at_the_websocket}"
    );

    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    ws.send(Message::text("and a WebSocket")).await.unwrap();
    assert_eq!(
        bounded(ws.recv()).await.unwrap(),
        Some(Message::text("and a WebSocket"))
    );
}

#[tokio::test]
async fn a_half_sent_page_request_is_dropped_at_the_handshake_timeout() {
    let addr =
        page_server(AcceptOptions::default().handshake_timeout(Duration::from_millis(200))).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut rest = Vec::new();
    bounded(slow.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    let page = exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
}
