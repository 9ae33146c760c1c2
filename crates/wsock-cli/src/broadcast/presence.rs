//! Who is in each room: this node's members, and the rosters other nodes announce.
//!
//! Every change is O(log n) for a member joining or leaving, and O(roster) for a
//! roster from another node, never O(room²): each name keeps a count of the sources
//! listing it (this node, and each other node whose roster names it), and a name joins
//! or leaves the room when its count leaves or reaches zero.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::names::MAX_NAME_CHARS;

/// How long another node's roster counts without being announced again.
pub const REMOTE_TTL: Duration = Duration::from_secs(6);
/// Most rosters (one per other node and room) kept at once.
pub const MAX_REMOTE_ROSTERS: usize = 4_096;
/// Most names kept from other nodes' rosters, all together.
pub const MAX_REMOTE_NAMES: usize = 100_000;

/// A name that appeared in a room or left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Joined(String),
    Left(String),
}

/// Why a roster from another node was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RosterRefused {
    TooManyRosters,
    TooManyNames,
}

impl std::fmt::Display for RosterRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyRosters => {
                write!(f, "more than {MAX_REMOTE_ROSTERS} rosters from other nodes")
            }
            Self::TooManyNames => write!(f, "more than {MAX_REMOTE_NAMES} names from other nodes"),
        }
    }
}

/// Names per room, here and on other nodes. Names are unique per room on this node:
/// a second member asking for a taken name gets a numbered one.
#[derive(Debug, Default)]
pub struct Presence {
    /// room -> name -> how many sources list it.
    rooms: HashMap<String, BTreeMap<String, usize>>,
    /// room -> this node's names there.
    local: HashMap<String, HashSet<String>>,
    /// (node, room) -> that node's roster.
    remote: HashMap<(String, String), Roster>,
    /// Names in all remote rosters together.
    remote_names: usize,
    /// The next number tried for a taken name.
    next_suffix: u64,
}

#[derive(Debug)]
struct Roster {
    announced: Instant,
    names: HashSet<String>,
}

impl Presence {
    /// Joins `room` as `wanted`, or as `wanted-N` when that name is already there;
    /// returns the name given.
    pub fn claim(&mut self, room: &str, wanted: &str) -> (String, Vec<Change>) {
        let name = self.free_name(room, wanted);
        self.local
            .entry(room.to_owned())
            .or_default()
            .insert(name.clone());
        let changes = self.add(room, &name).into_iter().collect();
        (name, changes)
    }

    fn free_name(&mut self, room: &str, wanted: &str) -> String {
        let taken = |name: &str| self.rooms.get(room).is_some_and(|r| r.contains_key(name));
        if !taken(wanted) {
            return wanted.to_owned();
        }
        // A counter shared by all rooms, so that each try costs O(log n) and a name
        // asked for again and again does not rescan its earlier numbers.
        loop {
            self.next_suffix += 1;
            let suffix = format!("-{}", self.next_suffix);
            let keep = MAX_NAME_CHARS.saturating_sub(suffix.len());
            let base: String = wanted.chars().take(keep).collect();
            let candidate = format!("{}{suffix}", base.trim_end());
            if !self
                .rooms
                .get(room)
                .is_some_and(|r| r.contains_key(&candidate))
            {
                return candidate;
            }
        }
    }

    /// This node's member `name` left `room`.
    pub fn leave(&mut self, room: &str, name: &str) -> Vec<Change> {
        let Some(names) = self.local.get_mut(room) else {
            return Vec::new();
        };
        if !names.remove(name) {
            return Vec::new();
        }
        if names.is_empty() {
            self.local.remove(room);
        }
        self.remove(room, name).into_iter().collect()
    }

    /// This node's names in `room`, as announced to the others.
    pub fn local_names(&self, room: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .local
            .get(room)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Rooms with members on this node.
    pub fn local_rooms(&self) -> Vec<String> {
        self.local.keys().cloned().collect()
    }

    /// Records `node`'s roster of `room` (an empty one removes it), within the bounds
    /// on what other nodes may make this node keep.
    pub fn announce(
        &mut self,
        node: &str,
        room: &str,
        names: Vec<String>,
        now: Instant,
    ) -> Result<Vec<Change>, RosterRefused> {
        let key = (node.to_owned(), room.to_owned());
        let old_len = self.remote.get(&key).map_or(0, |r| r.names.len());
        if old_len == 0 && !names.is_empty() && self.remote.len() >= MAX_REMOTE_ROSTERS {
            return Err(RosterRefused::TooManyRosters);
        }
        let new: HashSet<String> = names.into_iter().collect();
        if self.remote_names - old_len + new.len() > MAX_REMOTE_NAMES {
            return Err(RosterRefused::TooManyNames);
        }
        let old = match new.is_empty() {
            true => self.remote.remove(&key).map(|r| r.names),
            false => self
                .remote
                .insert(
                    key,
                    Roster {
                        announced: now,
                        names: new.clone(),
                    },
                )
                .map(|r| r.names),
        }
        .unwrap_or_default();
        self.remote_names = self.remote_names - old.len() + new.len();
        let mut changes = Vec::new();
        for gone in old.difference(&new) {
            changes.extend(self.remove(room, gone));
        }
        for came in new.difference(&old) {
            changes.extend(self.add(room, came));
        }
        Ok(changes)
    }

    /// `node` says `name` joined (`joined`) or left its members in `room`: O(log n),
    /// whatever the size of the room. Also shows the node is alive.
    pub fn remote_change(
        &mut self,
        node: &str,
        room: &str,
        name: &str,
        joined: bool,
        now: Instant,
    ) -> Result<Vec<Change>, RosterRefused> {
        let key = (node.to_owned(), room.to_owned());
        if !joined {
            let Some(roster) = self.remote.get_mut(&key) else {
                return Ok(Vec::new());
            };
            roster.announced = now;
            if !roster.names.remove(name) {
                return Ok(Vec::new());
            }
            if roster.names.is_empty() {
                self.remote.remove(&key);
            }
            self.remote_names -= 1;
            return Ok(self.remove(room, name).into_iter().collect());
        }
        if !self.remote.contains_key(&key) && self.remote.len() >= MAX_REMOTE_ROSTERS {
            return Err(RosterRefused::TooManyRosters);
        }
        if self.remote_names >= MAX_REMOTE_NAMES {
            return Err(RosterRefused::TooManyNames);
        }
        let roster = self.remote.entry(key).or_insert_with(|| Roster {
            announced: now,
            names: HashSet::new(),
        });
        roster.announced = now;
        if !roster.names.insert(name.to_owned()) {
            return Ok(Vec::new());
        }
        self.remote_names += 1;
        Ok(self.add(room, name).into_iter().collect())
    }

    /// Forgets rosters not announced within [`REMOTE_TTL`] (their node is gone, or cut
    /// off); returns what changed, by room.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Change)> {
        let stale: Vec<(String, String)> = self
            .remote
            .iter()
            .filter(|(_, roster)| now.duration_since(roster.announced) > REMOTE_TTL)
            .map(|(key, _)| key.clone())
            .collect();
        let mut changes = Vec::new();
        for key in stale {
            if let Some(roster) = self.remote.remove(&key) {
                self.remote_names -= roster.names.len();
                for name in &roster.names {
                    if let Some(change) = self.remove(&key.1, name) {
                        changes.push((key.1.clone(), change));
                    }
                }
            }
        }
        changes
    }

    /// Everyone in `room` on every node, sorted, each name once.
    pub fn names(&self, room: &str) -> Vec<String> {
        self.rooms
            .get(room)
            .map(|names| names.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn add(&mut self, room: &str, name: &str) -> Option<Change> {
        let count = self
            .rooms
            .entry(room.to_owned())
            .or_default()
            .entry(name.to_owned())
            .or_default();
        *count += 1;
        (*count == 1).then(|| Change::Joined(name.to_owned()))
    }

    fn remove(&mut self, room: &str, name: &str) -> Option<Change> {
        let names = self.rooms.get_mut(room)?;
        let count = names.get_mut(name)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        names.remove(name);
        if names.is_empty() {
            self.rooms.remove(room);
        }
        Some(Change::Left(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(name: &str) -> Change {
        Change::Joined(name.into())
    }

    fn left(name: &str) -> Change {
        Change::Left(name.into())
    }

    #[test]
    fn names_are_unique_per_room_and_numbered_when_taken() {
        let mut presence = Presence::default();
        assert_eq!(
            presence.claim("lobby", "bob"),
            ("bob".into(), vec![joined("bob")])
        );
        let (second, changes) = presence.claim("lobby", "bob");
        assert_eq!(second, "bob-1");
        assert_eq!(changes, [joined("bob-1")]);
        assert_eq!(presence.claim("other", "bob").0, "bob", "another room");
        assert_eq!(presence.names("lobby"), ["bob", "bob-1"]);
        assert_eq!(presence.leave("lobby", "bob"), [left("bob")]);
        assert_eq!(presence.leave("lobby", "bob"), [], "already gone");
        assert_eq!(presence.claim("lobby", "bob").0, "bob", "free again");
    }

    #[test]
    fn a_numbered_name_stays_within_the_length_limit() {
        let mut presence = Presence::default();
        let long = "x".repeat(MAX_NAME_CHARS);
        presence.claim("lobby", &long);
        let (second, _) = presence.claim("lobby", &long);
        assert_eq!(second.chars().count(), MAX_NAME_CHARS);
        assert!(second.ends_with("-1"));
    }

    #[test]
    fn a_name_taken_on_another_node_is_numbered_here() {
        let mut presence = Presence::default();
        let now = Instant::now();
        presence
            .announce("node-b", "lobby", vec!["alice".into()], now)
            .unwrap();
        assert_eq!(presence.claim("lobby", "alice").0, "alice-1");
    }

    #[test]
    fn remote_rosters_merge_change_and_expire() {
        let mut presence = Presence::default();
        let start = Instant::now();
        presence.claim("lobby", "alice");
        let b = presence.announce("node-b", "lobby", vec!["bob".into()], start);
        assert_eq!(b, Ok(vec![joined("bob")]));
        let c = presence.announce("node-c", "lobby", vec!["alice".into()], start);
        assert_eq!(c, Ok(vec![]), "alice is already here");
        presence
            .announce("node-c", "other", vec!["carol".into()], start)
            .unwrap();
        assert_eq!(presence.names("lobby"), ["alice", "bob"]);
        assert!(presence.expire(start + REMOTE_TTL / 2).is_empty());
        let b = presence.announce("node-b", "lobby", vec!["dave".into()], start);
        assert_eq!(b, Ok(vec![left("bob"), joined("dave")]));

        let mut expired = presence.expire(start + REMOTE_TTL * 2);
        expired.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            expired,
            [
                ("lobby".into(), left("dave")),
                ("other".into(), left("carol"))
            ]
        );
        assert_eq!(presence.names("lobby"), ["alice"], "alice is still here");
        let later = start + REMOTE_TTL * 3;
        presence
            .announce("node-b", "lobby", vec!["bob".into()], later)
            .unwrap();
        let gone = presence.announce("node-b", "lobby", vec![], later);
        assert_eq!(gone, Ok(vec![left("bob")]), "an empty roster leaves");
    }

    #[test]
    fn another_nodes_joins_and_leaves_change_one_name_each() {
        let mut presence = Presence::default();
        let now = Instant::now();
        let many: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
        presence.announce("node-b", "lobby", many, now).unwrap();
        let joined_one = presence.remote_change("node-b", "lobby", "zed", true, now);
        assert_eq!(joined_one, Ok(vec![joined("zed")]));
        let again = presence.remote_change("node-b", "lobby", "zed", true, now);
        assert_eq!(again, Ok(vec![]), "a repeated join is not a second join");
        assert_eq!(presence.names("lobby").len(), 1001);
        let left_one = presence.remote_change("node-b", "lobby", "m5", false, now);
        assert_eq!(left_one, Ok(vec![left("m5")]));
        assert_eq!(
            presence.remote_change("node-b", "lobby", "m5", false, now),
            Ok(vec![])
        );
        // The next full roster agrees: nothing changes.
        let mut roster = presence.names("lobby");
        roster.sort();
        assert_eq!(
            presence.announce("node-b", "lobby", roster, now),
            Ok(vec![])
        );
        // A join seen here keeps the roster alive past the expiry of the last full one.
        let later = now + REMOTE_TTL - Duration::from_millis(1);
        presence
            .remote_change("node-b", "lobby", "late", true, later)
            .unwrap();
        assert!(presence
            .expire(now + REMOTE_TTL + Duration::from_millis(1))
            .is_empty());
    }

    #[test]
    fn other_nodes_cannot_make_this_one_keep_unbounded_rosters() {
        let mut presence = Presence::default();
        let now = Instant::now();
        let many: Vec<String> = (0..=MAX_REMOTE_NAMES).map(|i| i.to_string()).collect();
        assert_eq!(
            presence.announce("n", "lobby", many, now),
            Err(RosterRefused::TooManyNames)
        );
        for i in 0..MAX_REMOTE_ROSTERS {
            presence
                .announce(&format!("n{i}"), "lobby", vec!["x".into()], now)
                .unwrap();
        }
        assert_eq!(
            presence.announce("one-more", "lobby", vec!["x".into()], now),
            Err(RosterRefused::TooManyRosters)
        );
        assert!(
            presence
                .announce("n0", "lobby", vec!["y".into()], now)
                .is_ok(),
            "a known node may still update its roster"
        );
    }
}
