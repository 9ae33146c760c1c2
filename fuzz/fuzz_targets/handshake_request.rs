//! Any bytes as a client's request head: the scanner and parser never panic, and an
//! accepted request always yields a 101 response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_proto::handshake::{server, HeadScanner};
use wsock_proto::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut scanner = HeadScanner::default();
    let Ok(Some(len)) = scanner.scan(data, limits.max_head_size) else {
        return;
    };
    let request = server::parse_head(&data[..len], &limits);
    let policy = server::AcceptPolicy {
        origins: wsock_proto::handshake::origin::OriginPolicy::Any,
        ..Default::default()
    };
    match request.map_err(server::Refusal::from).and_then(|r| server::accept(r, &policy)) {
        Ok(accepted) => {
            let response = server::encode_response(&accepted.response, false);
            assert!(response.starts_with(b"HTTP/1.1 101 "));
        }
        Err(refusal) => assert!(refusal.status().is_client_error()),
    }
});
