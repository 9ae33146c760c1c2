//! Where a message sits in its room ([`Position`]), and the history a hub keeps in
//! memory when it has no backplane.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use wsock_proto::PreparedMessage;

/// Where a message sits in its room's history: its offset (1 for the room's first
/// message, then one more for each) within an epoch. The epoch names one unbroken
/// history: when the history is lost (a node without a backplane restarted, Redis lost
/// its data), the room starts a new epoch, and positions from the old one cannot be
/// recovered.
///
/// Its text form, `EPOCH-OFFSET` with the epoch in hex, is what a client keeps and
/// hands back when it reconnects:
///
/// ```
/// use wsock::broadcast::Position;
///
/// let position = Position { epoch: 0x2a, offset: 7 };
/// assert_eq!(position.to_string(), "2a-7");
/// assert_eq!("2a-7".parse::<Position>(), Ok(position));
/// assert!("7".parse::<Position>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The history this position belongs to.
    pub epoch: u64,
    /// The message's number in that history, from 1.
    pub offset: u64,
}

impl Position {
    /// Whether `next` directly follows this position (same epoch, next offset).
    pub(crate) fn followed_by(self, next: Position) -> bool {
        self.epoch == next.epoch && self.offset.checked_add(1) == Some(next.offset)
    }

    /// Whether `other` is this position or comes before it in the same epoch.
    pub(crate) fn covers(self, other: Position) -> bool {
        self.epoch == other.epoch && other.offset <= self.offset
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.offset)
    }
}

/// Why a text is not a [`Position`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a room position; expected EPOCH-OFFSET, such as 2a-7")]
pub struct BadPosition(String);

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadPosition(text.chars().take(64).collect());
        let (epoch, offset) = text.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| bad())?,
            offset: offset.parse().map_err(|_| bad())?,
        })
    }
}

/// A fresh epoch: random, so that a restarted hub never reuses one.
pub(crate) fn new_epoch() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Without the OS's randomness the clock still differs from one start to the next.
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
    }
    // Never 0, and within JavaScript's exact integers for clients that parse it.
    (u64::from_le_bytes(bytes) >> 11).max(1)
}

/// How much history each room keeps, for members that come back with the last
/// [`Position`] they saw. A message leaves the history when it is older than
/// `max_age` or when it is pushed out by newer ones past `max_messages` or
/// `max_bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryOptions {
    /// Messages kept per room. Default 1,000.
    pub max_messages: usize,
    /// How long a message stays recoverable. Default 5 minutes: long enough for a
    /// network blip or a server restart, short enough that old rooms cost nothing.
    pub max_age: Duration,
    /// Frame bytes kept per room, in memory (a Redis backplane bounds its streams by
    /// `max_messages` and `max_age`). Default 1 MiB.
    pub max_bytes: usize,
    /// Rooms without members whose history is kept (for members coming back); past
    /// this the oldest emptied room forgets its history. Default 1,024.
    pub max_idle_rooms: usize,
    /// Frame bytes kept in memory by all rooms of a hub together: past it, emptied
    /// rooms forget their history first (oldest first), then the room being published
    /// to its oldest messages. Default 64 MiB.
    pub max_total_bytes: usize,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        Self {
            max_messages: 1_000,
            max_age: Duration::from_secs(300),
            max_bytes: 1 << 20,
            max_idle_rooms: 1_024,
            max_total_bytes: 64 << 20,
        }
    }
}

/// One room's history in memory: the newest messages, each with its position.
#[derive(Debug, Default)]
pub(crate) struct MemoryHistory {
    entries: VecDeque<(Position, Instant, PreparedMessage)>,
    bytes: usize,
}

/// What a member coming back with a position gets.
#[derive(Debug)]
pub(crate) enum Recovery {
    /// Everything after the position, oldest first (possibly nothing).
    Messages(Vec<(Position, PreparedMessage)>),
    /// Some of it is gone; the reason is for logs.
    Lost(std::borrow::Cow<'static, str>),
}

impl MemoryHistory {
    /// Keeps `message` at `position`, forgetting what falls outside `options`.
    pub fn push(
        &mut self,
        position: Position,
        message: &PreparedMessage,
        options: &HistoryOptions,
        now: Instant,
    ) {
        self.bytes += message.frame().len();
        self.entries.push_back((position, now, message.clone()));
        while self.entries.len() > options.max_messages || self.bytes > options.max_bytes {
            self.pop_oldest();
        }
        self.expire(options, now);
    }

    /// Forgets the oldest message; false when there was none.
    pub fn pop_oldest(&mut self) -> bool {
        let Some((_, _, message)) = self.entries.pop_front() else {
            return false;
        };
        self.bytes -= message.frame().len();
        true
    }

    /// Frame bytes kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn expire(&mut self, options: &HistoryOptions, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|(_, at, _)| now.saturating_duration_since(*at) > options.max_age)
        {
            self.pop_oldest();
        }
    }

    /// The messages after `since`, given that `last` is the room's newest position.
    pub fn after(
        &mut self,
        since: Position,
        last: Option<Position>,
        options: &HistoryOptions,
        now: Instant,
    ) -> Recovery {
        self.expire(options, now);
        let Some(last) = last else {
            return Recovery::Lost("the room has no history".into());
        };
        if since.epoch != last.epoch {
            return Recovery::Lost("the room's history was lost since (a new epoch)".into());
        }
        if since.offset > last.offset {
            return Recovery::Lost("the position is ahead of the room's history".into());
        }
        if since == last {
            return Recovery::Messages(Vec::new());
        }
        let oldest = self.entries.front().map(|(position, _, _)| *position);
        if oldest.is_none_or(|oldest| oldest.offset > since.offset + 1) {
            return Recovery::Lost("the messages after the position were trimmed".into());
        }
        let skip = (since.offset + 1 - oldest.map_or(0, |o| o.offset)) as usize;
        Recovery::Messages(
            self.entries
                .iter()
                .skip(skip)
                .map(|(position, _, message)| (*position, message.clone()))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsock_proto::Message;

    fn options(max_messages: usize) -> HistoryOptions {
        HistoryOptions {
            max_messages,
            ..HistoryOptions::default()
        }
    }

    fn filled(count: u64, options: &HistoryOptions, now: Instant) -> MemoryHistory {
        let mut history = MemoryHistory::default();
        for offset in 1..=count {
            let message = PreparedMessage::new(Message::text(offset.to_string())).unwrap();
            history.push(Position { epoch: 9, offset }, &message, options, now);
        }
        history
    }

    fn offsets(recovery: Recovery) -> Vec<u64> {
        match recovery {
            Recovery::Messages(messages) => messages.iter().map(|(p, _)| p.offset).collect(),
            Recovery::Lost(why) => panic!("lost: {why}"),
        }
    }

    #[test]
    fn exactly_the_messages_after_the_position_come_back() {
        let now = Instant::now();
        let options = options(10);
        let mut history = filled(25, &options, now);
        let last = Some(Position {
            epoch: 9,
            offset: 25,
        });
        let at = |offset| Position { epoch: 9, offset };
        assert_eq!(
            offsets(history.after(at(20), last, &options, now)),
            [21, 22, 23, 24, 25]
        );
        assert_eq!(
            offsets(history.after(at(15), last, &options, now)).len(),
            10
        );
        assert!(offsets(history.after(at(25), last, &options, now)).is_empty());
        // Offset 15 was the oldest kept; 14 is needed to recover from 13.
        assert!(matches!(
            history.after(at(14), last, &options, now),
            Recovery::Lost(_)
        ));
        assert!(matches!(
            history.after(at(26), last, &options, now),
            Recovery::Lost(_)
        ));
        let other_epoch = Position {
            epoch: 8,
            offset: 24,
        };
        assert!(matches!(
            history.after(other_epoch, last, &options, now),
            Recovery::Lost(_)
        ));
    }

    #[test]
    fn history_is_bounded_by_bytes_and_age() {
        let now = Instant::now();
        let mut options = options(1000);
        options.max_bytes = 30;
        let history = filled(100, &options, now);
        assert!(
            history.bytes <= 30 && history.entries.len() >= 7,
            "{}",
            history.bytes
        );
        let options = HistoryOptions::default();
        let mut history = filled(5, &options, now);
        let later = now + options.max_age + Duration::from_secs(1);
        let last = Some(Position {
            epoch: 9,
            offset: 5,
        });
        let since = Position {
            epoch: 9,
            offset: 2,
        };
        assert!(matches!(
            history.after(since, last, &options, later),
            Recovery::Lost(_)
        ));
        assert!(history.is_empty());
    }
}
