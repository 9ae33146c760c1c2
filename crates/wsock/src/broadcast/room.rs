//! One room on this node: its members, where its history stands, and fan-out.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wsock_proto::{Message, PreparedMessage};

use super::history::{HistoryOptions, MemoryHistory, Position};
use super::{HubOptions, Published, SlowConsumer};

/// One message on its way to a room's members: made once per publication and shared
/// by every member's queue, so that queuing it is one reference count.
#[derive(Debug)]
pub(super) struct Delivery {
    /// Its place in the room's history, if it has one.
    pub position: Option<Position>,
    pub message: PreparedMessage,
}

impl AsRef<PreparedMessage> for Delivery {
    fn as_ref(&self) -> &PreparedMessage {
        &self.message
    }
}

/// What a member's queue carries.
#[derive(Debug)]
pub(super) enum Item {
    /// A message; `gap_before` when the member missed messages just before it (it was
    /// skipped as slow, or the room lost some).
    Message {
        gap_before: bool,
        delivery: Arc<Delivery>,
    },
    /// Messages were lost for the whole room.
    Gap,
}

impl Item {
    pub fn bytes(&self) -> usize {
        match self {
            Self::Message { delivery, .. } => delivery.message.frame().len(),
            Self::Gap => 0,
        }
    }
}

/// How a member learns it was disconnected, even when its queue is full.
#[derive(Debug, Default)]
pub(super) struct Eviction {
    pub token: CancellationToken,
    pub code: AtomicU16,
}

/// The hub's side of one member.
#[derive(Debug)]
pub(super) struct Member {
    pub queue: mpsc::Sender<Item>,
    /// Frame bytes in `queue`, shared with the member's `Subscription`.
    pub queued: Arc<AtomicUsize>,
    pub eviction: Arc<Eviction>,
    /// The member missed something it has not been told of yet.
    pub missed: bool,
    /// While its [`Hub::join_from`](super::Hub::join_from) waits for the backplane's
    /// replay, nobody can read the member's queue, so its live messages wait here
    /// instead, bounded by [`HubOptions::held_while_replaying`].
    pub held_live: Option<VecDeque<Item>>,
}

impl Member {
    /// Queues `item` (or holds it, while the member's replay is fetched) unless that
    /// would put more than `limit` bytes in a queue that already holds some, or more
    /// than `held_limit` messages in the held ones; gives it back when it could not be
    /// queued.
    fn try_queue(
        &mut self,
        item: Item,
        limit: usize,
        held_limit: usize,
    ) -> Result<(), mpsc::error::TrySendError<Item>> {
        let len = item.bytes();
        let queued = self.queued.load(Ordering::Acquire);
        if queued > 0 && queued.saturating_add(len) > limit {
            return Err(mpsc::error::TrySendError::Full(item));
        }
        if let Some(held) = &mut self.held_live {
            // A gap right after a gap says nothing more (and so cannot pile up).
            if matches!((&item, held.back()), (Item::Gap, Some(Item::Gap))) {
                return Ok(());
            }
            if held.len() >= held_limit {
                return Err(mpsc::error::TrySendError::Full(item));
            }
            self.queued.fetch_add(len, Ordering::AcqRel);
            held.push_back(item);
            return Ok(());
        }
        // Counted before it is sent, so the member never subtracts it first.
        self.queued.fetch_add(len, Ordering::AcqRel);
        self.queue.try_send(item).inspect_err(|_| {
            self.queued.fetch_sub(len, Ordering::AcqRel);
        })
    }
}

/// One room.
#[derive(Debug, Default)]
pub(super) struct Room {
    pub members: HashMap<u64, Member>,
    /// The newest position this node has delivered (or, without a backplane,
    /// assigned); `None` until a backplane has delivered one.
    pub last: Option<Position>,
    /// Without a backplane, when history is on.
    pub history: Option<MemoryHistory>,
    /// Deliveries held while the room catches up from the backplane after a gap.
    pub catching_up: Option<Vec<(Position, Message)>>,
    /// When the last member left, for rooms kept for their history.
    pub emptied: Option<Instant>,
}

impl Room {
    /// Sends `message` (at `position`, if any) to every member, applying the slow
    /// member policy.
    pub fn fan_out(
        &mut self,
        name: &str,
        position: Option<Position>,
        message: &PreparedMessage,
        options: &HubOptions,
    ) -> Published {
        let mut outcome = Published {
            position,
            ..Published::default()
        };
        let limit = options.queue_bytes;
        let delivery = Arc::new(Delivery {
            position,
            message: message.clone(),
        });
        self.members.retain(|id, member| {
            let item = Item::Message {
                gap_before: member.missed,
                delivery: delivery.clone(),
            };
            match member.try_queue(item, limit, options.held_while_replaying) {
                Ok(()) => {
                    member.missed = false;
                    outcome.delivered += 1;
                    true
                }
                // The member is leaving; its Subscription's drop removes it.
                Err(mpsc::error::TrySendError::Closed(_)) => true,
                Err(mpsc::error::TrySendError::Full(_)) => match options.slow_consumer {
                    SlowConsumer::Skip => {
                        member.missed = true;
                        outcome.skipped += 1;
                        true
                    }
                    SlowConsumer::Disconnect(code) => {
                        tracing::info!(room = name, member = id, %code, "disconnecting a member that cannot keep up");
                        member.eviction.code.store(code.0, Ordering::Relaxed);
                        member.eviction.token.cancel();
                        outcome.disconnected += 1;
                        false
                    }
                },
            }
        });
        outcome
    }

    /// Tells every member that messages were lost.
    pub fn tell_gap(&mut self, name: &str) {
        tracing::info!(
            room = name,
            "messages were lost for this room; telling its members"
        );
        for member in self.members.values_mut() {
            if member.try_queue(Item::Gap, usize::MAX, usize::MAX).is_err() {
                member.missed = true;
            }
        }
    }
}

/// Every room on this node, and the emptied rooms kept for their history.
#[derive(Debug, Default)]
pub(super) struct Rooms {
    pub map: HashMap<String, Room>,
    /// Rooms emptied while they had history, oldest first.
    idle: VecDeque<(String, Instant)>,
    /// Frame bytes in every room's history together.
    history_bytes: usize,
}

impl Rooms {
    /// Keeps `message` at `position` in `room`'s history (if it has one), within the
    /// room's bounds and the hub's `max_total_bytes`.
    pub fn keep(
        &mut self,
        room: &str,
        position: Position,
        message: &PreparedMessage,
        options: &HistoryOptions,
        now: Instant,
    ) {
        self.in_history(room, |history| {
            history.push(position, message, options, now)
        });
        while self.history_bytes > options.max_total_bytes {
            // Emptied rooms' histories go first, then this room's oldest messages.
            if let Some((idle, _)) = self.idle.pop_front() {
                if self
                    .map
                    .get(&idle)
                    .is_some_and(|state| state.members.is_empty())
                {
                    self.forget(&idle);
                }
                continue;
            }
            if self.in_history(room, MemoryHistory::pop_oldest) != Some(true) {
                break;
            }
        }
    }

    /// Runs `change` on `room`'s history, keeping the byte count.
    pub fn in_history<T>(
        &mut self,
        room: &str,
        change: impl FnOnce(&mut MemoryHistory) -> T,
    ) -> Option<T> {
        let history = self.map.get_mut(room)?.history.as_mut()?;
        let before = history.bytes();
        let outcome = change(history);
        self.history_bytes = self.history_bytes - before + history.bytes();
        Some(outcome)
    }

    /// Removes `room`, uncounting its history.
    fn forget(&mut self, room: &str) {
        if let Some(state) = self.map.remove(room) {
            self.history_bytes -= state.history.map_or(0, |history| history.bytes());
        }
    }

    /// `room` lost its last member: forgets it, or keeps it for its history.
    pub fn emptied(&mut self, room: &str, history: Option<&HistoryOptions>, now: Instant) {
        let Some(state) = self.map.get_mut(room) else {
            return;
        };
        match history {
            Some(_) if state.history.as_ref().is_some_and(|h| !h.is_empty()) => {
                state.emptied = Some(now);
                self.idle.push_back((room.to_owned(), now));
            }
            _ => self.forget(room),
        }
        if let Some(options) = history {
            self.forget_idle(options, now);
        }
    }

    /// Forgets emptied rooms past `max_age`, and the oldest past `max_idle_rooms`.
    pub fn forget_idle(&mut self, options: &HistoryOptions, now: Instant) {
        while let Some((room, at)) = self.idle.front() {
            let expired = now.saturating_duration_since(*at) > options.max_age;
            if !expired && self.idle.len() <= options.max_idle_rooms {
                break;
            }
            let (room, at) = (room.clone(), *at);
            self.idle.pop_front();
            // Still empty since that moment (not rejoined and emptied again later).
            if self
                .map
                .get(&room)
                .is_some_and(|state| state.members.is_empty() && state.emptied == Some(at))
            {
                self.forget(&room);
            }
        }
    }
}
