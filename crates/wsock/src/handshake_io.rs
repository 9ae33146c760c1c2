//! Reading an HTTP head off a stream, shared by both sides of the handshake.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use wsock_proto::handshake::HeadScanner;
use wsock_proto::HandshakeError;

use crate::error::Error;

/// Reads until `buf` holds a whole head, and returns its length; bytes after it are
/// the start of the WebSocket stream and stay in `buf`.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max_head_size: usize,
) -> Result<usize, Error> {
    let mut scanner = HeadScanner::default();
    loop {
        if let Some(len) = scanner.scan(buf, max_head_size)? {
            return Ok(len);
        }
        buf.reserve(1024);
        if io.read_buf(buf).await? == 0 {
            return Err(closed_early(buf));
        }
    }
}

/// [`read_head`] for blocking streams; `before_read` runs before each read (to set a
/// timeout from a deadline, say).
pub(crate) fn read_head_blocking<S: std::io::Read>(
    io: &mut S,
    buf: &mut BytesMut,
    max_head_size: usize,
    mut before_read: impl FnMut(&mut S) -> std::io::Result<()>,
) -> Result<usize, Error> {
    let mut scanner = HeadScanner::default();
    loop {
        if let Some(len) = scanner.scan(buf, max_head_size)? {
            return Ok(len);
        }
        before_read(io)?;
        if read_some(io, buf, 1024)? == 0 {
            return Err(closed_early(buf));
        }
    }
}

/// One blocking read of up to `chunk` bytes appended to `buf`.
pub(crate) fn read_some<S: std::io::Read>(
    io: &mut S,
    buf: &mut BytesMut,
    chunk: usize,
) -> std::io::Result<usize> {
    let start = buf.len();
    buf.resize(start + chunk, 0);
    let result = io.read(&mut buf[start..]);
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

/// The error for a connection that closed before its head was complete.
fn closed_early(buf: &[u8]) -> Error {
    if buf.is_empty() {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the peer closed the connection before sending an HTTP head",
        )
        .into()
    } else {
        HandshakeError::Malformed("the connection closed in the middle of the HTTP head".into())
            .into()
    }
}
