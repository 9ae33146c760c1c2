use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{LocalError, ProtocolError};

/// A close status code (RFC 6455 section 7.4).
///
/// ```
/// use wsock_proto::CloseCode;
/// assert!(CloseCode::NORMAL.is_allowed_on_wire());
/// assert!(!CloseCode::NO_STATUS.is_allowed_on_wire());
/// assert_eq!(u16::from(CloseCode::PROTOCOL_ERROR), 1002);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no code was present; reported locally, never sent.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection dropped without a close frame; reported locally, never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: payload inconsistent with the message type (e.g. invalid UTF-8 text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message or frame was too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (overload).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: a gateway got an invalid response upstream.
    pub const BAD_GATEWAY: Self = Self(1014);

    /// Whether this code may appear in a close frame: 1000–1003, 1007–1014 or 3000–4999.
    pub fn is_allowed_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl std::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The code and reason carried by a close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the connection is closing.
    pub code: CloseCode,
    /// Free text for humans, at most 123 bytes of UTF-8.
    pub reason: String,
}

/// Longest reason that fits in a control frame beside the 2-byte code.
pub(crate) const MAX_REASON_LEN: usize = 123;

impl CloseFrame {
    /// A close frame with `code` and `reason`.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// Parses a received close payload: empty, or a valid code followed by UTF-8.
    pub(crate) fn parse(payload: &[u8]) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(ProtocolError::CloseFrameTooShort),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_allowed_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = simdutf8::basic::from_utf8(&payload[2..])
                    .map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(Some(Self::new(code, reason)))
            }
        }
    }

    /// Checks that this frame may be sent: a code allowed on the wire, a short reason.
    pub(crate) fn validate_for_sending(&self) -> Result<(), LocalError> {
        if !self.code.is_allowed_on_wire() {
            return Err(LocalError::InvalidCloseCode(self.code.0));
        }
        if self.reason.len() > MAX_REASON_LEN {
            return Err(LocalError::CloseReasonTooLong(self.reason.len()));
        }
        Ok(())
    }

    /// The frame's payload: big-endian code, then the reason.
    pub(crate) fn to_payload(&self) -> Bytes {
        let mut payload = BytesMut::with_capacity(2 + self.reason.len());
        payload.put_u16(self.code.0);
        payload.put_slice(self.reason.as_bytes());
        payload.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_allowed_on_the_wire_follow_rfc_6455() {
        let allowed: Vec<u16> = (0..=5000)
            .filter(|&c| CloseCode(c).is_allowed_on_wire())
            .collect();
        let expected: Vec<u16> = (1000..=1003)
            .chain(1007..=1014)
            .chain(3000..=4999)
            .collect();
        assert_eq!(allowed, expected);
    }

    #[test]
    fn empty_payload_is_close_without_status() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
    }

    #[test]
    fn one_byte_payload_is_a_protocol_error() {
        assert_eq!(
            CloseFrame::parse(&[3]),
            Err(ProtocolError::CloseFrameTooShort)
        );
    }

    #[test]
    fn reserved_and_unknown_codes_are_rejected() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let payload = code.to_be_bytes();
            assert_eq!(
                CloseFrame::parse(&payload),
                Err(ProtocolError::InvalidCloseCode(code)),
                "code {code}"
            );
        }
    }

    #[test]
    fn invalid_utf8_reason_is_rejected_with_1007() {
        let err = CloseFrame::parse(&[0x03, 0xe8, 0xff, 0xfe]).unwrap_err();
        assert_eq!(err, ProtocolError::InvalidCloseReason);
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn payload_round_trips() {
        let frame = CloseFrame::new(CloseCode(4000), "bye ☃");
        assert_eq!(CloseFrame::parse(&frame.to_payload()), Ok(Some(frame)));
    }

    #[test]
    fn sending_checks_code_and_reason_length() {
        assert_eq!(
            CloseFrame::new(CloseCode::ABNORMAL, "").validate_for_sending(),
            Err(LocalError::InvalidCloseCode(1006))
        );
        assert_eq!(
            CloseFrame::new(CloseCode::NORMAL, "x".repeat(124)).validate_for_sending(),
            Err(LocalError::CloseReasonTooLong(124))
        );
        assert!(CloseFrame::new(CloseCode::NORMAL, "x".repeat(123))
            .validate_for_sending()
            .is_ok());
    }
}
