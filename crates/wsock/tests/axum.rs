//! The axum extractor (`wsock::axum::WebSocketUpgrade`): its refusals in axum's own
//! test style (`tower::ServiceExt::oneshot`), and upgrades over real sockets on
//! 127.0.0.1, HTTP/1.1 and HTTP/2, through the example app.
#![cfg(feature = "axum")]

mod common;

use axum::body::Body;
use axum::response::Response;
use axum::routing::any;
use axum::{Extension, Router};
use common::*;
use http::Request;
use hyper::body::Bytes;
use tokio::net::TcpListener;
use tower::ServiceExt;
use wsock::axum::WebSocketUpgrade;
use wsock::{AcceptOptions, Client, CloseCode, Message, OriginPolicy};

async fn chat(upgrade: WebSocketUpgrade) -> Response {
    upgrade.protocols(["chat"]).on_upgrade(|mut ws| async move {
        let protocol = ws.protocol().unwrap_or("none").to_owned();
        let _ = ws.send(Message::text(protocol)).await;
        let _ = ws.close(CloseCode::NORMAL, "").await;
    })
}

fn app() -> Router {
    Router::new().route("/chat", any(chat))
}

async fn body_text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_plain_request_is_refused_with_the_reason() {
    let request = Request::get("/chat")
        .header("Host", "a.example")
        .body(Body::empty())
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(body_text(response).await.contains("Upgrade"));
}

#[tokio::test]
async fn a_wrong_version_is_426_with_the_version_to_use() {
    let request = Request::get("/chat")
        .header("Host", "a.example")
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "8")
        .body(Body::empty())
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 426);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
}

#[tokio::test]
async fn the_origin_policy_comes_from_an_extension_layer() {
    let options =
        AcceptOptions::default().origin_policy(OriginPolicy::allow_list(["https://app.example"]));
    let app = app().layer(Extension(options));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let head = request_head(
        addr,
        "/chat",
        "Origin: https://evil.example\r\nConnection: close\r\n",
    );
    let (status, text) = raw_request(addr, head.as_bytes()).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("evil.example"), "{text}");
    let mut ws = bounded(
        Client::new(format!("ws://{addr}/chat"))
            .origin("https://app.example")
            .protocol("chat")
            .no_proxy()
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    assert_eq!(
        bounded(ws.recv()).await.unwrap(),
        Some(Message::text("chat"))
    );
}

#[path = "../examples/axum_echo.rs"]
#[allow(dead_code)]
mod axum_echo;

#[tokio::test]
async fn the_axum_example_serves_its_page_and_its_websocket() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum_echo::app()).await });
    let (status, page) = raw_request(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("WebSocket is at /echo"), "{page}");
    let mut ws = bounded(
        Client::new(format!("ws://{addr}/echo"))
            .no_proxy()
            .connect(),
    )
    .await
    .unwrap();
    ws.send(Message::binary(vec![3u8; 100_000])).await.unwrap();
    assert_eq!(
        bounded(ws.recv()).await.unwrap().unwrap().payload().len(),
        100_000
    );
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn the_axum_example_takes_an_http2_extended_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum_echo::app()).await });
    // axum speaks HTTP/2 with prior knowledge on cleartext, extended CONNECT on.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (connection, driver) = bounded(h2::client::handshake(tcp)).await.unwrap();
    tokio::spawn(driver);
    let mut connection = bounded(connection.ready()).await.unwrap();
    let request = extended_connect(&format!("http://{addr}/echo"));
    let (response, mut send) = connection.send_request(request, false).unwrap();
    let response = bounded(response).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("sec-websocket-accept"));
    let mut recv = response.into_body();
    send.send_data(Bytes::from(client_frame(0x81, b"over h2")), false)
        .unwrap();
    let echoed = bounded(recv.data()).await.unwrap().unwrap();
    assert_eq!(&echoed[..], b"\x81\x07over h2");
}
