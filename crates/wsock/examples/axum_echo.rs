//! An axum app with a WebSocket route served by wsock (feature `axum`), beside an
//! ordinary page. The route takes any method: a WebSocket arrives as an HTTP/1.1
//! `GET` with `Upgrade`, or over HTTP/2 (which `axum::serve` speaks, with extended
//! CONNECT enabled, under axum's `http2` feature) as a `CONNECT` (RFC 8441).
//!
//! `cargo run --example axum_echo --features axum`, then
//! `cargo run -- connect ws://127.0.0.1:3000/echo`.

use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use wsock::axum::WebSocketUpgrade;

/// Echoes every message; a request that is not a WebSocket gets the refusal (400,
/// 403, 405, 426) with its reason.
async fn echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut ws| async move {
        while let Ok(Some(message)) = ws.recv().await {
            if ws.send(message).await.is_err() {
                break;
            }
        }
    })
}

/// The app: `/` is a page, `/echo` a WebSocket.
pub fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "wsock inside axum: the WebSocket is at /echo\n" }),
        )
        .route("/echo", any(echo))
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
