//! Delays between reconnection attempts.
//!
//! Each failure doubles the delay, up to a cap, and each delay is drawn at random from
//! its upper half ("equal jitter"): when a server restarts, the clients it dropped
//! together come back spread out rather than all in the same millisecond.
//!
//! ```
//! use std::time::Duration;
//! use wsock::Backoff;
//!
//! let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
//! let first = backoff.next_delay();
//! assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
//! let second = backoff.next_delay();
//! assert!(second >= Duration::from_millis(500) && second <= Duration::from_secs(1));
//! assert_eq!(backoff.failures(), 2);
//! backoff.reset(); // after a connection that worked
//! assert_eq!(backoff.failures(), 0);
//! ```

use std::time::Duration;

/// Exponential backoff with jitter; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    failures: u32,
}

impl Default for Backoff {
    /// From 0.5 s up to 30 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

impl Backoff {
    /// Delays starting at `initial` and doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            next: initial,
            failures: 0,
        }
    }

    /// Counts a failure and returns how long to wait before the next attempt: between
    /// half the current step and the whole of it.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        self.failures = self.failures.saturating_add(1);
        step / 2 + step.mul_f64(random_fraction() / 2.0)
    }

    /// Failures since the last [`reset`](Self::reset).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Starts again from the initial delay, after an attempt that succeeded.
    pub fn reset(&mut self) {
        self.next = self.initial;
        self.failures = 0;
    }
}

/// A number in [0, 1].
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    // Jitter only spreads clients out; without the OS's randomness, no jitter is fine.
    if getrandom::getrandom(&mut bytes).is_err() {
        return 1.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stay_in_their_upper_half() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(1000));
        for step in [100, 200, 400, 800, 1000, 1000] {
            let delay = backoff.next_delay();
            assert!(
                delay >= ms(step / 2) && delay <= ms(step),
                "{delay:?} for {step}"
            );
        }
        assert_eq!(backoff.failures(), 6);
        backoff.reset();
        assert!(backoff.next_delay() <= ms(100));
    }

    #[test]
    fn delays_are_spread_out() {
        let mut delays: Vec<Duration> = (0..20).map(|_| Backoff::default().next_delay()).collect();
        delays.dedup();
        assert!(delays.len() > 1, "20 clients would all retry at once");
    }
}
