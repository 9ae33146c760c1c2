/// Caps on what a peer may make us buffer. The defaults are safe for a public server;
/// raise them only for peers you trust.
///
/// ```
/// let mut limits = wsock_proto::Limits::default();
/// limits.max_message_size = 1 << 20; // 1 MiB
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest payload of a single frame, checked on the frame header before any
    /// payload is buffered. Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest message after reassembling its fragments. Default 64 MiB.
    pub max_message_size: usize,
    /// Most frames (empty ones included) one message may be split into.
    /// Default 131,072, so Autobahn's 65,536-fragment case passes.
    pub max_fragments: usize,
    /// Largest HTTP head of the opening handshake. Default 8 KiB; over it, 431.
    pub max_head_size: usize,
    /// Most header fields in the opening handshake. Default 128; over it, 431.
    pub max_headers: usize,
    /// How long a peer may leave a frame or fragmented message half sent, sending
    /// nothing, before the connection is failed (1008): what it sent so far is held in
    /// memory meanwhile. Any bytes arriving restart the clock. Default 30 s.
    pub incomplete_message_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_fragments: 1 << 17,
            max_head_size: 8 << 10,
            max_headers: 128,
            incomplete_message_timeout: std::time::Duration::from_secs(30),
        }
    }
}
