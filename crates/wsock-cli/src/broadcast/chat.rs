//! The chat rooms: members join a room of the hub, what they say is stamped and
//! published, and everyone sees who is there, across nodes when Redis relays.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use wsock::broadcast::Hub;
use wsock::upgrade::HyperWebSocket;
use wsock::Message;

use super::presence::Presence;
use super::relay::{Body, Envelope, Relay};

/// How often this node announces its rosters to the others.
const ROSTER_INTERVAL: Duration = Duration::from_secs(2);

pub struct Chat {
    hub: Hub,
    node: String,
    presence: Mutex<Presence>,
    relay: Mutex<Option<Relay>>,
    guests: AtomicU64,
}

impl Chat {
    pub fn new(node: String) -> Arc<Self> {
        Arc::new(Self {
            hub: Hub::default(),
            node,
            presence: Mutex::default(),
            relay: Mutex::default(),
            guests: AtomicU64::new(1),
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

    /// Runs one member's connection until it closes.
    pub async fn serve(
        &self,
        mut ws: HyperWebSocket,
        room: String,
        name: String,
    ) -> wsock::Result<()> {
        let member = self.hub.join(&room);
        ws.send(Message::text(
            json!({"type": "welcome", "user": name, "room": room}).to_string(),
        ))
        .await?;
        self.presence().join(&room, &name);
        self.roster_changed(&room);
        let result = member
            .run(&mut ws, |message| self.said(&room, &name, message))
            .await;
        self.presence().leave(&room, &name);
        self.roster_changed(&room);
        result
    }

    /// Stamps and publishes what `name` said; binary messages are not chat.
    fn said(&self, room: &str, name: &str, message: Message) {
        let Some(text) = message.as_text() else {
            return;
        };
        let millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line =
            json!({"type": "message", "user": name, "text": text, "time": millis}).to_string();
        self.hub.publish(room, Message::text(line.clone()));
        self.relay_out(room, Body::Message(line));
    }

    /// Delivers what another node published.
    fn deliver_from_other_node(&self, envelope: Envelope) {
        match envelope.body {
            Body::Message(line) => {
                self.hub.publish(&envelope.room, Message::text(line));
            }
            Body::Roster(names) => {
                let changed =
                    self.presence()
                        .announce(&envelope.node, &envelope.room, names, Instant::now());
                if changed {
                    self.send_names(&envelope.room);
                }
            }
        }
    }

    /// After a local join or leave: tell the room, and the other nodes.
    fn roster_changed(&self, room: &str) {
        self.send_names(room);
        let names = self.presence().local_names(room);
        self.relay_out(room, Body::Roster(names));
    }

    /// Repeats this node's rosters, so that nodes (re)joining learn them and stale
    /// ones expire; and forgets nodes that stopped announcing.
    fn announce_rosters(&self) {
        let (rosters, expired) = {
            let mut presence = self.presence();
            let rosters: Vec<_> = presence
                .local_rooms()
                .into_iter()
                .map(|room| {
                    let names = presence.local_names(&room);
                    (room, names)
                })
                .collect();
            (rosters, presence.expire(Instant::now()))
        };
        for (room, names) in rosters {
            self.relay_out(&room, Body::Roster(names));
        }
        for room in expired {
            self.send_names(&room);
        }
    }

    fn send_names(&self, room: &str) {
        let names = self.presence().names(room);
        let line = json!({"type": "presence", "users": names}).to_string();
        self.hub.publish(room, Message::text(line));
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
