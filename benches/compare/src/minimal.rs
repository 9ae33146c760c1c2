//! The minimal WebSocket both ceilings speak (`ceiling_echo` over epoll,
//! `ceiling_uring_echo` over io_uring): what an echo needs and nothing more (no UTF-8
//! validation, no limits, no fragmentation rules), so that the two differ only in how
//! they wait for and move bytes.

use base64::Engine;
use sha1::{Digest, Sha1};

/// Answers the opening handshake in `input` into `output`: `Some(Some(len))` with the
/// head's length once it is complete, `Some(None)` while more is needed, `None` for a
/// request that is not a WebSocket upgrade.
pub fn handshake(input: &[u8], output: &mut Vec<u8>) -> Option<Option<usize>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(input).ok()? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Some(None),
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
    output.extend_from_slice(
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
            .as_bytes(),
    );
    Some(Some(len))
}

/// Answers every complete frame at the start of `input` into `output` (data echoed,
/// ping answered, close returned): the bytes consumed, and false once a close was
/// answered.
pub fn echo_frames(input: &mut [u8], output: &mut Vec<u8>) -> (usize, bool) {
    let mut consumed = 0;
    while let Some((opcode, start, len)) = frame(&input[consumed..]) {
        let at = consumed + start;
        let key = [input[at - 4], input[at - 3], input[at - 2], input[at - 1]];
        let payload = &mut input[at..at + len];
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i & 3];
        }
        consumed = at + len;
        match opcode {
            0x1 | 0x2 | 0x8 => {
                header(output, opcode, len);
                output.extend_from_slice(&input[at..at + len]);
                if opcode == 0x8 {
                    return (consumed, false);
                }
            }
            0x9 => {
                header(output, 0xA, len);
                output.extend_from_slice(&input[at..at + len]);
            }
            _ => {}
        }
    }
    (consumed, true)
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
