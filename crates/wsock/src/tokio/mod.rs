//! The tokio shell: a [`WebSocket`] drives the core over any `AsyncRead +
//! AsyncWrite`; the server, the client and the transport around it. It mirrors
//! [`blocking`](crate::blocking) file for file, and neither imports the other.

mod client;
#[cfg(feature = "http2")]
mod client_h2;
mod send;
mod server;
#[cfg(feature = "http2")]
mod server_h2;
mod split;
mod transport;
mod websocket;

pub use client::client_handshake;
pub use send::SendFuture;
pub use server::{accept, accept_with, Server, ShutdownHandle};
pub use split::{ReadHalf, WriteHalf};
#[cfg(feature = "http2")]
pub use transport::Http2Stream;
pub use transport::MaybeTlsStream;
pub use websocket::WebSocket;
