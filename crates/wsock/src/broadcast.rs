//! Rooms of connections and fan-out: one message, encoded once, to everyone in a room.
//!
//! A [`Hub`] holds rooms (topics) by name. A connection [`join`](Hub::join)s a room
//! and gets a [`Subscription`]; [`publish`](Hub::publish) encodes a message once as a
//! [`PreparedMessage`] and hands every member the same shared bytes, so a message to
//! ten thousand connections is encoded once and never copied per receiver.
//!
//! Each member has a queue bounded in messages ([`HubOptions::queue_capacity`]) and
//! in bytes ([`HubOptions::queue_bytes`]). A member whose queue is full when a message
//! comes (a client that reads too slowly, or not at all)
//! is dealt with by the [`SlowConsumer`] policy: it misses that message, or it is
//! disconnected with a close code (1013 "try again later" by default, or 1008). Either
//! way, what a slow client costs is bounded by its queue and the connection's write
//! buffer, and the others are never held up.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> wsock::Result<()> {
//! use wsock::broadcast::Hub;
//! use wsock::{Client, Message, Server};
//!
//! let hub = Hub::default();
//! let server_hub = hub.clone();
//! let server = Server::bind("127.0.0.1:0").await?.route("/chat", move |mut ws| {
//!     let hub = server_hub.clone();
//!     async move {
//!         let member = hub.join("lobby");
//!         // Everything this client says goes to the whole room, itself included.
//!         member.run(&mut ws, |message| { hub.publish("lobby", message); }).await
//!     }
//! });
//! let url = format!("ws://{}/chat", server.local_addr()?);
//! tokio::spawn(server.serve());
//!
//! let mut alice = Client::new(&url).connect().await?;
//! let mut bob = Client::new(&url).connect().await?;
//! while hub.members("lobby") < 2 {
//!     tokio::task::yield_now().await;
//! }
//! alice.send(Message::text("hi all")).await?;
//! assert_eq!(bob.recv().await?, Some(Message::text("hi all")));
//! assert_eq!(alice.recv().await?, Some(Message::text("hi all")));
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wsock_proto::{CloseCode, Message, PreparedMessage};

use crate::error::Result;
use crate::metrics;
use crate::WebSocket;

/// What to do with a member whose queue is full when a message arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Skip it for this message; it stays in the room and gets later ones.
    Skip,
    /// Take it out of the room and close its connection with this code (1013 "try
    /// again later" or 1008 "policy violation" are the usual ones).
    Disconnect(CloseCode),
}

/// How a [`Hub`] treats its members.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubOptions {
    /// Messages a member may have waiting before it counts as slow. Default 256.
    pub queue_capacity: usize,
    /// Bytes of frames a member may have waiting before it counts as slow (a message
    /// larger than this still goes to a member with nothing waiting). The frames are
    /// shared, but a slow member keeps them alive, so this bounds what it pins when
    /// messages are large. Default 4 MiB.
    pub queue_bytes: usize,
    /// What happens to a slow member. Default: disconnect with 1013.
    pub slow_consumer: SlowConsumer,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            queue_bytes: 4 << 20,
            slow_consumer: SlowConsumer::Disconnect(CloseCode::TRY_AGAIN_LATER),
        }
    }
}

/// Rooms of members; cheap to clone (clones share the rooms).
#[derive(Clone, Debug, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: Mutex<HashMap<String, HashMap<u64, Member>>>,
    next_id: AtomicU64,
    options: HubOptions,
}

/// The hub's side of one member.
#[derive(Debug)]
struct Member {
    queue: mpsc::Sender<PreparedMessage>,
    /// Frame bytes in `queue`, shared with the member's [`Subscription`].
    queued: Arc<AtomicUsize>,
    eviction: Arc<Eviction>,
}

impl Member {
    /// Queues `prepared` (of `len` frame bytes) unless that would put more than
    /// `limit` bytes in a queue that already holds some.
    fn try_queue(
        &self,
        prepared: &PreparedMessage,
        len: usize,
        limit: usize,
    ) -> std::result::Result<(), mpsc::error::TrySendError<()>> {
        let queued = self.queued.load(Ordering::Acquire);
        if queued > 0 && queued.saturating_add(len) > limit {
            return Err(mpsc::error::TrySendError::Full(()));
        }
        // Counted before it is sent, so the member never subtracts it first.
        self.queued.fetch_add(len, Ordering::AcqRel);
        self.queue.try_send(prepared.clone()).map_err(|error| {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            match error {
                mpsc::error::TrySendError::Full(_) => mpsc::error::TrySendError::Full(()),
                mpsc::error::TrySendError::Closed(_) => mpsc::error::TrySendError::Closed(()),
            }
        })
    }
}

/// How a member learns it was disconnected, even when its queue is full.
#[derive(Debug, Default)]
struct Eviction {
    token: CancellationToken,
    code: AtomicU16,
}

/// What one [`Hub::publish`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Members the message was queued for.
    pub delivered: usize,
    /// Slow members that missed it ([`SlowConsumer::Skip`]).
    pub skipped: usize,
    /// Slow members disconnected ([`SlowConsumer::Disconnect`]).
    pub disconnected: usize,
}

impl Hub {
    /// A hub with `options`.
    pub fn new(options: HubOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                ..Inner::default()
            }),
        }
    }

    /// Joins `room` (made on first use); the member leaves when the returned
    /// [`Subscription`] is dropped.
    pub fn join(&self, room: &str) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, receiver) = mpsc::channel(self.inner.options.queue_capacity.max(1));
        let eviction = Arc::new(Eviction::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let member = Member {
            queue,
            queued: queued.clone(),
            eviction: eviction.clone(),
        };
        let mut rooms = self.rooms();
        let new_room = !rooms.contains_key(room);
        rooms.entry(room.to_owned()).or_default().insert(id, member);
        drop(rooms);
        metrics::rooms_changed(if new_room { 1.0 } else { 0.0 }, 1.0);
        Subscription {
            hub: self.clone(),
            room: room.to_owned(),
            id,
            receiver,
            queued,
            eviction,
        }
    }

    /// Sends `message` to every member of `room`, encoding it once. Members of one
    /// room see messages in the order they were published.
    pub fn publish(&self, room: &str, message: Message) -> Published {
        match PreparedMessage::new(message) {
            Ok(prepared) => self.publish_prepared(room, &prepared),
            Err(error) => {
                tracing::warn!(%error, room, "not published");
                Published::default()
            }
        }
    }

    /// Sends an already prepared message to every member of `room`.
    pub fn publish_prepared(&self, room: &str, prepared: &PreparedMessage) -> Published {
        let mut outcome = Published::default();
        let mut rooms = self.rooms();
        let Some(members) = rooms.get_mut(room) else {
            return outcome;
        };
        let len = prepared.frame().len();
        let limit = self.inner.options.queue_bytes;
        members.retain(|id, member| match member.try_queue(prepared, len, limit) {
            Ok(()) => {
                outcome.delivered += 1;
                true
            }
            // The member is leaving; its Subscription's drop removes it.
            Err(mpsc::error::TrySendError::Closed(_)) => true,
            Err(mpsc::error::TrySendError::Full(_)) => match self.inner.options.slow_consumer {
                SlowConsumer::Skip => {
                    outcome.skipped += 1;
                    true
                }
                SlowConsumer::Disconnect(code) => {
                    tracing::info!(room, member = id, %code, "disconnecting a member that cannot keep up");
                    member.eviction.code.store(code.0, Ordering::Relaxed);
                    member.eviction.token.cancel();
                    outcome.disconnected += 1;
                    false
                }
            },
        });
        let room_gone = members.is_empty();
        if room_gone {
            rooms.remove(room);
        }
        drop(rooms);
        metrics::slow_consumers("skipped", outcome.skipped);
        metrics::slow_consumers("disconnected", outcome.disconnected);
        let evicted = outcome.disconnected as f64;
        metrics::rooms_changed(if room_gone { -1.0 } else { 0.0 }, -evicted);
        outcome
    }

    /// Members in `room` now.
    pub fn members(&self, room: &str) -> usize {
        self.rooms().get(room).map_or(0, HashMap::len)
    }

    /// Every room with members, and how many.
    pub fn rooms_and_members(&self) -> Vec<(String, usize)> {
        let mut rooms: Vec<_> = self
            .rooms()
            .iter()
            .map(|(name, members)| (name.clone(), members.len()))
            .collect();
        rooms.sort();
        rooms
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<u64, Member>>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every
        // change is a single insert or remove), so poisoning is ignored.
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn leave(&self, room: &str, id: u64) {
        let mut rooms = self.rooms();
        let Some(members) = rooms.get_mut(room) else {
            return; // evicted, with its room emptied
        };
        // An evicted member is no longer there, and was counted out when evicted.
        let left = members.remove(&id).is_some();
        let room_gone = members.is_empty();
        if room_gone {
            rooms.remove(room);
        }
        drop(rooms);
        let members_gone = if left { -1.0 } else { 0.0 };
        metrics::rooms_changed(if room_gone { -1.0 } else { 0.0 }, members_gone);
    }
}

/// What a member receives next.
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    /// A message published to the room.
    Message(PreparedMessage),
    /// The member was too slow and has been taken out of the room; its connection
    /// should be closed with this code.
    Disconnected(CloseCode),
}

/// Membership of one room: receives what is published there, and leaves when dropped.
#[derive(Debug)]
pub struct Subscription {
    hub: Hub,
    room: String,
    id: u64,
    receiver: mpsc::Receiver<PreparedMessage>,
    queued: Arc<AtomicUsize>,
    eviction: Arc<Eviction>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.leave(&self.room, self.id);
    }
}

impl Subscription {
    /// The room's name.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The next message for this member, or word that it was disconnected. Messages
    /// queued before a disconnection are dropped with it. Cancel-safe.
    pub async fn recv(&mut self) -> Received {
        tokio::select! {
            biased;
            () = self.eviction.token.cancelled() => Received::Disconnected(self.eviction_code()),
            message = self.receiver.recv() => match message {
                Some(message) => Received::Message(self.taken(message)),
                // The hub dropped our queue: only when it evicted us.
                None => Received::Disconnected(self.eviction_code()),
            },
        }
    }

    /// `message` left the queue: its bytes no longer count against it.
    fn taken(&self, message: PreparedMessage) -> PreparedMessage {
        self.queued
            .fetch_sub(message.frame().len(), Ordering::AcqRel);
        message
    }

    fn eviction_code(&self) -> CloseCode {
        CloseCode(self.eviction.code.load(Ordering::Relaxed))
    }

    /// Runs `ws` as this member until either side ends it: messages the client sends
    /// go to `on_message` (which typically publishes them), and messages published to
    /// the room are written to the client. A member disconnected for being slow is
    /// closed with the policy's code; if its output is stuck, the close timeout
    /// bounds the wait.
    pub async fn run<S, F>(mut self, ws: &mut WebSocket<S>, mut on_message: F) -> Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        F: FnMut(Message),
    {
        let eviction = self.eviction.clone();
        loop {
            let received = tokio::select! {
                incoming = ws.recv() => match incoming? {
                    Some(message) => {
                        on_message(message);
                        continue;
                    }
                    None => return Ok(()),
                },
                received = self.recv() => received,
            };
            let code = match received {
                Received::Message(message) => {
                    // What else is already queued goes out in the same write.
                    let (receiver, queued) = (&mut self.receiver, &self.queued);
                    let batch = ws.send_prepared_batch(&message, || {
                        let next = receiver.try_recv().ok()?;
                        queued.fetch_sub(next.frame().len(), Ordering::AcqRel);
                        Some(next)
                    });
                    tokio::select! {
                        sent = batch => {
                            sent?;
                            continue;
                        }
                        () = eviction.token.cancelled() => {
                            CloseCode(eviction.code.load(Ordering::Relaxed))
                        }
                    }
                }
                Received::Disconnected(code) => code,
            };
            drop(self);
            return ws.close(code, "too slow to keep up with the room").await;
        }
    }
}
