//! What a chat room or member name may be. Shared by names given in the query string
//! and names that other nodes announce, so a relay cannot bring in what a browser may
//! not.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Longest member name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest room name, in bytes (ASCII only).
pub const MAX_ROOM_BYTES: usize = 64;

/// A member name: 1 to 32 characters, none of them "other" (control, format such as
/// bidi overrides and zero-width joiners, private use, unassigned) or a line or
/// paragraph separator, and no space at either end. Such characters let one name
/// look like another, or reorder the text around it.
pub fn check_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(format!(
            "invalid name: use 1 to {MAX_NAME_CHARS} characters"
        ));
    }
    if name.trim() != name {
        return Err("invalid name: no spaces at either end".into());
    }
    if let Some(bad) = name.chars().find(|&c| is_invisible_or_control(c)) {
        return Err(format!(
            "invalid name: U+{:04X} is a control, format (bidi, zero-width) or unassigned character",
            u32::from(bad)
        ));
    }
    Ok(())
}

fn is_invisible_or_control(c: char) -> bool {
    use unicode_properties::GeneralCategory::{LineSeparator, ParagraphSeparator};
    c.general_category_group() == GeneralCategoryGroup::Other
        || matches!(c.general_category(), LineSeparator | ParagraphSeparator)
}

/// A room name: 1 to 64 ASCII letters, digits, '-', '_' or '.'.
pub fn check_room(room: &str) -> Result<(), String> {
    let ok = (1..=MAX_ROOM_BYTES).contains(&room.len())
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid room {room:?}: use 1 to {MAX_ROOM_BYTES} letters, digits, '-', '_' or '.'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_in_any_script_pass() {
        for name in ["alice", "Zoë", "山田", "O'Brien-2", "a b", "😀"] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bidi_zero_width_and_control_characters_are_refused() {
        for name in [
            "admin\u{202e}nimda", // right-to-left override
            "ali\u{200b}ce",      // zero-width space
            "ali\u{200d}ce",      // zero-width joiner
            "\u{2066}bob",        // left-to-right isolate
            "bo\u{feff}b",        // byte order mark
            "tab\there",
            "line\u{2028}break",
            "priv\u{e000}ate",
        ] {
            let error = check_name(name).unwrap_err();
            assert!(error.contains("U+"), "{name:?}: {error}");
        }
    }

    #[test]
    fn length_and_padding_are_checked() {
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(33)).is_err());
        assert!(check_name(&"é".repeat(32)).is_ok());
        assert!(check_name(" alice").is_err());
    }

    #[test]
    fn rooms_are_short_ascii_words() {
        assert_eq!(check_room("dev-1.a_b"), Ok(()));
        for room in ["", "a/b", "ünï", &"r".repeat(65)] {
            assert!(check_room(room).is_err(), "{room}");
        }
    }
}
