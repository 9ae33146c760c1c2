//! The tokio shell's bookkeeping between waits, seen from inside: which timer a
//! connection keeps, and where it reads. Over an in-memory stream, with the runtime's
//! clock paused.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use wsock_proto::{Connection, Limits, Message, Role};

use super::WebSocket;
use crate::Config;

/// A client's masked binary frame of `len` bytes.
fn client_frame(len: usize) -> Vec<u8> {
    let mut client = Connection::new(Role::Client);
    client.send_binary(&vec![7; len]).unwrap();
    client.take_output().to_vec()
}

/// Polls `recv` once: the message if one is ready, `None` if the connection would wait.
async fn recv_now<S>(server: &mut WebSocket<S>) -> Option<Message>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    poll_fn(|cx| {
        Poll::Ready(match server.poll_recv(cx) {
            Poll::Ready(result) => Some(result.unwrap().expect("the connection is open")),
            Poll::Pending => None,
        })
    })
    .await
}

/// Where the connection's timer lives, if it has one: the same address means the same
/// registration with the runtime.
fn timer_address(server: &WebSocket<DuplexStream>) -> Option<usize> {
    let timer = server.keepalive_timer.as_ref()?;
    Some(&**timer as *const tokio::time::Sleep as usize)
}

#[tokio::test(start_paused = true)]
async fn a_timer_is_kept_between_the_frames_it_times() {
    let (mut client, io) = tokio::io::duplex(1 << 20);
    let mut server = WebSocket::from_upgraded(io, Role::Server, Config::default());
    let frame = client_frame(64 << 10);
    let half = frame.len() / 2;

    client.write_all(&frame[..half]).await.unwrap();
    assert!(
        recv_now(&mut server).await.is_none(),
        "half a frame is no message"
    );
    let timer = timer_address(&server).expect("half a frame held is timed");

    client.write_all(&frame[half..]).await.unwrap();
    assert_eq!(
        recv_now(&mut server).await.unwrap().payload().len(),
        64 << 10
    );
    assert!(recv_now(&mut server).await.is_none());
    assert_eq!(
        timer_address(&server),
        Some(timer),
        "waiting with nothing held keeps the timer"
    );

    client.write_all(&frame[..half]).await.unwrap();
    assert!(recv_now(&mut server).await.is_none());
    assert_eq!(
        timer_address(&server),
        Some(timer),
        "the next frame is timed by the same timer, not a new registration"
    );
    client.write_all(&frame[half..]).await.unwrap();
    assert!(recv_now(&mut server).await.is_some());
    assert!(recv_now(&mut server).await.is_none());

    // The timer fires once for nothing, and the idle connection then holds none.
    let timeout = Limits::default().incomplete_message_timeout;
    tokio::time::advance(timeout + std::time::Duration::from_secs(1)).await;
    assert!(recv_now(&mut server).await.is_none());
    assert_eq!(
        timer_address(&server),
        None,
        "an idle connection holds no timer"
    );
}

/// A stream that notes, for every read asked of it, where the bytes would land and how
/// many it may take.
struct NotingReads {
    inner: DuplexStream,
    reads: Vec<(usize, usize)>,
}

impl AsyncRead for NotingReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        let at = buf.initialize_unfilled().as_ptr() as usize;
        self.reads.push((at, room));
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for NotingReads {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn the_next_read_goes_into_the_memory_a_large_message_gave_back() {
    let (mut client, inner) = tokio::io::duplex(1 << 20);
    let io = NotingReads {
        inner,
        reads: Vec::new(),
    };
    let mut server = WebSocket::from_upgraded(io, Role::Server, Config::default());
    let frame = client_frame(64 << 10);
    let frame_memory = |message: &Message| {
        let header = frame.len() - message.payload().len();
        let start = message.payload().as_ptr() as usize - header;
        start..start + frame.len()
    };

    client.write_all(&frame).await.unwrap();
    let held = recv_now(&mut server).await.unwrap();
    assert!(recv_now(&mut server).await.is_none());
    let (at, _) = *server.io.reads.last().unwrap();
    assert!(
        !frame_memory(&held).contains(&at),
        "a payload the application holds keeps its memory"
    );

    client.write_all(&frame).await.unwrap();
    let given_back = recv_now(&mut server).await.unwrap();
    let memory = frame_memory(&given_back);
    drop((held, given_back));
    assert!(recv_now(&mut server).await.is_none());
    let (at, room) = *server.io.reads.last().unwrap();
    assert_eq!(
        at, memory.start,
        "the read after the message goes where its frame was"
    );
    assert_eq!(room, super::READ_CHUNK, "no more than a read on the stack");
}
