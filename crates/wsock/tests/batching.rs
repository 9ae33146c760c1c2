//! Write batching: an echo loop answers a batch of pipelined messages with one write,
//! and nothing a batched send queued is lost. Over an in-memory stream that counts
//! writes, so the counts are exact.

mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use wsock::{Config, Message, WebSocket};
use wsock_proto::Role;

/// A stream that counts the writes made to it.
struct Counting {
    inner: DuplexStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A server WebSocket over a counting stream, and the client's raw end.
fn server(config: Config) -> (WebSocket<Counting>, DuplexStream, Arc<AtomicUsize>) {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let writes = Arc::new(AtomicUsize::new(0));
    let stream = Counting {
        inner: ours,
        writes: writes.clone(),
    };
    (
        WebSocket::from_upgraded(stream, Role::Server, config),
        theirs,
        writes,
    )
}

/// Eight client text frames "0".."7", written at once.
fn eight_frames() -> Vec<u8> {
    (0..8u8)
        .flat_map(|i| client_frame(0x81, &[b'0' + i]))
        .collect()
}

/// Reads `count` one-byte text frames sent by the server.
async fn read_replies(peer: &mut DuplexStream, count: usize) -> Vec<u8> {
    let mut wire = vec![0u8; count * 3];
    bounded(peer.read_exact(&mut wire)).await.unwrap();
    wire.chunks(3)
        .map(|frame| {
            assert_eq!(&frame[..2], &[0x81, 1]);
            frame[2]
        })
        .collect()
}

async fn echo_eight(ws: &mut WebSocket<Counting>) {
    for _ in 0..8 {
        let message = bounded(ws.recv()).await.unwrap().unwrap();
        ws.send(message).await.unwrap();
    }
}

#[tokio::test]
async fn an_echo_loop_answers_a_pipelined_batch_with_one_write() {
    let (mut ws, mut peer, writes) = server(Config::default());
    peer.write_all(&eight_frames()).await.unwrap();
    echo_eight(&mut ws).await;
    // The last send had no input behind it, so it wrote the whole batch.
    assert_eq!(read_replies(&mut peer, 8).await, b"01234567");
    assert_eq!(writes.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn without_batching_every_send_writes() {
    let (mut ws, mut peer, writes) = server(Config::default().batch_writes(false));
    peer.write_all(&eight_frames()).await.unwrap();
    echo_eight(&mut ws).await;
    assert_eq!(read_replies(&mut peer, 8).await, b"01234567");
    assert_eq!(writes.load(Ordering::Relaxed), 8);
}

#[tokio::test]
async fn two_sends_in_a_row_write_what_was_queued() {
    let (mut ws, mut peer, _) = server(Config::default());
    peer.write_all(&eight_frames()).await.unwrap();
    let first = bounded(ws.recv()).await.unwrap().unwrap();
    ws.send(first).await.unwrap(); // batched: more input waits
    ws.send(Message::text("x")).await.unwrap(); // not after a recv: writes both
    let mut wire = [0u8; 6];
    bounded(peer.read_exact(&mut wire)).await.unwrap();
    assert_eq!(wire, [0x81, 1, b'0', 0x81, 1, b'x']);
}

#[tokio::test]
async fn a_batched_reply_is_written_when_the_websocket_is_dropped() {
    let (mut ws, mut peer, _) = server(Config::default());
    peer.write_all(&eight_frames()).await.unwrap();
    let first = bounded(ws.recv()).await.unwrap().unwrap();
    ws.send(first).await.unwrap();
    drop(ws);
    // The reply, then the end of the stream.
    let mut wire = Vec::new();
    bounded(peer.read_to_end(&mut wire)).await.unwrap();
    assert_eq!(wire, [0x81, 1, b'0']);
}

/// The load generator's loop (`wsock bench`): a client replaces each reply it reads
/// with a new message, and a batch of replies costs it one write too.
#[tokio::test]
async fn a_client_replacing_each_reply_writes_once_per_batch() {
    let (ours, mut peer) = tokio::io::duplex(1 << 20);
    let writes = Arc::new(AtomicUsize::new(0));
    let stream = Counting {
        inner: ours,
        writes: writes.clone(),
    };
    let mut ws = WebSocket::from_upgraded(stream, Role::Client, Config::default());
    let replies: Vec<u8> = (0..8u8).flat_map(|i| [0x81, 1, b'0' + i]).collect();
    peer.write_all(&replies).await.unwrap();
    for i in 0..8u8 {
        let reply = bounded(ws.recv()).await.unwrap().unwrap();
        assert_eq!(reply.payload()[..], [b'0' + i]);
        ws.send(Message::text("n")).await.unwrap();
    }
    // Eight masked one-byte frames: header, length, key, payload.
    let mut wire = [0u8; 8 * 7];
    bounded(peer.read_exact(&mut wire)).await.unwrap();
    assert!(wire.chunks(7).all(|frame| frame[..2] == [0x81, 0x81]));
    assert_eq!(writes.load(Ordering::Relaxed), 1);
}

const LARGE: usize = 64 << 10;

/// A binary frame of 64 KiB filled with `fill`, as a client sends it.
fn large_frame(fill: u8) -> Vec<u8> {
    client_frame(0x82, &vec![fill; LARGE])
}

/// Reads one unmasked binary frame of 64 KiB and returns its first payload byte.
async fn read_large_reply(peer: &mut DuplexStream) -> u8 {
    let mut frame = vec![0u8; 10 + LARGE];
    bounded(peer.read_exact(&mut frame)).await.unwrap();
    assert_eq!(frame[..2], [0x82, 127]);
    assert_eq!(frame[2..10], (LARGE as u64).to_be_bytes());
    assert!(frame[10..].iter().all(|&byte| byte == frame[10]));
    frame[10]
}

/// Echoes one frame of 320 KiB, so that the receive buffer the server keeps is large
/// enough for one read to take several 64 KiB frames, as a busy socket's reads do.
async fn grow_receive_buffer(ws: &mut WebSocket<Counting>, peer: &mut DuplexStream) {
    peer.write_all(&client_frame(0x82, &vec![9; 5 * LARGE]))
        .await
        .unwrap();
    let message = bounded(ws.recv()).await.unwrap().unwrap();
    ws.send(message).await.unwrap();
    let mut reply = vec![0u8; 10 + 5 * LARGE];
    bounded(peer.read_exact(&mut reply)).await.unwrap();
}

/// Receives one message and sends it back; returns the writes made so far.
async fn echo_one(ws: &mut WebSocket<Counting>, writes: &AtomicUsize) -> usize {
    let message = bounded(ws.recv()).await.unwrap().unwrap();
    ws.send(message).await.unwrap();
    writes.load(Ordering::Relaxed)
}

/// After growing the receive buffer, has the peer send four 64 KiB frames at once;
/// returns the writes made before them.
async fn send_four_large_frames(
    ws: &mut WebSocket<Counting>,
    peer: &mut DuplexStream,
    writes: &AtomicUsize,
) -> usize {
    grow_receive_buffer(ws, peer).await;
    let before = writes.load(Ordering::Relaxed);
    let four: Vec<u8> = (0..4).flat_map(large_frame).collect();
    peer.write_all(&four).await.unwrap();
    before
}

/// Reads the four replies to [`send_four_large_frames`], checking their order.
async fn read_four_large_replies(peer: &mut DuplexStream) {
    for fill in 0..4 {
        assert_eq!(read_large_reply(peer).await, fill);
    }
}

/// Large replies wait for the next ones while at least as many bytes of input wait
/// behind them (the peer is well ahead), and go once less does.
#[tokio::test]
async fn large_replies_wait_while_as_much_input_waits_behind_them() {
    let (mut ws, mut peer, writes) = server(Config::default());
    let before = send_four_large_frames(&mut ws, &mut peer, &writes).await;
    // Three frames wait behind the first reply, two behind the second: both wait.
    assert_eq!(echo_one(&mut ws, &writes).await, before);
    assert_eq!(echo_one(&mut ws, &writes).await, before);
    // One frame waits behind three replies: they go.
    assert!(echo_one(&mut ws, &writes).await > before);
    echo_one(&mut ws, &writes).await;
    read_four_large_replies(&mut peer).await;
}

/// A large reply with less input than itself waiting behind it goes at once: the
/// peer may have nothing else in flight.
#[tokio::test]
async fn a_large_reply_goes_at_once_when_less_input_waits_behind_it() {
    let (mut ws, mut peer, writes) = server(Config::default());
    grow_receive_buffer(&mut ws, &mut peer).await;
    let before = writes.load(Ordering::Relaxed);
    let mut input = large_frame(0);
    input.extend(client_frame(0x81, b"x"));
    peer.write_all(&input).await.unwrap();
    assert!(echo_one(&mut ws, &writes).await > before);
    assert_eq!(read_large_reply(&mut peer).await, 0);
}

/// A batch never holds more than the connection may owe its peer: with a write buffer
/// limit under the batch sizes, a reply that reaches it goes at once, however much
/// input waits behind it.
#[tokio::test]
async fn a_batch_stops_at_the_write_buffer_limit() {
    let config = Config::default().write_buffer_limit(100 << 10);
    let (mut ws, mut peer, writes) = server(config);
    let before = send_four_large_frames(&mut ws, &mut peer, &writes).await;
    // 64 KiB queued, under the limit, with three frames behind it: it waits.
    assert_eq!(echo_one(&mut ws, &writes).await, before);
    // 128 KiB queued, over the limit, with two frames (as many bytes) behind it: it goes.
    assert!(echo_one(&mut ws, &writes).await > before);
    for _ in 0..2 {
        echo_one(&mut ws, &writes).await;
    }
    read_four_large_replies(&mut peer).await;
}
