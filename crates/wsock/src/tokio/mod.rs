//! The tokio shell: a [`WebSocket`] drives the core over any `AsyncRead +
//! AsyncWrite`; the server, the client and the transport around it. It mirrors
//! [`blocking`](crate::blocking) file for file, and neither imports the other.

mod client;
mod send;
mod server;
mod split;
mod transport;
mod websocket;

pub use client::client_handshake;
pub use send::SendFuture;
pub use server::{accept, accept_with, Server, ShutdownHandle};
pub use split::{ReadHalf, WriteHalf};
pub use transport::MaybeTlsStream;
pub use websocket::WebSocket;
