//! The proxy environment variables. One test in its own binary: the environment is
//! shared by every thread of a process.

mod common;

use common::connect_proxy::TestProxy;
use common::*;
use wsock::{AcceptOptions, Client, CloseCode, Message};

async fn round_trip(url: &str) {
    let mut ws = bounded(Client::new(url).connect()).await.unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(bounded(ws.recv()).await.unwrap(), Some(Message::text("hi")));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn http_proxy_and_no_proxy_from_the_environment() {
    let addr = echo_server(AcceptOptions::default()).await;
    let proxy = TestProxy::start(Some("bob:pw")).await;
    for name in [
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("http_proxy", proxy.url(Some("bob:pw")));
    let url = format!("ws://{addr}/echo");
    round_trip(&url).await;
    assert_eq!(
        proxy.tunnels().len(),
        1,
        "the first connection used the proxy"
    );

    std::env::set_var("NO_PROXY", "example.com, 127.0.0.1");
    round_trip(&url).await;
    assert_eq!(proxy.tunnels().len(), 1, "no_proxy sent it direct");

    std::env::remove_var("NO_PROXY");
    std::env::remove_var("http_proxy");
    // What a CGI request's `Proxy:` header sets ("httpoxy"): ignored.
    std::env::set_var("HTTP_PROXY", proxy.url(None));
    round_trip(&url).await;
    assert_eq!(proxy.tunnels().len(), 1, "HTTP_PROXY was not ignored");
    std::env::set_var("http_proxy", proxy.url(Some("bob:pw")));

    let mut ws = bounded(Client::new(&url).no_proxy().connect())
        .await
        .unwrap();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(
        proxy.tunnels().len(),
        1,
        "Client::no_proxy ignored the environment"
    );
}
