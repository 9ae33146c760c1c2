//! Write batching in the blocking shell, as in the async one (tests/batching.rs): an
//! echo loop answers a batch of pipelined messages with one write, and a reply that
//! batching left queued is written by the next `recv`, by `flush`, or on drop. Over an
//! in-memory transport that records each write, so the counts are exact.

mod common;

use std::io::{self, Cursor, IoSlice, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::client_frame;
use wsock::blocking::{Conn, Transport};
use wsock::{Config, Message};
use wsock_proto::Role;

/// What the peer sent, to be read, and every write made, as it was made.
struct Memory {
    input: Cursor<Vec<u8>>,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Read for Memory {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// One write, whatever the number of slices, as a socket's `writev` is.
    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let bytes: Vec<u8> = slices
            .iter()
            .flat_map(|slice| slice.iter().copied())
            .collect();
        let written = bytes.len();
        self.writes.lock().unwrap().push(bytes);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Memory {
    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

/// A server `Conn` that will read eight pipelined client text frames "0".."7".
fn server(config: Config) -> (Conn<Memory>, Writes) {
    let input = (0..8u8)
        .flat_map(|i| client_frame(0x81, &[b'0' + i]))
        .collect();
    let writes = Writes::default();
    let memory = Memory {
        input: Cursor::new(input),
        writes: writes.clone(),
    };
    let conn = Conn::from_upgraded(memory, Role::Server, config).unwrap();
    (conn, writes)
}

/// Echoes the eight messages.
fn echo_eight(conn: &mut Conn<Memory>) {
    for _ in 0..8 {
        let message = conn.recv().unwrap().unwrap();
        conn.send(message).unwrap();
    }
}

/// The one-byte text frames `payloads` as a server sends them.
fn replies(payloads: &[u8]) -> Vec<u8> {
    payloads.iter().flat_map(|&b| [0x81, 1, b]).collect()
}

#[test]
fn an_echo_loop_answers_a_pipelined_batch_with_one_write() {
    let (mut conn, writes) = server(Config::default());
    echo_eight(&mut conn);
    // The last send had no input behind it, so it wrote the whole batch.
    assert_eq!(*writes.lock().unwrap(), [replies(b"01234567")]);
}

#[test]
fn without_batching_every_send_writes() {
    let (mut conn, writes) = server(Config::default().batch_writes(false));
    echo_eight(&mut conn);
    let writes = writes.lock().unwrap();
    assert_eq!(writes.len(), 8);
    assert_eq!(writes.concat(), replies(b"01234567"));
}

#[test]
fn two_sends_in_a_row_write_what_was_queued() {
    let (mut conn, writes) = server(Config::default());
    let first = conn.recv().unwrap().unwrap();
    conn.send(first).unwrap(); // batched: more input waits
    assert!(writes.lock().unwrap().is_empty());
    conn.send(Message::text("x")).unwrap(); // not right after a recv: writes both
    assert_eq!(*writes.lock().unwrap(), [replies(b"0x")]);
}

/// A server `Conn` whose reply to the first message batching left queued.
fn one_reply_queued() -> (Conn<Memory>, Writes) {
    let (mut conn, writes) = server(Config::default());
    let first = conn.recv().unwrap().unwrap();
    conn.send(first).unwrap();
    assert!(writes.lock().unwrap().is_empty());
    (conn, writes)
}

#[test]
fn flush_writes_a_batched_reply() {
    let (mut conn, writes) = one_reply_queued();
    conn.flush().unwrap();
    assert_eq!(*writes.lock().unwrap(), [replies(b"0")]);
}

#[test]
fn a_batched_reply_is_written_when_the_conn_is_dropped() {
    let (conn, writes) = one_reply_queued();
    drop(conn);
    assert_eq!(*writes.lock().unwrap(), [replies(b"0")]);
}
