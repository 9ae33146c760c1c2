//! The future of [`WebSocket::send`].

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use wsock_proto::Message;

use super::websocket::WebSocket;
use crate::error::Result;

/// Sends one message: the future [`WebSocket::send`] returns.
///
/// Written by hand rather than as an `async fn` so that it holds nothing but the
/// WebSocket's reference and the message: every handler that awaits a send, and so
/// every connection's task, is that much smaller.
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, S> {
    ws: &'a mut WebSocket<S>,
    /// The message until it has been queued.
    message: Option<Message>,
}

impl<'a, S> SendFuture<'a, S> {
    pub(crate) fn new(ws: &'a mut WebSocket<S>, message: Message) -> Self {
        Self {
            ws,
            message: Some(message),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for SendFuture<'_, S> {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if let Some(message) = &this.message {
            ready!(this.ws.poll_send_ready(cx))?;
            let queued = this.ws.start_send_message(message);
            this.message = None;
            queued?;
            if this.ws.defer_write() {
                return Poll::Ready(Ok(()));
            }
        }
        this.ws.poll_flush_output(cx)
    }
}

impl<S> std::fmt::Debug for SendFuture<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFuture")
            .field("queued", &self.message.is_none())
            .finish_non_exhaustive()
    }
}
