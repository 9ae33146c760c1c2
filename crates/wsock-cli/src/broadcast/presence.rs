//! Who is in each room: this node's members, and the rosters other nodes announce.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long another node's roster counts without being announced again.
pub const REMOTE_TTL: Duration = Duration::from_secs(6);

/// Names per room, here and on other nodes. A name may be in a room more than once
/// (two tabs); it is listed once.
#[derive(Debug, Default)]
pub struct Presence {
    /// room -> name -> connections with that name here.
    local: HashMap<String, BTreeMap<String, usize>>,
    /// (node, room) -> when announced, and its names.
    remote: HashMap<(String, String), (Instant, Vec<String>)>,
}

impl Presence {
    pub fn join(&mut self, room: &str, name: &str) {
        *self
            .local
            .entry(room.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_default() += 1;
    }

    pub fn leave(&mut self, room: &str, name: &str) {
        let Some(names) = self.local.get_mut(room) else {
            return;
        };
        if let Some(count) = names.get_mut(name) {
            *count -= 1;
            if *count == 0 {
                names.remove(name);
            }
        }
        if names.is_empty() {
            self.local.remove(room);
        }
    }

    /// This node's names in `room`, as announced to the others.
    pub fn local_names(&self, room: &str) -> Vec<String> {
        self.local
            .get(room)
            .map(|names| names.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Rooms with members on this node.
    pub fn local_rooms(&self) -> Vec<String> {
        self.local.keys().cloned().collect()
    }

    /// Records `node`'s roster of `room` (an empty one removes it).
    pub fn announce(&mut self, node: &str, room: &str, names: Vec<String>, now: Instant) {
        let key = (node.to_owned(), room.to_owned());
        if names.is_empty() {
            self.remote.remove(&key);
        } else {
            self.remote.insert(key, (now, names));
        }
    }

    /// Rooms with a roster not announced within [`REMOTE_TTL`].
    pub fn stale_rooms(&self, now: Instant) -> Vec<String> {
        let mut rooms: Vec<String> = self
            .remote
            .iter()
            .filter(|(_, (at, _))| now.duration_since(*at) > REMOTE_TTL)
            .map(|((_, room), _)| room.clone())
            .collect();
        rooms.sort();
        rooms.dedup();
        rooms
    }

    /// Forgets `room`'s rosters not announced within [`REMOTE_TTL`] (their node is
    /// gone, or cut off).
    pub fn expire(&mut self, room: &str, now: Instant) {
        self.remote
            .retain(|(_, r), (at, _)| r != room || now.duration_since(*at) <= REMOTE_TTL);
    }

    /// Everyone in `room` on every node, sorted, each name once.
    pub fn names(&self, room: &str) -> Vec<String> {
        let mut names: Vec<String> = self.local_names(room);
        for ((_, remote_room), (_, remote_names)) in &self.remote {
            if remote_room == room {
                names.extend(remote_names.iter().cloned());
            }
        }
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_members_come_and_go_and_count_once() {
        let mut presence = Presence::default();
        presence.join("lobby", "bob");
        presence.join("lobby", "alice");
        presence.join("lobby", "alice");
        presence.join("other", "carol");
        assert_eq!(presence.names("lobby"), ["alice", "bob"]);
        presence.leave("lobby", "alice");
        assert_eq!(
            presence.names("lobby"),
            ["alice", "bob"],
            "one tab is still open"
        );
        presence.leave("lobby", "alice");
        presence.leave("lobby", "bob");
        assert!(presence.names("lobby").is_empty());
        assert_eq!(presence.local_rooms(), ["other"]);
    }

    #[test]
    fn remote_rosters_merge_and_expire() {
        let mut presence = Presence::default();
        let start = Instant::now();
        presence.join("lobby", "alice");
        presence.announce("node-b", "lobby", vec!["bob".into()], start);
        presence.announce("node-c", "lobby", vec!["alice".into()], start);
        presence.announce("node-c", "other", vec!["carol".into()], start);
        assert_eq!(presence.names("lobby"), ["alice", "bob"]);
        assert!(presence.stale_rooms(start + REMOTE_TTL / 2).is_empty());
        let later = start + REMOTE_TTL * 2;
        assert_eq!(presence.stale_rooms(later), ["lobby", "other"]);
        presence.expire("lobby", later);
        assert_eq!(presence.names("lobby"), ["alice"]);
        assert_eq!(
            presence.names("other"),
            ["carol"],
            "only the room asked for"
        );
        presence.announce("node-b", "lobby", vec!["bob".into()], later);
        presence.announce("node-b", "lobby", vec![], later);
        assert_eq!(presence.names("lobby"), ["alice"], "an empty roster leaves");
    }
}
