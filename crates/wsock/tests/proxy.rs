//! Clients tunnelling through an HTTP CONNECT proxy on 127.0.0.1.

mod common;

use common::connect_proxy::TestProxy;
use common::*;
use wsock::proxy::Proxy;
use wsock::{AcceptOptions, Client, CloseCode, Error, Message};

#[tokio::test]
async fn ws_through_a_proxy_with_basic_auth() {
    let addr = echo_server(AcceptOptions::default()).await;
    let proxy = TestProxy::start(Some("alice:s3cret")).await;
    let mut ws = bounded(
        Client::new(format!("ws://{addr}/echo"))
            .proxy(Proxy::new(&proxy.url(Some("alice:s3cret"))).unwrap())
            .connect(),
    )
    .await
    .unwrap();
    ws.send(Message::text("through the tunnel")).await.unwrap();
    let reply = bounded(ws.recv()).await.unwrap().unwrap();
    assert_eq!(reply.as_text(), Some("through the tunnel"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(proxy.tunnels(), vec![addr.to_string()]);
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_a_clear_error() {
    let addr = echo_server(AcceptOptions::default()).await;
    let proxy = TestProxy::start(Some("alice:s3cret")).await;
    for (credentials, why) in [
        (Some("alice:wrong"), "refused the credentials"),
        (None, "requires authentication"),
    ] {
        let err = Client::new(format!("ws://{addr}/echo"))
            .proxy(Proxy::new(&proxy.url(credentials)).unwrap())
            .connect()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Proxy { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(why) && !text.contains("wrong"), "{text}");
    }
    assert!(proxy.tunnels().is_empty());
}

#[tokio::test]
async fn a_proxy_that_cannot_reach_the_server_says_so() {
    let proxy = TestProxy::start(None).await;
    // A port nothing listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Client::new(format!("ws://{closed}/echo"))
        .proxy(Proxy::new(&proxy.url(None)).unwrap())
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("502"), "{err}");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn wss_runs_end_to_end_inside_the_tunnel() {
    let pki = common::pki::TestPki::new();
    let port = pki.echo_server(AcceptOptions::default()).await.port();
    let proxy = TestProxy::start(None).await;
    let mut ws = bounded(
        Client::new(format!("wss://localhost:{port}/echo"))
            .tls(pki.client_tls())
            .proxy(Proxy::new(&proxy.url(None)).unwrap())
            .connect(),
    )
    .await
    .unwrap();
    assert!(ws.get_ref().is_tls());
    ws.send(Message::binary(vec![7u8; 100_000])).await.unwrap();
    let reply = bounded(ws.recv()).await.unwrap().unwrap();
    assert_eq!(reply.payload().len(), 100_000);
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    // The proxy saw the name, never the plaintext.
    assert_eq!(proxy.tunnels(), vec![format!("localhost:{port}")]);
}
