//! How a connection holds its receive buffer: it reads each large message into the
//! memory the last one left (no allocation per message); what it keeps while
//! waiting, even memory a payload the application holds still shares, the read
//! budget counts; after small messages it keeps nothing. Over an in-memory stream,
//! counting this thread's allocations.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tokio::io::{AsyncWriteExt, DuplexStream};
use wsock::{Config, ReadBudget, WebSocket};
use wsock_proto::Role;

/// The system allocator, counting the allocations made on each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // try_with: a thread being torn down still allocates.
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: forwarded as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as it came.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A client's masked binary frame of `len` bytes.
fn binary_frame(len: usize) -> Vec<u8> {
    common::client_frame(0x82, &vec![7; len])
}

/// A server over an in-memory stream of `capacity` bytes, with a read budget of its
/// own, and the client's end of the stream.
fn server_with_read_budget(capacity: usize) -> (DuplexStream, WebSocket<DuplexStream>, ReadBudget) {
    let (client, io) = tokio::io::duplex(capacity);
    let mut server = WebSocket::from_upgraded(io, Role::Server, Config::default());
    let budget = ReadBudget::new(64 << 20);
    server.share_read_budget(budget.clone());
    (client, server, budget)
}

/// That the read budget counts at least the memory of `frame`, which the waiting
/// connection keeps or shares.
fn assert_counted(budget: &ReadBudget, frame: &[u8]) {
    assert!(
        budget.used() >= frame.len(),
        "the read budget counts {} bytes while the connection holds a {}-byte frame's memory",
        budget.used(),
        frame.len()
    );
}

/// Whether `recv` would wait now (polled once, without allocating).
async fn waits<S>(server: &mut WebSocket<S>) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let recv = std::pin::pin!(server.recv());
    futures_util::poll!(recv).is_pending()
}

#[tokio::test(flavor = "current_thread")]
async fn large_messages_in_a_row_are_read_into_the_memory_the_last_one_left() {
    const MESSAGES: usize = 8;
    let frame = binary_frame(64 << 10);
    let (mut client, mut server, budget) = server_with_read_budget(frame.len());

    // One frame at a time, with the connection waiting in between, as on a socket
    // whose peer writes a frame at a time: each read finds the receive buffer empty.
    client.write_all(&frame).await.unwrap();
    drop(server.recv().await.unwrap().unwrap());
    let allocations_before = allocations();
    for _ in 0..MESSAGES {
        assert!(waits(&mut server).await);
        // What the waiting connection keeps, the read budget counts. (It used to
        // count nothing: the empty rest of the buffer has no capacity, though it
        // kept the whole frame's memory allocated.)
        assert_counted(&budget, &frame);
        client.write_all(&frame).await.unwrap();
        assert_eq!(
            server.recv().await.unwrap().unwrap().payload().len(),
            64 << 10
        );
    }
    let made = allocations() - allocations_before;
    assert!(
        made < MESSAGES,
        "{made} allocations for {MESSAGES} messages of 64 KiB: the receive buffer is made anew"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_waiting_connection_keeps_nothing_after_small_messages_and_counts_what_it_shares() {
    let (mut client, mut server, budget) = server_with_read_budget(1 << 20);

    // Small messages: their buffer is not worth keeping.
    for _ in 0..3 {
        client.write_all(&binary_frame(100)).await.unwrap();
        drop(server.recv().await.unwrap().unwrap());
    }
    assert!(waits(&mut server).await);
    assert_eq!(budget.used(), 0);

    // A large message the application still holds: the waiting connection shares
    // its memory, and the read budget counts it.
    let frame = binary_frame(64 << 10);
    client.write_all(&frame).await.unwrap();
    let message = server.recv().await.unwrap().unwrap();
    assert!(waits(&mut server).await);
    assert_counted(&budget, &frame);
    drop(message);
}
