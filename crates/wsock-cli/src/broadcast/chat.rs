//! The chat rooms: members join a room of the hub, what they say is stamped and
//! published, and everyone sees who is there, across nodes when Redis relays.
//!
//! A chat line is published as a fact (`Line` JSON); every node renders it for its
//! browsers, with its position, in the hub's render hook, which is also where lines
//! from other nodes are checked. A member gets the room's names once, in its welcome,
//! and then `join` and `leave` events: a full list to everyone on every change would
//! cost the square of the room's size. Join and leave events are derived by each node
//! from its presence, so they are published on this node only and kept in no history.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use wsock::broadcast::{HistoryOptions, Hub, Position, Publication, RedisBackplane, RedisOptions};
use wsock::{Message, WebSocket};

use super::envelope::{now_ms, Line, Presence as Note};
use super::names::check_room;
use super::presence::{Change, Presence};

/// How often this node announces its rosters to the others.
const ROSTER_INTERVAL: Duration = Duration::from_secs(2);

pub struct Chat {
    hub: Hub,
    presence: Mutex<Presence>,
    guests: AtomicU64,
    /// Presence notes from other nodes that were malformed or over the bounds on what
    /// they may make us keep.
    refused_rosters: Dropped,
}

impl Chat {
    /// A chat whose rooms span every node using the Redis at `redis`, if given; each
    /// room keeps its recent lines as `history` says (in Redis, or in memory) for
    /// members coming back.
    pub fn new(
        redis: Option<&str>,
        history: HistoryOptions,
    ) -> Result<Arc<Self>, redis::RedisError> {
        let mut options = RedisOptions::default();
        options.history = history.clone();
        let backplane = redis
            .map(|url| RedisBackplane::new(url, options))
            .transpose()?;
        let relayed = backplane.is_some();
        let refused_lines = Arc::new(Dropped::default());
        let chat = Arc::new_cyclic(|chat: &Weak<Chat>| {
            let chat = chat.clone();
            let mut hub = Hub::builder()
                .history(history)
                .render(move |publication| render(publication, &refused_lines))
                .on_signal(move |node, room, payload| {
                    if let Some(chat) = chat.upgrade() {
                        chat.roster_from(node, room, &payload);
                    }
                });
            if let Some(backplane) = backplane {
                hub = hub.backplane(backplane);
            }
            Chat {
                hub: hub.build(),
                presence: Mutex::default(),
                guests: AtomicU64::new(1),
                refused_rosters: Dropped::default(),
            }
        });
        if relayed {
            let chat = Arc::downgrade(&chat);
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(ROSTER_INTERVAL);
                while let Some(chat) = chat.upgrade() {
                    chat.announce_rosters();
                    drop(chat);
                    ticks.tick().await;
                }
            });
        }
        Ok(chat)
    }

    /// A name for a member that gave none.
    pub fn guest_name(&self) -> String {
        format!("guest-{}", self.guests.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs one member's connection until it closes. `wanted` is the name asked for;
    /// the member gets it, or a numbered one if it is taken in the room. A member
    /// coming back `since` a position first gets the lines it missed, or a `gap` event.
    pub async fn serve(
        self: &Arc<Self>,
        mut ws: WebSocket,
        room: String,
        wanted: String,
        since: Option<Position>,
    ) -> wsock::Result<()> {
        // Joined before the names are read, so no change after them is missed.
        let member = match since {
            Some(since) => self.hub.join_from(&room, since).await,
            None => self.hub.join(&room),
        };
        let (name, names) = {
            let mut presence = self.presence();
            let (name, changes) = presence.claim(&room, &wanted);
            let names = presence.names(&room);
            drop(presence);
            self.tell(&room, changes);
            (name, names)
        };
        self.note(&room, &Note::Joined(name.clone()));
        let mut welcome = json!({"type": "welcome", "user": name, "room": room, "users": names});
        if let Some(position) = member.position() {
            welcome["position"] = position.to_string().into();
        }
        ws.send(Message::text(welcome.to_string())).await?;
        let chat = Arc::downgrade(self);
        let gap_room = room.clone();
        let member = member.on_gap(move || {
            // Missed lines are gone; the page says so and takes the roster afresh.
            let users = chat.upgrade()?.presence().names(&gap_room);
            Some(Message::text(
                json!({"type": "gap", "users": users}).to_string(),
            ))
        });
        let result = member
            .run(&mut ws, |message| self.said(&room, &name, message))
            .await;
        let changes = self.presence().leave(&room, &name);
        self.tell(&room, changes);
        self.note(&room, &Note::Left(name));
        result
    }

    /// Stamps and publishes what `name` said; binary messages are not chat.
    fn said(&self, room: &str, name: &str, message: Message) {
        let Some(text) = message.as_text() else {
            return;
        };
        let line = Line {
            user: name.to_owned(),
            text: text.to_owned(),
            time: now_ms(),
        };
        let line = serde_json::to_string(&line).expect("lines serialize");
        self.hub.publish(room, Message::text(line));
    }

    /// Takes another node's presence note about `room`, once checked: a join or a
    /// leave costs O(log n), a whole roster (every 2 s) O(roster).
    fn roster_from(&self, node: &str, room: &str, payload: &[u8]) {
        let note = match check_room(room).and_then(|()| Note::parse(payload)) {
            Ok(note) => note,
            Err(why) => return self.refused_rosters.count("a presence note", &why),
        };
        let now = Instant::now();
        let mut presence = self.presence();
        let changed = match note {
            Note::Roster(names) => presence.announce(node, room, names, now),
            Note::Joined(name) => presence.remote_change(node, room, &name, true, now),
            Note::Left(name) => presence.remote_change(node, room, &name, false, now),
        };
        drop(presence);
        match changed {
            Ok(changes) => self.tell(room, changes),
            Err(why) => self.refused_rosters.count("a presence note", &why),
        }
    }

    /// Tells this node's members of `room` who joined and who left.
    fn tell(&self, room: &str, changes: Vec<Change>) {
        for change in changes {
            let (kind, user) = match change {
                Change::Joined(user) => ("join", user),
                Change::Left(user) => ("leave", user),
            };
            let event = json!({"type": kind, "user": user}).to_string();
            self.hub.publish_local(room, Message::text(event));
        }
    }

    /// Tells the other nodes something about this node's members in `room`.
    fn note(&self, room: &str, note: &Note) {
        let note = serde_json::to_vec(note).expect("notes serialize");
        self.hub.signal(room, Bytes::from(note));
    }

    /// Repeats this node's rosters, so that nodes (re)joining learn them and stale
    /// ones expire; and forgets nodes that stopped announcing.
    fn announce_rosters(&self) {
        let rooms = self.presence().local_rooms();
        for room in &rooms {
            let names = self.presence().local_names(room);
            self.note(room, &Note::Roster(names));
        }
        let expired = self.presence().expire(Instant::now());
        for (room, change) in expired {
            self.tell(&room, vec![change]);
        }
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The browser's JSON for a chat line (with its position when it has one), from a
/// line published on this node or any other; `None` for anything that is not a line.
fn render(publication: Publication<'_>, refused: &Dropped) -> Option<Message> {
    let text = publication.message.as_text()?;
    let line = match Line::parse(text.as_bytes()) {
        Ok(line) => line,
        Err(why) => {
            refused.count("a chat line", &why);
            return None;
        }
    };
    let mut event =
        json!({"type": "message", "user": line.user, "text": line.text, "time": line.time});
    if let Some(position) = publication.position {
        event["position"] = position.to_string().into();
        record_lag(line.time);
    }
    Some(Message::text(event.to_string()))
}

/// `wsock_relay_lag_seconds`: from a chat line's time on its node to its delivery
/// here through the backplane. Nodes' clocks differ by their skew, so the figure is
/// good to that; a line from the future counts as no lag.
fn record_lag(time: u64) {
    static LAG: std::sync::LazyLock<metrics::Histogram> =
        std::sync::LazyLock::new(|| metrics::histogram!("wsock_relay_lag_seconds"));
    LAG.record(now_ms().saturating_sub(time) as f64 / 1000.0);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_is_counted() {
        let dropped = Dropped::default();
        for _ in 0..5 {
            dropped.count("a test message", &"no reason");
        }
        assert_eq!(dropped.0.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn lines_render_with_their_position_and_anything_else_is_dropped() {
        let refused = Dropped::default();
        let line = Message::text(r#"{"user":"bob","text":"hi","time":5}"#);
        let position: Position = "2a-7".parse().unwrap();
        let rendered = render(
            Publication {
                room: "lobby",
                position: Some(position),
                message: &line,
            },
            &refused,
        )
        .unwrap();
        let event: serde_json::Value = serde_json::from_str(rendered.as_text().unwrap()).unwrap();
        assert_eq!(
            event,
            json!({"type": "message", "user": "bob", "text": "hi", "time": 5, "position": "2a-7"})
        );
        let welcome = Message::text(r#"{"type":"welcome","user":"mallory"}"#);
        let publication = Publication {
            room: "lobby",
            position: None,
            message: &welcome,
        };
        assert!(render(publication, &refused).is_none());
        assert_eq!(refused.0.load(Ordering::Relaxed), 1);
    }
}
