/// XORs `buf` with the 4-byte masking `key` (RFC 6455 section 5.3), in place.
///
/// Applying the same key twice restores the input.
///
/// ```
/// let mut data = *b"hello";
/// wsock_proto::apply_mask(&mut data, [1, 2, 3, 4], 0);
/// wsock_proto::apply_mask(&mut data, [1, 2, 3, 4], 0);
/// assert_eq!(&data, b"hello");
/// ```
///
/// `offset` is the position of `buf[0]` within the frame's payload, so a payload can be
/// unmasked in pieces as it arrives.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    if buf.len() >= WIDE_MIN {
        mask_widest(buf, key);
    } else {
        mask_words(buf, key);
    }
}

/// Below this, choosing a version at run time costs more than wider registers save.
const WIDE_MIN: usize = 256;

/// Masks eight bytes at a time through a u64: the key pattern repeats every 4 bytes,
/// so it lines up with every chunk. The compiler vectorises the loop for the
/// baseline CPU (SSE2 on x86-64), or for the features of the function it is
/// inlined into.
#[inline(always)]
fn mask_words(buf: &mut [u8], key: [u8; 4]) {
    // The key twice, in memory order on either endianness.
    let wide = u64::from(u32::from_ne_bytes(key)) * 0x1_0000_0001;
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// The same loop, also compiled for AVX-512 and AVX2 and run with the widest the CPU
/// has: a large frame's payload has just been copied in by the kernel and is still
/// in cache, where wider registers go up to twice as fast.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2"))]
fn mask_widest(buf: &mut [u8], key: [u8; 4]) {
    // Loads that straddle two cache lines cost twice; a payload starts wherever its
    // header ends, so mask up to the next 64-byte boundary first.
    let head = buf.as_ptr().align_offset(64).min(buf.len());
    let (unaligned, aligned) = buf.split_at_mut(head);
    mask_words(unaligned, key);
    mask_words(aligned, rotate(key, head));
}

/// The key as seen from `offset` bytes into the payload: `[key[s], key[s + 1], ...]`
/// with `s = offset % 4`, in one rotation rather than four indexed loads.
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let shift = 8 * (offset & 3) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// Fresh masking keys from the operating system's CSPRNG, fetched in batches so that a
/// frame does not cost a system call.
pub(crate) struct MaskKeys {
    pool: [u8; 256],
    used: usize,
}

impl std::fmt::Debug for MaskKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool is secret until used; never print it.
        f.write_str("MaskKeys")
    }
}

impl MaskKeys {
    pub(crate) fn new() -> Self {
        Self {
            pool: [0; 256],
            used: 256,
        }
    }

    pub(crate) fn next_key(&mut self) -> [u8; 4] {
        if self.used == self.pool.len() {
            // The OS RNG failing is not recoverable and never caused by a peer; sending
            // predictable masks instead would break the protocol's security model.
            getrandom::getrandom(&mut self.pool).expect("the OS random number generator failed");
            self.used = 0;
        }
        let key = [
            self.pool[self.used],
            self.pool[self.used + 1],
            self.pool[self.used + 2],
            self.pool[self.used + 3],
        ];
        self.used += 4;
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_the_rfc_definition_for_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        // Short buffers, both sides of WIDE_MIN, and large ones, each starting at
        // every byte of a cache line (the wide path masks up to the line's end
        // first, so every length of that head is met).
        let lengths = (0..70)
            .chain(WIDE_MIN - 9..WIDE_MIN + 70)
            .chain([4096, 65_543]);
        for len in lengths {
            for offset in 0..4 {
                for skew in 0..64 {
                    let original: Vec<u8> = (0..len + skew)
                        .map(|b| (b as u8).wrapping_mul(31))
                        .collect();
                    let mut fast = original.clone();
                    let mut slow = original.clone();
                    apply_mask(&mut fast[skew..], key, offset);
                    naive(&mut slow[skew..], key, offset);
                    assert_eq!(fast, slow, "len {len} offset {offset} skew {skew}");
                }
            }
        }
    }

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 section 5.7: "Hello" masked with 37 fa 21 3d.
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_whole() {
        let key = [9, 8, 7, 6];
        let original: Vec<u8> = (0..100u8).collect();
        let mut whole = original.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = original.clone();
        let (a, b) = pieces.split_at_mut(13);
        apply_mask(a, key, 0);
        apply_mask(b, key, 13);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn keys_are_not_repeated() {
        let mut keys = MaskKeys::new();
        let drawn: Vec<[u8; 4]> = (0..200).map(|_| keys.next_key()).collect();
        let distinct: std::collections::HashSet<_> = drawn.iter().collect();
        // 200 draws from 2^32 values: a collision has probability ~5e-6.
        assert!(distinct.len() >= 199);
    }
}
