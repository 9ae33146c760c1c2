//! The ceiling's echo over io_uring instead of epoll: the same minimal WebSocket
//! (`wsock_compare::minimal`), but no readiness and no system call per read or write.
//! Every connection always has a receive queued into its own buffer; a completion's
//! frames are answered at once and sent with one send per connection (the replies
//! made while a send is under way wait for it and go in the next). Each turn of the
//! loop is one `io_uring_enter`, which submits every operation the last completions
//! asked for and waits for the next completion. It asks whether a server that leaves
//! readiness behind could pass the epoll ceiling (issue 17's 1.25× sockudo-ws `feed`);
//! like the epoll ceiling, it is a yardstick, not a server to deploy.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};

use io_uring::{opcode, squeue, types, IoUring};
use wsock_compare::minimal;

/// The user data of the listener's accept; a connection's operations carry its id
/// shifted left by one, with the low bit telling a send from a receive.
const ACCEPT: u64 = u64::MAX;
const SEND_BIT: u64 = 1;
/// Room a receive may fill: the epoll ceiling reads in chunks of this size.
const RECEIVE_ROOM: usize = 64 << 10;

struct Conn {
    stream: TcpStream,
    open: bool,
    input: Vec<u8>,
    /// Replies made while a send is under way.
    output: Vec<u8>,
    /// The bytes of the send under way (or cut short), and how many of them have gone.
    sending: Vec<u8>,
    sent: usize,
    receiving: bool,
    sending_now: bool,
    /// The peer closed, a close was answered, or the socket failed: no more receives,
    /// and the connection goes once its send is done.
    closing: bool,
}

fn main() {
    let listener = TcpListener::bind(wsock_compare::addr()).expect("bind");
    // One thread submits, and completions' work waits for the next io_uring_enter
    // instead of interrupting the loop: the setup liburing recommends for a
    // single-threaded server (Linux 6.1 and later).
    let mut ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(4096)
        .expect("io_uring (Linux 6.1 or later, and not disabled by kernel.io_uring_disabled)");
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_id = 0u64;
    let accept = opcode::Accept::new(
        types::Fd(listener.as_raw_fd()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .build()
    .user_data(ACCEPT);
    push(&mut ring, &accept);
    let mut completions = Vec::with_capacity(4096);
    loop {
        ring.submit_and_wait(1).expect("io_uring_enter");
        completions.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for (data, result) in completions.drain(..) {
            if data == ACCEPT {
                if result >= 0 {
                    // SAFETY: a successful accept returns a new socket that nothing else owns.
                    let stream = unsafe { TcpStream::from_raw_fd(result) };
                    let _ = stream.set_nodelay(true);
                    let id = next_id;
                    next_id += 1;
                    let conn = conns.entry(id).or_insert(Conn {
                        stream,
                        open: false,
                        input: Vec::new(),
                        output: Vec::new(),
                        sending: Vec::new(),
                        sent: 0,
                        receiving: false,
                        sending_now: false,
                        closing: false,
                    });
                    receive(&mut ring, id, conn);
                }
                push(&mut ring, &accept);
                continue;
            }
            let id = data >> 1;
            let Some(conn) = conns.get_mut(&id) else {
                continue;
            };
            if data & SEND_BIT == 0 {
                conn.receiving = false;
                received(conn, result);
                send(&mut ring, id, conn);
                if !conn.closing {
                    receive(&mut ring, id, conn);
                }
            } else if result < 0 {
                conn.sending_now = false;
                conn.closing = true;
                conn.sending.clear();
            } else {
                conn.sending_now = false;
                conn.sent += result as usize;
                if conn.sent == conn.sending.len() {
                    conn.sending.clear();
                }
                send(&mut ring, id, conn);
            }
            if conn.closing && !conn.receiving && !conn.sending_now {
                conns.remove(&id);
            }
        }
    }
}

/// Takes `result` bytes into the connection's input and answers what they complete.
fn received(conn: &mut Conn, result: i32) {
    if result <= 0 {
        conn.closing = true;
        return;
    }
    // SAFETY: the kernel wrote `result` bytes into the spare room `receive` offered.
    unsafe { conn.input.set_len(conn.input.len() + result as usize) };
    if !conn.open {
        match minimal::handshake(&conn.input, &mut conn.output) {
            Some(Some(len)) => {
                conn.input.drain(..len);
                conn.open = true;
            }
            Some(None) => return,
            None => {
                conn.closing = true;
                return;
            }
        }
    }
    let (consumed, alive) = minimal::echo_frames(&mut conn.input, &mut conn.output);
    conn.input.drain(..consumed);
    conn.closing |= !alive;
}

/// Queues a receive into the room after the connection's input.
fn receive(ring: &mut IoUring, id: u64, conn: &mut Conn) {
    conn.input.reserve(RECEIVE_ROOM);
    let room = conn.input.spare_capacity_mut();
    let entry = opcode::Recv::new(
        types::Fd(conn.stream.as_raw_fd()),
        room.as_mut_ptr().cast(),
        room.len() as u32,
    )
    .build()
    .user_data(id << 1);
    conn.receiving = true;
    push(ring, &entry);
}

/// Unless a send is under way, queues the rest of the last one, or else the replies
/// waiting, if any.
fn send(ring: &mut IoUring, id: u64, conn: &mut Conn) {
    if conn.sending_now {
        return;
    }
    if conn.sending.is_empty() {
        if conn.output.is_empty() {
            return;
        }
        std::mem::swap(&mut conn.sending, &mut conn.output);
        conn.sent = 0;
    }
    let rest = &conn.sending[conn.sent..];
    let entry = opcode::Send::new(
        types::Fd(conn.stream.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .build()
    .user_data(id << 1 | SEND_BIT);
    conn.sending_now = true;
    push(ring, &entry);
}

fn push(ring: &mut IoUring, entry: &squeue::Entry) {
    // SAFETY: an entry points into its connection's `input` or `sending`, which are
    // neither moved nor freed while the operation is under way: `input` changes only
    // when its receive completes, `sending` only when its send does, and a connection
    // is dropped only when neither is under way.
    while unsafe { ring.submission().push(entry) }.is_err() {
        ring.submit().expect("io_uring_enter");
    }
}
