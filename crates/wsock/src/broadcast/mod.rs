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

//!
//! ## History and recovery
//!
//! Every message published to a room gets a [`Position`]: an offset within an epoch.
//! With [`HubBuilder::history`], a hub keeps each room's recent messages, and a member
//! that comes back with the last position it saw ([`Hub::join_from`]) first receives
//! exactly the messages after it, in order, then the live ones: no gap and no
//! duplicate at the seam. When those messages are gone (trimmed, or a new epoch because
//! the history was lost), the member receives [`Received::Gap`] instead, and the
//! application decides what to do. A member skipped as slow ([`SlowConsumer::Skip`])
//! is told the same way, before the next message it gets.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use wsock::broadcast::{Hub, HistoryOptions, Received};
//! use wsock::Message;
//!
//! let hub = Hub::builder().history(HistoryOptions::default()).build();
//! let mut first = hub.join("news");
//! hub.publish("news", Message::text("one"));
//! let Received::Message(_) = first.recv().await else { unreachable!() };
//! let seen = first.position().expect("a position");
//! drop(first); // the connection drops...
//! hub.publish("news", Message::text("two"));
//! hub.publish("news", Message::text("three"));
//! // ...and comes back with the last position it saw.
//! let mut again = hub.join_from("news", seen).await;
//! for expected in ["two", "three"] {
//!     let Received::Message(message) = again.recv().await else { unreachable!() };
//!     assert_eq!(message.message().as_text(), Some(expected));
//! }
//! # }
//! ```
//!
//! ## Across nodes
//!
//! With a [`Backplane`] ([`HubBuilder::backplane`]; wsock ships
//! `RedisBackplane` behind the `redis` feature), rooms span every node using it:
//! positions and history live in the backplane, every node delivers a room's messages
//! in the same order, and a member may come back on any node. Live fan-out on each node
//! stays as above: one encoding per message, shared by every local member.

mod backplane;
mod history;
#[cfg(feature = "redis")]
mod redis;
mod room;
mod subscription;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;
use wsock_proto::{CloseCode, Message, PreparedMessage};

use crate::metrics;

pub use backplane::{Backplane, BoxFuture, Inbound, Replay};
pub use history::{BadPosition, HistoryOptions, Position};
#[cfg(feature = "redis")]
pub use redis::{RedisBackplane, RedisOptions};
pub use subscription::{Received, Subscription};

use history::{new_epoch, Recovery};
use room::{Eviction, Member, Room, Rooms};

/// What to do with a member whose queue is full when a message arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Skip it for this message; it stays in the room, gets later ones, and is told
    /// with [`Received::Gap`] before the next one.
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
    /// Live messages held for a member coming back through a backplane
    /// ([`Hub::join_from`]) while the messages it missed are fetched: it cannot read
    /// its queue before then, so it only counts as slow past this many (their bytes
    /// count against `queue_bytes` as usual). Default 4,096.
    pub held_while_replaying: usize,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            queue_bytes: 4 << 20,
            slow_consumer: SlowConsumer::Disconnect(CloseCode::TRY_AGAIN_LATER),
            held_while_replaying: 4096,
        }
    }
}

/// A message on its way to a room's members, as the [render hook](HubBuilder::render)
/// sees it.
#[derive(Clone, Copy, Debug)]
pub struct Publication<'a> {
    /// The room it was published to.
    pub room: &'a str,
    /// Its place in the room's history; `None` when it reaches this node's members
    /// only (the backplane was unreachable).
    pub position: Option<Position>,
    /// The message as published (by this node or, through a backplane, any node).
    pub message: &'a Message,
}

/// The render hook: what members receive for a publication, or `None` to drop it.
type Render = dyn Fn(Publication<'_>) -> Option<Message> + Send + Sync;
/// What a hub does with a signal from another node: (node, room, payload).
type OnSignal = dyn Fn(&str, &str, bytes::Bytes) + Send + Sync;

/// Rooms of members; cheap to clone (clones share the rooms).
#[derive(Clone, Debug, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    rooms: Mutex<Rooms>,
    next_id: AtomicU64,
    options: HubOptions,
    history: Option<HistoryOptions>,
    backplane: Option<Arc<dyn Backplane>>,
    render: Option<Box<Render>>,
    on_signal: Option<Box<OnSignal>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("options", &self.options)
            .field("history", &self.history)
            .field("backplane", &self.backplane)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Hub`] with history, a backplane or a render hook; see [`Hub::builder`].
#[derive(Default)]
#[must_use]
pub struct HubBuilder {
    inner: Inner,
}

impl fmt::Debug for HubBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl HubBuilder {
    /// How members are treated.
    pub fn options(mut self, options: HubOptions) -> Self {
        self.inner.options = options;
        self
    }

    /// Keeps each room's recent messages for members that come back
    /// ([`Hub::join_from`]). Without a backplane they are kept in memory; with one, the
    /// backplane keeps them (and takes its bounds from its own options).
    pub fn history(mut self, history: HistoryOptions) -> Self {
        self.inner.history = Some(history);
        self
    }

    /// Shares rooms with every node using `backplane`.
    pub fn backplane(mut self, backplane: impl Backplane) -> Self {
        self.inner.backplane = Some(Arc::new(backplane));
        self
    }

    /// Turns each publication into what members receive, once per message per node
    /// (and per message replayed to a returning member), or drops it with `None`. This
    /// is where an application checks what arrives through a backplane (anyone who
    /// can write to the backplane can publish) and writes a message's position into
    /// it. Without a hook, members receive the message as published.
    pub fn render(
        mut self,
        render: impl Fn(Publication<'_>) -> Option<Message> + Send + Sync + 'static,
    ) -> Self {
        self.inner.render = Some(Box::new(render));
        self
    }

    /// Hears [`Hub::signal`]s from other nodes: `(node, room, payload)`.
    pub fn on_signal(
        mut self,
        on_signal: impl Fn(&str, &str, bytes::Bytes) + Send + Sync + 'static,
    ) -> Self {
        self.inner.on_signal = Some(Box::new(on_signal));
        self
    }

    /// The hub; a backplane starts relaying now (call it within a tokio runtime).
    pub fn build(self) -> Hub {
        let hub = Hub {
            inner: Arc::new(self.inner),
        };
        if let Some(backplane) = &hub.inner.backplane {
            backplane.start(Inbound {
                hub: Arc::downgrade(&hub.inner),
            });
        }
        hub
    }
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
    /// Its place in the room's history (without a backplane).
    pub position: Option<Position>,
    /// Handed to the backplane: this node's members get it when it comes back, with
    /// its position, so the counts above are zero.
    pub relayed: bool,
}

impl Hub {
    /// A hub with `options`, in this process only and without history.
    pub fn new(options: HubOptions) -> Self {
        Self::builder().options(options).build()
    }

    /// A hub with history, a backplane or a render hook:
    ///
    /// ```
    /// use wsock::broadcast::{Hub, HistoryOptions};
    ///
    /// let hub = Hub::builder().history(HistoryOptions::default()).build();
    /// assert_eq!(hub.members("lobby"), 0);
    /// ```
    pub fn builder() -> HubBuilder {
        HubBuilder::default()
    }

    /// Joins `room` (made on first use); the member leaves when the returned
    /// [`Subscription`] is dropped. It receives what is published from now on.
    pub fn join(&self, room: &str) -> Subscription {
        self.join_inner(room, None).0
    }

    /// Joins `room` as a member coming back: it first receives every message after
    /// `since` (the last position it saw), then the live ones, with no gap and no
    /// duplicate between them; or [`Received::Gap`] first when some of those messages
    /// are gone.
    pub async fn join_from(&self, room: &str, since: Position) -> Subscription {
        let (mut member, recovery) = self.join_inner(room, Some(since));
        let recovery = match (recovery, &self.inner.backplane) {
            (Some(recovery), _) => recovery,
            // Live messages are held for the member meanwhile (see `join_inner`).
            (None, Some(backplane)) => match backplane.replay(room, since).await {
                Replay::Messages(messages) => Recovery::Messages(
                    messages
                        .into_iter()
                        .filter_map(|(position, message)| {
                            let prepared = self.prepare(room, Some(position), message)?;
                            Some((position, prepared))
                        })
                        .collect(),
                ),
                Replay::Lost(why) => Recovery::Lost(why.into()),
            },
            (None, None) => Recovery::Lost("the hub keeps no history".into()),
        };
        member.recovered(since, recovery);
        // Under the rooms' lock, so that later messages go to the queue behind these.
        let held = self.rooms().map.get_mut(room).and_then(|state| {
            let hub_side = state.members.get_mut(&member.id())?;
            hub_side.held_live.take()
        });
        member.then_held(held.unwrap_or_default());
        member
    }

    /// Adds a member; without a backplane, its recovery from `since` is decided under
    /// the same lock, so no message slips between the history and the live queue.
    fn join_inner(&self, room: &str, since: Option<Position>) -> (Subscription, Option<Recovery>) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, receiver) = mpsc::channel(self.inner.options.queue_capacity.max(1));
        let eviction = Arc::new(Eviction::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let local = self.inner.backplane.is_none();
        // A backplane's replay is awaited outside the lock; live messages wait for it.
        let held_live = (since.is_some() && !local).then(VecDeque::new);
        let member = Member {
            queue,
            queued: queued.clone(),
            eviction: eviction.clone(),
            missed: false,
            held_live,
        };
        let mut rooms = self.rooms();
        let state = rooms.map.entry(room.to_owned()).or_insert_with(|| Room {
            // Without a backplane this hub numbers the room's messages itself.
            last: local.then(|| Position {
                epoch: new_epoch(),
                offset: 0,
            }),
            history: (local && self.inner.history.is_some()).then(Default::default),
            ..Room::default()
        });
        let new_room = state.members.is_empty();
        state.members.insert(id, member);
        state.emptied = None;
        let last = state.last;
        let recovery = match (since, local, state.history.is_some(), &self.inner.history) {
            (Some(since), true, true, Some(options)) => rooms.in_history(room, |history| {
                history.after(since, last, options, Instant::now())
            }),
            (Some(since), true, _, _) if Some(since) == last => {
                Some(Recovery::Messages(Vec::new()))
            }
            (Some(_), true, _, _) => Some(Recovery::Lost("the hub keeps no history".into())),
            _ => None,
        };
        drop(rooms);
        metrics::rooms_changed(if new_room { 1.0 } else { 0.0 }, 1.0);
        let subscription = Subscription::new(
            self.clone(),
            room.to_owned(),
            id,
            receiver,
            queued,
            eviction,
            last,
        );
        (subscription, recovery)
    }

    /// Sends `message` to every member of `room`, encoding it once. Members of one
    /// room see messages in the order they were published. With a backplane, the
    /// message goes to every node, this one included, and members here get it when it
    /// comes back.
    pub fn publish(&self, room: &str, message: Message) -> Published {
        if let Some(backplane) = &self.inner.backplane {
            return match backplane.publish(room, message) {
                Ok(()) => Published {
                    relayed: true,
                    ..Published::default()
                },
                Err(message) => self.deliver_unpositioned(room, message),
            };
        }
        self.publish_numbered(room, |position| self.prepare(room, position, message))
    }

    /// Sends an already prepared message to every member of `room` (through the
    /// backplane, if there is one, and the render hook, if there is one).
    pub fn publish_prepared(&self, room: &str, prepared: &PreparedMessage) -> Published {
        if self.inner.backplane.is_some() || self.inner.render.is_some() {
            return self.publish(room, prepared.message().clone());
        }
        self.publish_numbered(room, |_| Some(prepared.clone()))
    }

    /// Without a backplane: gives the message `room`'s next position, keeps it in the
    /// room's history and fans it out, all under the rooms' lock.
    fn publish_numbered(
        &self,
        room: &str,
        prepare: impl FnOnce(Option<Position>) -> Option<PreparedMessage>,
    ) -> Published {
        let mut rooms = self.rooms();
        let Some(state) = rooms.map.get_mut(room) else {
            return Published::default();
        };
        let position = state.last.map(|last| Position {
            offset: last.offset + 1,
            ..last
        });
        let Some(prepared) = prepare(position) else {
            return Published::default();
        };
        state.last = position;
        if let (Some(options), Some(position)) = (&self.inner.history, position) {
            rooms.keep(room, position, &prepared, options, Instant::now());
        }
        self.fan_out(&mut rooms, room, position, &prepared)
    }

    /// Sends `message` to this node's members of `room` only, outside the room's
    /// history (no position, no render hook): for events each node derives itself,
    /// such as who joined.
    pub fn publish_local(&self, room: &str, message: Message) -> Published {
        match PreparedMessage::new(message) {
            Ok(prepared) => self.fan_out(&mut self.rooms(), room, None, &prepared),
            Err(error) => {
                tracing::warn!(%error, room, "not published");
                Published::default()
            }
        }
    }

    /// Sends `payload` about `room` to the other nodes' [`HubBuilder::on_signal`]
    /// through the backplane (for presence and the like); neither kept nor
    /// positioned, and dropped without a backplane.
    pub fn signal(&self, room: &str, payload: bytes::Bytes) {
        if let Some(backplane) = &self.inner.backplane {
            backplane.signal(room, payload);
        }
    }

    /// The render hook's message for a publication, prepared for sending.
    fn prepare(
        &self,
        room: &str,
        position: Option<Position>,
        message: Message,
    ) -> Option<PreparedMessage> {
        let message = match &self.inner.render {
            Some(render) => render(Publication {
                room,
                position,
                message: &message,
            })?,
            None => message,
        };
        PreparedMessage::new(message)
            .inspect_err(|error| tracing::warn!(%error, room, "not published"))
            .ok()
    }

    /// Fans `prepared` out to `room`'s members and settles the room's bookkeeping,
    /// under the rooms' lock so that every member sees the same order.
    fn fan_out(
        &self,
        rooms: &mut Rooms,
        room: &str,
        position: Option<Position>,
        prepared: &PreparedMessage,
    ) -> Published {
        let Some(state) = rooms.map.get_mut(room) else {
            return Published::default();
        };
        let had_members = !state.members.is_empty();
        let outcome = state.fan_out(room, position, prepared, &self.inner.options);
        let room_gone = had_members && state.members.is_empty();
        if room_gone {
            rooms.emptied(room, self.inner.history.as_ref(), Instant::now());
        }
        metrics::slow_consumers("skipped", outcome.skipped);
        metrics::slow_consumers("disconnected", outcome.disconnected);
        let evicted = outcome.disconnected as f64;
        metrics::rooms_changed(if room_gone { -1.0 } else { 0.0 }, -evicted);
        outcome
    }

    /// A message that reaches this node's members only, without a position.
    fn deliver_unpositioned(&self, room: &str, message: Message) -> Published {
        let mut rooms = self.rooms();
        if !rooms.map.contains_key(room) {
            return Published::default();
        }
        match self.prepare(room, None, message) {
            Some(prepared) => self.fan_out(&mut rooms, room, None, &prepared),
            None => Published::default(),
        }
    }

    /// A message from the backplane at `position`: delivered if it is the room's next
    /// one, dropped if already delivered, and held while the room catches up on the
    /// messages between when it is not.
    fn deliver_positioned(&self, room: &str, position: Position, message: Message) {
        let mut rooms = self.rooms();
        let Some(state) = rooms.map.get_mut(room) else {
            return; // no members here
        };
        if let Some(held) = &mut state.catching_up {
            if held.len() < self.inner.options.queue_capacity.max(1) {
                held.push((position, message));
            } else {
                // Too much arrived while catching up: the catch-up will tell of a gap.
                held.clear();
                state.last = None;
            }
            return;
        }
        if let Some(last) = state.last {
            if last.epoch == position.epoch && !last.covers(position) && !last.followed_by(position)
            {
                state.catching_up = Some(vec![(position, message)]);
                drop(rooms);
                self.catch_up(room.to_owned(), last);
                return;
            }
        }
        self.deliver_next(&mut rooms, room, position, message);
    }

    /// Delivers `message` as `room`'s next one: dropped if already delivered, after
    /// telling the members of a gap if messages before it are missing.
    fn deliver_next(&self, rooms: &mut Rooms, room: &str, position: Position, message: Message) {
        let Some(state) = rooms.map.get_mut(room) else {
            return;
        };
        match state.last {
            Some(last) if last.covers(position) => return,
            Some(last) if !last.followed_by(position) => state.tell_gap(room),
            _ => {}
        }
        state.last = Some(position);
        if let Some(prepared) = self.prepare(room, Some(position), message) {
            self.fan_out(rooms, room, Some(position), &prepared);
        }
    }

    /// Asks the backplane for `room`'s messages after `since`, then delivers them and
    /// what arrived meanwhile, in order, or tells the members of a gap.
    fn catch_up(&self, room: String, since: Position) {
        let Some(backplane) = self.inner.backplane.clone() else {
            return;
        };
        let hub = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let replay = backplane.replay(&room, since).await;
            let Some(inner) = hub.upgrade() else { return };
            let hub = Hub { inner };
            let mut rooms = hub.rooms();
            let Some(state) = rooms.map.get_mut(&room) else {
                return;
            };
            let held = state.catching_up.take().unwrap_or_default();
            let mut next = match replay {
                Replay::Messages(messages) => messages,
                Replay::Lost(why) => {
                    tracing::debug!(room, %since, %why, "could not catch up");
                    state.last = None;
                    Vec::new()
                }
            };
            if state.last.is_none() {
                state.tell_gap(&room);
            }
            next.extend(held);
            for (position, message) in next {
                hub.deliver_next(&mut rooms, &room, position, message);
            }
        });
    }

    /// The backplane is back after a loss: every room that has delivered a position
    /// catches up from it.
    fn catch_up_all(&self) {
        let mut rooms = self.rooms();
        let mut due = Vec::new();
        for (name, state) in &mut rooms.map {
            if let (Some(last), None) = (state.last, &state.catching_up) {
                state.catching_up = Some(Vec::new());
                due.push((name.clone(), last));
            }
        }
        drop(rooms);
        for (room, since) in due {
            self.catch_up(room, since);
        }
    }

    /// Members in `room` now.
    pub fn members(&self, room: &str) -> usize {
        self.rooms()
            .map
            .get(room)
            .map_or(0, |state| state.members.len())
    }

    /// Every room with members, and how many.
    pub fn rooms_and_members(&self) -> Vec<(String, usize)> {
        let mut rooms: Vec<_> = self
            .rooms()
            .map
            .iter()
            .filter(|(_, state)| !state.members.is_empty())
            .map(|(name, state)| (name.clone(), state.members.len()))
            .collect();
        rooms.sort();
        rooms
    }

    fn rooms(&self) -> MutexGuard<'_, Rooms> {
        // A panic elsewhere while holding the lock leaves the map consistent (every
        // change is a single insert or remove), so poisoning is ignored.
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn leave(&self, room: &str, id: u64) {
        let mut rooms = self.rooms();
        let Some(state) = rooms.map.get_mut(room) else {
            return;
        };
        // An evicted member is no longer there, and was counted out when evicted.
        let left = state.members.remove(&id).is_some();
        let room_gone = left && state.members.is_empty();
        if room_gone {
            rooms.emptied(room, self.inner.history.as_ref(), Instant::now());
        }
        drop(rooms);
        let members_gone = if left { -1.0 } else { 0.0 };
        metrics::rooms_changed(if room_gone { -1.0 } else { 0.0 }, members_gone);
    }
}
