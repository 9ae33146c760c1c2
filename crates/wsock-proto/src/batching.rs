//! When a reply's write may wait for the next replies: the write-batching rule that
//! both shells (tokio and blocking) follow through [`Connection::reply_may_wait`].
//!
//! [`Connection::reply_may_wait`]: crate::Connection::reply_may_wait

/// Unsent output past which a reply is written anyway, unless at least as much input
/// waits behind it (see [`LARGE_BATCH_BYTES`]).
pub(crate) const BATCH_BYTES: usize = 64 << 10;

/// Unsent output up to which large replies keep waiting for the next ones, while at
/// least as many bytes of input wait behind them: the peer is then well ahead, and a
/// write per few replies instead of one each saves system calls on both sides. With
/// less input waiting the replies go at once, so that a peer with a short pipeline is
/// not left with nothing in flight (docs/performance.md, tenth round of issue 17).
pub(crate) const LARGE_BATCH_BYTES: usize = 256 << 10;

/// Whether `queued` bytes of replies may wait while `waiting` bytes of input are
/// buffered, for a connection that may owe its peer at most `write_buffer_limit`.
pub(crate) fn replies_may_wait(queued: usize, waiting: usize, write_buffer_limit: usize) -> bool {
    // No input waiting: the shell's next step is to wait for the peer, so the replies
    // must go now or the peer waits for them.
    waiting > 0
        // A batch is output the peer could already have: never more than the
        // connection may owe it.
        && queued < write_buffer_limit
        && (queued < BATCH_BYTES || (queued < LARGE_BATCH_BYTES && queued <= waiting))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LIMIT: usize = usize::MAX;

    #[test]
    fn replies_go_at_once_when_no_input_waits() {
        assert!(!replies_may_wait(16, 0, NO_LIMIT));
        assert!(replies_may_wait(16, 1, NO_LIMIT));
    }

    #[test]
    fn small_batches_wait_up_to_64_kib_whatever_waits_behind_them() {
        assert!(replies_may_wait(BATCH_BYTES - 1, 1, NO_LIMIT));
        assert!(!replies_may_wait(BATCH_BYTES, 1, NO_LIMIT));
    }

    #[test]
    fn large_batches_wait_up_to_256_kib_while_as_much_input_waits() {
        assert!(replies_may_wait(BATCH_BYTES, BATCH_BYTES, NO_LIMIT));
        assert!(!replies_may_wait(BATCH_BYTES + 1, BATCH_BYTES, NO_LIMIT));
        assert!(replies_may_wait(
            LARGE_BATCH_BYTES - 1,
            LARGE_BATCH_BYTES,
            NO_LIMIT
        ));
        assert!(!replies_may_wait(LARGE_BATCH_BYTES, usize::MAX, NO_LIMIT));
    }

    #[test]
    fn no_batch_reaches_the_write_buffer_limit() {
        assert!(!replies_may_wait(1024, 1, 1024));
        assert!(replies_may_wait(1023, 1, 1024));
        assert!(!replies_may_wait(BATCH_BYTES, BATCH_BYTES, BATCH_BYTES));
    }
}
