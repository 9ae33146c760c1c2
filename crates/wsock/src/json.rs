//! JSON messages (feature `json`): serde types sent and received as text messages, as
//! `golang.org/x/net/websocket`'s `JSON` codec does, with
//! [`WebSocket::send_json`] and [`WebSocket::recv_json`].
//!
//! A message that is not the JSON asked for gives [`Error::Json`] and leaves the
//! connection open: one bad message from a peer costs that message, not the session.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> wsock::Result<()> {
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Move { x: u8, y: u8 }
//!
//! let server = wsock::Server::bind("127.0.0.1:0").await?.route("/game", |mut ws| async move {
//!     loop {
//!         match ws.recv_json::<Move>().await {
//!             Ok(Some(m)) => ws.send_json(&Move { x: m.y, y: m.x }).await?,
//!             Ok(None) => return Ok(()),
//!             Err(wsock::Error::Json(_)) => ws.send_json("not a move").await?,
//!             Err(other) => return Err(other),
//!         }
//!     }
//! });
//! let url = format!("ws://{}/game", server.local_addr()?);
//! tokio::spawn(server.serve());
//!
//! let mut ws = wsock::Client::new(url).connect().await?;
//! ws.send(wsock::Message::text("{oops")).await?;
//! assert_eq!(ws.recv_json::<String>().await?.as_deref(), Some("not a move"));
//! ws.send_json(&Move { x: 1, y: 2 }).await?;
//! assert_eq!(ws.recv_json::<Move>().await?, Some(Move { x: 2, y: 1 }));
//! # Ok(())
//! # }
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use wsock_proto::Message;

use crate::error::Error;
use crate::error::Result;
use crate::WebSocket;

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Sends `value` as one JSON text message.
    ///
    /// ```no_run
    /// # async fn run(mut ws: wsock::WebSocket) -> wsock::Result<()> {
    /// #[derive(serde::Serialize)]
    /// struct Greeting<'a> { text: &'a str }
    /// ws.send_json(&Greeting { text: "hello world!" }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value).map_err(Error::Json)?;
        self.send(Message::text(text)).await
    }

    /// Receives the next message and parses it as JSON; `Ok(None)` once the connection
    /// has closed. A message that is not the expected JSON gives [`Error::Json`] and
    /// leaves the connection open, so the caller may skip it and read on.
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Result<Option<T>> {
        match self.recv().await? {
            None => Ok(None),
            Some(message) => serde_json::from_slice(message.payload())
                .map(Some)
                .map_err(Error::Json),
        }
    }
}
