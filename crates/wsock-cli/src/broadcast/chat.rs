//! The chat rooms: members join a room of the hub, what they say is stamped and
//! published, and everyone sees who is there, across nodes when Redis relays.
//!
//! A member gets the room's names once, in its welcome, and then `join` and `leave`
//! events: a full list to everyone on every change would cost the square of the room's
//! size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;
use wsock::broadcast::Hub;
use wsock::{Message, WebSocket};

use super::envelope::{now_ms, Body, Envelope, Line};
use super::presence::{Change, Presence};
use super::relay::{Dropped, Relay};

/// How often this node announces its rosters to the others.
const ROSTER_INTERVAL: Duration = Duration::from_secs(2);

pub struct Chat {
    hub: Hub,
    node: String,
    presence: Mutex<Presence>,
    relay: Mutex<Option<Relay>>,
    guests: AtomicU64,
    /// Rosters from other nodes over the bounds on what they may make us keep.
    refused_rosters: Dropped,
}

impl Chat {
    pub fn new(node: String) -> Arc<Self> {
        Arc::new(Self {
            hub: Hub::default(),
            node,
            presence: Mutex::default(),
            relay: Mutex::default(),
            guests: AtomicU64::new(1),
            refused_rosters: Dropped::default(),
        })
    }

    /// Shares rooms with the other nodes through the Redis at `url`.
    pub fn relay_through(self: &Arc<Self>, url: &str) -> Result<(), redis::RedisError> {
        let chat = Arc::downgrade(self);
        let relay = Relay::start(url, self.node.clone(), move |envelope| {
            if let Some(chat) = chat.upgrade() {
                chat.deliver_from_other_node(envelope);
            }
        })?;
        *self.relay.lock().unwrap_or_else(|p| p.into_inner()) = Some(relay);
        let chat = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(ROSTER_INTERVAL);
            while let Some(chat) = chat.upgrade() {
                chat.announce_rosters();
                drop(chat);
                ticks.tick().await;
            }
        });
        Ok(())
    }

    /// A name for a member that gave none.
    pub fn guest_name(&self) -> String {
        format!("guest-{}", self.guests.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs one member's connection until it closes. `wanted` is the name asked for;
    /// the member gets it, or a numbered one if it is taken in the room.
    pub async fn serve(
        &self,
        mut ws: WebSocket,
        room: String,
        wanted: String,
    ) -> wsock::Result<()> {
        // Joined before the names are read, so no change after them is missed.
        let member = self.hub.join(&room);
        let (name, names) = {
            let mut presence = self.presence();
            let (name, changes) = presence.claim(&room, &wanted);
            let names = presence.names(&room);
            drop(presence);
            self.tell(&room, changes);
            (name, names)
        };
        self.announce_local(&room);
        let welcome = json!({"type": "welcome", "user": name, "room": room, "users": names});
        ws.send(Message::text(welcome.to_string())).await?;
        let result = member
            .run(&mut ws, |message| self.said(&room, &name, message))
            .await;
        let changes = self.presence().leave(&room, &name);
        self.tell(&room, changes);
        self.announce_local(&room);
        result
    }

    /// Stamps and publishes what `name` said; binary messages are not chat.
    fn said(&self, room: &str, name: &str, message: Message) {
        let Some(text) = message.as_text() else {
            return;
        };
        let time = now_ms();
        let line = Line {
            user: name.to_owned(),
            text: text.to_owned(),
            time,
        };
        self.hub.publish(room, Message::text(render(&line)));
        self.relay_out(room, Body::Message(line));
    }

    /// Delivers what another node published (already checked by the relay).
    fn deliver_from_other_node(&self, envelope: Envelope) {
        let Envelope { node, room, body } = envelope;
        match body {
            Body::Message(line) => {
                self.hub.publish(&room, Message::text(render(&line)));
            }
            Body::Roster(names) => {
                let announced = self
                    .presence()
                    .announce(&node, &room, names, Instant::now());
                match announced {
                    Ok(changes) => self.tell(&room, changes),
                    Err(why) => self.refused_rosters.count("a roster", &why),
                }
            }
        }
    }

    /// Tells `room` who joined and who left.
    fn tell(&self, room: &str, changes: Vec<Change>) {
        for change in changes {
            let (kind, user) = match change {
                Change::Joined(user) => ("join", user),
                Change::Left(user) => ("leave", user),
            };
            let event = json!({"type": kind, "user": user}).to_string();
            self.hub.publish(room, Message::text(event));
        }
    }

    /// Tells the other nodes this node's names in `room`.
    fn announce_local(&self, room: &str) {
        let names = self.presence().local_names(room);
        self.relay_out(room, Body::Roster(names));
    }

    /// Repeats this node's rosters, so that nodes (re)joining learn them and stale
    /// ones expire; and forgets nodes that stopped announcing.
    fn announce_rosters(&self) {
        let rooms = self.presence().local_rooms();
        for room in &rooms {
            self.announce_local(room);
        }
        let expired = self.presence().expire(Instant::now());
        for (room, change) in expired {
            self.tell(&room, vec![change]);
        }
    }

    fn relay_out(&self, room: &str, body: Body) {
        let relay = self.relay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(relay) = relay.as_ref() {
            relay.publish(Envelope {
                node: self.node.clone(),
                room: room.to_owned(),
                body,
            });
        }
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The browser's JSON for a chat line, written here whether the line was said on this
/// node or another.
fn render(line: &Line) -> String {
    json!({"type": "message", "user": line.user, "text": line.text, "time": line.time}).to_string()
}
