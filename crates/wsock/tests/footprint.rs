//! The sizes that make up an idle connection's memory (docs/performance.md, "Memory
//! per idle connection"): a regression here costs every connection of every server.
//! Exact sizes depend on the compiler, so these are ceilings with some room.

use std::mem::size_of;

use wsock::{MaybeTlsStream, Message, SendFuture, WebSocket};

#[test]
fn a_websocket_stays_small() {
    let size = size_of::<WebSocket<MaybeTlsStream>>();
    assert!(
        size <= 384,
        "WebSocket grew to {size} bytes; box state that idle connections do not use"
    );
}

#[test]
fn the_send_future_holds_little_more_than_the_message() {
    let size = size_of::<SendFuture<'static, MaybeTlsStream>>();
    assert!(
        size <= size_of::<Message>() + 16,
        "SendFuture grew to {size} bytes"
    );
}

/// What a handler written as a closure costs: the WebSocket once, plus the futures
/// it awaits; an `async fn` taking the WebSocket would hold it twice.
#[test]
fn an_echo_handler_holds_its_websocket_once() {
    let echo = |mut ws: WebSocket<MaybeTlsStream>| async move {
        while let Some(message) = ws.recv().await? {
            ws.send(message).await?;
        }
        Ok::<(), wsock::Error>(())
    };
    fn size_of_future<F>(_: &F) -> usize {
        size_of::<F>()
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let ws = WebSocket::from_upgraded(
            MaybeTlsStream::Plain(tcp),
            wsock_proto::Role::Server,
            wsock::Config::default(),
        );
        let websocket = size_of::<WebSocket<MaybeTlsStream>>();
        let handler = echo(ws);
        let size = size_of_future(&handler);
        assert!(
            size < websocket * 2,
            "the handler's future is {size} bytes for a {websocket}-byte WebSocket"
        );
    });
}
