//! Any bytes as a chat line or a presence note from another node: parsing and checking never
//! panic, and whatever is accepted is within the bounds a node promises.
#![no_main]

// The CLI's own files, compiled here as they are: the CLI is a binary, not a library.
// Not every item of them is fuzzed here.
#[allow(dead_code)]
#[path = "../../crates/wsock-cli/src/broadcast/envelope.rs"]
mod envelope;
#[allow(dead_code)]
#[path = "../../crates/wsock-cli/src/broadcast/names.rs"]
mod names;

use envelope::{Line, Presence, MAX_ROSTER_NAMES, MAX_TEXT_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = Line::parse(data) {
        assert!(line.text.len() <= MAX_TEXT_BYTES);
        assert!(names::check_name(&line.user).is_ok());
    }
    match Presence::parse(data) {
        Ok(Presence::Roster(list)) => {
            assert!(list.len() <= MAX_ROSTER_NAMES);
            assert!(list.iter().all(|name| names::check_name(name).is_ok()));
        }
        Ok(Presence::Joined(name) | Presence::Left(name)) => {
            assert!(names::check_name(&name).is_ok());
        }
        Err(_) => {}
    }
});
