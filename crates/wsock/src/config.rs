use std::time::Duration;

use wsock_proto::{Keepalive, Limits};

/// Settings of an open connection, shared by servers and clients.
///
/// ```
/// use std::time::Duration;
/// let config = wsock::Config::default().close_timeout(Duration::from_secs(2));
/// assert_eq!(config.limits().max_message_size, 64 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) limits: Limits,
    pub(crate) close_timeout: Duration,
    pub(crate) write_buffer_limit: usize,
    pub(crate) keepalive: Keepalive,
    pub(crate) write_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            close_timeout: Duration::from_secs(5),
            write_buffer_limit: 1 << 20,
            keepalive: Keepalive::default(),
            write_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl Config {
    /// Caps on frames, messages and handshake heads (see [`Limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How long the closing handshake may take before the transport is dropped.
    /// Default 5 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Keepalive pings and the idle timeout (all off by default). They run while the
    /// connection is being read (`recv`, or the reading half).
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut keepalive = wsock::Keepalive::default();
    /// keepalive.ping_interval = Some(Duration::from_secs(20));
    /// keepalive.idle_timeout = Some(Duration::from_secs(300));
    /// let config = wsock::Config::default().keepalive(keepalive);
    /// ```
    pub fn keepalive(mut self, keepalive: Keepalive) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// How long output may wait for a peer that takes none of it before the
    /// connection is dropped with [`Error::Timeout`](crate::Error::Timeout). Any
    /// progress restarts the clock, so a slow reader is fine and only a stuck one is cut
    /// off. Default 30 s; `None` waits forever.
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Bytes of unsent output above which sending waits for the socket, and reading
    /// pauses until the peer takes what we owe it (answers to its pings, say).
    /// Default 1 MiB.
    pub fn write_buffer_limit(mut self, bytes: usize) -> Self {
        self.write_buffer_limit = bytes;
        self
    }
}
