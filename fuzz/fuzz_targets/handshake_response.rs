//! Any bytes as a server's response head: the client's validation never panics and
//! never accepts a response without the right accept value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_proto::handshake::client::ClientHandshake;
use wsock_proto::{DeflateConfig, Limits};

fuzz_target!(|data: &[u8]| {
    let request = ClientHandshake::new("localhost", "/")
        .protocols(["chat"])
        .deflate(DeflateConfig::default());
    if request.validate_response(data, &Limits::default()).is_ok() {
        // Only a response carrying our key's accept value can pass, and a random key
        // is never in the fuzzer's input.
        let accept = wsock_proto::handshake::accept_key(request.key().as_bytes());
        assert!(data.windows(accept.len()).any(|w| w == accept.as_bytes()));
    }
});
