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
            return Err(if buf.is_empty() {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection before sending an HTTP head",
                )
                .into()
            } else {
                HandshakeError::Malformed(
                    "the connection closed in the middle of the HTTP head".into(),
                )
                .into()
            });
        }
    }
}
