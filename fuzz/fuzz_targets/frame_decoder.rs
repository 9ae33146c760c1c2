//! Any bytes: the frame header decoder never panics, never claims more bytes than it
//! was given, and what it decodes re-encodes to a header that decodes the same.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use wsock_proto::FrameHeader;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((header, len))) = FrameHeader::decode(data) {
        assert!(len <= data.len());
        let mut again = BytesMut::new();
        header.encode(&mut again);
        let (decoded, _) = FrameHeader::decode(&again).unwrap().unwrap();
        assert_eq!(decoded, header);
    }
});
