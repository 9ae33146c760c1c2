//! The blocking API: Go's `x/net/websocket`, for programs without an async runtime.
//!
//! [`dial`] mirrors `websocket.Dial(url, protocol, origin)`, and a [`Conn`] is an
//! [`io::Read`](std::io::Read) and [`io::Write`](std::io::Write) of message payloads
//! as Go's `*websocket.Conn` is, with [`Conn::recv`] and [`Conn::send`] for whole
//! messages beside them. The seed's echo client:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! # fn run() -> wsock::Result<()> {
//! let mut ws = wsock::blocking::dial("ws://localhost:12345/echo", "", "http://localhost/")?;
//! ws.write_all(b"hello, world!\n")?;
//! let mut msg = [0u8; 512];
//! let n = ws.read(&mut msg)?;
//! println!("Received: {}.", String::from_utf8_lossy(&msg[..n]));
//! # Ok(())
//! # }
//! ```
//!
//! The server side is [`accept`] on a [`std::net::TcpStream`], or a [`Server`] that
//! routes by path and runs each connection on its own thread (`websocket.Handler`
//! under `http.Handle`). Both together, runnable:
//!
//! ```
//! use std::io::{Read, Write};
//! # fn main() -> wsock::Result<()> {
//! let server = wsock::blocking::Server::bind("127.0.0.1:0")?.route("/echo", |mut ws| {
//!     while let Some(message) = ws.recv()? {
//!         ws.send(message)?;
//!     }
//!     Ok(())
//! });
//! let url = format!("ws://{}/echo", server.local_addr()?);
//! std::thread::spawn(move || server.serve());
//!
//! let mut ws = wsock::blocking::dial(&url, "", "")?;
//! ws.write_all("hello, world!\n".as_bytes())?;
//! let mut msg = [0u8; 512];
//! let n = ws.read(&mut msg)?;
//! assert_eq!(&msg[..n], b"hello, world!\n");
//! ws.close(wsock::CloseCode::NORMAL, "")?;
//! # Ok(())
//! # }
//! ```
//!
//! Everything the async side offers for a connection applies here too: limits,
//! permessage-deflate, subprotocols, the origin policy, TLS, proxies, the close and
//! write timeouts (through [`Client`] and
//! [`AcceptOptions`](crate::AcceptOptions)). Keepalive pings need a clock running
//! beside the reads and are left to the async API; a blocking program can
//! [`ping`](Conn::ping) itself.

use crate::dial::Client;
use crate::error::Result;

mod client;
mod conn;
mod deadline;
mod server;
mod transport;

pub use conn::{Conn, PayloadType};
pub use server::{accept, accept_with, Server};
pub use transport::{MaybeTlsStream, Transport};

/// The former name of [`MaybeTlsStream`].
#[deprecated(note = "renamed MaybeTlsStream, like the async shell's stream")]
pub type Stream = MaybeTlsStream;

/// Connects to `url` offering the subprotocol `protocol` (none if empty) and sending
/// `origin` as `Origin` (none if empty): Go's `websocket.Dial`. For more settings, use
/// [`Client::connect_blocking`](crate::Client::connect_blocking).
pub fn dial(url: &str, protocol: &str, origin: &str) -> Result<Conn> {
    let mut client = Client::new(url);
    if !protocol.is_empty() {
        client = client.protocol(protocol);
    }
    if !origin.is_empty() {
        client = client.origin(origin);
    }
    client.connect_blocking()
}
