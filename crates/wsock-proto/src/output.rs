//! What a connection has queued for the peer: one queue of byte chunks in order, like
//! websockets' `data_to_send()`. Frames encoded here go into an open tail buffer;
//! shared chunks (a [`PreparedMessage`](crate::PreparedMessage)'s frame, a large
//! payload) join the queue as they are, without a copy, after the tail is closed off.
//! A shell drains it with one vectored write.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::MAX_HEADER_LEN;

/// Most room [`Output::buffer_for`] adds for frames to come: one read's worth of
/// requests, whose replies a batch encodes before it writes.
pub(crate) const TAIL_HINT_MAX: usize = 16 << 10;

#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Chunks that go before `tail`. Boxed, since most connections never have any;
    /// kept once made, since the ones that do (broadcast members, large messages)
    /// have some for every message.
    chunks: Option<Box<Chunks>>,
    /// Frames encoded since the last shared chunk.
    tail: BytesMut,
}

#[derive(Debug, Default)]
struct Chunks {
    queue: VecDeque<Chunk>,
    /// Their total length.
    len: usize,
}

/// One queued chunk: shared bytes, or a frame header held in the queue itself.
#[derive(Debug)]
enum Chunk {
    Shared(Bytes),
    /// The header of a large payload queued with nothing before it. Encoded in the
    /// tail buffer instead, it would cost that buffer (freed whenever the queue
    /// empties) an allocation, a reallocation and the shared copy's allocation for a
    /// few bytes, on every such message.
    Header {
        bytes: [u8; MAX_HEADER_LEN],
        start: u8,
        end: u8,
    },
}

impl Chunk {
    fn header(header: &[u8]) -> Self {
        let mut bytes = [0; MAX_HEADER_LEN];
        bytes[..header.len()].copy_from_slice(header);
        Self::Header {
            bytes,
            start: 0,
            // At most MAX_HEADER_LEN, checked by the slice copy above.
            end: header.len() as u8,
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Shared(bytes) => bytes,
            Self::Header { bytes, start, end } => &bytes[usize::from(*start)..usize::from(*end)],
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn advance(&mut self, n: usize) {
        match self {
            Self::Shared(bytes) => bytes.advance(n),
            Self::Header { start, end, .. } => {
                assert!(n <= usize::from(*end - *start), "advanced past the header");
                *start += n as u8;
            }
        }
    }
}

impl Chunks {
    fn push(&mut self, chunk: Chunk) {
        self.len += chunk.len();
        self.queue.push_back(chunk);
    }
}

impl Output {
    /// Where the next frame is encoded.
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Where the next frame, of `frame_len` bytes, is encoded, with room for
    /// `likely_more` bytes after it (at most [`TAIL_HINT_MAX`]) if the tail must be
    /// allocated now: a batch of replies then fills one allocation instead of
    /// growing it by doubling, which moved every reply encoded before (eight replies
    /// of 1 KiB cost three reallocations and 7 KiB of copying).
    pub(crate) fn buffer_for(&mut self, frame_len: usize, likely_more: usize) -> &mut BytesMut {
        if self.tail.capacity() == 0 {
            // Allocated to size at once, not through `BytesMut`'s growth path.
            self.tail =
                BytesMut::with_capacity(frame_len.saturating_add(likely_more.min(TAIL_HINT_MAX)));
        }
        &mut self.tail
    }

    /// Queues `chunk` as it is, after everything queued so far.
    pub(crate) fn push_shared(&mut self, chunk: Bytes) {
        let chunks = self.chunks.get_or_insert_with(Default::default);
        if !self.tail.is_empty() {
            let encoded = self.tail.split().freeze();
            chunks.push(Chunk::Shared(encoded));
        }
        if !chunk.is_empty() {
            chunks.push(Chunk::Shared(chunk));
        }
    }

    /// Queues a frame's `header` (at most [`MAX_HEADER_LEN`] bytes) and then its
    /// `payload` as it is, after everything queued so far.
    pub(crate) fn push_frame(&mut self, header: &[u8], payload: Bytes) {
        if self.tail.is_empty() {
            let chunks = self.chunks.get_or_insert_with(Default::default);
            chunks.push(Chunk::header(header));
        } else {
            // The tail exists anyway: the header joins it.
            self.tail.extend_from_slice(header);
        }
        self.push_shared(payload);
    }

    pub(crate) fn len(&self) -> usize {
        self.chunks.as_ref().map_or(0, |chunks| chunks.len) + self.tail.len()
    }

    /// Fills `slices` with the queued chunks in order, as many as fit, and returns
    /// how many it filled.
    pub(crate) fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let queued = self.chunks.as_deref().map(|chunks| &chunks.queue);
        let all = queued
            .into_iter()
            .flatten()
            .map(Chunk::as_slice)
            .chain(std::iter::once(&self.tail[..]))
            .filter(|chunk| !chunk.is_empty());
        let mut count = 0;
        for (slot, chunk) in slices.iter_mut().zip(all) {
            *slot = IoSlice::new(chunk);
            count += 1;
        }
        count
    }

    /// Drops the first `n` queued bytes, once written.
    pub(crate) fn consume(&mut self, mut n: usize) {
        if let Some(chunks) = self.chunks.as_deref_mut() {
            while n > 0 {
                let Some(chunk) = chunks.queue.front_mut() else {
                    break;
                };
                let taken = n.min(chunk.len());
                chunk.advance(taken);
                chunks.len -= taken;
                n -= taken;
                if chunk.len() == 0 {
                    chunks.queue.pop_front();
                }
            }
        }
        self.tail.advance(n);
    }

    /// Everything queued, in one buffer.
    pub(crate) fn take_all(&mut self) -> BytesMut {
        let Some(chunks) = self.chunks.as_deref_mut().filter(|c| !c.queue.is_empty()) else {
            return self.tail.split();
        };
        let mut all = BytesMut::with_capacity(chunks.len + self.tail.len());
        for chunk in chunks.queue.drain(..) {
            all.extend_from_slice(chunk.as_slice());
        }
        chunks.len = 0;
        all.extend_from_slice(&self.tail.split());
        all
    }

    /// Frees the tail buffer when nothing is queued.
    pub(crate) fn release_if_empty(&mut self) {
        if self.tail.is_empty() && self.tail.capacity() > 0 {
            self.tail = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(output: &mut Output, max_slices: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        while output.len() > 0 {
            let mut slices = vec![IoSlice::new(&[]); max_slices];
            let count = output.slices(&mut slices);
            assert!(count > 0);
            // A short write: all but the last byte of what was offered.
            let offered: Vec<u8> = slices[..count].iter().flat_map(|s| s.to_vec()).collect();
            let written = (offered.len() - 1).max(1);
            wire.extend_from_slice(&offered[..written]);
            output.consume(written);
        }
        wire
    }

    /// Encoded frames and shared chunks, interleaved, empty ones among them.
    fn queued() -> Output {
        let mut output = Output::default();
        output.buffer().extend_from_slice(b"ab");
        output.push_shared(Bytes::from_static(b"cde"));
        output.buffer().extend_from_slice(b"f");
        output.push_shared(Bytes::from_static(b""));
        output.push_shared(Bytes::from_static(b"gh"));
        output.buffer().extend_from_slice(b"ij");
        output.push_frame(b"kl", Bytes::from_static(b"mno"));
        output
    }

    /// Frames queued with their headers inline, first, between others and last.
    fn framed() -> Output {
        let mut output = Output::default();
        output.push_frame(b"ab", Bytes::from_static(b"cde"));
        output.push_frame(b"f", Bytes::from_static(b""));
        output.push_frame(b"ghi", Bytes::from_static(b"jk"));
        output.buffer().extend_from_slice(b"l");
        output.push_shared(Bytes::from_static(b"mn"));
        output.push_frame(&[b'o'; MAX_HEADER_LEN], Bytes::from_static(b"p"));
        output
    }

    #[test]
    fn chunks_come_out_in_the_order_queued_whatever_the_writes_take() {
        for max_slices in [1, 2, 32] {
            let mut output = queued();
            assert_eq!(output.len(), 15);
            assert_eq!(drain(&mut output, max_slices), b"abcdefghijklmno");
            assert_eq!(output.len(), 0);
        }
        let mut output = queued();
        assert_eq!(&output.take_all()[..], b"abcdefghijklmno");
        assert_eq!(output.len(), 0);
    }

    #[test]
    fn headers_held_in_the_queue_go_out_in_order_and_in_part() {
        let expected = [&b"abcdefghijklmn"[..], &[b'o'; MAX_HEADER_LEN], b"p"].concat();
        for max_slices in [1, 2, 3, 32] {
            let mut output = framed();
            assert_eq!(output.len(), expected.len());
            assert_eq!(drain(&mut output, max_slices), expected);
            assert_eq!(output.len(), 0);
        }
        assert_eq!(&framed().take_all()[..], &expected[..]);
    }

    #[test]
    fn a_tail_allocated_for_a_batch_has_room_for_the_hint_and_no_more_than_its_cap() {
        let mut output = Output::default();
        assert!(output.buffer_for(30, 154).capacity() >= 184);
        output.buffer().extend_from_slice(&[0; 184]);
        let grown = output.buffer_for(30, 1 << 20).capacity();
        assert_eq!(
            grown,
            output.tail.capacity(),
            "an allocated tail is left as it is"
        );
        let mut output = Output::default();
        let capacity = output.buffer_for(30, 1 << 20).capacity();
        assert!((30 + TAIL_HINT_MAX..2 * (30 + TAIL_HINT_MAX)).contains(&capacity));
    }

    #[test]
    fn a_frame_queued_alone_costs_no_tail_buffer() {
        let mut output = Output::default();
        output.push_frame(b"\x82\x7e\x01\x00", Bytes::from(vec![1u8; 256]));
        assert_eq!(output.tail.capacity(), 0);
        assert_eq!(output.len(), 260);
    }

    #[test]
    fn a_shared_chunk_is_not_copied() {
        let payload = Bytes::from(vec![7u8; 100]);
        let mut output = Output::default();
        output.push_shared(payload.clone());
        let mut slices = [IoSlice::new(&[])];
        assert_eq!(output.slices(&mut slices), 1);
        assert_eq!(slices[0].as_ptr(), payload.as_ptr());
    }
}
