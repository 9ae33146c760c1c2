//! An axum app with a WebSocket route served by wsock (feature `hyper`), beside an
//! ordinary page.
//!
//! `cargo run --example axum_echo --features hyper`, then
//! `cargo run -- connect ws://127.0.0.1:3000/echo`.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use wsock::upgrade::{upgrade, HyperWebSocket};
use wsock::AcceptOptions;

async fn echo(mut ws: HyperWebSocket) -> wsock::Result<()> {
    while let Some(message) = ws.recv().await? {
        ws.send(message).await?;
    }
    Ok(())
}

/// Upgrades the request and runs the WebSocket on its own task; a request that is not
/// a valid upgrade gets the refusal (400, 403, 426) with its reason.
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
        .route("/echo", get(websocket))
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
