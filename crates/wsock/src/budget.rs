//! Budgets shared by many connections: the server-wide caps on unsent output and on
//! received data held in memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::metrics::{budget_gauge, budget_moved, BudgetGauge};

/// Bytes shared by many connections against one limit. Cheap to clone (clones share
/// the count).
///
/// As a [`WriteBudget`], it counts unsent output: while the total is over the limit, a
/// connection must write out its own queued output before it may queue more, so the
/// total stays under the limit plus one message per connection. As a [`ReadBudget`],
/// it counts received data held in memory (receive buffers and messages in
/// reassembly): while the total is over the limit, a connection that wants to hold
/// more than a little is closed with 1013 (try again later). Each connection's bytes
/// are counted rounded up to 4 KiB, so the count errs on the safe side.
///
/// ```
/// let budget = wsock::WriteBudget::new(64 << 20);
/// assert_eq!(budget.used(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct Budget {
    inner: Arc<Inner>,
}

/// The server-wide cap on unsent output (see [`Budget`]).
pub type WriteBudget = Budget;
/// The server-wide cap on received data held in memory (see [`Budget`]).
pub type ReadBudget = Budget;

#[derive(Debug)]
struct Inner {
    limit: usize,
    used: AtomicUsize,
    /// Where a server's own budgets report their bytes (`wsock_budget_bytes`).
    gauge: BudgetGauge,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                used: AtomicUsize::new(0),
                gauge: BudgetGauge::default(),
            }),
        }
    }

    /// This new budget, reporting its bytes in `wsock_budget_bytes{budget=name}`.
    pub(crate) fn reported_as(mut self, name: &'static str) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.gauge = budget_gauge(name);
        }
        self
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes counted now, over all connections sharing this budget.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Bytes queued but not yet written: [`used`](Self::used), for a write budget.
    pub fn queued(&self) -> usize {
        self.used()
    }

    pub(crate) fn is_spent(&self) -> bool {
        self.used() >= self.inner.limit
    }

    /// Moves one connection's share from `before` to `now` bytes.
    fn update(&self, before: usize, now: usize) {
        if now > before {
            self.inner.used.fetch_add(now - before, Ordering::Relaxed);
            budget_moved(&self.inner.gauge, (now - before) as f64);
        } else if before > now {
            self.inner.used.fetch_sub(before - now, Ordering::Relaxed);
            budget_moved(&self.inner.gauge, -((before - now) as f64));
        }
    }
}

/// What a [`Share`] counts in: a connection's bytes rounded up to a whole number of
/// these. An echo queues a few bytes per message and writes them all at once, and
/// counting each message in the shared total would cost an atomic operation apiece;
/// counted this way, a batch of small messages moves the total twice (up at its first
/// message, down once written). Rounding up keeps the budget on the safe side.
pub(crate) const SHARE_GRANULE: usize = 4 << 10;

/// One connection's share of a [`Budget`]: what it last counted, given back when the
/// share is dropped.
#[derive(Debug)]
pub(crate) struct Share {
    budget: Budget,
    counted: usize,
}

impl Share {
    pub(crate) fn new(budget: Budget, now: usize) -> Self {
        let now = rounded_up(now);
        budget.update(0, now);
        Self {
            budget,
            counted: now,
        }
    }

    /// Counts `now` bytes (rounded up to [`SHARE_GRANULE`]) for this connection instead
    /// of what it counted before.
    pub(crate) fn set(&mut self, now: usize) {
        let now = rounded_up(now);
        self.budget.update(self.counted, now);
        self.counted = now;
    }

    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.update(self.counted, 0);
    }
}

fn rounded_up(bytes: usize) -> usize {
    bytes.div_ceil(SHARE_GRANULE).saturating_mul(SHARE_GRANULE)
}

/// Received data a connection may hold even while its server's read budget is spent:
/// a few reads' worth, so that small messages keep flowing for everyone.
pub(crate) const READ_BUDGET_GRACE: usize = 64 << 10;

/// Brings `share` up to date with the received data `conn` holds, and lets the
/// connection grow only into what the budget has left; fails it (1013) when the budget
/// is spent and it holds more than [`READ_BUDGET_GRACE`]. Both shells call this after
/// every read.
pub(crate) fn account_received(share: &mut Share, conn: &mut wsock_proto::Connection) {
    let held = conn.receive_memory();
    share.set(held);
    let budget = share.budget();
    if held > READ_BUDGET_GRACE && budget.is_spent() {
        tracing::info!(
            held,
            limit = budget.limit(),
            "the server's read budget is spent; closing with 1013"
        );
        conn.fail_with(wsock_proto::ProtocolError::ReadBudgetExhausted);
        share.set(conn.receive_memory());
        return;
    }
    let left = budget.limit().saturating_sub(budget.used());
    conn.set_receive_allowance((held + left).max(READ_BUDGET_GRACE));
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB4: usize = SHARE_GRANULE;

    #[test]
    fn shares_add_up_and_are_given_back_when_dropped() {
        let budget = Budget::new(5 * KIB4);
        let mut a = Share::new(budget.clone(), KIB4);
        let b = Share::new(budget.clone(), 2 * KIB4);
        assert_eq!(budget.used(), 3 * KIB4);
        assert!(!budget.is_spent());
        a.set(3 * KIB4);
        assert!(budget.is_spent());
        a.set(KIB4 / 2);
        assert_eq!(budget.used(), 3 * KIB4);
        drop(b);
        drop(a);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn shares_count_whole_granules_rounded_up() {
        let budget = Budget::new(1 << 20);
        let mut share = Share::new(budget.clone(), 0);
        assert_eq!(budget.used(), 0, "nothing held counts nothing");
        share.set(18);
        assert_eq!(budget.used(), KIB4, "a few bytes count a whole granule");
        share.set(KIB4);
        assert_eq!(budget.used(), KIB4);
        share.set(KIB4 + 1);
        assert_eq!(budget.used(), 2 * KIB4);
        share.set(0);
        assert_eq!(budget.used(), 0);
    }
}
