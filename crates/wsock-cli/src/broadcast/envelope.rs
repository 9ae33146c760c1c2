//! What nodes tell each other through the hub's backplane, and the checks on what
//! arrives: anyone who can write to Redis can send anything, so a chat line or a
//! roster is taken only within size bounds and with names a browser could have chosen.
//! Nodes send facts (who said what, who is here), never text for browsers: the
//! receiving node writes the browser's JSON itself, so a relay cannot send a `welcome`
//! that renames a user. The room and the node come from the backplane, which checks
//! their size; the room name is checked again here.

use serde::{Deserialize, Serialize};

use super::names::check_name;

/// Largest line or roster read from another node, in bytes: a roster of
/// [`MAX_ROSTER_NAMES`] names of 32 four-byte characters, quoted, fits.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// Most names in one roster.
pub const MAX_ROSTER_NAMES: usize = 5_000;
/// Longest chat text, in bytes, as for a member's own message.
pub const MAX_TEXT_BYTES: usize = 64 << 10;

/// A chat line: who, what, and when (milliseconds since the Unix epoch). Published to
/// the room as JSON; every node renders it for its browsers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
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

fn bounded(payload: &[u8]) -> Result<(), String> {
    if payload.len() > MAX_ENVELOPE_BYTES {
        return Err(format!(
            "{} bytes, over the limit of {MAX_ENVELOPE_BYTES}",
            payload.len()
        ));
    }
    Ok(())
}

impl Line {
    /// Reads and checks a line; the error says why it was dropped.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        bounded(payload)?;
        let line: Self =
            serde_json::from_slice(payload).map_err(|e| format!("not a chat line: {e}"))?;
        check_name(&line.user)?;
        if line.text.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "a text of {} bytes, over the limit of {MAX_TEXT_BYTES}",
                line.text.len()
            ));
        }
        Ok(line)
    }
}

/// What a node says about its members in a room: on each change, the one name that
/// joined or left, and every 2 s its whole roster (so that nodes joining learn it,
/// and a node that stops saying it expires).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Presence {
    Roster(Vec<String>),
    Joined(String),
    Left(String),
}

impl Presence {
    /// Reads and checks a presence note from another node.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        bounded(payload)?;
        let note: Self =
            serde_json::from_slice(payload).map_err(|e| format!("not a presence note: {e}"))?;
        match &note {
            Self::Roster(names) => {
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
            Self::Joined(name) | Self::Left(name) => check_name(name)?,
        }
        Ok(note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_rosters_have_a_plain_json_form() {
        let line = Line {
            user: "bob".into(),
            text: "hi".into(),
            time: 5,
        };
        let json = serde_json::to_string(&line).unwrap();
        assert_eq!(json, r#"{"user":"bob","text":"hi","time":5}"#);
        assert_eq!(Line::parse(json.as_bytes()).unwrap(), line);
        let roster = Presence::Roster(vec!["alice".into()]);
        assert_eq!(
            serde_json::to_string(&roster).unwrap(),
            r#"{"roster":["alice"]}"#
        );
        assert_eq!(Presence::parse(br#"{"roster":["alice"]}"#), Ok(roster));
        assert_eq!(
            Presence::parse(br#"{"joined":"bob"}"#),
            Ok(Presence::Joined("bob".into()))
        );
    }

    #[test]
    fn only_what_a_node_sends_is_taken() {
        for hostile in [
            // A browser event where a chat line belongs: it would rename a user.
            r#"{"type":"welcome","user":"mallory","room":"lobby","users":[]}"#,
            r#"{"user":"bob","text":"hi"}"#,
            r#"{"user":"b\u202eob","text":"hi","time":1}"#,
            r#"not json"#,
        ] {
            assert!(Line::parse(hostile.as_bytes()).is_err(), "{hostile}");
        }
        assert!(Presence::parse(br#"["alice"]"#).is_err());
        assert!(Presence::parse(br#"{"roster":["a"],"joined":"b"}"#).is_err());
        assert!(Presence::parse("{\"roster\":[\"admin\u{202e}nimda\"]}".as_bytes()).is_err());
        assert!(Presence::parse("{\"left\":\"b\u{200b}ob\"}".as_bytes()).is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        let long = Line {
            user: "bob".into(),
            text: "x".repeat(MAX_TEXT_BYTES + 1),
            time: 0,
        };
        assert!(Line::parse(&serde_json::to_vec(&long).unwrap()).is_err());
        let roster = |count: usize| {
            let names: Vec<String> = (0..count).map(|i| format!("u{i}")).collect();
            serde_json::to_vec(&Presence::Roster(names)).unwrap()
        };
        assert!(Presence::parse(&roster(MAX_ROSTER_NAMES)).is_ok());
        assert!(Presence::parse(&roster(MAX_ROSTER_NAMES + 1)).is_err());
        let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(Line::parse(&huge).unwrap_err().contains("over the limit"));
    }
}
