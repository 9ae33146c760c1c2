//! Errors, split as h11 does: what the peer did wrong (answered with a close code or an
//! HTTP status) versus what the local program asked for that cannot be done.

use http::StatusCode;

use crate::close::CloseCode;

/// The peer broke RFC 6455 (or one of our limits) after the handshake. The connection
/// has been failed: a close frame with [`ProtocolError::close_code`] is queued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A client sent a frame without a mask.
    #[error("the client sent an unmasked frame; clients must mask every frame")]
    UnmaskedFrame,
    /// A server sent a masked frame.
    #[error("the server sent a masked frame; servers must not mask")]
    MaskedFrame,
    /// RSV bits were set although no extension defines them.
    #[error("a frame has reserved bits {0:#05b} set, but no extension was negotiated")]
    ReservedBits(u8),
    /// An opcode from the reserved ranges.
    #[error("a frame uses the reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame with more than 125 bytes of payload.
    #[error("a control frame carries {0} bytes; control frames carry at most 125")]
    ControlFrameTooLong(u64),
    /// A control frame without FIN.
    #[error("a control frame is fragmented; control frames must have FIN set")]
    FragmentedControlFrame,
    /// A 64-bit length with its most significant bit set.
    #[error("a frame's 64-bit length has its most significant bit set")]
    InvalidLength,
    /// A continuation frame outside a fragmented message.
    #[error("a continuation frame arrived with no fragmented message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was unfinished.
    #[error("a new data frame arrived before the fragmented message before it finished")]
    ExpectedContinuation,
    /// Text that is not UTF-8.
    #[error("a text message is not valid UTF-8")]
    InvalidUtf8,
    /// A close payload of exactly one byte.
    #[error("a close frame has a 1-byte payload; it must be empty or start with a 2-byte code")]
    CloseFrameTooShort,
    /// A close code that may not be sent.
    #[error("close code {0} may not be sent on the wire")]
    InvalidCloseCode(u16),
    /// A close reason that is not UTF-8.
    #[error("a close frame's reason is not valid UTF-8")]
    InvalidCloseReason,
    /// A keepalive ping went unanswered: nothing arrived within the pong timeout.
    #[error("the peer did not answer a keepalive ping within {after:?}")]
    KeepaliveTimeout {
        /// The pong timeout.
        after: std::time::Duration,
    },
    /// Nothing arrived within the idle timeout.
    #[error("the peer sent nothing for {after:?} (the idle timeout)")]
    IdleTimeout {
        /// The idle timeout.
        after: std::time::Duration,
    },
    /// A frame or fragmented message was left half sent for
    /// [`crate::Limits::incomplete_message_timeout`].
    #[error(
        "the peer left a message half sent for {after:?} (Limits::incomplete_message_timeout)"
    )]
    IncompleteMessageTimeout {
        /// The timeout.
        after: std::time::Duration,
    },
    /// The server as a whole holds as much received data as its read budget allows,
    /// and this connection wanted to hold more (see
    /// [`Connection::set_receive_allowance`](crate::Connection::set_receive_allowance)).
    #[error(
        "the server is holding as much received data as its read budget allows; try again later"
    )]
    ReadBudgetExhausted,
    /// permessage-deflate data that does not inflate.
    #[error("a compressed message is not valid deflate data")]
    InvalidCompressedData,
    /// A frame larger than [`crate::Limits::max_frame_size`].
    #[error("a frame of {size} bytes exceeds the limit of {limit} bytes (Limits::max_frame_size)")]
    FrameTooLarge {
        /// The length the frame header declared.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message larger than [`crate::Limits::max_message_size`].
    #[error("a message exceeds the limit of {limit} bytes (Limits::max_message_size)")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A message split into more frames than [`crate::Limits::max_fragments`].
    #[error("a message has more than {limit} fragments (Limits::max_fragments)")]
    TooManyFragments {
        /// The configured limit.
        limit: usize,
    },
}

impl ProtocolError {
    /// The close code this error is answered with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCloseReason | Self::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            Self::FrameTooLarge { .. }
            | Self::MessageTooLarge { .. }
            | Self::TooManyFragments { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::KeepaliveTimeout { .. } => CloseCode::INTERNAL_ERROR,
            Self::IdleTimeout { .. } => CloseCode::GOING_AWAY,
            Self::IncompleteMessageTimeout { .. } => CloseCode::POLICY_VIOLATION,
            Self::ReadBudgetExhausted { .. } => CloseCode::TRY_AGAIN_LATER,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// The local program asked for something the protocol does not allow. Nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// A send after a close frame was sent or the connection failed.
    #[error("the connection is closing or closed; nothing more can be sent")]
    ConnectionClosed,
    /// A ping, pong or close payload over 125 bytes.
    #[error("a control frame payload of {0} bytes was given; the limit is 125")]
    ControlPayloadTooLong(usize),
    /// A close code that may not be sent (1005, 1006, 1015 and unassigned ranges).
    #[error("close code {0} may not be sent; use 1000-1003, 1007-1014 or 3000-4999")]
    InvalidCloseCode(u16),
    /// A close reason over 123 bytes.
    #[error("a close reason of {0} bytes was given; the limit is 123")]
    CloseReasonTooLong(usize),
    /// A value for the upgrade request that HTTP cannot carry (CR or LF, which would
    /// inject lines, or other characters its grammar forbids).
    #[error("the {field} {value:?} cannot go into an HTTP request head; remove control characters and spaces, or percent-encode it")]
    InvalidRequestField {
        /// Which part of the request.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// A close frame given to [`crate::PreparedMessage`], which is for messages that
    /// many connections share; close each connection on its own.
    #[error("a close frame cannot be prepared for many connections; close each one")]
    PreparedClose,
}

/// The opening handshake failed. On the server side [`HandshakeError::status`] is the
/// HTTP status to answer with; on the client side the error says what the server did.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP head grew past [`crate::Limits::max_head_size`].
    #[error("the HTTP head is larger than {limit} bytes (Limits::max_head_size)")]
    HeadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More header fields than [`crate::Limits::max_headers`].
    #[error("the HTTP head has more than {limit} header fields (Limits::max_headers)")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// A line of the head ended with LF alone instead of CRLF.
    #[error("a line of the HTTP head ends with a bare LF; HTTP/1.1 lines end with CRLF")]
    BareLineFeed,
    /// A request carried a body header, which an upgrade GET must not: a proxy in
    /// front could frame the bytes after the head differently from us.
    #[error("the upgrade request has a {0} header; a WebSocket handshake has no body")]
    BodyHeader(&'static str),
    /// Not parseable as HTTP/1.1.
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    /// A request method other than GET.
    #[error("the method is {0}; a WebSocket handshake must use GET")]
    MethodNotGet(String),
    /// Over HTTP/2, a request other than an extended CONNECT at a WebSocket's path.
    #[error(
        "over HTTP/2 the method is {0}; a WebSocket opens with an extended CONNECT (RFC 8441)"
    )]
    NotExtendedConnect(String),
    /// HTTP/1.0 or older.
    #[error("the request is HTTP/1.0; a WebSocket handshake needs HTTP/1.1")]
    HttpVersion,
    /// A required header is absent.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// A header has a value the handshake does not allow.
    #[error("the {name} header has an invalid value {value:?}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// What it said.
        value: String,
    },
    /// A `Sec-WebSocket-Version` other than 13.
    #[error("WebSocket version {0:?} is not supported; only version 13 is")]
    UnsupportedVersion(String),
    /// The server answered with something other than 101.
    #[error("the server answered {status} instead of 101 Switching Protocols")]
    UnexpectedStatus {
        /// The status the server sent.
        status: StatusCode,
    },
    /// `Sec-WebSocket-Accept` does not match the key we sent.
    #[error("the server's Sec-WebSocket-Accept does not match our key")]
    InvalidAccept,
    /// The server picked a subprotocol the client did not offer.
    #[error("the server chose subprotocol {0:?}, which the client did not offer")]
    UnofferedProtocol(String),
    /// The server's answer to our permessage-deflate offer is invalid.
    #[error("the server's permessage-deflate answer is invalid: {0}")]
    InvalidExtension(String),
    /// The server enabled an extension the client did not offer.
    #[error("the server enabled extension {0:?}, which the client did not offer")]
    UnofferedExtension(String),
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::UnsupportedVersion(_) => StatusCode::UPGRADE_REQUIRED,
            Self::MethodNotGet(_) | Self::NotExtendedConnect(_) => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}
