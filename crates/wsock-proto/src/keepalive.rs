//! Keepalive pings and the idle timeout, with time passed in (as quinn-proto does) so
//! that they are tested without sleeping.

use std::time::{Duration, Instant};

/// When to ping a quiet peer, how long to wait for a sign of life, and when to give up
/// on a connection that says nothing. Everything is off by default.
///
/// ```
/// use std::time::Duration;
/// let mut keepalive = wsock_proto::Keepalive::default();
/// keepalive.ping_interval = Some(Duration::from_secs(20));
/// assert_eq!(keepalive.pong_timeout, Duration::from_secs(20));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// Send a ping after this long without receiving anything.
    pub ping_interval: Option<Duration>,
    /// Fail the connection (1011) when nothing arrives this long after a keepalive
    /// ping. Default 20 s.
    pub pong_timeout: Duration,
    /// Fail the connection (1001) after this long without receiving anything.
    pub idle_timeout: Option<Duration>,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self {
            ping_interval: None,
            pong_timeout: Duration::from_secs(20),
            idle_timeout: None,
        }
    }
}

/// What the timer asks the connection to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    Nothing,
    Ping,
    PongMissing,
    Idle,
}

/// The keepalive clock of one connection.
#[derive(Debug, Default)]
pub(crate) struct KeepaliveTimer {
    pub(crate) settings: Keepalive,
    last_heard: Option<Instant>,
    ping_sent: Option<Instant>,
}

impl KeepaliveTimer {
    pub(crate) fn new(settings: Keepalive, now: Instant) -> Self {
        Self {
            settings,
            last_heard: Some(now),
            ping_sent: None,
        }
    }

    /// Something arrived: the peer is alive.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = Some(now);
        self.ping_sent = None;
    }

    pub(crate) fn pinged(&mut self, now: Instant) {
        self.ping_sent = Some(now);
    }

    /// The next instant at which [`due`](Self::due) may have something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let heard = self.last_heard?;
        let idle = self.settings.idle_timeout.map(|t| heard + t);
        let keepalive = match self.ping_sent {
            Some(sent) => Some(sent + self.settings.pong_timeout),
            None => self.settings.ping_interval.map(|t| heard + t),
        };
        idle.into_iter().chain(keepalive).min()
    }

    pub(crate) fn due(&self, now: Instant) -> Due {
        let Some(heard) = self.last_heard else {
            return Due::Nothing;
        };
        if let Some(sent) = self.ping_sent {
            if now >= sent + self.settings.pong_timeout {
                return Due::PongMissing;
            }
        }
        if self.settings.idle_timeout.is_some_and(|t| now >= heard + t) {
            return Due::Idle;
        }
        if self.ping_sent.is_none()
            && self
                .settings
                .ping_interval
                .is_some_and(|t| now >= heard + t)
        {
            return Due::Ping;
        }
        Due::Nothing
    }
}
