//! A client that comes back: [`Client::reconnecting`] yields a new WebSocket after each
//! one ends, waiting a [`Backoff`] delay between attempts, and gives up after a bounded
//! number of failures in a row, as `async for websocket in connect(...)` does in
//! Python's websockets.
//!
//! ```no_run
//! # async fn run() -> wsock::Result<()> {
//! let mut connections = wsock::Client::new("wss://example.com/feed").reconnecting();
//! let mut last_seen = 0u64;
//! loop {
//!     // Ask for what was missed: the server decides what the header means.
//!     let position = last_seen.to_string();
//!     connections.update(|client| client.header("Last-Event-Id", position));
//!     let mut ws = connections.next().await?; // Err once it gives up
//!     while let Ok(Some(message)) = ws.recv().await {
//!         last_seen += 1;
//!         println!("{message:?}");
//!     }
//! }
//! # }
//! ```
//!
//! Against a server whose rooms keep history (a [`Hub`](crate::broadcast::Hub) with
//! [`join_from`](crate::broadcast::Hub::join_from)), the position to hand back is the
//! [`Position`](crate::broadcast::Position) of the last message seen, in whatever form
//! the server's messages carry it (`wsock broadcast` puts it in each line's JSON and
//! takes it back as `?since=`).
//!
//! A connection that stayed open for [`healthy_after`](Reconnecting::healthy_after)
//! (5 s by default) starts the delays again from the shortest; one that dropped sooner
//! counts as a failed attempt, so a server that accepts and closes at once is not
//! hammered. [`max_failures`](Reconnecting::max_failures) (10 by default) failures in a
//! row end it with [`Error::GaveUp`].

use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::dial::Client;
use crate::error::{Error, Result};

/// What a [`Reconnecting`] client tells its [`on_retry`](Reconnecting::on_retry)
/// callback before it waits.
#[derive(Debug)]
pub struct Retry<'a> {
    /// Failures in a row so far, this one included.
    pub failures: u32,
    /// How many it tolerates before giving up.
    pub max_failures: u32,
    /// How long it waits before the next attempt.
    pub delay: Duration,
    /// The failed attempt's error; `None` after a connection that ended (too soon).
    pub error: Option<&'a Error>,
}

/// A [`Client`] that connects again after each connection ends; see the
/// [module docs](self).
pub struct Reconnecting {
    client: Client,
    backoff: Backoff,
    max_failures: u32,
    healthy_after: Duration,
    state: State,
    failures: u32,
    last_error: Option<Error>,
    on_retry: Option<Box<OnRetry>>,
}

/// The callback of [`Reconnecting::on_retry`].
type OnRetry = dyn FnMut(&Retry<'_>) + Send;

#[derive(Clone, Copy, Debug)]
enum State {
    /// Nothing tried yet: the first attempt goes at once.
    Fresh,
    /// The last attempt opened a connection at this instant.
    Connected(Instant),
    /// The last attempt failed.
    Failed,
}

impl std::fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnecting")
            .field("client", &self.client)
            .field("failures", &self.failures)
            .field("max_failures", &self.max_failures)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// This client as one that reconnects after each connection ends; see
    /// [`reconnect`](crate::reconnect).
    pub fn reconnecting(self) -> Reconnecting {
        Reconnecting {
            client: self,
            backoff: Backoff::default(),
            max_failures: 10,
            healthy_after: Duration::from_secs(5),
            state: State::Fresh,
            failures: 0,
            last_error: None,
            on_retry: None,
        }
    }
}

impl Reconnecting {
    /// Failures in a row tolerated before [`next`](Self::next) returns
    /// [`Error::GaveUp`]. Default 10 (about two and a half minutes of the default
    /// backoff).
    pub fn max_failures(mut self, failures: u32) -> Self {
        self.max_failures = failures.max(1);
        self
    }

    /// The delays between attempts. Default: from 0.5 s, doubling up to 30 s, with
    /// jitter.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long a connection must have stayed open for its end not to count as a
    /// failure. Default 5 s.
    pub fn healthy_after(mut self, duration: Duration) -> Self {
        self.healthy_after = duration;
        self
    }

    /// Called before each wait, to log or show it.
    pub fn on_retry(mut self, callback: impl FnMut(&Retry<'_>) + Send + 'static) -> Self {
        self.on_retry = Some(Box::new(callback));
        self
    }

    /// Changes the client for the attempts to come: a header or URL carrying the last
    /// position the application saw, for example.
    pub fn update(&mut self, change: impl FnOnce(Client) -> Client) {
        let client = std::mem::replace(&mut self.client, Client::new(""));
        self.client = change(client);
    }

    /// The client the next attempt uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The next WebSocket: at once the first time, and after a backoff delay once the
    /// previous connection has ended or an attempt has failed.
    pub async fn next(&mut self) -> Result<crate::WebSocket> {
        loop {
            if let Some(delay) = self.before_attempt(Instant::now())? {
                tokio::time::sleep(delay).await;
            }
            let attempt = self.client.clone().connect().await;
            if let Some(ws) = self.after_attempt(attempt, Instant::now()) {
                return Ok(ws);
            }
        }
    }

    /// [`next`](Self::next) for programs without an async runtime.
    pub fn next_blocking(&mut self) -> Result<crate::blocking::Conn> {
        loop {
            if let Some(delay) = self.before_attempt(Instant::now())? {
                std::thread::sleep(delay);
            }
            let attempt = self.client.clone().connect_blocking();
            if let Some(conn) = self.after_attempt(attempt, Instant::now()) {
                return Ok(conn);
            }
        }
    }

    /// How long to wait before the next attempt (`None`: go now), or the error that
    /// ends it all.
    fn before_attempt(&mut self, now: Instant) -> Result<Option<Duration>> {
        match self.state {
            State::Fresh => return Ok(None),
            State::Connected(at) if now.saturating_duration_since(at) >= self.healthy_after => {
                self.backoff.reset();
                self.failures = 0;
                self.last_error = None;
            }
            State::Connected(_) => self.failures += 1,
            State::Failed => {}
        }
        if self.failures >= self.max_failures {
            let last = match self.last_error.take() {
                Some(error) => error.to_string(),
                None => format!(
                    "the connection kept ending within {:?} of opening",
                    self.healthy_after
                ),
            };
            return Err(Error::GaveUp {
                attempts: self.failures,
                last,
            });
        }
        let delay = self.backoff.next_delay();
        if let Some(callback) = &mut self.on_retry {
            callback(&Retry {
                failures: self.failures,
                max_failures: self.max_failures,
                delay,
                error: self.last_error.as_ref(),
            });
        }
        tracing::debug!(?delay, failures = self.failures, "reconnecting");
        Ok(Some(delay))
    }

    /// Records how an attempt went; the connection if it opened.
    fn after_attempt<T>(&mut self, attempt: Result<T>, now: Instant) -> Option<T> {
        match attempt {
            Ok(connection) => {
                self.state = State::Connected(now);
                Some(connection)
            }
            Err(error) => {
                self.state = State::Failed;
                self.failures += 1;
                self.last_error = Some(error);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> Reconnecting {
        let ms = Duration::from_millis;
        Client::new("ws://127.0.0.1:1/")
            .reconnecting()
            .backoff(Backoff::new(ms(100), ms(400)))
            .max_failures(3)
    }

    fn refused() -> Result<()> {
        Err(Error::ConnectionClosed)
    }

    #[test]
    fn the_first_attempt_goes_at_once_and_failures_wait_longer_until_it_gives_up() {
        let mut connections = quick();
        let now = Instant::now();
        assert_eq!(connections.before_attempt(now).unwrap(), None);
        let mut delays = Vec::new();
        for _ in 0..3 {
            assert!(connections.after_attempt(refused(), now).is_none());
            match connections.before_attempt(now) {
                Ok(delay) => delays.push(delay.unwrap()),
                Err(error) => {
                    let text = error.to_string();
                    assert!(text.contains("after 3 failed attempts"), "{text}");
                    assert!(text.contains("closed"), "{text}");
                }
            }
        }
        assert_eq!(delays.len(), 2, "two waits, then it gives up");
        assert!(delays[0] <= Duration::from_millis(100) && delays[1] >= Duration::from_millis(100));
    }

    #[test]
    fn a_healthy_connection_starts_the_delays_again_and_a_short_one_counts_as_failing() {
        let mut connections = quick().healthy_after(Duration::from_secs(5));
        let opened = Instant::now();
        connections.before_attempt(opened).unwrap();
        assert!(connections.after_attempt(refused(), opened).is_none());
        connections.before_attempt(opened).unwrap();
        assert_eq!(connections.after_attempt(Ok(7), opened), Some(7));
        // It lived 10 s: the failure before it is forgiven.
        connections
            .before_attempt(opened + Duration::from_secs(10))
            .unwrap();
        assert_eq!(connections.failures, 0);
        // Three connections that each end at once give up like three failures.
        let mut ended = Ok(None);
        for _ in 0..3 {
            assert_eq!(connections.after_attempt(Ok(1), opened), Some(1));
            ended = connections.before_attempt(opened + Duration::from_millis(10));
        }
        let text = ended.unwrap_err().to_string();
        assert!(text.contains("kept ending within 5s"), "{text}");
    }

    #[test]
    fn on_retry_hears_of_every_wait() {
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = heard.clone();
        let mut connections = quick().on_retry(move |retry| {
            let failed = retry.error.is_some();
            log.lock()
                .unwrap()
                .push((retry.failures, retry.max_failures, failed));
        });
        let now = Instant::now();
        connections.before_attempt(now).unwrap();
        connections.after_attempt(refused(), now);
        connections.before_attempt(now).unwrap();
        assert_eq!(*heard.lock().unwrap(), vec![(1, 3, true)]);
    }
}
