//! The backplane interface; see [`Backplane`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;

use bytes::Bytes;
use wsock_proto::Message;

use super::history::Position;

/// A future an engine returns; boxed so that [`Backplane`] can be a trait object.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a [`Backplane::replay`] found.
#[derive(Debug)]
pub enum Replay {
    /// Every message after the position asked for, oldest first (possibly none).
    Messages(Vec<(Position, Message)>),
    /// Some of those messages are gone; the text says why, for logs.
    Lost(String),
}

/// An engine that carries a hub's rooms across nodes. wsock ships one, Redis
/// (`RedisBackplane`, cargo feature `redis`); another (NATS
/// JetStream, Kafka, a database) fits by implementing this trait:
///
/// 1. **Order and positions.** [`publish`](Backplane::publish) hands a message over;
///    the engine gives it the room's next [`Position`] (offset + 1 in the room's
///    current epoch) and hands it to every node's [`Inbound::deliver`], *the
///    publishing node's included*, in position order per room. Nodes deliver only
///    what comes back, so every node shows a room's messages in the same order.
/// 2. **History.** [`replay`](Backplane::replay) returns a room's messages after a
///    position, or [`Replay::Lost`] when any of them is gone (trimmed, expired, or a
///    new epoch because the engine lost its data). Never a partial list: the hub relies
///    on "all of them or word that some are lost" to give members no gap.
/// 3. **Losing contact.** While the engine is unreachable, `publish` returns the
///    message and the hub delivers it to this node's members only. Once contact is
///    back the engine calls [`Inbound::resume`]; the hub then replays what each room
///    missed, or tells its members that messages were lost.
/// 4. **Signals** ([`signal`](Backplane::signal)): small notes to the other nodes,
///    neither kept nor positioned, for presence and the like. Optional.
///
/// Everything an engine delivers may come from anyone who can write to it: the hub
/// passes it through the application's [render hook](super::HubBuilder::render)
/// before any member sees it.
///
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// Called once, by [`HubBuilder::build`](super::HubBuilder::build): from now on the
    /// engine hands everything it receives to `inbound`.
    fn start(&self, inbound: Inbound);

    /// Relays `message`, published to `room`, to every node (this one included);
    /// gives it back when that cannot be done now (the engine is unreachable, or its
    /// queue is full), and the hub then delivers it to this node's members only.
    fn publish(&self, room: &str, message: Message) -> Result<(), Message>;

    /// The messages of `room` after `since`, or [`Replay::Lost`].
    fn replay(&self, room: &str, since: Position) -> BoxFuture<Replay>;

    /// Sends `payload` about `room` to the other nodes' [`Inbound::signal`], not kept.
    /// Dropped by engines that have no signals.
    fn signal(&self, room: &str, payload: Bytes) {
        let _ = (room, payload);
    }
}

/// Where an engine hands what it receives: the hub, if it still exists.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub(super) hub: Weak<super::Inner>,
}

impl Inbound {
    /// A message of `room` at `position`, from any node (this one included).
    pub fn deliver(&self, room: &str, position: Position, message: Message) {
        if let Some(hub) = self.hub.upgrade() {
            super::Hub { inner: hub }.deliver_positioned(room, position, message);
        }
    }

    /// A message this node published that the engine could not relay after all: it
    /// goes to this node's members without a position.
    pub fn deliver_here_only(&self, room: &str, message: Message) {
        if let Some(hub) = self.hub.upgrade() {
            super::Hub { inner: hub }.deliver_unpositioned(room, message);
        }
    }

    /// Contact with the engine is back after a loss: rooms catch up on what they
    /// missed meanwhile.
    pub fn resume(&self) {
        if let Some(hub) = self.hub.upgrade() {
            super::Hub { inner: hub }.catch_up_all();
        }
    }

    /// A signal about `room` from the node named `node`.
    pub fn signal(&self, node: &str, room: &str, payload: Bytes) {
        if let Some(hub) = self.hub.upgrade() {
            if let Some(on_signal) = &hub.on_signal {
                on_signal(node, room, payload);
            }
        }
    }
}
