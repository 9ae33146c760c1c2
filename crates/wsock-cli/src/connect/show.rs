//! How `wsock connect` prints a received message: one line (or, with `--json`, an
//! indented block), safe for a terminal, optionally stamped with the time.

use std::fmt::Write as _;

use time::macros::format_description;
use time::OffsetDateTime;
use wsock::Message;

/// The printing choices of `wsock connect`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Show {
    /// Write control characters in text as `\x1b` and the like.
    pub escape: bool,
    /// Indent text messages that hold JSON.
    pub json: bool,
    /// Start each message with the UTC time it arrived.
    pub timestamps: bool,
}

impl Show {
    /// What to print for `message`, received at `now`.
    pub fn render(&self, message: &Message, now: OffsetDateTime) -> String {
        let body = describe(message, self.escape, self.json);
        match self.timestamps {
            true => format!("{} {body}", stamp(now)),
            false => body,
        }
    }
}

/// `2026-11-30T04:31:12.345Z`: RFC 3339 in UTC, to the millisecond, always as wide.
fn stamp(now: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let utc = now.to_offset(time::UtcOffset::UTC);
    utc.format(format)
        .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

/// What a message looks like; with `escape`, control characters in text are shown
/// as `\x1b` and the like instead of being sent to the terminal, and with `json`, text
/// that parses as JSON is indented (serde_json writes control characters in strings
/// as `\u001b`, so that stays safe too).
pub fn describe(message: &Message, escape: bool, json: bool) -> String {
    match message {
        Message::Text(text) => {
            let indented = json
                .then(|| serde_json::from_str::<serde_json::Value>(text).ok())
                .flatten()
                .and_then(|value| serde_json::to_string_pretty(&value).ok());
            let text = indented.as_deref().unwrap_or(text);
            match escape {
                true => escape_controls(text, json),
                false => text.to_owned(),
            }
        }
        other => {
            let payload = other.payload();
            let mut line = format!("[binary, {} bytes]", payload.len());
            for byte in payload.iter().take(64) {
                let _ = write!(line, " {byte:02x}");
            }
            if payload.len() > 64 {
                line.push_str(" ...");
            }
            line
        }
    }
}

/// `text` with every control character (C0, DEL, C1) written as `\xNN`; with
/// `keep_newlines`, line feeds stay (an indented JSON block is several lines).
pub fn escape_controls(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !(keep_newlines && c == '\n') {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "hi\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{9b}31m\r\nnext ☃\t";

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape_controls(HOSTILE, false),
            "hi\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J\\x9b31m\\x0d\\x0anext ☃\\x09"
        );
        let message = Message::text(HOSTILE);
        assert_eq!(describe(&message, false, false), HOSTILE);
        assert!(!describe(&message, true, false)
            .chars()
            .any(char::is_control));
    }

    #[test]
    fn json_is_indented_and_its_strings_stay_escaped() {
        let message = Message::text(format!(
            r#"{{"user":"ann","said":{}}}"#,
            serde_json::to_string(HOSTILE).unwrap()
        ));
        let shown = describe(&message, true, true);
        assert!(shown.starts_with("{\n  \"user\": \"ann\",\n"), "{shown}");
        assert!(shown.contains("\\u001b]52"), "{shown}");
        let only_newlines = shown.chars().filter(|c| c.is_control()).all(|c| c == '\n');
        assert!(only_newlines, "{shown:?}");
        // Not JSON: printed as text, escaped as usual.
        let plain = describe(&Message::text("not {json\u{1b}"), true, true);
        assert_eq!(plain, "not {json\\x1b");
    }

    #[test]
    fn timestamps_are_rfc_3339_utc_to_the_millisecond() {
        let show = Show {
            timestamps: true,
            ..Show::default()
        };
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_796_013_072_345_678_901).unwrap();
        assert_eq!(
            show.render(&Message::text("hi"), at),
            "2026-11-30T04:31:12.345Z hi"
        );
    }
}
