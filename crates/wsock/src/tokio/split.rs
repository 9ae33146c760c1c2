//! Owned halves of a `WebSocket` for a reading task and a writing task.
//!
//! Both halves share the connection behind a mutex that is only held during a poll,
//! never across an await. The socket keeps one waker per direction, but either half may
//! drive either direction (the reader writes pongs; the writer reads while closing), so
//! the socket is polled with a waker that wakes both halves: a spurious wake-up is
//! cheap, a lost one would hang.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use futures_sink::Sink;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite};
use wsock_proto::{CloseCode, CloseFrame, Message};

use super::websocket::WebSocket;
use crate::error::{Error, Result};

#[derive(Default)]
struct BothHalves {
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl Wake for BothHalves {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.reader.wake();
        self.writer.wake();
    }
}

struct Shared<S> {
    ws: Mutex<WebSocket<S>>,
    wakers: Arc<BothHalves>,
    proxy: Waker,
}

impl<S> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, WebSocket<S>> {
        // A panic in another half's poll leaves the connection state consistent enough
        // to report errors; keep going rather than poison both halves.
        self.ws.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The receiving half of a split [`WebSocket`].
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocket`].
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

pub(crate) fn split<S>(ws: WebSocket<S>) -> (ReadHalf<S>, WriteHalf<S>) {
    let wakers = Arc::new(BothHalves::default());
    let proxy = Waker::from(wakers.clone());
    let shared = Arc::new(Shared {
        ws: Mutex::new(ws),
        wakers,
        proxy,
    });
    (
        ReadHalf {
            shared: shared.clone(),
        },
        WriteHalf { shared },
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// The next message; see [`WebSocket::recv`].
    pub async fn recv(&mut self) -> Result<Option<Message>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The peer's close frame once it has sent one (`Some(None)` for a close without a
    /// code); see [`WebSocket::peer_close_frame`].
    pub fn peer_close_frame(&self) -> Option<Option<CloseFrame>> {
        self.shared.lock().peer_close_frame().cloned()
    }

    /// Polls for the next message.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>>> {
        self.shared.wakers.reader.register(cx.waker());
        let mut proxy_cx = Context::from_waker(&self.shared.proxy);
        self.shared.lock().poll_recv(&mut proxy_cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    fn with_ws<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut WebSocket<S>, &mut Context<'_>) -> T,
    ) -> T {
        self.shared.wakers.writer.register(cx.waker());
        let mut proxy_cx = Context::from_waker(&self.shared.proxy);
        f(&mut self.shared.lock(), &mut proxy_cx)
    }

    /// Sends a message; see [`WebSocket::send`].
    pub async fn send(&mut self, message: Message) -> Result<()> {
        std::future::poll_fn(|cx| self.with_ws(cx, |ws, cx| ws.poll_send_ready(cx))).await?;
        self.shared.lock().start_send_message(&message)?;
        std::future::poll_fn(|cx| self.with_ws(cx, |ws, cx| ws.poll_flush_output(cx))).await
    }

    /// Sends a close frame and writes it out. The reading half then sees the peer's
    /// answer and ends with `Ok(None)`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        self.send(Message::Close(Some(CloseFrame::new(code, reason))))
            .await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReadHalf<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with_ws(cx, |ws, cx| ws.poll_send_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<()> {
        self.shared.lock().start_send_message(&message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with_ws(cx, |ws, cx| ws.poll_flush_output(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.with_ws(cx, |ws, cx| ws.poll_send_close(cx))
    }
}
