//! The seed's Go echo server with the blocking API: no async runtime, a thread per
//! connection, as Go's `http.ListenAndServe` runs a goroutine per connection.
//!
//! ```go
//! func EchoServer(ws *websocket.Conn) { io.Copy(ws, ws) }
//! http.Handle("/echo", websocket.Handler(EchoServer))
//! http.ListenAndServe(":12345", nil)
//! ```
//!
//! Run with `cargo run --example blocking_echo_server`, then
//! `cargo run --example blocking_echo_client`.

use wsock::blocking::{Conn, Server};
use wsock::{AcceptOptions, OriginPolicy};

/// `io.Copy(ws, ws)`, message by message, so that each echo keeps its type and
/// boundaries (copying bytes would cut a long message into buffer-sized ones).
fn echo_server(mut ws: Conn) -> wsock::Result<()> {
    while let Some(message) = ws.recv()? {
        ws.send(message)?;
    }
    Ok(())
}

fn main() -> wsock::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    // The seed's client says it comes from http://localhost/, so allow it by name.
    let options =
        AcceptOptions::default().origin_policy(OriginPolicy::allow_list(["http://localhost"]));
    Server::bind("127.0.0.1:12345")?
        .options(options)
        .route("/echo", echo_server)
        .serve()
}
