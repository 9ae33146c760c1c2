use crate::error::HandshakeError;

/// Finds the end of an HTTP head (`\r\n\r\n`) in a buffer that grows as bytes arrive,
/// looking at each byte once, and enforcing a size cap.
///
/// ```
/// use wsock_proto::handshake::HeadScanner;
/// let mut scanner = HeadScanner::default();
/// let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
/// assert_eq!(scanner.scan(&buf, 8192).unwrap(), None);
/// buf.extend_from_slice(b"\r\nrest");
/// assert_eq!(scanner.scan(&buf, 8192).unwrap(), Some(buf.len() - 4));
/// ```
#[derive(Clone, Debug, Default)]
pub struct HeadScanner {
    scanned: usize,
}

impl HeadScanner {
    /// Returns the head's length once `buf` holds all of it (bytes after it belong to
    /// the WebSocket stream). Fails once the head cannot fit in `max_head_size`, and at
    /// the first line ended by a bare LF: httparse would accept such a head where a
    /// proxy in front might split it differently, so it is refused rather than waited
    /// on.
    pub fn scan(
        &mut self,
        buf: &[u8],
        max_head_size: usize,
    ) -> Result<Option<usize>, HandshakeError> {
        // The terminator may straddle the previous scan's end.
        let start = self.scanned.saturating_sub(3);
        let end = buf[start..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|pos| start + pos + 4);
        // Bytes after the head are WebSocket frames, where 0x0A is just a byte.
        let head_part = &buf[..end.unwrap_or(buf.len())];
        let mut from = self.scanned.min(head_part.len());
        while let Some(offset) = head_part[from..].iter().position(|&b| b == b'\n') {
            let lf = from + offset;
            if lf == 0 || head_part[lf - 1] != b'\r' {
                return Err(HandshakeError::BareLineFeed);
            }
            from = lf + 1;
        }
        if let Some(end) = end {
            if end > max_head_size {
                return Err(HandshakeError::HeadTooLarge {
                    limit: max_head_size,
                });
            }
            return Ok(Some(end));
        }
        self.scanned = buf.len();
        if buf.len() >= max_head_size {
            return Err(HandshakeError::HeadTooLarge {
                limit: max_head_size,
            });
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminator_split_across_reads_is_found() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..head.len() {
            let mut scanner = HeadScanner::default();
            let first = scanner.scan(&head[..cut], 100).unwrap();
            assert!(first.is_none() || cut == head.len());
            assert_eq!(
                scanner.scan(head, 100).unwrap(),
                Some(head.len()),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn head_over_the_cap_is_rejected_before_it_ends() {
        let mut scanner = HeadScanner::default();
        let err = scanner.scan(&[b'a'; 64], 64).unwrap_err();
        assert_eq!(err, HandshakeError::HeadTooLarge { limit: 64 });
        assert_eq!(
            err.status(),
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn a_bare_lf_is_refused_as_soon_as_it_arrives() {
        for head in [
            &b"GET / HTTP/1.1\nHost: x\n\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\n",
            b"\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\n\r\n\r\n",
        ] {
            for cut in 1..=head.len() {
                let mut scanner = HeadScanner::default();
                let result = scanner
                    .scan(&head[..cut], 100)
                    .and_then(|_| scanner.scan(head, 100));
                assert_eq!(
                    result,
                    Err(HandshakeError::BareLineFeed),
                    "{head:?} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn a_bare_lf_after_the_head_belongs_to_the_websocket_stream() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let buf = [&head[..], b"\x81\x0a\n\n"].concat();
        let mut scanner = HeadScanner::default();
        assert_eq!(scanner.scan(&buf, 100).unwrap(), Some(head.len()));
    }

    #[test]
    fn complete_head_over_the_cap_is_rejected() {
        let mut scanner = HeadScanner::default();
        assert!(scanner.scan(b"GET / HTTP/1.1\r\n\r\n", 10).is_err());
    }
}
