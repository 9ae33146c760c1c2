//! wsock inside hyper and axum, over real sockets on 127.0.0.1.
#![cfg(feature = "hyper")]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use common::*;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wsock::upgrade::{upgrade, HyperWebSocket};
use wsock::{AcceptOptions, Client, CloseCode, DeflateConfig, Message};

async fn echo(mut ws: HyperWebSocket) -> wsock::Result<()> {
    while let Some(message) = ws.recv().await? {
        ws.send(message).await?;
    }
    Ok(())
}

async fn handle(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let options = AcceptOptions::default()
        .protocols(["chat"])
        .deflate(Some(DeflateConfig::default()));
    Ok(match upgrade(&mut request, &options) {
        Ok((response, pending)) => {
            tokio::spawn(async move { echo(pending.await?).await });
            response
        }
        Err(refusal) => refusal,
    })
}

/// A bare hyper HTTP/1 server with upgrades on.
async fn hyper_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                    .with_upgrades(),
            );
        }
    });
    addr
}

#[tokio::test]
async fn echo_inside_hyper_with_a_subprotocol_and_deflate() {
    let addr = hyper_server().await;
    let mut ws = bounded(
        Client::new(format!("ws://{addr}/anything"))
            .protocol("chat")
            .deflate(DeflateConfig::default())
            .no_proxy()
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), Some("chat"));
    assert!(ws.is_compressed());
    for len in [0usize, 200, 70_000] {
        let text = "y".repeat(len);
        ws.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(bounded(ws.recv()).await.unwrap(), Some(Message::text(text)));
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(
        ws.peer_close_frame().cloned().flatten().map(|f| f.code),
        Some(CloseCode::NORMAL)
    );
}

#[tokio::test]
async fn requests_that_are_not_upgrades_get_refusals_that_say_why() {
    let addr = hyper_server().await;
    let (status, text) = raw_request(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Upgrade"), "{text}");
    let head = request_head(addr, "/", "").replace("Version: 13", "Version: 8");
    let (status, text) = raw_request(
        addr,
        head.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 426, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{text}"
    );
}

#[tokio::test]
async fn cross_site_requests_are_refused_inside_hyper_too() {
    let addr = hyper_server().await;
    let head = request_head(
        addr,
        "/",
        "Origin: https://evil.example\r\nConnection: close\r\n",
    );
    let (status, text) = raw_request(addr, head.as_bytes()).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("evil.example"), "{text}");
}
