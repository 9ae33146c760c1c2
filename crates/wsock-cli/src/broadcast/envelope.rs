//! What nodes tell each other through Redis, and the checks on what arrives: anyone
//! who can PUBLISH to the channel can send anything, so an envelope is taken only if
//! it is a kind a node sends, within size bounds, with names a browser could have
//! chosen. Nodes send facts (who said what, who is here), never text for browsers:
//! the receiving node writes the browser's JSON itself, so a relay cannot send a
//! `welcome` that renames a user.

use serde::{Deserialize, Serialize};

use super::names::{check_name, check_room};

/// Largest envelope read from the channel, in bytes: a roster of
/// [`MAX_ROSTER_NAMES`] names of 32 four-byte characters, quoted, fits.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// Most names in one roster.
pub const MAX_ROSTER_NAMES: usize = 5_000;
/// Longest chat text, in bytes, as for a member's own message.
pub const MAX_TEXT_BYTES: usize = 64 << 10;
/// Longest node id, in bytes.
const MAX_NODE_BYTES: usize = 64;

/// One envelope on the channel.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// The node that published it; a node ignores its own.
    pub node: String,
    pub room: String,
    #[serde(flatten)]
    pub body: Body,
}

/// What an envelope says; any other `kind` is refused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "data", rename_all = "lowercase")]
pub enum Body {
    /// A member said something.
    Message(Line),
    /// The names of the publishing node's members in the room.
    Roster(Vec<String>),
}

/// A chat line: who, what, and when (milliseconds since the Unix epoch).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Line {
    pub user: String,
    pub text: String,
    pub time: u64,
}

/// Now, in a [`Line`]'s unit: milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Envelope {
    /// Reads and checks an envelope from the channel; the error says why it was
    /// dropped.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        if payload.len() > MAX_ENVELOPE_BYTES {
            return Err(format!(
                "{} bytes, over the limit of {MAX_ENVELOPE_BYTES}",
                payload.len()
            ));
        }
        let envelope: Self =
            serde_json::from_slice(payload).map_err(|e| format!("not an envelope: {e}"))?;
        envelope.check()?;
        Ok(envelope)
    }

    fn check(&self) -> Result<(), String> {
        if self.node.is_empty() || self.node.len() > MAX_NODE_BYTES {
            return Err(format!("node id of {} bytes", self.node.len()));
        }
        check_room(&self.room)?;
        match &self.body {
            Body::Message(line) => {
                check_name(&line.user)?;
                if line.text.len() > MAX_TEXT_BYTES {
                    return Err(format!(
                        "a text of {} bytes, over the limit of {MAX_TEXT_BYTES}",
                        line.text.len()
                    ));
                }
            }
            Body::Roster(names) => {
                if names.len() > MAX_ROSTER_NAMES {
                    return Err(format!(
                        "a roster of {} names, over the limit of {MAX_ROSTER_NAMES}",
                        names.len()
                    ));
                }
                for name in names {
                    check_name(name)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_have_a_plain_json_form() {
        let envelope = Envelope {
            node: "n1".into(),
            room: "lobby".into(),
            body: Body::Roster(vec!["alice".into()]),
        };
        let json = serde_json::to_string(&envelope).unwrap();
        assert_eq!(
            json,
            r#"{"node":"n1","room":"lobby","kind":"roster","data":["alice"]}"#
        );
        assert_eq!(Envelope::parse(json.as_bytes()).unwrap(), envelope);
        let line = r#"{"node":"n1","room":"lobby","kind":"message","data":{"user":"bob","text":"hi","time":5}}"#;
        assert!(Envelope::parse(line.as_bytes()).is_ok());
    }

    #[test]
    fn only_the_kinds_a_node_sends_are_taken() {
        for hostile in [
            // A browser event where a chat line belongs: the old format, which let a
            // publisher rename users.
            r#"{"node":"x","room":"lobby","kind":"message","data":"{\"type\":\"welcome\",\"user\":\"mallory\"}"}"#,
            r#"{"node":"x","room":"lobby","kind":"welcome","data":{"user":"mallory"}}"#,
            r#"{"node":"x","room":"lobby","kind":"roster","data":"alice"}"#,
            r#"{"node":"x","room":"lobby"}"#,
            r#"not json"#,
        ] {
            assert!(Envelope::parse(hostile.as_bytes()).is_err(), "{hostile}");
        }
    }

    #[test]
    fn names_rooms_and_sizes_are_bounded() {
        let message = |node: &str, room: &str, user: &str, text: &str| {
            serde_json::to_vec(&Envelope {
                node: node.into(),
                room: room.into(),
                body: Body::Message(Line {
                    user: user.into(),
                    text: text.into(),
                    time: 0,
                }),
            })
            .unwrap()
        };
        assert!(Envelope::parse(&message("n", "lobby", "bob", "hi")).is_ok());
        assert!(Envelope::parse(&message("n", "lobby", "b\u{202e}ob", "hi")).is_err());
        assert!(Envelope::parse(&message("n", "a/b", "bob", "hi")).is_err());
        assert!(Envelope::parse(&message("", "lobby", "bob", "hi")).is_err());
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(Envelope::parse(&message("n", "lobby", "bob", &long)).is_err());
        let roster = |count: usize| {
            let names: Vec<String> = (0..count).map(|i| format!("u{i}")).collect();
            serde_json::to_vec(&Envelope {
                node: "n".into(),
                room: "lobby".into(),
                body: Body::Roster(names),
            })
            .unwrap()
        };
        assert!(Envelope::parse(&roster(MAX_ROSTER_NAMES)).is_ok());
        assert!(Envelope::parse(&roster(MAX_ROSTER_NAMES + 1)).is_err());
        let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(Envelope::parse(&huge)
            .unwrap_err()
            .contains("over the limit"));
    }
}
