//! A server's shutdown reaches a connection whose peer never lets it wait: the
//! connection looks at the shutdown token before it waits and every few reads, so a
//! peer that keeps its socket full cannot keep the 1001 from going out. Over an
//! in-memory peer whose stream of frames never ends.

mod common;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use common::*;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::CancellationToken;
use wsock::{Config, WebSocket};
use wsock_proto::Role;

/// A peer that always has more client frames to read, and keeps what it is sent.
struct Endless {
    frame: Vec<u8>,
    at: usize,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Endless {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Every read fills the buffer: the socket never runs dry.
        while buf.remaining() > 0 {
            let at = self.at;
            let take = buf.remaining().min(self.frame.len() - at);
            buf.put_slice(&self.frame[at..at + take]);
            self.at = (at + take) % self.frame.len();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Endless {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.sent.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The close frame a shutting-down server sends: 1001 and its reason.
fn going_away_frame(sent: &[u8]) -> bool {
    sent.windows(4)
        .any(|w| w[0] == 0x88 && w[2..4] == 1001u16.to_be_bytes())
}

#[tokio::test]
async fn a_peer_that_never_lets_the_connection_wait_still_gets_1001_on_shutdown() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let frame = client_frame(0x82, b"x");
    let peer = Endless {
        frame: frame.clone(),
        at: 0,
        sent: sent.clone(),
    };
    // No batching: the replies would otherwise wait in the queue.
    let mut ws =
        WebSocket::from_upgraded(peer, Role::Server, Config::default().batch_writes(false));
    let token = CancellationToken::new();
    ws.close_on(token.clone());
    for _ in 0..10 {
        assert!(bounded(ws.recv()).await.unwrap().is_some());
    }
    token.cancel();
    // The connection reads 16 KiB at a time, so a check every 32 reads comes within
    // 32 × 16 KiB of frames; twice that is the bound.
    let bound = 2 * 32 * (16 << 10) / frame.len();
    let mut received = 0;
    while !going_away_frame(&sent.lock().unwrap()) {
        match bounded(ws.recv()).await {
            Ok(Some(_)) => received += 1,
            other => panic!("the connection ended without a 1001: {other:?}"),
        }
        assert!(received < bound, "no 1001 after {received} messages");
    }
}
