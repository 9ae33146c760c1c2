//! When a read that came up short inside a frame should be tried again at once,
//! before the connection waits: the rule the tokio shell follows through
//! [`Connection::should_read_again`].
//!
//! [`Connection::should_read_again`]: crate::Connection::should_read_again

/// What a frame may still lack for the rest to count as its tail: at most one TCP
/// segment (1,448 bytes on Ethernet; a 64 KiB frame on loopback, whose segments are
/// 65,483 bytes, lacks 67 after its first). The tail was sent with the bytes that
/// arrived, by the same write, and lands while the reader parses them
/// (docs/performance.md, twelfth round of issue 17).
pub(crate) const FRAME_TAIL_BYTES: usize = 2 << 10;

/// Whether a frame that lacks `missing` bytes lacks only its tail.
pub(crate) fn lacks_only_a_tail(missing: usize) -> bool {
    (1..=FRAME_TAIL_BYTES).contains(&missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_or_less_is_a_tail() {
        assert!(lacks_only_a_tail(67));
        assert!(lacks_only_a_tail(FRAME_TAIL_BYTES));
    }

    #[test]
    fn more_than_a_segment_is_waited_for() {
        assert!(!lacks_only_a_tail(FRAME_TAIL_BYTES + 1));
        assert!(!lacks_only_a_tail(64 << 10));
    }

    #[test]
    fn a_complete_frame_lacks_nothing_to_read_for() {
        assert!(!lacks_only_a_tail(0));
    }
}
