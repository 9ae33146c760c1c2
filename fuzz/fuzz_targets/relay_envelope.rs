//! Any bytes as a message on the chat's Redis channel: parsing and checking never
//! panic, and whatever is accepted is within the bounds a node promises.
#![no_main]

// The CLI's own files, compiled here as they are: the CLI is a binary, not a library.
#[path = "../../crates/wsock-cli/src/broadcast/envelope.rs"]
mod envelope;
#[path = "../../crates/wsock-cli/src/broadcast/names.rs"]
mod names;

use envelope::{Body, Envelope, MAX_ROSTER_NAMES, MAX_TEXT_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::parse(data) else {
        return;
    };
    assert!(names::check_room(&envelope.room).is_ok());
    match &envelope.body {
        Body::Message(line) => {
            assert!(line.text.len() <= MAX_TEXT_BYTES);
            assert!(names::check_name(&line.user).is_ok());
        }
        Body::Roster(list) => {
            assert!(list.len() <= MAX_ROSTER_NAMES);
            assert!(list.iter().all(|name| names::check_name(name).is_ok()));
        }
    }
});
