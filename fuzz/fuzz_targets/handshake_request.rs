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
    match server::parse_request(&data[..len], &limits) {
        Ok(request) => {
            let protocol = request.protocols().first().map(String::as_str);
            let response = request.accept(protocol, &Default::default());
            assert!(response.starts_with(b"HTTP/1.1 101 "));
        }
        Err(error) => assert!(error.status().is_client_error()),
    }
});
