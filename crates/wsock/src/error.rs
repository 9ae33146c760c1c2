use std::time::Duration;

use http::StatusCode;
use wsock_proto::handshake::server::Refusal;
use wsock_proto::{HandshakeError, LocalError, ProtocolError};

/// Everything that can go wrong with a WebSocket, each variant saying what happened.
///
/// As in h11, a peer's fault ([`Error::Protocol`], [`Error::Handshake`]) is apart from a
/// misuse by this program ([`Error::Local`], [`Error::ConnectionClosed`]).
///
/// `Debug` writes the same sentence as `Display`, so that a `main` returning
/// `wsock::Result<()>` reports a failure in words rather than as a struct dump.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the protocol; the connection was closed with the error's code.
    #[error("the peer broke the WebSocket protocol (closed with {code}): {0}", code = .0.close_code())]
    Protocol(#[from] ProtocolError),
    /// The opening handshake failed.
    #[error("the WebSocket handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// This server refused an upgrade request with `status`.
    #[error("the upgrade request was refused with {status}: {reason}")]
    Rejected {
        /// The HTTP status sent.
        status: StatusCode,
        /// Why.
        reason: String,
    },
    /// The program asked for something the protocol forbids; nothing was sent.
    #[error("{0}")]
    Local(LocalError),
    /// A send after the connection started closing.
    #[error("the WebSocket is closed; nothing more can be sent")]
    ConnectionClosed,
    /// The transport ended without a closing handshake (close code 1006).
    #[error("the connection dropped without a closing handshake (1006)")]
    AbnormalClosure,
    /// The TCP connection could not be made.
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The host and port tried.
        addr: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A URL that cannot be connected to.
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value that is not valid HTTP.
    #[error("invalid header {0:?}: expected 'Name: value' with a valid HTTP name and value")]
    InvalidHeader(String),
    /// A message was not the JSON that was asked for; the connection is still open.
    #[cfg(feature = "json")]
    #[error("a message is not the expected JSON ({0}); the connection stays open")]
    Json(serde_json::Error),
    /// The TLS handshake failed; the reason comes from rustls (an unknown issuer, a
    /// certificate not valid for the host, an expired one, no shared cipher suite).
    #[cfg(feature = "tls")]
    #[error("the TLS handshake with {peer} failed: {source}")]
    TlsHandshake {
        /// The host (as a client) or the client's address (as a server).
        peer: String,
        /// What rustls reported.
        source: std::io::Error,
    },
    /// Certificates, keys or roots could not be loaded.
    #[cfg(feature = "tls")]
    #[error("TLS setup failed: {0}")]
    TlsConfig(String),
    /// The proxy (HTTP or SOCKS5) could not open a tunnel to the server.
    #[error("the proxy {proxy} failed: {reason}")]
    Proxy {
        /// The proxy's address (without its credentials).
        proxy: String,
        /// What went wrong, and what to do about it.
        reason: String,
    },
    /// A [reconnecting](crate::reconnect) client failed too many times in a row.
    #[error("gave up reconnecting after {attempts} failed attempts in a row; the last: {last}")]
    GaveUp {
        /// Failures in a row.
        attempts: u32,
        /// What the last one was, in words.
        last: String,
    },
    /// Something took longer than its configured limit.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What timed out.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
}

/// `Result` with wsock's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// [`Error::Connect`] for `host:port`.
    pub(crate) fn connect(host: &str, port: u16, source: std::io::Error) -> Self {
        Self::Connect {
            addr: format!("{host}:{port}"),
            source,
        }
    }

    /// [`Error::Connect`] for a name that resolved to no address.
    pub(crate) fn no_address(host: &str, port: u16) -> Self {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address");
        Self::connect(host, port, source)
    }
}

/// The error for a connection that closed before its HTTP head was complete.
pub(crate) fn closed_before_head(received: &[u8]) -> Error {
    if received.is_empty() {
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

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(error) => Self::Handshake(error),
            refusal @ Refusal::ForbiddenOrigin(_) => Self::Rejected {
                status: refusal.status(),
                reason: refusal.reason(),
            },
            Refusal::Refused { status, reason } => Self::Rejected { status, reason },
        }
    }
}

impl From<LocalError> for Error {
    fn from(error: LocalError) -> Self {
        match error {
            LocalError::ConnectionClosed => Self::ConnectionClosed,
            other => Self::Local(other),
        }
    }
}

/// For the blocking [`Conn`](crate::blocking::Conn)'s `Read` and `Write`: I/O errors
/// come back as they were, timeouts as `TimedOut`, everything else wrapped.
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        use std::io::ErrorKind;
        match error {
            Error::Io(io) => io,
            Error::Timeout { .. } => Self::new(ErrorKind::TimedOut, error),
            Error::AbnormalClosure => Self::new(ErrorKind::UnexpectedEof, error),
            Error::ConnectionClosed => Self::new(ErrorKind::BrokenPipe, error),
            other => Self::other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_the_sentence_a_main_returning_result_prints() {
        let error = Error::from(HandshakeError::UnexpectedStatus {
            status: StatusCode::FORBIDDEN,
        });
        assert_eq!(format!("{error:?}"), error.to_string());
        assert!(!format!("{error:?}").contains("UnexpectedStatus"));
    }
}
