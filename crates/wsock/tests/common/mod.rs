//! Helpers for tests over real sockets on 127.0.0.1.

#![allow(dead_code)] // each test file uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsock::{AcceptOptions, Client, CloseCode, Message, Server, WebSocket};

pub mod connect_proxy;
#[cfg(feature = "tls")]
pub mod pki;

/// Upper bound for any single wait in a test: a hang fails instead of stalling CI.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub async fn echo(mut ws: WebSocket) -> wsock::Result<()> {
    while let Some(message) = ws.recv().await? {
        ws.send(message).await?;
    }
    Ok(())
}

/// Starts an echo server at /echo with `options` on a free port.
pub async fn echo_server(options: AcceptOptions) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .options(options)
        .route("/echo", echo);
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    addr
}

/// Runs `future` or fails the test after [`PATIENCE`].
pub async fn bounded<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("the test waited too long")
}

/// Runs `test` on its own thread and fails if it takes longer than [`PATIENCE`]:
/// blocking calls cannot be cancelled, so a hang must not stall the run.
pub fn bounded_blocking<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(test());
    });
    result
        .recv_timeout(PATIENCE)
        .expect("the test waited too long (or panicked)")
}

/// The blocking echo handler.
pub fn blocking_echo(mut ws: wsock::blocking::Conn) -> wsock::Result<()> {
    while let Some(message) = ws.recv()? {
        ws.send(message)?;
    }
    Ok(())
}

/// A blocking echo server at /echo on a free port, with `options` and at most
/// `max_connections`.
pub fn blocking_echo_server(options: AcceptOptions, max_connections: usize) -> SocketAddr {
    let server = wsock::blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .options(options)
        .max_connections(max_connections)
        .route("/echo", blocking_echo);
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.serve());
    addr
}

/// Sends `count` messages made by `message` to the echo server at `addr` from one task
/// while this one reads the echoes, each checked against what was sent, in order; then
/// closes.
pub async fn pipelined_echo(addr: SocketAddr, count: usize, message: fn(usize) -> Message) {
    let ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    let (mut rx, mut tx) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..count {
            tx.send(message(i)).await.unwrap();
        }
        tx
    });
    for i in 0..count {
        let reply = bounded(rx.recv()).await.unwrap().unwrap();
        assert!(reply == message(i), "reply {i} differs from what was sent");
    }
    let mut tx = writer.await.unwrap();
    tx.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_eq!(bounded(rx.recv()).await.unwrap(), None);
}

/// The `i`th of a series of distinct 64 KiB binary messages.
pub fn large_message(i: usize) -> Message {
    Message::binary(
        (0..64 << 10)
            .map(|j| (i * 31 + j) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Checks the server still echoes for a well-behaved client.
pub async fn assert_still_serving(addr: SocketAddr) {
    let mut ws = bounded(wsock::Client::new(format!("ws://{addr}/echo")).connect())
        .await
        .expect("the server no longer accepts connections");
    ws.send(Message::text("still there?")).await.unwrap();
    let reply = bounded(ws.recv()).await.unwrap().unwrap();
    assert_eq!(reply.as_text(), Some("still there?"));
    ws.close(wsock::CloseCode::NORMAL, "").await.unwrap();
}

/// Sends a raw request head and returns the status code and the whole response head.
pub async fn raw_request(addr: SocketAddr, head: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read everything we send.
    let _ = stream.write_all(head).await;
    let mut response = Vec::new();
    let _ = bounded(stream.read_to_end(&mut response)).await;
    with_status(&response)
}

/// Sends a raw request head and returns the status code and the response head only,
/// without waiting for the connection to end (a 101 keeps it open).
pub async fn raw_request_head(addr: SocketAddr, head: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(head).await;
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        match bounded(stream.read(&mut byte)).await {
            Ok(1) => response.push(byte[0]),
            _ => break,
        }
    }
    with_status(&response)
}

/// A response's status code, and the response as text.
fn with_status(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}

/// A valid request head for `path` with `extra` header lines.
pub fn request_head(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Opens a WebSocket at /echo by hand and returns the raw stream after the 101.
pub async fn raw_websocket(addr: SocketAddr) -> TcpStream {
    raw_websocket_at(addr, "/echo").await
}

/// Opens a WebSocket at `path` by hand and returns the raw stream after the 101.
pub async fn raw_websocket_at(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request_head(addr, path, "").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        bounded(stream.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A client frame: `first` is the whole first byte; masked with a fixed key.
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0xa1, 0xb2, 0xc3, 0xd4];
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Reads server frames until a close frame; returns its code (None if empty), and
/// checks the server then closes the TCP connection.
pub async fn read_close_code(stream: &mut TcpStream) -> Option<u16> {
    loop {
        let mut header = [0u8; 2];
        bounded(stream.read_exact(&mut header))
            .await
            .expect("expected a frame");
        assert_eq!(header[1] & 0x80, 0, "servers must not mask");
        let len = match header[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).await.unwrap();
                u64::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                stream.read_exact(&mut ext).await.unwrap();
                u64::from_be_bytes(ext)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        bounded(stream.read_exact(&mut payload)).await.unwrap();
        if header[0] & 0x0f == 0x8 {
            let mut rest = Vec::new();
            // `bounded` fails the test unless the server closes TCP in time; a reset
            // instead of a FIN is still a close.
            let _ = bounded(stream.read_to_end(&mut rest)).await;
            assert!(rest.is_empty(), "nothing may follow a close frame");
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// An HTTP/2 extended CONNECT for a WebSocket at `uri` (RFC 8441), for a raw h2 client.
pub fn extended_connect(uri: &str) -> http::Request<()> {
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(uri)
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from("websocket"));
    request
}

/// The next thing a hub member receives, which must be a text message.
pub async fn next_text(member: &mut wsock::broadcast::Subscription) -> String {
    match bounded(member.recv()).await {
        wsock::broadcast::Received::Message(prepared) => {
            prepared.message().as_text().unwrap().to_owned()
        }
        other => panic!("expected a message, got {other:?}"),
    }
}
