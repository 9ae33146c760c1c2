//! Any text as a `Sec-WebSocket-Extensions` offer (server side) or answer (client
//! side): negotiation never panics, and whatever the server answers is a valid header
//! value that a client making the default offer either accepts or refuses cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_proto::deflate::parse_client_response;
use wsock_proto::{negotiate_server, DeflateConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let configs = [
        DeflateConfig::default(),
        DeflateConfig::default().max_window_bits(9).no_context_takeover(true),
    ];
    for config in &configs {
        let _ = parse_client_response(text.split('\n'), config);
        if let Some((params, answer)) = negotiate_server(text.split('\n'), config) {
            assert!(http::HeaderValue::from_str(&answer).is_ok(), "{answer:?}");
            assert!((8..=15).contains(&params.server_max_window_bits));
            assert!((8..=15).contains(&params.client_max_window_bits));
        }
    }
});
