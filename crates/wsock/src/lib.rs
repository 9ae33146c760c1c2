//! wsock: a WebSocket (RFC 6455) server and client for tokio.
//!
//! Strict by default (every rule of RFC 6455 enforced, limits on everything a peer can
//! make us buffer, cross-site requests refused), and built on the sans-I/O core
//! [`wsock_proto`], which this crate drives over any `AsyncRead + AsyncWrite`.
//!
//! The echo server of the seed document:
//!
//! ```no_run
//! # async fn run() -> Result<(), wsock::Error> {
//! wsock::Server::bind("127.0.0.1:12345").await?
//!     .route("/echo", |mut ws| async move {
//!         while let Some(msg) = ws.recv().await? {
//!             ws.send(msg).await?;
//!         }
//!         Ok(())
//!     })
//!     .serve()
//!     .await
//! # }
//! ```
//!
//! And its client:
//!
//! ```no_run
//! # async fn run() -> Result<(), wsock::Error> {
//! use wsock::{Client, Message};
//! let mut ws = Client::new("ws://localhost:12345/echo")
//!     .origin("http://localhost/")
//!     .connect()
//!     .await?;
//! ws.send(Message::text("hello world!")).await?;
//! if let Some(reply) = ws.recv().await? {
//!     println!("Received: {}.", reply.as_text().unwrap_or_default());
//! }
//! ws.close(wsock::CloseCode::NORMAL, "").await?;
//! # Ok(())
//! # }
//! ```

//!
//! # Features and topics
//!
//! | Page | What | Cargo feature |
//! | --- | --- | --- |
//! | [`tls`] | `wss://` for clients and servers, with rustls | `tls` (default); `native-roots` for the OS's roots |
//! | [`proxy`] | HTTP `CONNECT` proxies, from the environment or set by hand | always |
//! | [`broadcast`] | rooms and fan-out: a message encoded once for every member, slow members bounded; history and recovery by position; rooms across nodes through a `Backplane` | always; `redis` for `RedisBackplane` |
//! | [`blocking`] | Go's `x/net/websocket` API: `dial`, `Conn` as `Read`/`Write`, a threaded server | always |
//! | `upgrade` | WebSockets inside hyper 1, over HTTP/1.1 and HTTP/2 | `hyper` |
//! | `axum` | the `WebSocketUpgrade` extractor for axum | `axum` |
//! | `json` | serde types as JSON text messages | `json` |
//! | [`guide::timeouts`] | keepalive pings, idle, write, close, handshake and connect timeouts, with their defaults | always |
//!
//! The `upgrade`, `axum` and `json` pages appear when their features are on
//! (`cargo doc --all-features`).

#![warn(missing_docs)]

mod accept_options;
#[cfg(feature = "axum")]
pub mod axum;
pub mod backoff;
pub mod blocking;
pub mod broadcast;
mod budget;
mod config;
mod dial;
mod error;
pub mod guide;
#[cfg(feature = "json")]
pub mod json;
mod listen;
pub mod metrics;
pub mod proxy;
pub mod reconnect;
#[cfg(feature = "tls")]
pub mod tls;
// Named after the runtime it is the shell for; `self::tokio` where the crate could be
// meant.
mod tokio;
#[cfg(feature = "hyper")]
pub mod upgrade;

#[cfg(feature = "http2")]
pub use self::tokio::Http2Stream;
pub use self::tokio::{
    accept, accept_with, client_handshake, MaybeTlsStream, ReadHalf, SendFuture, Server,
    ShutdownHandle, WebSocket, WriteHalf,
};
pub use accept_options::AcceptOptions;
pub use backoff::Backoff;
pub use budget::{Budget, ReadBudget, WriteBudget};
pub use config::Config;
pub use dial::Client;
pub use error::{Error, Result};
pub use reconnect::{Reconnecting, Retry};
pub use wsock_proto::handshake::origin::{OriginCallback, OriginPolicy, Reached};
pub use wsock_proto::handshake::server::UpgradeRequest;
pub use wsock_proto::{
    CloseCode, CloseFrame, DeflateConfig, HandshakeError, Keepalive, Limits, LocalError, Message,
    PreparedMessage, ProtocolError, Utf8Bytes,
};
