use bytes::Bytes;

use crate::close::CloseFrame;

/// A message: the unit applications send and receive.
///
/// Cheap to clone: payloads are reference-counted [`Bytes`], so a message received from
/// one peer can be sent to many without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes); the peer answers with a pong.
    Ping(Bytes),
    /// A pong (at most 125 bytes).
    Pong(Bytes),
    /// A close frame, with or without a code.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    ///
    /// ```
    /// let m = wsock_proto::Message::text("hello world!");
    /// assert_eq!(m.as_text(), Some("hello world!"));
    /// ```
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// The payload bytes of any kind of message (empty for a close).
    pub fn payload(&self) -> &[u8] {
        match self {
            Self::Text(text) => text.as_bytes(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data,
            Self::Close(_) => &[],
        }
    }
}

/// Bytes known to be valid UTF-8: the payload of a text message, shared without copying.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps `bytes` if they are valid UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, Bytes> {
        match simdutf8::basic::from_utf8(&bytes) {
            Ok(_) => Ok(Self(bytes)),
            Err(_) => Err(bytes),
        }
    }

    /// Wraps bytes the caller has already validated.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor validates the bytes as UTF-8 (from_validated is only
        // called after the connection's validator accepted them), and `Bytes` is
        // immutable, so they stay valid. Revalidating here would cost a pass over every
        // message on each access.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying shared bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The underlying shared bytes, to share rather than copy.
    pub(crate) fn as_shared(&self) -> &Bytes {
        &self.0
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(s: &String) -> Self {
        Self::from(s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xff")).is_err());
        let ok = Utf8Bytes::try_from_bytes(Bytes::from_static("κόσμε".as_bytes())).unwrap();
        assert_eq!(ok.as_str(), "κόσμε");
    }

    #[test]
    fn clones_share_the_payload() {
        let m = Message::binary(vec![1u8; 1000]);
        let c = m.clone();
        assert_eq!(m.payload().as_ptr(), c.payload().as_ptr());
    }
}
