//! Rooms across nodes through Redis Pub/Sub: every node publishes what its members say
//! and its rosters to one channel, and delivers what the other nodes published.
//!
//! Local delivery never waits for Redis. When Redis goes away the relay logs it once,
//! drops what it cannot send (other nodes miss those messages; local members do not),
//! and reconnects with exponential backoff; delivery across nodes resumes on its own.

use std::time::Duration;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use redis::AsyncCommands;
use tokio::sync::mpsc;
use wsock::Backoff;

use super::envelope::{now_ms, Body, Envelope};

/// The channel every node shares.
const CHANNEL: &str = "wsock:broadcast";
/// Envelopes waiting for Redis before new ones are dropped.
const OUTGOING_CAPACITY: usize = 1024;
/// Bytes of chat text and names waiting for Redis before new envelopes are dropped.
const OUTGOING_BYTES: usize = 16 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection delays: from 100 ms, doubling up to 5 s, with jitter.
fn backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

/// The sending side of the relay; the task behind it owns the Redis connections.
#[derive(Clone, Debug)]
pub struct Relay {
    outgoing: mpsc::Sender<Envelope>,
    /// Bytes in `outgoing`, by [`weight`].
    queued: Arc<AtomicUsize>,
}

/// What an envelope costs in the outgoing queue, near enough: its text and names.
fn weight(envelope: &Envelope) -> usize {
    let body = match &envelope.body {
        Body::Message(line) => line.text.len() + line.user.len(),
        Body::Roster(names) => names.iter().map(|n| n.len() + 3).sum(),
    };
    body + envelope.room.len() + 64
}

/// Counts what is dropped, and logs the 1st, 2nd, 4th, 8th... time: every drop is
/// counted, while a flood of them costs a log line per doubling.
#[derive(Debug, Default)]
pub struct Dropped(AtomicU64);

impl Dropped {
    pub fn count(&self, what: &str, why: &dyn std::fmt::Display) {
        let total = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        if total.is_power_of_two() {
            tracing::warn!(total, %why, "dropped {what}");
        } else {
            tracing::debug!(total, %why, "dropped {what}");
        }
    }

    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Relay {
    /// Starts relaying through the Redis at `url`; `deliver` gets every envelope
    /// another node published. Fails only on a malformed URL: an unreachable Redis is
    /// retried.
    pub fn start(
        url: &str,
        node: String,
        deliver: impl Fn(Envelope) + Send + Sync + 'static,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let (outgoing, queue) = mpsc::channel(OUTGOING_CAPACITY);
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(client, node, queue, queued.clone(), deliver));
        Ok(Self { outgoing, queued })
    }

    /// Queues `envelope` for the other nodes; dropped if Redis has been unreachable
    /// (or slow) for long enough to fill the queue, in envelopes or in bytes.
    pub fn publish(&self, envelope: Envelope) {
        let weight = weight(&envelope);
        if self.queued.fetch_add(weight, Ordering::AcqRel) + weight > OUTGOING_BYTES {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            tracing::debug!("Redis relay queue full (bytes); a message reaches this node only");
            return;
        }
        if self.outgoing.try_send(envelope).is_err() {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            tracing::debug!("Redis relay queue full; a message reaches this node only");
        }
    }
}

/// Takes the next envelope off the outgoing queue, uncounting its bytes.
fn dequeued(envelope: Envelope, queued: &AtomicUsize) -> Envelope {
    queued.fetch_sub(weight(&envelope), Ordering::AcqRel);
    envelope
}

async fn run(
    client: redis::Client,
    node: String,
    mut queue: mpsc::Receiver<Envelope>,
    queued: Arc<AtomicUsize>,
    deliver: impl Fn(Envelope),
) {
    let malformed = Dropped::default();
    let mut backoff = backoff();
    let mut was_connected = true;
    loop {
        match connect(&client).await {
            Ok((mut publisher, mut pubsub)) => {
                tracing::info!("connected to Redis; relaying rooms across nodes");
                backoff.reset();
                was_connected = true;
                // Anything queued while cut off is stale by now.
                while let Ok(stale) = queue.try_recv() {
                    dequeued(stale, &queued);
                }
                let mut incoming = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = incoming.next() => {
                            let Some(message) = message else { break };
                            match Envelope::parse(message.get_payload_bytes()) {
                                Ok(envelope) if envelope.node != node => {
                                    record_lag(&envelope);
                                    deliver(envelope);
                                }
                                Ok(_) => {}
                                Err(why) => malformed.count("a relay message", &why),
                            }
                        }
                        envelope = queue.recv() => {
                            let Some(envelope) = envelope else { return };
                            let envelope = dequeued(envelope, &queued);
                            let payload = serde_json::to_string(&envelope).expect("envelopes serialize");
                            if let Err(error) = publisher.publish::<_, _, ()>(CHANNEL, payload).await {
                                tracing::debug!(%error, "publishing to Redis failed");
                                break;
                            }
                        }
                    }
                }
                tracing::warn!("lost Redis; local delivery continues; reconnecting");
            }
            Err(error) if was_connected => {
                tracing::warn!(%error, "Redis unreachable; local delivery continues; retrying with backoff");
                was_connected = false;
            }
            Err(error) => tracing::debug!(%error, "Redis still unreachable"),
        }
        // Wait, dropping what cannot be sent meanwhile.
        let wake = tokio::time::sleep(backoff.next_delay());
        tokio::pin!(wake);
        loop {
            tokio::select! {
                () = &mut wake => break,
                envelope = queue.recv() => match envelope {
                    Some(envelope) => { dequeued(envelope, &queued); }
                    None => return,
                },
            }
        }
    }
}

/// `wsock_relay_lag_seconds`: from a chat line's time on its node to its arrival here.
/// Nodes' clocks differ by their skew, so the figure is good to that; a line from the
/// future counts as no lag.
fn record_lag(envelope: &Envelope) {
    if let Body::Message(line) = &envelope.body {
        static LAG: std::sync::LazyLock<metrics::Histogram> =
            std::sync::LazyLock::new(|| metrics::histogram!("wsock_relay_lag_seconds"));
        LAG.record(now_ms().saturating_sub(line.time) as f64 / 1000.0);
    }
}

async fn connect(
    client: &redis::Client,
) -> redis::RedisResult<(redis::aio::MultiplexedConnection, redis::aio::PubSub)> {
    let timed_out =
        || redis::RedisError::from((redis::ErrorKind::Io, "timed out connecting to Redis"));
    let publisher =
        tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| timed_out())??;
    let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    pubsub.subscribe(CHANNEL).await?;
    Ok((publisher, pubsub))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast::envelope::Line;

    #[test]
    fn every_drop_is_counted() {
        let dropped = Dropped::default();
        for _ in 0..5 {
            dropped.count("a test message", &"no reason");
        }
        assert_eq!(dropped.total(), 5);
    }

    #[test]
    fn an_envelope_weighs_its_text_and_names() {
        let line = |text: &str| Envelope {
            node: "n".into(),
            room: "lobby".into(),
            body: Body::Message(Line {
                user: "bob".into(),
                text: text.into(),
                time: 0,
            }),
        };
        assert_eq!(weight(&line(&"x".repeat(1000))) - weight(&line("")), 1000);
        let roster = Envelope {
            node: "n".into(),
            room: "lobby".into(),
            body: Body::Roster(vec!["a".repeat(10); 100]),
        };
        assert!(weight(&roster) >= 1000);
    }
}
