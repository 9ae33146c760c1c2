//! permessage-deflate (RFC 7692): negotiation and the compression codec.
//!
//! Compression costs memory per connection (about 160 KiB for a compressor that keeps
//! its context at the defaults, 46 KiB for a decompressor that keeps the peer's; both
//! are created on first use, and none is kept without context: see
//! [`DeflateConfig::shared`]) and can
//! leak secrets when attacker-controlled and secret data share a message, so the
//! library leaves it off unless asked; the CLI turns it on.

mod codec;
mod negotiate;
mod shared;

pub(crate) use codec::DeflateCodec;
pub use negotiate::{negotiate_server, parse_client_response};
pub(crate) use shared::{compress_standalone, with_scratch, Settings};

/// What this end offers (client) or accepts (server) for permessage-deflate.
///
/// ```
/// use wsock_proto::DeflateConfig;
/// // Lean: no context kept between messages, smaller windows.
/// let lean = DeflateConfig::default()
///     .no_context_takeover(true)
///     .max_window_bits(10);
/// assert_eq!(lean.client_max_window_bits, 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// The server resets its compressor after each message (saves the peer's
    /// decompressor window between messages, costs ratio).
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (log2, 9–15) the server compresses with.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (log2, 9–15) the client compresses with.
    pub client_max_window_bits: u8,
    /// zlib compression level, 0–9. Default 6.
    pub level: u32,
    /// zlib memLevel of the compressor, 1–9: the size of its literal buffer. Default
    /// 5 (see [`compressor_window_bits`](Self::compressor_window_bits)).
    pub mem_level: u8,
    /// The largest window (log2, 9–15) this end compresses with, whatever was agreed
    /// (a smaller window than agreed is always valid for the peer). Default 12: on a
    /// JSON feed the ratio is within 6% of window 15, and a compressor that keeps its
    /// context holds 161 KiB instead of 371 KiB at window 15 and memLevel 8 (the
    /// table is in docs/performance.md).
    pub compressor_window_bits: u8,
    /// Messages shorter than this are sent uncompressed. Default 64 bytes.
    pub threshold: usize,
    /// Frees a connection's compressor and decompressor after this long without a
    /// compressed message either way (checked at least this often, so it happens
    /// between once and twice this long), keeping only the last bytes of each
    /// direction (as many as its window: 4 KiB sent at the default
    /// [`compressor_window_bits`](Self::compressor_window_bits), 2^`client_max_window_bits`
    /// received) to make them again with the same context: the stream and its ratio
    /// are unchanged, and a connection that went quiet holds kilobytes instead of the
    /// 200 KiB of a live compressor and decompressor. Making them again costs about
    /// as much as compressing a small message (docs/performance.md). `None` keeps them
    /// for the connection's life. Default 1 s.
    pub release_after: Option<std::time::Duration>,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
            mem_level: 5,
            compressor_window_bits: 12,
            threshold: 64,
            release_after: Some(std::time::Duration::from_secs(1)),
        }
    }
}

impl DeflateConfig {
    /// The shared-compressor mode, for servers that want compression at almost no
    /// memory per connection: no context is kept either way
    /// (`server_no_context_takeover` and `client_no_context_takeover`), so one
    /// compressor per thread serves every connection, a broadcast is compressed once
    /// for all its members, and a connection holds neither a compressor nor a
    /// decompressor between messages. Streams of small similar messages compress less
    /// well than with context kept.
    ///
    /// ```
    /// let shared = wsock_proto::DeflateConfig::shared();
    /// assert!(shared.server_no_context_takeover && shared.client_no_context_takeover);
    /// ```
    pub fn shared() -> Self {
        Self::default().no_context_takeover(true)
    }

    /// Sets both sides' no-context-takeover.
    pub fn no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self.client_no_context_takeover = on;
        self
    }

    /// Sets both sides' window size, clamped to 9–15 (zlib cannot compress with 8),
    /// and the window this end compresses with.
    pub fn max_window_bits(mut self, bits: u8) -> Self {
        let bits = bits.clamp(9, 15);
        self.server_max_window_bits = bits;
        self.client_max_window_bits = bits;
        self.compressor_window_bits = bits;
        self
    }

    /// Sets the compression level (0–9).
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Sets the compressor's memLevel (1–9): lower costs less memory and some ratio.
    pub fn mem_level(mut self, mem_level: u8) -> Self {
        self.mem_level = mem_level.clamp(1, 9);
        self
    }

    /// Sets how long the compressor and decompressor may sit unused before they are
    /// freed (see [`release_after`](Self::release_after)); `None` keeps them.
    pub fn release_after(mut self, after: Option<std::time::Duration>) -> Self {
        self.release_after = after;
        self
    }

    /// Sets the size under which messages are sent uncompressed.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }
}

/// The parameters both ends agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after each message.
    pub client_no_context_takeover: bool,
    /// The server's window (log2).
    pub server_max_window_bits: u8,
    /// The client's window (log2).
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}
