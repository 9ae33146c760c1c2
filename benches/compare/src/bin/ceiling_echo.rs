//! The ceiling: a minimal single-threaded epoll (mio) WebSocket echo. It reads all that
//! is available, answers every complete frame in the buffer, then writes the whole
//! batch with one write; idle connections hold no buffers. It checks only what an echo
//! needs (no UTF-8 validation, no limits, no fragmentation rules): a yardstick for the
//! system-call cost of a message, not a server to deploy.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wsock_compare::minimal;

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    open: bool,
    input: Vec<u8>,
    output: Vec<u8>,
}

fn main() {
    let addr = wsock_compare::addr().parse().expect("an address");
    let mut listener = TcpListener::bind(addr).expect("bind");
    let mut poll = Poll::new().expect("epoll");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(1024);
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        poll.poll(&mut events, None).expect("poll");
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let token = Token(next);
                    next += 1;
                    poll.registry()
                        .register(&mut stream, token, Interest::READABLE)
                        .expect("register");
                    conns.insert(
                        token.0,
                        Conn {
                            stream,
                            open: false,
                            input: Vec::new(),
                            output: Vec::new(),
                        },
                    );
                }
                continue;
            }
            let id = event.token().0;
            let Some(conn) = conns.get_mut(&id) else {
                continue;
            };
            if !serve(conn, &mut chunk) {
                let mut gone = conns.remove(&id).expect("present");
                let _ = poll.registry().deregister(&mut gone.stream);
                continue;
            }
            let interest = if conn.output.is_empty() {
                Interest::READABLE
            } else {
                Interest::READABLE | Interest::WRITABLE
            };
            let _ = poll
                .registry()
                .reregister(&mut conn.stream, event.token(), interest);
        }
    }
}

/// Reads everything available, answers it, writes; false when the connection is done.
fn serve(conn: &mut Conn, chunk: &mut [u8]) -> bool {
    loop {
        match conn.stream.read(chunk) {
            Ok(0) => return false,
            Ok(n) => conn.input.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    if !conn.open {
        match minimal::handshake(&conn.input, &mut conn.output) {
            Some(Some(len)) => {
                conn.input.drain(..len);
                conn.open = true;
            }
            Some(None) => return true, // head not complete yet
            None => return false,
        }
    }
    let (consumed, alive) = minimal::echo_frames(&mut conn.input, &mut conn.output);
    conn.input.drain(..consumed);
    while !conn.output.is_empty() {
        match conn.stream.write(&conn.output) {
            Ok(n) => {
                conn.output.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return false,
        }
    }
    if conn.input.is_empty() {
        conn.input = Vec::new();
    }
    if conn.output.is_empty() {
        conn.output = Vec::new();
    }
    alive
}
