//! Any bytes as a proxy's answer to CONNECT: the scanner and parser never panic, and a
//! tunnel is only ever open on a 2xx status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_proto::handshake::connect::parse_connect_response;
use wsock_proto::handshake::HeadScanner;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(len)) = HeadScanner::default().scan(data, 16 << 10) else {
        return;
    };
    if let Ok(response) = parse_connect_response(&data[..len]) {
        assert_eq!(response.is_success(), (200..=299).contains(&response.status));
        assert!(response.status <= 999);
    }
});
