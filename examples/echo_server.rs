//! The seed's Go echo server, in Rust:
//!
//! ```go
//! func EchoServer(ws *websocket.Conn) { io.Copy(ws, ws) }
//! http.Handle("/echo", websocket.Handler(EchoServer))
//! http.ListenAndServe(":12345", nil)
//! ```
//!
//! Run with `cargo run --example echo_server`, then `cargo run --example echo_client`.

use wsock::{AcceptOptions, OriginPolicy, Server, WebSocket};

async fn echo_server(mut ws: WebSocket) -> wsock::Result<()> {
    while let Some(message) = ws.recv().await? {
        ws.send(message).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> wsock::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    // The seed's client says it comes from http://localhost/ (port 80), which is not
    // the same origin as this server on port 12345, so allow it by name.
    let options =
        AcceptOptions::default().origin_policy(OriginPolicy::allow_list(["http://localhost"]));
    Server::bind("127.0.0.1:12345")
        .await?
        .options(options)
        .route("/echo", echo_server)
        .serve()
        .await
}
