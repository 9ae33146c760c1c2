use std::sync::Arc;
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
    /// Shared with every connection made with this config.
    pub(crate) limits: Arc<Limits>,
    pub(crate) close_timeout: Duration,
    pub(crate) write_buffer_limit: usize,
    pub(crate) keepalive: Keepalive,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) batch_writes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Arc::new(Limits::default()),
            close_timeout: Duration::from_secs(5),
            write_buffer_limit: 1 << 20,
            keepalive: Keepalive::default(),
            write_timeout: Some(Duration::from_secs(30)),
            batch_writes: true,
        }
    }
}

impl Config {
    /// Caps on frames, messages and handshake heads (see [`Limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Arc::new(limits);
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

    /// Whether [`WebSocket::send`](crate::WebSocket::send) (and the blocking
    /// [`Conn::send`](crate::blocking::Conn::send)) may leave a frame queued right
    /// after `recv` returned a message and more input is already buffered; the next
    /// `recv` writes it before it waits. This makes a `recv`/`send` loop issue one
    /// write per batch of messages instead of one per message; a batch goes once it
    /// holds 64 KiB (256 KiB while at least as much input waits behind it), or the
    /// [`write_buffer_limit`](Self::write_buffer_limit) if that is less. A handler
    /// that, between such a send and its next `recv`, waits on something else (a
    /// database, a timer) delays that reply by as long: turn batching off for it.
    /// Default on.
    pub fn batch_writes(mut self, on: bool) -> Self {
        self.batch_writes = on;
        self
    }

    /// After a send queued a message on `core`: whether its write may wait for the
    /// next `recv` (see [`batch_writes`](Self::batch_writes)); both shells ask this.
    pub(crate) fn reply_may_wait(&self, core: &mut wsock_proto::Connection) -> bool {
        // The core is asked first: asking is what ends "right after a recv".
        core.reply_may_wait(self.write_buffer_limit) && self.batch_writes
    }

    /// Bytes of unsent output above which sending waits for the socket, and reading
    /// pauses until the peer takes what we owe it (answers to its pings, say).
    /// Default 1 MiB.
    pub fn write_buffer_limit(mut self, bytes: usize) -> Self {
        self.write_buffer_limit = bytes;
        self
    }
}
