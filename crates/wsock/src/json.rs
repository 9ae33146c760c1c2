//! JSON messages (feature `json`): serde types sent and received as text messages, as
//! `golang.org/x/net/websocket`'s `JSON` codec does.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use wsock_proto::Message;

use crate::error::Error;
use crate::stream::WebSocket;
use crate::Result;

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
