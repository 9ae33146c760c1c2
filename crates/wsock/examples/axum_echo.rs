//! An axum app with a WebSocket route served by wsock (feature `hyper`), beside an
//! ordinary page. The route takes any method: a WebSocket arrives as an HTTP/1.1
//! `GET` with `Upgrade`, or over HTTP/2 (which `axum::serve` speaks, with extended
//! CONNECT enabled, under axum's `http2` feature) as a `CONNECT` (RFC 8441).
//!
//! `cargo run --example axum_echo --features hyper`, then
//! `cargo run -- connect ws://127.0.0.1:3000/echo`.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use wsock::upgrade::{upgrade, HyperWebSocket};
use wsock::AcceptOptions;

async fn echo(mut ws: HyperWebSocket) -> wsock::Result<()> {
    while let Some(message) = ws.recv().await? {
        ws.send(message).await?;
    }
    Ok(())
}

/// Upgrades the request (HTTP/1.1 or HTTP/2) and runs the WebSocket on its own task;
/// a request that is not a valid upgrade gets the refusal (400, 403, 405, 426) with
/// its reason.
async fn websocket(mut request: Request) -> Response {
    match upgrade::<_, Body>(&mut request, &AcceptOptions::default()) {
        Ok((response, pending)) => {
            tokio::spawn(async move {
                let result = match pending.await {
                    Ok(ws) => echo(ws).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = result {
                    tracing::info!(%error, "WebSocket ended with an error");
                }
            });
            response
        }
        Err(refusal) => refusal,
    }
}

/// The app: `/` is a page, `/echo` a WebSocket.
pub fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "wsock inside axum: the WebSocket is at /echo\n" }),
        )
        .route("/echo", any(websocket))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(
        "axum on http://{}, WebSocket at /echo",
        listener.local_addr()?
    );
    axum::serve(listener, app()).await
}
