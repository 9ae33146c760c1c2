//! A write budget shared by many connections: the server-wide cap on unsent output.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes of unsent output shared by many connections. While the total is over the
/// limit, a connection must write out its own queued output before it may queue more,
/// so the total stays under the limit plus one message per connection.
///
/// ```
/// let budget = wsock::WriteBudget::new(64 << 20);
/// assert_eq!(budget.queued(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct WriteBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: usize,
    queued: AtomicUsize,
}

impl WriteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                queued: AtomicUsize::new(0),
            }),
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes queued but not yet written, over all connections sharing this budget.
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::Relaxed)
    }

    pub(crate) fn is_spent(&self) -> bool {
        self.queued() >= self.inner.limit
    }

    /// Moves this connection's share from `before` to `now` bytes.
    pub(crate) fn update(&self, before: usize, now: usize) {
        if now > before {
            self.inner.queued.fetch_add(now - before, Ordering::Relaxed);
        } else if before > now {
            self.inner.queued.fetch_sub(before - now, Ordering::Relaxed);
        }
    }
}
