//! Rooms across nodes through Redis Pub/Sub: every node publishes what its members say
//! and its rosters to one channel, and delivers what the other nodes published.
//!
//! Local delivery never waits for Redis. When Redis goes away the relay logs it once,
//! drops what it cannot send (other nodes miss those messages; local members do not),
//! and reconnects with exponential backoff; delivery across nodes resumes on its own.

use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The channel every node shares.
const CHANNEL: &str = "wsock:broadcast";
/// Messages waiting for Redis before new ones are dropped.
const OUTGOING_CAPACITY: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What nodes tell each other.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// The node that published it; a node ignores its own.
    pub node: String,
    pub room: String,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "data", rename_all = "lowercase")]
pub enum Body {
    /// A chat message, as the JSON text sent to browsers.
    Message(String),
    /// The names of the publishing node's members in the room.
    Roster(Vec<String>),
}

/// The sending side of the relay; the task behind it owns the Redis connections.
#[derive(Clone, Debug)]
pub struct Relay {
    outgoing: mpsc::Sender<Envelope>,
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
        tokio::spawn(run(client, node, queue, deliver));
        Ok(Self { outgoing })
    }

    /// Queues `envelope` for the other nodes; dropped if Redis has been unreachable
    /// for long enough to fill the queue.
    pub fn publish(&self, envelope: Envelope) {
        if self.outgoing.try_send(envelope).is_err() {
            tracing::debug!("Redis relay queue full; a message reaches this node only");
        }
    }
}

async fn run(
    client: redis::Client,
    node: String,
    mut queue: mpsc::Receiver<Envelope>,
    deliver: impl Fn(Envelope),
) {
    let mut backoff = Duration::from_millis(100);
    let mut was_connected = true;
    loop {
        match connect(&client).await {
            Ok((mut publisher, mut pubsub)) => {
                tracing::info!("connected to Redis; relaying rooms across nodes");
                backoff = Duration::from_millis(100);
                was_connected = true;
                // Anything queued while cut off is stale by now.
                while queue.try_recv().is_ok() {}
                let mut incoming = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = incoming.next() => {
                            let Some(message) = message else { break };
                            match serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                                Ok(envelope) if envelope.node != node => deliver(envelope),
                                Ok(_) => {}
                                Err(error) => tracing::debug!(%error, "ignoring a malformed relay message"),
                            }
                        }
                        envelope = queue.recv() => {
                            let Some(envelope) = envelope else { return };
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
        let wake = tokio::time::sleep(backoff);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                () = &mut wake => break,
                envelope = queue.recv() => if envelope.is_none() { return },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
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

    #[test]
    fn envelopes_have_a_plain_json_form() {
        let envelope = Envelope {
            node: "n1".into(),
            room: "lobby".into(),
            body: Body::Roster(vec!["alice".into()]),
        };
        let json = serde_json::to_string(&envelope).unwrap();
        assert_eq!(
            json,
            r#"{"node":"n1","room":"lobby","kind":"roster","data":["alice"]}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), envelope);
    }
}
