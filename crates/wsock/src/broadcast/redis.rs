//! The Redis backplane; see [`RedisBackplane`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use wsock_proto::Message;

use super::backplane::{Backplane, BoxFuture, Inbound, Replay};
use super::history::{new_epoch, HistoryOptions, Position};
use crate::Backoff;

/// Publish: next offset, append, expire, publish. KEYS: meta, stream. ARGV: channel,
/// epoch to start if none, max length, expiry in seconds, body.
const PUBLISH_SCRIPT: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'e', epoch)
  redis.call('DEL', KEYS[2])
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local now = redis.call('TIME')
local ms = now[1] .. string.format('%03d', math.floor(now[2] / 1000))
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], offset .. '-' .. ms, 'b', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[1], epoch .. ' ' .. offset .. ' ' .. ARGV[5])
return offset
";

/// Kinds of body on the channel and in streams.
const TEXT: u8 = b'T';
const BINARY: u8 = b'B';
const SIGNAL: u8 = b'S';
/// Longest node id and room name read from Redis, in bytes.
const MAX_NODE_BYTES: usize = 64;
const MAX_ROOM_BYTES: usize = 1024;

/// How a [`RedisBackplane`] uses Redis.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// Start of every key and of the channel, so that several applications can share
    /// one Redis. Default `wsock`.
    pub prefix: String,
    /// Each room's stream is capped at `history.max_messages` entries (default 1,000),
    /// and its keys expire `history.max_age` (default 5 minutes) after its last message;
    /// an entry older than that is never replayed.
    pub history: HistoryOptions,
    /// Largest message taken from Redis, in bytes: anything longer on the channel or in
    /// a stream is dropped. Default 1 MiB.
    pub max_message_bytes: usize,
    /// Messages waiting to be sent to Redis before publishing gives them back (to be
    /// delivered on this node only). Default 1,024.
    pub queue_capacity: usize,
    /// Bytes waiting to be sent to Redis, likewise. Default 16 MiB.
    pub queue_bytes: usize,
    /// How long a connection attempt may take. Default 2 s.
    pub connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "wsock".to_owned(),
            history: HistoryOptions::default(),
            max_message_bytes: 1 << 20,
            queue_capacity: 1024,
            queue_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// What waits to be sent to Redis.
#[derive(Debug)]
enum Outgoing {
    Publish { room: String, message: Message },
    Signal { room: String, payload: Bytes },
}

impl Outgoing {
    fn weight(&self) -> usize {
        64 + match self {
            Self::Publish { room, message } => room.len() + message.payload().len(),
            Self::Signal { room, payload } => room.len() + payload.len(),
        }
    }
}

/// A [`Backplane`] on Redis (5 or later; the `redis` feature): positions, history and
/// live delivery for rooms across nodes.
///
/// - **Publishing** runs one Lua script per message, atomically: take the room's next
///   offset (`HINCRBY` on the room's meta hash, which also holds its epoch), append the
///   message to the room's stream (`XADD` with the offset as its ID, `MAXLEN` bounding
///   it), refresh both keys' expiry to the history's age, and `PUBLISH` it with its
///   position on one channel every node subscribes to. Messages queued together go in
///   one pipeline.
/// - **Live delivery**: every node, the publisher included, delivers what arrives on the
///   channel, so every node shows a room's messages in the order Redis numbered them.
/// - **Replay** reads the epoch and `XRANGE`s the stream after a position in one
///   `MULTI`. A missing epoch (the keys expired, or Redis lost its data) or a different
///   one means the history was lost; a first entry past the next offset, or older than
///   the history's age, means it was trimmed. Either way the answer is
///   [`Replay::Lost`], never a partial list.
/// - **Losing Redis**: publishing stops at once (messages reach this node's members
///   only), the connection is retried with backoff, and once it is back every room
///   catches up from its stream (see [`Inbound::resume`]).
///
/// Keys: `PREFIX:{ROOM}:meta` (hash: `e` epoch, `o` last offset) and
/// `PREFIX:{ROOM}:stream`; channel `PREFIX:rooms`. The room in braces keeps a room's
/// two keys in one Redis Cluster slot.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wsock::broadcast::{HistoryOptions, Hub, RedisBackplane, RedisOptions};
///
/// let backplane = RedisBackplane::new("redis://127.0.0.1:6379", RedisOptions::default())?;
/// let hub = Hub::builder()
///     .history(HistoryOptions::default())
///     .backplane(backplane)
///     .build();
/// # Ok(()) }
/// ```
pub struct RedisBackplane {
    client: redis::Client,
    node: String,
    options: Arc<RedisOptions>,
    outgoing: mpsc::Sender<Outgoing>,
    /// Bytes in `outgoing`, by [`Outgoing::weight`].
    queued: Arc<AtomicUsize>,
    /// Taken by the relaying task when the hub starts it.
    queue: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    connected: Arc<AtomicBool>,
    /// The command connection while connected, for replays.
    commands: Arc<Mutex<Option<MultiplexedConnection>>>,
}

impl fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("node", &self.node)
            .field("connected", &self.connected.load(Ordering::Relaxed))
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisBackplane {
    /// A backplane on the Redis at `url` (`redis://host:port[/db]`). Fails only on a
    /// malformed URL: an unreachable Redis is retried, with backoff, once a hub starts.
    pub fn new(url: &str, options: RedisOptions) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let (outgoing, queue) = mpsc::channel(options.queue_capacity.max(1));
        Ok(Self {
            client,
            node: format!("{:x}", new_epoch()),
            options: Arc::new(options),
            outgoing,
            queued: Arc::default(),
            queue: Mutex::new(Some(queue)),
            connected: Arc::default(),
            commands: Arc::default(),
        })
    }

    /// This node's id on the channel (random, new at each start).
    pub fn node(&self) -> &str {
        &self.node
    }

    fn enqueue(&self, outgoing: Outgoing) -> Result<(), Outgoing> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(outgoing);
        }
        let weight = outgoing.weight();
        if self.queued.fetch_add(weight, Ordering::AcqRel) + weight > self.options.queue_bytes {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            return Err(outgoing);
        }
        self.outgoing.try_send(outgoing).map_err(|error| {
            self.queued.fetch_sub(weight, Ordering::AcqRel);
            match error {
                mpsc::error::TrySendError::Full(o) | mpsc::error::TrySendError::Closed(o) => o,
            }
        })
    }
}

impl Backplane for RedisBackplane {
    fn start(&self, inbound: Inbound) {
        let Some(queue) = self.queue.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            tracing::warn!("a RedisBackplane serves one hub; it was started twice");
            return;
        };
        let relay = Relay {
            client: self.client.clone(),
            node: self.node.clone(),
            options: self.options.clone(),
            queued: self.queued.clone(),
            connected: self.connected.clone(),
            commands: self.commands.clone(),
            inbound,
        };
        tokio::spawn(relay.run(queue));
    }

    fn publish(&self, room: &str, message: Message) -> Result<(), Message> {
        let outgoing = Outgoing::Publish {
            room: room.to_owned(),
            message,
        };
        self.enqueue(outgoing).map_err(|outgoing| match outgoing {
            Outgoing::Publish { message, .. } => message,
            Outgoing::Signal { .. } => unreachable!("a publication comes back as it went"),
        })
    }

    fn replay(&self, room: &str, since: Position) -> BoxFuture<Replay> {
        let connection = self
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let keys = Keys::new(&self.options.prefix, room);
        let options = self.options.clone();
        let room = room.to_owned();
        Box::pin(async move {
            let Some(mut connection) = connection else {
                return Replay::Lost("Redis is unreachable".into());
            };
            replay(&mut connection, &keys, &room, since, &options)
                .await
                .unwrap_or_else(|error| {
                    Replay::Lost(format!("reading the history failed: {error}"))
                })
        })
    }

    fn signal(&self, room: &str, payload: Bytes) {
        let outgoing = Outgoing::Signal {
            room: room.to_owned(),
            payload,
        };
        if self.enqueue(outgoing).is_err() {
            tracing::debug!(room, "a signal was dropped: Redis is unreachable or behind");
        }
    }
}

/// A room's keys.
struct Keys {
    meta: String,
    stream: String,
}

impl Keys {
    fn new(prefix: &str, room: &str) -> Self {
        Self {
            meta: format!("{prefix}:{{{room}}}:meta"),
            stream: format!("{prefix}:{{{room}}}:stream"),
        }
    }
}

fn channel(prefix: &str) -> String {
    format!("{prefix}:rooms")
}

/// A body on the channel and in streams: kind, node, room, payload.
fn encode_body(kind: u8, node: &str, room: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + node.len() + room.len() + payload.len());
    body.push(kind);
    body.push(node.len() as u8);
    body.extend_from_slice(node.as_bytes());
    body.extend_from_slice(&(room.len() as u16).to_be_bytes());
    body.extend_from_slice(room.as_bytes());
    body.extend_from_slice(payload);
    body
}

/// A checked body; anyone who can write to Redis can write one.
#[derive(Debug, PartialEq)]
struct Body<'a> {
    kind: u8,
    node: &'a str,
    room: &'a str,
    payload: &'a [u8],
}

fn decode_body(body: &[u8], max_message_bytes: usize) -> Result<Body<'_>, String> {
    let truncated = || "truncated".to_owned();
    let (&kind, rest) = body.split_first().ok_or_else(truncated)?;
    let (&node_len, rest) = rest.split_first().ok_or_else(truncated)?;
    let node_len = usize::from(node_len);
    if node_len > MAX_NODE_BYTES || rest.len() < node_len + 2 {
        return Err("a node id that is too long or cut off".into());
    }
    let (node, rest) = rest.split_at(node_len);
    let room_len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let rest = &rest[2..];
    if room_len > MAX_ROOM_BYTES || rest.len() < room_len {
        return Err("a room name that is too long or cut off".into());
    }
    let (room, payload) = rest.split_at(room_len);
    if payload.len() > max_message_bytes {
        return Err(format!(
            "a message of {} bytes, over the limit of {max_message_bytes}",
            payload.len()
        ));
    }
    if ![TEXT, BINARY, SIGNAL].contains(&kind) {
        return Err(format!("an unknown kind {kind}"));
    }
    let node = std::str::from_utf8(node).map_err(|_| "a node id that is not UTF-8")?;
    let room = std::str::from_utf8(room).map_err(|_| "a room name that is not UTF-8")?;
    Ok(Body {
        kind,
        node,
        room,
        payload,
    })
}

/// The message a publication's body carries.
fn message_of(body: &Body<'_>) -> Result<Message, String> {
    match body.kind {
        TEXT => std::str::from_utf8(body.payload)
            .map(|text| Message::text(text.to_owned()))
            .map_err(|_| "a text message that is not UTF-8".to_owned()),
        BINARY => Ok(Message::binary(body.payload.to_vec())),
        _ => Err("a signal where a message belongs".to_owned()),
    }
}

/// A channel message: `EPOCH OFFSET BODY` (`0 0` for signals).
fn split_channel_message(payload: &[u8]) -> Result<(u64, u64, &[u8]), String> {
    let mut parts = payload.splitn(3, |&b| b == b' ');
    let mut number = |what: &str| -> Result<u64, String> {
        let part = parts.next().ok_or_else(|| format!("no {what}"))?;
        std::str::from_utf8(part)
            .ok()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("a {what} that is not a number"))
    };
    let epoch = number("epoch")?;
    let offset = number("offset")?;
    let body = parts.next().ok_or("no body")?;
    Ok((epoch, offset, body))
}

/// Replays `room` after `since`: everything, or [`Replay::Lost`].
async fn replay(
    connection: &mut MultiplexedConnection,
    keys: &Keys,
    room: &str,
    since: Position,
    options: &RedisOptions,
) -> redis::RedisResult<Replay> {
    type Entries = Vec<(String, Vec<(String, Vec<u8>)>)>;
    let first_wanted = since.offset.saturating_add(1);
    let (epoch, last, entries, (seconds, micros)): (Option<u64>, Option<u64>, Entries, (u64, u64)) =
        redis::pipe()
            .atomic()
            .hget(&keys.meta, "e")
            .hget(&keys.meta, "o")
            .cmd("XRANGE")
            .arg(&keys.stream)
            .arg(format!("{first_wanted}-0"))
            .arg("+")
            .arg("COUNT")
            .arg(options.history.max_messages.max(1))
            .cmd("TIME")
            .query_async(connection)
            .await?;
    let now_ms = seconds * 1000 + micros / 1000;
    let lost = |why: &str| Ok(Replay::Lost(why.to_owned()));
    if epoch != Some(since.epoch) {
        return lost("the room's history was lost since (a new epoch)");
    }
    let last = last.unwrap_or(0);
    if since.offset > last {
        return lost("the position is ahead of the room's history");
    }
    let mut messages = Vec::with_capacity(entries.len());
    for (id, fields) in entries {
        let (offset, at_ms) = id
            .split_once('-')
            .and_then(|(offset, ms)| Some((offset.parse::<u64>().ok()?, ms.parse::<u64>().ok()?)))
            .unwrap_or((0, 0));
        if messages.is_empty() {
            if offset != first_wanted {
                return lost("the messages after the position were trimmed");
            }
            let age = Duration::from_millis(now_ms.saturating_sub(at_ms));
            if age > options.history.max_age {
                return lost("the messages after the position are older than the history keeps");
            }
        }
        let position = Position {
            epoch: since.epoch,
            offset,
        };
        let body = fields.iter().find(|(name, _)| name == "b").map(|(_, b)| b);
        match body.ok_or_else(|| "no body".to_owned()).and_then(|body| {
            let body = decode_body(body, options.max_message_bytes)?;
            message_of(&body)
        }) {
            Ok(message) => messages.push((position, message)),
            Err(why) => tracing::debug!(room, %position, %why, "skipped a malformed history entry"),
        }
    }
    if messages.is_empty() && since.offset < last {
        return lost("the messages after the position were trimmed");
    }
    Ok(Replay::Messages(messages))
}

/// The task that owns the Redis connections.
struct Relay {
    client: redis::Client,
    node: String,
    options: Arc<RedisOptions>,
    queued: Arc<AtomicUsize>,
    connected: Arc<AtomicBool>,
    commands: Arc<Mutex<Option<MultiplexedConnection>>>,
    inbound: Inbound,
}

/// Outgoing messages sent to Redis in one pipeline, at most.
const BATCH: usize = 64;

impl Relay {
    async fn run(self, mut queue: mpsc::Receiver<Outgoing>) {
        let script = redis::Script::new(PUBLISH_SCRIPT);
        let channel = channel(&self.options.prefix);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut was_connected = true;
        loop {
            match self.connect(&script, &channel).await {
                Ok((mut commands, mut pubsub)) => {
                    tracing::info!(
                        node = self.node,
                        "connected to Redis; rooms span every node using it"
                    );
                    backoff.reset();
                    was_connected = true;
                    *self.commands.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(commands.clone());
                    self.connected.store(true, Ordering::Release);
                    // Rooms catch up on what they missed while cut off.
                    self.inbound.resume();
                    let mut incoming = pubsub.on_message();
                    let mut batch = Vec::with_capacity(BATCH);
                    loop {
                        tokio::select! {
                            message = incoming.next() => {
                                let Some(message) = message else { break };
                                self.received(message.get_payload_bytes());
                            }
                            count = queue.recv_many(&mut batch, BATCH) => {
                                if count == 0 {
                                    return;
                                }
                                for outgoing in &batch {
                                    self.queued.fetch_sub(outgoing.weight(), Ordering::AcqRel);
                                }
                                let sent = self.send(&mut commands, &script, &channel, &batch).await;
                                if let Err(error) = sent {
                                    tracing::debug!(%error, "publishing to Redis failed");
                                    self.deliver_here(batch.drain(..));
                                    break;
                                }
                                batch.clear();
                            }
                        }
                    }
                    self.connected.store(false, Ordering::Release);
                    *self.commands.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    tracing::warn!(
                        "lost Redis; members on this node still hear each other; reconnecting"
                    );
                }
                Err(error) if was_connected => {
                    tracing::warn!(%error, "Redis unreachable; members on this node still hear each other; retrying with backoff");
                    was_connected = false;
                }
                Err(error) => tracing::debug!(%error, "Redis still unreachable"),
            }
            // What was queued before the loss reaches this node's members.
            let mut stale = Vec::new();
            while let Ok(outgoing) = queue.try_recv() {
                self.queued.fetch_sub(outgoing.weight(), Ordering::AcqRel);
                stale.push(outgoing);
            }
            self.deliver_here(stale.into_iter());
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn connect(
        &self,
        script: &redis::Script,
        channel: &str,
    ) -> redis::RedisResult<(MultiplexedConnection, redis::aio::PubSub)> {
        let timeout = self.options.connect_timeout;
        let timed_out =
            || redis::RedisError::from((redis::ErrorKind::Io, "timed out connecting to Redis"));
        let mut commands =
            tokio::time::timeout(timeout, self.client.get_multiplexed_async_connection())
                .await
                .map_err(|_| timed_out())??;
        let mut pubsub = tokio::time::timeout(timeout, self.client.get_async_pubsub())
            .await
            .map_err(|_| timed_out())??;
        pubsub.subscribe(channel).await?;
        script.prepare_invoke().load_async(&mut commands).await?;
        Ok((commands, pubsub))
    }

    /// Sends a batch in one pipeline: each publication through the script, each signal
    /// with `PUBLISH`.
    async fn send(
        &self,
        commands: &mut MultiplexedConnection,
        script: &redis::Script,
        channel: &str,
        batch: &[Outgoing],
    ) -> redis::RedisResult<()> {
        let history = &self.options.history;
        let expiry = history.max_age.as_secs().max(1);
        let mut pipe = redis::pipe();
        for outgoing in batch {
            match outgoing {
                Outgoing::Publish { room, message } => {
                    let kind = if message.as_text().is_some() {
                        TEXT
                    } else {
                        BINARY
                    };
                    let body = encode_body(kind, &self.node, room, message.payload());
                    let keys = Keys::new(&self.options.prefix, room);
                    let mut invocation = script.prepare_invoke();
                    invocation
                        .key(&keys.meta)
                        .key(&keys.stream)
                        .arg(channel)
                        .arg(new_epoch())
                        .arg(history.max_messages.max(1))
                        .arg(expiry)
                        .arg(body);
                    pipe.invoke_script(&invocation).ignore();
                }
                Outgoing::Signal { room, payload } => {
                    let mut message = b"0 0 ".to_vec();
                    message.extend(encode_body(SIGNAL, &self.node, room, payload));
                    pipe.publish(channel, message).ignore();
                }
            }
        }
        pipe.query_async::<()>(commands).await
    }

    /// Hands a message from the channel to the hub, once checked.
    fn received(&self, payload: &[u8]) {
        let checked = split_channel_message(payload).and_then(|(epoch, offset, body)| {
            let body = decode_body(body, self.options.max_message_bytes)?;
            Ok((epoch, offset, body))
        });
        let (epoch, offset, body) = match checked {
            Ok(checked) => checked,
            Err(why) => {
                tracing::debug!(%why, "dropped a malformed message from the Redis channel");
                return;
            }
        };
        if body.kind == SIGNAL {
            if body.node != self.node {
                self.inbound
                    .signal(body.node, body.room, Bytes::copy_from_slice(body.payload));
            }
            return;
        }
        match message_of(&body) {
            Ok(message) => self
                .inbound
                .deliver(body.room, Position { epoch, offset }, message),
            Err(why) => tracing::debug!(%why, "dropped a malformed message from the Redis channel"),
        }
    }

    /// Publications that did not reach Redis go to this node's members only.
    fn deliver_here(&self, outgoing: impl Iterator<Item = Outgoing>) {
        for outgoing in outgoing {
            if let Outgoing::Publish { room, message } = outgoing {
                self.inbound.deliver_here_only(&room, message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_hostile_ones_are_refused() {
        let body = encode_body(TEXT, "n1", "lobby", b"hi");
        let decoded = decode_body(&body, 1024).unwrap();
        assert_eq!(
            (decoded.node, decoded.room, decoded.payload),
            ("n1", "lobby", &b"hi"[..])
        );
        assert_eq!(message_of(&decoded).unwrap(), Message::text("hi"));
        assert!(decode_body(&body, 1)
            .unwrap_err()
            .contains("over the limit"));
        assert!(decode_body(&body[..5], 1024).is_err());
        assert!(decode_body(&encode_body(b'X', "n", "r", b""), 1024).is_err());
        let not_utf8 = encode_body(TEXT, "n", "r", &[0xff]);
        assert!(message_of(&decode_body(&not_utf8, 1024).unwrap()).is_err());
        let long_node = encode_body(TEXT, &"n".repeat(65), "r", b"");
        assert!(decode_body(&long_node, 1024).is_err());
        let signal = encode_body(SIGNAL, "n", "r", b"x");
        assert!(message_of(&decode_body(&signal, 1024).unwrap()).is_err());
    }

    #[test]
    fn channel_messages_carry_their_position() {
        assert_eq!(
            split_channel_message(b"42 7 body with spaces"),
            Ok((42, 7, &b"body with spaces"[..]))
        );
        assert!(split_channel_message(b"x 7 body").is_err());
        assert!(split_channel_message(b"42 7").is_err());
        assert!(split_channel_message(b"").is_err());
    }
}
