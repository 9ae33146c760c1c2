//! A member's side of a room: what it receives, in order, and the loop that runs a
//! WebSocket as a member.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use wsock_proto::{CloseCode, Message, PreparedMessage};

use super::history::{Position, Recovery};
use super::room::{Delivery, Eviction, Item};
use super::Hub;
use crate::error::Result;
use crate::WebSocket;

/// What a member receives next.
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    /// A message published to the room.
    Message(PreparedMessage),
    /// Messages were published that this member will not receive: it came back from
    /// a position whose messages are gone (trimmed, or a new epoch because the history
    /// was lost), it was skipped as slow, or the backplane lost messages. What comes
    /// next is live again.
    Gap,
    /// The member was too slow and has been taken out of the room; its connection
    /// should be closed with this code.
    Disconnected(CloseCode),
}

/// What comes next for a member, without copying the shared delivery.
enum Next {
    Message(Arc<Delivery>),
    Gap,
    Disconnected(CloseCode),
}

/// What [`Subscription::run`] sends the client when it learns of a gap.
type GapNotice = dyn FnMut() -> Option<Message> + Send;

/// Membership of one room: receives what is published there, and leaves when dropped.
pub struct Subscription {
    hub: Hub,
    room: String,
    id: u64,
    receiver: mpsc::Receiver<Item>,
    queued: Arc<AtomicUsize>,
    eviction: Arc<Eviction>,
    /// The position of the last message received, or of the room when joined.
    last: Option<Position>,
    /// Messages recovered on joining, before the live ones.
    replay: VecDeque<Arc<Delivery>>,
    /// Live messages the hub held while the replay was fetched, before the queue's.
    held_live: VecDeque<Item>,
    /// A gap to report before anything else.
    gap_first: bool,
    /// A message received behind a gap, returned after it.
    held: Option<Arc<Delivery>>,
    gap_notice: Option<Box<GapNotice>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("room", &self.room)
            .field("id", &self.id)
            .field("position", &self.last)
            .finish_non_exhaustive()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.leave(&self.room, self.id);
    }
}

impl Subscription {
    pub(super) fn new(
        hub: Hub,
        room: String,
        id: u64,
        receiver: mpsc::Receiver<Item>,
        queued: Arc<AtomicUsize>,
        eviction: Arc<Eviction>,
        joined_at: Option<Position>,
    ) -> Self {
        Self {
            hub,
            room,
            id,
            receiver,
            queued,
            eviction,
            last: joined_at,
            replay: VecDeque::new(),
            held_live: VecDeque::new(),
            gap_first: false,
            held: None,
            gap_notice: None,
        }
    }

    /// Sets what a member coming back from `since` receives before the live messages.
    pub(super) fn recovered(&mut self, since: Position, recovery: Recovery) {
        match recovery {
            Recovery::Messages(messages) => {
                self.last = Some(since);
                self.replay = messages
                    .into_iter()
                    .map(|(position, message)| {
                        Arc::new(Delivery {
                            position: Some(position),
                            message,
                        })
                    })
                    .collect();
            }
            Recovery::Lost(why) => {
                tracing::debug!(room = self.room, %since, %why, "a returning member missed messages");
                self.last = None;
                self.gap_first = true;
            }
        }
    }

    /// Live messages that arrived while the replay was fetched: they come after the
    /// replay (less what it already gave) and before anything in the queue.
    pub(super) fn then_held(&mut self, held: VecDeque<Item>) {
        self.held_live = held;
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The room's name.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The position of the last message received, or, before any, the room's position
    /// when this member joined (when known: a node with a backplane learns it from the
    /// room's first message). A client that keeps it can come back with
    /// [`Hub::join_from`] and miss nothing.
    pub fn position(&self) -> Option<Position> {
        self.last
    }

    /// What [`run`](Self::run) sends the client when this member learns of a
    /// [`Received::Gap`] (`None`: nothing). Without it, a gap is only logged.
    #[must_use]
    pub fn on_gap(mut self, notice: impl FnMut() -> Option<Message> + Send + 'static) -> Self {
        self.gap_notice = Some(Box::new(notice));
        self
    }

    /// The next message for this member, or word of a gap or that it was
    /// disconnected. Messages queued before a disconnection are dropped with it.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Received {
        match self.next().await {
            Next::Message(delivery) => Received::Message(delivery.message.clone()),
            Next::Gap => Received::Gap,
            Next::Disconnected(code) => Received::Disconnected(code),
        }
    }

    /// What [`recv`](Self::recv) returns, with the delivery still shared.
    async fn next(&mut self) -> Next {
        loop {
            if self.eviction.token.is_cancelled() {
                return Next::Disconnected(self.eviction_code());
            }
            if self.gap_first
                || self.held.is_some()
                || !self.replay.is_empty()
                || !self.held_live.is_empty()
            {
                if let Some(next) = self.ready() {
                    return next;
                }
            }
            let item = tokio::select! {
                biased;
                () = self.eviction.token.cancelled() => return Next::Disconnected(self.eviction_code()),
                item = self.receiver.recv() => item,
            };
            match item {
                Some(item) => {
                    if let Some(next) = self.take(item) {
                        return next;
                    }
                }
                // The hub dropped our queue: only when it evicted us.
                None => return Next::Disconnected(self.eviction_code()),
            }
        }
    }

    /// What can be received without waiting.
    fn ready(&mut self) -> Option<Next> {
        if std::mem::take(&mut self.gap_first) {
            return Some(Next::Gap);
        }
        if let Some(delivery) = self.held.take() {
            return Some(Next::Message(delivery));
        }
        if let Some(delivery) = self.replay.pop_front() {
            self.last = delivery.position;
            return Some(Next::Message(delivery));
        }
        loop {
            // What the hub held during the replay comes before the queue.
            let item = match self.held_live.pop_front() {
                Some(item) => item,
                None => self.receiver.try_recv().ok()?,
            };
            if let Some(next) = self.take(item) {
                return Some(next);
            }
        }
    }

    /// `item` left the queue: its bytes no longer count against it, and a message
    /// already received (recovered on joining) is skipped.
    fn take(&mut self, item: Item) -> Option<Next> {
        self.queued.fetch_sub(item.bytes(), Ordering::AcqRel);
        let Item::Message {
            gap_before,
            delivery,
        } = item
        else {
            return Some(Next::Gap);
        };
        if let Some(position) = delivery.position {
            if self.last.is_some_and(|last| last.covers(position)) {
                return None;
            }
            self.last = Some(position);
        }
        if gap_before {
            self.held = Some(delivery);
            return Some(Next::Gap);
        }
        Some(Next::Message(delivery))
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
                next = self.next() => next,
            };
            let code = match received {
                Next::Message(delivery) => {
                    // What else is ready goes out in the same write; a gap ends the
                    // batch and is reported next.
                    let batch =
                        ws.send_prepared_batch(&delivery.message, || match self.ready()? {
                            Next::Message(next) => Some(next),
                            _ => {
                                self.gap_first = true;
                                None
                            }
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
                Next::Gap => {
                    tracing::debug!(room = self.room, "a member missed messages");
                    if let Some(notice) = self.gap_notice.as_mut().and_then(|notice| notice()) {
                        ws.send(notice).await?;
                    }
                    continue;
                }
                Next::Disconnected(code) => code,
            };
            drop(self);
            return ws.close(code, "too slow to keep up with the room").await;
        }
    }
}
