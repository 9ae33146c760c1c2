//! What the comparison servers share: the address from the command line and a
//! single-threaded runtime, so that each server gets one core (benches/compare.sh pins
//! it with taskset) and none pays for work stealing it cannot use.

use std::future::Future;

pub mod minimal;

/// The listen address: the first argument, default 127.0.0.1:9001.
pub fn addr() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned())
}

/// Runs `server` on a current-thread runtime.
pub fn run<F: Future<Output = ()>>(server: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(server);
}

/// Serves HTTP/1.1 with upgrades on `addr()`, `handle` answering each request, every
/// connection on the current thread (handlers spawn their WebSockets with
/// `spawn_local`): how the peers that upgrade through hyper (fastwebsockets, yawc) serve.
pub fn serve_hyper_upgrades<F, Fut, E>(handle: F)
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Copy + 'static,
    Fut: Future<Output = Result<hyper::Response<http_body_util::Empty<hyper::body::Bytes>>, E>>
        + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let local = tokio::task::LocalSet::new();
    run(local.run_until(async move {
        let listener = tokio::net::TcpListener::bind(addr()).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(handle),
                    )
                    .with_upgrades()
                    .await;
            });
        }
    }));
}

/// Serves sockudo-ws echo connections on `addr()`: the handshake as its
/// examples/simple_echo.rs does it, then whole messages echoed with `send()` per reply
/// (its Quick Start), or with `feed()` per reply when `feed` (its README's "Tokio unified
/// echo loop", where `next()` flushes the queued replies before it reads again).
pub fn serve_sockudo(feed: bool) {
    use futures_util::{SinkExt, StreamExt};
    use sockudo_ws::{Config, Message, WebSocketStream};

    run(async move {
        let listener = tokio::net::TcpListener::bind(addr()).await.unwrap();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(handshake) = sockudo_ws::handshake::server_handshake(&mut stream).await
                else {
                    return;
                };
                // wsock bench waits for the 101 before it sends a frame.
                assert!(handshake.leftover.is_none_or(|bytes| bytes.is_empty()));
                let mut ws = WebSocketStream::server(stream, Config::default());
                while let Some(Ok(message)) = ws.next().await {
                    let reply = match message {
                        message @ (Message::Text(_) | Message::Binary(_)) => message,
                        Message::Close(_) => return,
                        _ => continue,
                    };
                    let sent = match feed {
                        true => ws.feed(reply).await,
                        false => ws.send(reply).await,
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// A yawc connection's echo loop, as its examples/echo_server.rs writes it: whole
/// messages echoed with `send()`.
pub async fn yawc_echo(upgrade: yawc::UpgradeFut) -> Option<()> {
    use futures_util::{SinkExt, StreamExt};
    let mut ws = upgrade.await.ok()?;
    while let Some(frame) = ws.next().await {
        match frame.opcode() {
            yawc::OpCode::Text | yawc::OpCode::Binary => ws.send(frame).await.ok()?,
            yawc::OpCode::Close => return Some(()),
            _ => {}
        }
    }
    Some(())
}
