//! Compressing and inflating message payloads (RFC 7692 section 7.2).

use flate2::{Decompress, FlushDecompress, Status};

use std::time::{Duration, Instant};

use super::shared::{compress_into, compress_standalone, Settings};
use super::{DeflateConfig, DeflateParams};
use crate::connection::Role;
use crate::error::ProtocolError;

/// What a sync flush ends with; stripped when sending, restored when receiving.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// One connection's compressor and decompressor, created on first use so that a
/// connection that sends only small messages pays for neither, and dropped after each
/// message when no context is taken over, so that idle connections pay nothing. When
/// context is kept, they can still be released while the connection idles
/// ([`release`](Self::release)): the codec keeps the last bytes of each direction (as
/// many as its window) and makes them again from those, so the peer sees one unbroken
/// stream and the ratio is the same.
pub(crate) struct DeflateCodec {
    compress_bits: u8,
    compress_reset: bool,
    decompress_bits: u8,
    decompress_reset: bool,
    level: u32,
    mem_level: u8,
    threshold: usize,
    compressor: Option<Box<zlib_rs::Deflate>>,
    decompressor: Option<Box<Decompress>>,
    /// Set when the peer ended its deflate stream (a final block): the next message
    /// needs a fresh decompressor.
    stream_ended: bool,
    /// The last bytes compressed, up to this end's window: a new compressor primed
    /// with them refers back exactly as the released one could.
    sent: Window,
    /// The last bytes inflated, up to the peer's window, likewise.
    received: Window,
    /// When to free the compressor and decompressor.
    idle: IdleClock,
}

/// When a codec's compressor and decompressor go unused long enough to be freed: a
/// look is due [`DeflateConfig::release_after`] after they were used (counted from the
/// latest time the shell told), and a look that finds them used since the last one
/// looks again that long after.
#[derive(Debug, Default)]
struct IdleClock {
    release_after: Option<Duration>,
    /// The latest time told.
    now: Option<Instant>,
    /// The next look, while one is due.
    look_at: Option<Instant>,
    /// Used since the last look.
    used: bool,
}

impl IdleClock {
    fn used(&mut self) {
        self.used = true;
        if self.look_at.is_none() {
            if let (Some(now), Some(after)) = (self.now, self.release_after) {
                self.look_at = Some(now + after);
            }
        }
    }
}

/// The newest bytes of a stream, up to a window's size: a ring, so that keeping it
/// costs one or two copies of what is new and never a shift of the whole window.
#[derive(Debug, Default)]
struct Window {
    /// Until it is full, the bytes in order; then a ring whose oldest byte is at
    /// `start`.
    bytes: Vec<u8>,
    start: usize,
    size: usize,
}

impl Window {
    fn new(bits: u8) -> Self {
        Self {
            bytes: Vec::new(),
            start: 0,
            size: 1 << bits,
        }
    }

    fn push(&mut self, data: &[u8]) {
        let mut data = &data[data.len().saturating_sub(self.size)..];
        if self.bytes.len() < self.size {
            let fits = data.len().min(self.size - self.bytes.len());
            let needed = self.bytes.len() + fits;
            if needed > self.bytes.capacity() {
                // Grow by doubling, as a Vec does, but never past the window: a peer
                // that sent a few small messages costs a few small buffers.
                let target = needed.max(self.bytes.capacity() * 2).min(self.size);
                self.bytes.reserve_exact(target - self.bytes.len());
            }
            self.bytes.extend_from_slice(&data[..fits]);
            data = &data[fits..];
        }
        // Full: overwrite the oldest bytes, wrapping around the end.
        while !data.is_empty() {
            let run = data.len().min(self.size - self.start);
            self.bytes[self.start..self.start + run].copy_from_slice(&data[..run]);
            self.start = (self.start + run) % self.size;
            data = &data[run..];
        }
    }

    /// The bytes, oldest first, in one slice (to prime a new compressor or
    /// decompressor with).
    fn contiguous(&mut self) -> &[u8] {
        self.bytes.rotate_left(self.start);
        self.start = 0;
        &self.bytes
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn clear(&mut self) {
        self.bytes = Vec::new();
        self.start = 0;
    }
}

impl std::fmt::Debug for DeflateCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeflateCodec")
            .field("compress_bits", &self.compress_bits)
            .field("decompress_bits", &self.decompress_bits)
            .finish_non_exhaustive()
    }
}

impl DeflateCodec {
    pub(crate) fn new(role: Role, params: &DeflateParams, config: &DeflateConfig) -> Self {
        let (ours, theirs) = match role {
            Role::Server => (
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
            ),
            Role::Client => (
                (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
                (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
            ),
        };
        Self {
            // A smaller window than agreed is always valid for the peer to inflate.
            compress_bits: ours.0.min(config.compressor_window_bits).clamp(9, 15),
            compress_reset: ours.1,
            // Inflating with a larger window than the peer used is always safe.
            decompress_bits: theirs.0.clamp(9, 15),
            decompress_reset: theirs.1,
            level: config.level.min(9),
            mem_level: config.mem_level.clamp(1, 9),
            threshold: config.threshold,
            compressor: None,
            decompressor: None,
            stream_ended: false,
            sent: Window::new(ours.0.min(config.compressor_window_bits).clamp(9, 15)),
            received: Window::new(theirs.0.clamp(9, 15)),
            idle: IdleClock {
                release_after: config.release_after,
                ..IdleClock::default()
            },
        }
    }

    /// Whether a payload of `len` bytes is worth compressing.
    pub(crate) fn wants(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// What this end compresses with.
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            window_bits: self.compress_bits,
            level: self.level,
            mem_level: self.mem_level,
        }
    }

    /// Whether nothing carries over from one message this end compresses to the next
    /// (`server_no_context_takeover` on a server), so that any compressor will do.
    pub(crate) fn compresses_standalone(&self) -> bool {
        self.compress_reset
    }

    /// Frees the compressor and decompressor this connection holds, keeping only
    /// their windows: the next message makes them again, primed with those, so the
    /// stream goes on as if they had never left.
    pub(crate) fn release(&mut self) {
        self.compressor = None;
        self.decompressor = None;
    }

    /// Whether this connection holds a compressor or decompressor now.
    pub(crate) fn holds_state(&self) -> bool {
        self.compressor.is_some() || self.decompressor.is_some()
    }

    /// The time now, as the shell tells it.
    pub(crate) fn tell_time(&mut self, now: Instant) {
        self.idle.now = Some(now);
    }

    /// When to look whether the compressor and decompressor went unused, while this
    /// connection holds them.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.holds_state().then_some(self.idle.look_at)?
    }

    /// Frees the compressor and decompressor if a look is due and they went unused
    /// since the last one.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.idle.now = Some(now);
        if self.deadline().is_none_or(|deadline| now < deadline) {
            return;
        }
        if std::mem::take(&mut self.idle.used) {
            self.idle.look_at = self.idle.release_after.map(|after| now + after);
        } else {
            self.release();
            self.idle.look_at = None;
        }
    }

    /// Compresses one whole message into `out` (cleared first), without the tail.
    pub(crate) fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let settings = self.settings();
        if self.compress_reset {
            // Nothing carries over: this thread's compressor serves every such
            // connection, and this one holds none while it idles.
            compress_standalone(settings, payload, out);
        } else {
            let sent = &mut self.sent;
            let compressor = self.compressor.get_or_insert_with(|| {
                let mut compressor = Box::new(settings.compressor());
                if !sent.is_empty() {
                    // A fresh raw-deflate compressor always takes a dictionary.
                    compressor
                        .set_dictionary(sent.contiguous())
                        .expect("a fresh compressor takes a dictionary");
                }
                compressor
            });
            compress_into(compressor, payload, out);
            if self.idle.release_after.is_some() {
                self.sent.push(payload);
            }
            self.idle.used();
        }
        debug_assert!(out.ends_with(&TAIL));
        out.truncate(out.len().saturating_sub(TAIL.len()));
    }

    /// Inflates one frame's payload, appending to `out`, and with `last` also the tail
    /// that ends the message. Fails with 1009 as soon as `out` would pass `limit`, so a
    /// small bomb never allocates its whole output.
    pub(crate) fn decompress(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if self.stream_ended {
            // The peer starts a new stream, which refers to nothing before it.
            self.decompressor = None;
            self.received.clear();
            self.stream_ended = false;
        }
        self.inflate(input, out, limit)?;
        if last {
            self.inflate(&TAIL, out, limit)?;
            if self.decompress_reset {
                self.decompressor = None;
            }
        }
        Ok(())
    }

    fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let bits = self.decompress_bits;
        let keeps_context = !self.decompress_reset && self.idle.release_after.is_some();
        let received = &mut self.received;
        let decompressor = self.decompressor.get_or_insert_with(|| {
            let mut decompressor = Box::new(Decompress::new_with_window_bits(false, bits));
            if keeps_context && !received.is_empty() {
                decompressor
                    .set_dictionary(received.contiguous())
                    .expect("a raw inflater takes a dictionary at any time");
            }
            decompressor
        });
        self.idle.used();
        let start = out.len();
        let result = Self::inflate_with(decompressor, input, out, limit, &mut self.stream_ended);
        if keeps_context {
            self.received.push(&out[start.min(out.len())..]);
        }
        result
    }

    fn inflate_with(
        decompressor: &mut Decompress,
        mut input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        stream_ended: &mut bool,
    ) -> Result<(), ProtocolError> {
        loop {
            if out.len() == out.capacity() {
                // Room for one byte past the limit tells "exactly at the limit" from
                // "over it" without allocating more.
                let grow = out.capacity().max(4096).min(limit + 1 - out.len());
                out.reserve_exact(grow);
            }
            let (in_before, out_before) = (decompressor.total_in(), decompressor.total_out());
            let status = decompressor
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|_| ProtocolError::InvalidCompressedData)?;
            input = &input[(decompressor.total_in() - in_before) as usize..];
            if out.len() > limit {
                return Err(ProtocolError::MessageTooLarge { limit });
            }
            if status == Status::StreamEnd {
                *stream_ended = true;
                return Ok(());
            }
            let progressed =
                decompressor.total_in() > in_before || decompressor.total_out() > out_before;
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
            if !progressed && out.len() < out.capacity() {
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message compressed, at level 6.
    fn test_config() -> DeflateConfig {
        DeflateConfig::default().threshold(0)
    }

    fn pair(params: DeflateParams) -> (DeflateCodec, DeflateCodec) {
        (
            DeflateCodec::new(Role::Client, &params, &test_config()),
            DeflateCodec::new(Role::Server, &params, &test_config()),
        )
    }

    fn round_trip(sender: &mut DeflateCodec, receiver: &mut DeflateCodec, payload: &[u8]) -> usize {
        let mut compressed = Vec::new();
        sender.compress(payload, &mut compressed);
        let mut inflated = Vec::new();
        receiver
            .decompress(&compressed, true, &mut inflated, usize::MAX - 1)
            .unwrap();
        assert_eq!(inflated, payload);
        compressed.len()
    }

    #[test]
    fn rfc_7692_7_2_3_1_hello_without_context() {
        // "Hello" compressed in one block, the tail removed.
        let wire = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut receiver =
            DeflateCodec::new(Role::Server, &DeflateParams::default(), &test_config());
        let mut out = Vec::new();
        receiver.decompress(&wire, true, &mut out, 1000).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_2_hello_twice_with_context_takeover() {
        let mut receiver =
            DeflateCodec::new(Role::Server, &DeflateParams::default(), &test_config());
        let mut out = Vec::new();
        receiver
            .decompress(
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
                true,
                &mut out,
                1000,
            )
            .unwrap();
        // The second "Hello" refers back to the first one's window.
        let mut second = Vec::new();
        receiver
            .decompress(&[0xf2, 0x00, 0x11, 0x00, 0x00], true, &mut second, 1000)
            .unwrap();
        assert_eq!(second, b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_3_no_compression_block() {
        let wire = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let mut receiver =
            DeflateCodec::new(Role::Server, &DeflateParams::default(), &test_config());
        let mut out = Vec::new();
        receiver.decompress(&wire, true, &mut out, 1000).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_5_two_deflate_blocks_in_one_message() {
        let wire = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        let mut receiver =
            DeflateCodec::new(Role::Server, &DeflateParams::default(), &test_config());
        let mut out = Vec::new();
        receiver.decompress(&wire, true, &mut out, 1000).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_4_final_block_ends_the_stream_and_next_message_starts_fresh() {
        let wire = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut receiver =
            DeflateCodec::new(Role::Server, &DeflateParams::default(), &test_config());
        let mut out = Vec::new();
        receiver.decompress(&wire, true, &mut out, 1000).unwrap();
        assert_eq!(out, b"Hello");
        let mut again = Vec::new();
        receiver
            .decompress(
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
                true,
                &mut again,
                1000,
            )
            .unwrap();
        assert_eq!(again, b"Hello");
    }

    #[test]
    fn our_hello_matches_the_rfc_bytes() {
        let (mut client, _) = pair(DeflateParams::default());
        let mut out = Vec::new();
        client.compress(b"Hello", &mut out);
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    }

    #[test]
    fn context_takeover_shrinks_repeated_messages() {
        let (mut client, mut server) = pair(DeflateParams::default());
        let message = br#"{"type":"price","symbol":"ACME","bid":101.25,"ask":101.5}"#;
        let first = round_trip(&mut client, &mut server, message);
        let second = round_trip(&mut client, &mut server, message);
        assert!(second < first / 2, "{second} vs {first}");
    }

    #[test]
    fn no_context_takeover_resets_between_messages() {
        let params = DeflateParams {
            client_no_context_takeover: true,
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let (mut client, mut server) = pair(params);
        let message = br#"{"type":"price","symbol":"ACME","bid":101.25,"ask":101.5}"#;
        let first = round_trip(&mut client, &mut server, message);
        let second = round_trip(&mut client, &mut server, message);
        assert_eq!(first, second);
    }

    #[test]
    fn small_windows_round_trip() {
        for bits in 9..=15 {
            let params = DeflateParams {
                client_max_window_bits: bits,
                server_max_window_bits: bits,
                ..DeflateParams::default()
            };
            let (mut client, mut server) = pair(params);
            let payload: Vec<u8> = (0..100_000u32)
                .map(|i| (i % 97) as u8 ^ (i / 1000) as u8)
                .collect();
            round_trip(&mut client, &mut server, &payload);
            round_trip(&mut server, &mut client, &payload);
        }
    }

    #[test]
    fn empty_and_large_payloads_round_trip() {
        let (mut client, mut server) = pair(DeflateParams::default());
        round_trip(&mut client, &mut server, b"");
        let big: Vec<u8> = (0..(4u32 << 20))
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        round_trip(&mut client, &mut server, &big);
    }

    #[test]
    fn bomb_stops_at_the_limit_without_allocating_its_output() {
        let (mut client, mut server) = pair(DeflateParams::default());
        let zeros = vec![0u8; 16 << 20];
        let mut bomb = Vec::new();
        client.compress(&zeros, &mut bomb);
        assert!(
            bomb.len() < 64 << 10,
            "16 MiB of zeros compress to {} bytes",
            bomb.len()
        );
        let mut out = Vec::new();
        let err = server
            .decompress(&bomb, true, &mut out, 1 << 20)
            .unwrap_err();
        assert_eq!(err, ProtocolError::MessageTooLarge { limit: 1 << 20 });
        assert!(
            out.capacity() <= (1 << 20) + 1,
            "allocated {}",
            out.capacity()
        );
    }

    #[test]
    fn released_codecs_carry_on_with_the_same_context_and_ratio() {
        let feed: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    r#"{{"type":"price","symbol":"ACME","bid":{}.25,"ask":{}.5,"seq":{i}}}"#,
                    100 + i % 7,
                    101 + i % 5
                )
            })
            .collect();
        let run = |release_every: Option<usize>| {
            let (mut client, mut server) = pair(DeflateParams::default());
            let mut sent = 0;
            for (i, line) in feed.iter().enumerate() {
                if release_every.is_some_and(|every| i % every == 0) {
                    client.release();
                    server.release();
                    assert!(!client.holds_state() && !server.holds_state());
                }
                // Both directions, so both compressors and decompressors come back.
                sent += round_trip(&mut server, &mut client, line.as_bytes());
                round_trip(&mut client, &mut server, line.as_bytes());
            }
            sent
        };
        let kept = run(None);
        // Released before every third message, and every message: the same bytes.
        assert_eq!(run(Some(3)), kept);
        assert_eq!(run(Some(1)), kept);
        let (mut fresh_client, mut fresh_server) = pair(DeflateParams::default());
        let without_context: usize = feed
            .iter()
            .map(|line| {
                let size = round_trip(&mut fresh_server, &mut fresh_client, line.as_bytes());
                fresh_server =
                    DeflateCodec::new(Role::Server, &DeflateParams::default(), &test_config());
                fresh_client =
                    DeflateCodec::new(Role::Client, &DeflateParams::default(), &test_config());
                size
            })
            .sum();
        assert!(kept * 2 < without_context, "{kept} vs {without_context}");
    }

    #[test]
    fn windows_keep_only_the_newest_bytes() {
        let mut window = Window::new(9);
        window.push(&[1; 300]);
        window.push(&[2; 300]);
        assert_eq!(window.bytes.len(), 512);
        assert_eq!(window.contiguous()[..212], [1; 212]);
        assert_eq!(window.contiguous()[212..], [2; 300]);
        assert_eq!(window.bytes.capacity(), 512, "never more than the window");
        window.push(&[3; 2000]);
        assert_eq!(window.contiguous(), [3; 512]);
        // Wrapping around: the newest 512 bytes, oldest first.
        let counting: Vec<u8> = (0..=255).collect();
        for _ in 0..5 {
            window.push(&counting[..100]);
        }
        window.push(&counting);
        let got = window.contiguous().to_vec();
        assert_eq!(got[256..], counting[..]);
        assert_eq!(got[156..256], counting[..100]);
        let mut small = Window::new(15);
        small.push(b"a short JSON message");
        assert!(small.bytes.capacity() < 64, "grows with what was sent");
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut server = DeflateCodec::new(Role::Server, &DeflateParams::default(), &test_config());
        let mut out = Vec::new();
        let err = server.decompress(&[0xff, 0xff, 0xff, 0xff], true, &mut out, 1000);
        assert_eq!(err, Err(ProtocolError::InvalidCompressedData));
    }
}
