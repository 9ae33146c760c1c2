//! The ceiling: a minimal single-threaded epoll (mio) WebSocket echo. It reads all that
//! is available, answers every complete frame in the buffer, then writes the whole
//! batch with one write; idle connections hold no buffers. It checks only what an echo
//! needs (no UTF-8 validation, no limits, no fragmentation rules): a yardstick for the
//! system-call cost of a message, not a server to deploy.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};

use base64::Engine;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use sha1::{Digest, Sha1};

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
        match handshake(conn) {
            Some(true) => conn.open = true,
            Some(false) => return true, // head not complete yet
            None => return false,
        }
    }
    let mut consumed = 0;
    let mut alive = true;
    while let Some((opcode, start, len)) = frame(&conn.input[consumed..]) {
        let at = consumed + start;
        let key = [
            conn.input[at - 4],
            conn.input[at - 3],
            conn.input[at - 2],
            conn.input[at - 1],
        ];
        let payload = &mut conn.input[at..at + len];
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i & 3];
        }
        match opcode {
            0x1 | 0x2 | 0x8 => {
                header(&mut conn.output, opcode, len);
                conn.output.extend_from_slice(&conn.input[at..at + len]);
                alive = opcode != 0x8;
            }
            0x9 => {
                header(&mut conn.output, 0xA, len);
                conn.output.extend_from_slice(&conn.input[at..at + len]);
            }
            _ => {}
        }
        consumed = at + len;
        if !alive {
            break;
        }
    }
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

/// A complete masked client frame at the start of `buf`: opcode, payload offset, length.
fn frame(buf: &[u8]) -> Option<(u8, usize, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let (len, mut start) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().ok()?) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    start += 4; // the mask
    (buf.len() >= start + len).then_some((opcode, start, len))
}

fn header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// Answers the opening handshake once the head is in: Some(true) when done,
/// Some(false) when more is needed, None on a bad request.
fn handshake(conn: &mut Conn) -> Option<bool> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(&conn.input).ok()? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Some(false),
    };
    let key = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))?
        .value;
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    conn.output.extend_from_slice(
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
            .as_bytes(),
    );
    conn.input.drain(..len);
    Some(true)
}
