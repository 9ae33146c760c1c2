//! Any bytes as server-to-client frames on a connection with permessage-deflate on,
//! with a small message limit: inflating never panics and never grows a message past
//! the limit; any extension header is negotiated without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_proto::{negotiate_server, Connection, DeflateConfig, DeflateParams, Event, Limits, Role};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = negotiate_server([text], &DeflateConfig::default());
    }
    let mut limits = Limits::default();
    limits.max_message_size = 64 << 10;
    let mut conn = Connection::with_limits(Role::Client, limits);
    conn.enable_deflate(&DeflateParams::default(), &DeflateConfig::default());
    conn.receive_data(data);
    while let Ok(Some(event)) = conn.next_event() {
        if let Event::Message(message) = event {
            assert!(message.payload().len() <= 64 << 10);
        }
    }
});
