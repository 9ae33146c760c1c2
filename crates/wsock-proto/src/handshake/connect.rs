//! A proxy's answer to `CONNECT` (RFC 9110 section 9.3.6), with no I/O: the client's
//! tunnel to a WebSocket server through an HTTP proxy.

use crate::error::HandshakeError;

/// Most header fields read from a proxy's answer.
const MAX_HEADERS: usize = 64;

/// The status line of a proxy's answer to `CONNECT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    /// The status code: 2xx opens the tunnel.
    pub status: u16,
    /// The reason phrase, as the proxy wrote it.
    pub reason: String,
}

impl ConnectResponse {
    /// Whether the tunnel is open.
    pub fn is_success(&self) -> bool {
        (200..=299).contains(&self.status)
    }
}

/// Parses a proxy's complete response head (as found by
/// [`HeadScanner`](super::HeadScanner)).
///
/// ```
/// use wsock_proto::handshake::connect::parse_connect_response;
/// let ok = parse_connect_response(b"HTTP/1.1 200 Connection established\r\n\r\n").unwrap();
/// assert!(ok.is_success());
/// let refused = parse_connect_response(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
/// assert_eq!(refused.unwrap().status, 407);
/// assert!(parse_connect_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
/// ```
pub fn parse_connect_response(head: &[u8]) -> Result<ConnectResponse, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => Ok(ConnectResponse {
            status: response.code.unwrap_or(0),
            reason: response.reason.unwrap_or("").to_owned(),
        }),
        Ok(httparse::Status::Partial) => Err(HandshakeError::Malformed(
            "the proxy's answer to CONNECT is incomplete".into(),
        )),
        Err(error) => Err(HandshakeError::Malformed(format!(
            "the proxy's answer to CONNECT is not valid HTTP: {error}"
        ))),
    }
}
