//! Byte-level tests of the connection, one module per behaviour, no sockets.

use super::*;
use crate::close::CloseCode;

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// A frame as a client would send it: masked. `first` is the whole first byte.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    raw(first, payload, Some(KEY))
}

/// A frame as a server would send it: unmasked.
fn unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    raw(first, payload, None)
}

fn raw(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = BytesMut::new();
    let opcode = OpCode::from_bits(first & 0x0f).unwrap_or(OpCode::Binary);
    encode_frame(
        &mut out,
        opcode,
        first & 0x80 != 0,
        (first >> 4) & 7,
        mask,
        payload,
    );
    out[0] = first;
    out.to_vec()
}

fn server() -> Connection {
    Connection::new(Role::Server)
}

fn client() -> Connection {
    Connection::new(Role::Client)
}

/// Every frame the connection queued, unmasked: (first byte, payload, was masked).
fn sent(conn: &mut Connection) -> Vec<(u8, Vec<u8>, bool)> {
    let mut out = conn.take_output();
    let mut frames = Vec::new();
    while !out.is_empty() {
        let (header, len) = FrameHeader::decode(&out).unwrap().unwrap();
        let mut frame = out.split_to(len + header.payload_len as usize);
        frame.advance(len);
        if let Some(key) = header.mask {
            apply_mask(&mut frame, key, 0);
        }
        let first = (u8::from(header.fin) << 7) | header.opcode.bits();
        frames.push((first, frame.to_vec(), header.mask.is_some()));
    }
    frames
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// Feeds `bytes` and returns the error the connection fails with, checking that the
/// close frame it queued carries the same code.
fn failure_of(mut conn: Connection, bytes: &[u8]) -> ProtocolError {
    conn.receive_data(bytes);
    let err = loop {
        match conn.next_event() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no failure for {bytes:x?}"),
            Err(e) => break e,
        }
    };
    let frames = sent(&mut conn);
    let close = frames
        .iter()
        .find(|f| f.0 == 0x88)
        .expect("a close frame was queued");
    assert_eq!(
        u16::from_be_bytes([close.1[0], close.1[1]]),
        err.close_code().0
    );
    assert_eq!(conn.state(), State::Closed);
    assert!(conn.should_close_transport());
    err
}

mod messages {
    use super::*;

    #[test]
    fn text_and_binary_arrive_whole() {
        let mut s = server();
        s.receive_data(&masked(0x81, b"Hello"));
        s.receive_data(&masked(0x82, &[0, 1, 2]));
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::text("Hello")))
        );
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::binary(vec![0, 1, 2])))
        );
        assert_eq!(s.next_event().unwrap(), None);
    }

    #[test]
    fn a_frame_split_at_every_byte_still_arrives() {
        let wire = masked(0x81, "héllo wörld".as_bytes());
        let mut s = server();
        for (i, byte) in wire.iter().enumerate() {
            s.receive_data(&[*byte]);
            let event = s.next_event().unwrap();
            if i + 1 < wire.len() {
                assert_eq!(event, None, "byte {i}");
            } else {
                assert_eq!(event, Some(Event::Message(Message::text("héllo wörld"))));
            }
        }
    }

    #[test]
    fn all_length_forms_are_received() {
        for len in [0usize, 125, 126, 65535, 65536, 1 << 20] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut c = client();
            c.receive_data(&unmasked(0x82, &payload));
            assert_eq!(
                c.next_event().unwrap(),
                Some(Event::Message(Message::binary(payload)))
            );
        }
    }
}

mod masking {
    use super::*;

    #[test]
    fn client_masks_every_frame_with_a_fresh_key() {
        let mut c = client();
        c.send_text("a").unwrap();
        c.send_text("a").unwrap();
        let out = c.take_output();
        let (h1, n1) = FrameHeader::decode(&out).unwrap().unwrap();
        let (h2, _) = FrameHeader::decode(&out[n1 + 1..]).unwrap().unwrap();
        assert!(h1.mask.is_some() && h2.mask.is_some());
        assert_ne!(h1.mask, h2.mask);
    }

    #[test]
    fn server_never_masks() {
        let mut s = server();
        s.send_binary(b"xyz").unwrap();
        assert_eq!(sent(&mut s), vec![(0x82, b"xyz".to_vec(), false)]);
    }

    #[test]
    fn server_rejects_unmasked_frames() {
        assert_eq!(
            failure_of(server(), &unmasked(0x81, b"hi")),
            ProtocolError::UnmaskedFrame
        );
    }

    #[test]
    fn client_rejects_masked_frames() {
        assert_eq!(
            failure_of(client(), &masked(0x81, b"hi")),
            ProtocolError::MaskedFrame
        );
    }
}

mod framing_errors {
    use super::*;

    #[test]
    fn rsv_bits_without_extension_are_1002() {
        for first in [0xC1u8, 0xA1, 0x91] {
            let err = failure_of(server(), &masked(first, b"x"));
            assert!(matches!(err, ProtocolError::ReservedBits(_)));
            assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
        }
    }

    #[test]
    fn reserved_opcodes_are_1002() {
        for op in [3u8, 7, 0xB, 0xF] {
            assert_eq!(
                failure_of(server(), &masked(0x80 | op, b"")),
                ProtocolError::ReservedOpcode(op)
            );
        }
    }

    #[test]
    fn long_ping_is_1002() {
        let err = failure_of(server(), &masked(0x89, &[0; 126]));
        assert_eq!(err, ProtocolError::ControlFrameTooLong(126));
        assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);
    }

    #[test]
    fn fragmented_ping_is_1002() {
        assert_eq!(
            failure_of(server(), &masked(0x09, b"")),
            ProtocolError::FragmentedControlFrame
        );
    }

    #[test]
    fn length_with_top_bit_is_1002() {
        let wire = [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(failure_of(server(), &wire), ProtocolError::InvalidLength);
    }

    #[test]
    fn nothing_is_read_after_a_failure() {
        let mut s = server();
        s.receive_data(&unmasked(0x81, b"bad"));
        assert!(s.next_event().is_err());
        s.receive_data(&masked(0x81, b"more"));
        assert_eq!(s.next_event().unwrap(), None);
        assert_eq!(s.send_text("x"), Err(LocalError::ConnectionClosed));
    }
}

mod fragmentation {
    use super::*;

    #[test]
    fn fragments_are_reassembled_with_control_frames_between() {
        let mut s = server();
        s.receive_data(&masked(0x01, b"fragment1 "));
        s.receive_data(&masked(0x89, b"ping!"));
        s.receive_data(&masked(0x00, b"fragment2 "));
        s.receive_data(&masked(0x8A, b"pong"));
        s.receive_data(&masked(0x80, b"fragment3"));
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Ping(Bytes::from_static(b"ping!")))
        );
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Pong(Bytes::from_static(b"pong")))
        );
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::text(
                "fragment1 fragment2 fragment3"
            )))
        );
        assert_eq!(sent(&mut s), vec![(0x8A, b"ping!".to_vec(), false)]);
    }

    #[test]
    fn empty_fragments_are_allowed() {
        let mut s = server();
        s.receive_data(&masked(0x02, b""));
        s.receive_data(&masked(0x00, b""));
        s.receive_data(&masked(0x80, b""));
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::binary(Vec::new())))
        );
    }

    #[test]
    fn continuation_without_a_message_is_1002() {
        assert_eq!(
            failure_of(server(), &masked(0x80, b"x")),
            ProtocolError::UnexpectedContinuation
        );
    }

    #[test]
    fn new_message_inside_a_fragmented_one_is_1002() {
        let mut wire = masked(0x01, b"a");
        wire.extend(masked(0x81, b"b"));
        assert_eq!(
            failure_of(server(), &wire),
            ProtocolError::ExpectedContinuation
        );
    }

    #[test]
    fn autobahn_9_3_1_shape_passes_the_default_fragment_limit() {
        // 4 MiB of text in 65,536 fragments of 64 bytes.
        let mut s = server();
        let chunk = [b'*'; 64];
        let mut wire = masked(0x01, &chunk);
        for i in 1..65_536 {
            wire.extend(masked(if i == 65_535 { 0x80 } else { 0x00 }, &chunk));
        }
        s.receive_data(&wire);
        let Some(Event::Message(Message::Text(text))) = s.next_event().unwrap() else {
            panic!("expected a text message");
        };
        assert_eq!(text.len(), 4 << 20);
    }
}

mod utf8 {
    use super::*;

    #[test]
    fn invalid_text_is_1007() {
        let err = failure_of(server(), &masked(0x81, b"\xce\xba\xff"));
        assert_eq!(err, ProtocolError::InvalidUtf8);
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }

    #[test]
    fn fails_on_the_bad_fragment_not_at_the_end_of_the_message() {
        let mut s = server();
        s.receive_data(&masked(0x01, "κόσμε".as_bytes()));
        assert_eq!(s.next_event().unwrap(), None);
        s.receive_data(&masked(0x00, b"\xf4\x90\x80\x80"));
        assert_eq!(s.next_event(), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn fails_inside_a_frame_that_has_not_fully_arrived() {
        let mut s = server();
        let mut wire = masked(0x81, &[b"ok \xc0\xaf".as_slice(), &[b'a'; 1000]].concat());
        wire.truncate(20);
        s.receive_data(&wire);
        assert_eq!(s.next_event(), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn characters_split_across_fragments_are_valid() {
        let snowman = "☃".as_bytes();
        let mut s = server();
        s.receive_data(&masked(0x01, &snowman[..1]));
        s.receive_data(&masked(0x00, &snowman[1..2]));
        s.receive_data(&masked(0x80, &snowman[2..]));
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::text("☃")))
        );
    }

    #[test]
    fn text_ending_inside_a_character_is_1007() {
        assert_eq!(
            failure_of(server(), &masked(0x81, b"abc\xe2\x82")),
            ProtocolError::InvalidUtf8
        );
    }

    #[test]
    fn binary_is_not_checked() {
        let mut s = server();
        s.receive_data(&masked(0x82, b"\xff\xfe"));
        assert!(matches!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::Binary(_)))
        ));
    }
}

mod ping_pong {
    use super::*;

    #[test]
    fn ping_is_answered_with_the_same_payload() {
        let mut c = client();
        c.receive_data(&unmasked(0x89, b"are you there"));
        assert_eq!(
            c.next_event().unwrap(),
            Some(Event::Ping(Bytes::from_static(b"are you there")))
        );
        assert_eq!(sent(&mut c), vec![(0x8A, b"are you there".to_vec(), true)]);
    }

    #[test]
    fn unsolicited_pong_is_reported_and_not_answered() {
        let mut s = server();
        s.receive_data(&masked(0x8A, b"x"));
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Pong(Bytes::from_static(b"x")))
        );
        assert!(s.output_len() == 0);
    }

    #[test]
    fn ping_payload_over_125_cannot_be_sent() {
        assert_eq!(
            server().send_ping(&[0; 126]),
            Err(LocalError::ControlPayloadTooLong(126))
        );
    }
}

mod closing {
    use super::*;

    #[test]
    fn peer_close_is_echoed_with_its_code_and_server_closes_tcp() {
        let mut s = server();
        s.receive_data(&masked(0x88, &close_payload(1000, "bye")));
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Close(Some(CloseFrame::new(
                CloseCode::NORMAL,
                "bye"
            ))))
        );
        assert_eq!(
            sent(&mut s),
            vec![(0x88, close_payload(1000, "bye"), false)]
        );
        assert_eq!(s.state(), State::Closed);
        assert!(s.should_close_transport());
    }

    #[test]
    fn client_waits_for_the_server_to_close_tcp() {
        let mut c = client();
        c.receive_data(&unmasked(0x88, &close_payload(1001, "")));
        c.next_event().unwrap();
        assert_eq!(c.state(), State::Closed);
        assert!(!c.should_close_transport());
        c.receive_eof();
        assert!(c.should_close_transport());
        assert!(!c.closed_abnormally());
    }

    #[test]
    fn empty_close_is_echoed_empty() {
        let mut s = server();
        s.receive_data(&masked(0x88, b""));
        assert_eq!(s.next_event().unwrap(), Some(Event::Close(None)));
        assert_eq!(sent(&mut s), vec![(0x88, Vec::new(), false)]);
    }

    #[test]
    fn our_close_then_theirs_completes_without_a_second_close() {
        let mut c = client();
        c.send_close(Some(CloseFrame::new(CloseCode::NORMAL, "done")))
            .unwrap();
        assert_eq!(c.state(), State::CloseSent);
        assert_eq!(c.send_text("late"), Err(LocalError::ConnectionClosed));
        // Messages still arrive while the peer has not answered.
        c.receive_data(&unmasked(0x81, b"in flight"));
        c.receive_data(&unmasked(0x88, &close_payload(1000, "")));
        assert_eq!(
            c.next_event().unwrap(),
            Some(Event::Message(Message::text("in flight")))
        );
        assert!(matches!(
            c.next_event().unwrap(),
            Some(Event::Close(Some(_)))
        ));
        assert_eq!(sent(&mut c).len(), 1, "only our own close was sent");
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn invalid_close_codes_are_1002() {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1100, 2000, 2999, 5000] {
            assert_eq!(
                failure_of(server(), &masked(0x88, &close_payload(code, ""))),
                ProtocolError::InvalidCloseCode(code)
            );
        }
    }

    #[test]
    fn one_byte_close_is_1002() {
        assert_eq!(
            failure_of(server(), &masked(0x88, &[1])),
            ProtocolError::CloseFrameTooShort
        );
    }

    #[test]
    fn invalid_utf8_reason_is_1007() {
        let payload = [0x03, 0xe8, 0xce, 0xba, 0xff];
        assert_eq!(
            failure_of(server(), &masked(0x88, &payload)),
            ProtocolError::InvalidCloseReason
        );
    }

    #[test]
    fn nothing_is_sent_or_read_after_close() {
        let mut s = server();
        s.receive_data(&masked(0x88, &close_payload(1000, "")));
        s.receive_data(&masked(0x81, b"after close"));
        s.next_event().unwrap();
        assert_eq!(s.next_event().unwrap(), None);
        assert_eq!(s.send_text("x"), Err(LocalError::ConnectionClosed));
        assert_eq!(s.send_close(None), Err(LocalError::ConnectionClosed));
    }

    #[test]
    fn sending_invalid_close_code_is_refused_locally() {
        let mut s = server();
        assert_eq!(
            s.send_close(Some(CloseFrame::new(CloseCode(1005), ""))),
            Err(LocalError::InvalidCloseCode(1005))
        );
        assert_eq!(s.state(), State::Open);
    }

    #[test]
    fn eof_before_close_is_abnormal() {
        let mut s = server();
        s.receive_data(&masked(0x81, b"hi"));
        s.receive_eof();
        assert!(s.closed_abnormally());
        assert_eq!(s.next_event().unwrap(), None);
    }
}

mod limits {
    use super::*;

    fn limited(max_frame: usize, max_message: usize, max_fragments: usize) -> Connection {
        let limits = Limits {
            max_frame_size: max_frame,
            max_message_size: max_message,
            max_fragments,
            ..Limits::default()
        };
        Connection::with_limits(Role::Server, limits)
    }

    #[test]
    fn defaults_are_safe() {
        let limits = Limits::default();
        assert_eq!(limits.max_frame_size, 16 << 20);
        assert_eq!(limits.max_message_size, 64 << 20);
        assert_eq!(limits.max_head_size, 8192);
        assert_eq!(limits.max_headers, 128);
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header_alone() {
        // Only the header of a frame declaring 2^62 bytes arrives: no allocation follows.
        let mut wire = vec![0x82, 0xff];
        wire.extend_from_slice(&(1u64 << 62).to_be_bytes());
        wire.extend_from_slice(&KEY);
        let mut s = server();
        s.receive_data(&wire);
        let err = s.next_event().unwrap_err();
        assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
        assert!(s.input_buffer().capacity() < 1 << 20);
    }

    #[test]
    fn buffer_grows_with_what_arrives_not_with_what_is_declared() {
        // A frame declaring the maximum 16 MiB, of which only 10 bytes arrive.
        let mut wire = vec![0x82, 0xff];
        wire.extend_from_slice(&(16u64 << 20).to_be_bytes());
        wire.extend_from_slice(&KEY);
        wire.extend_from_slice(&[0; 10]);
        let mut s = server();
        s.receive_data(&wire);
        assert_eq!(s.next_event().unwrap(), None);
        assert!(
            s.input_buffer().capacity() < 1 << 20,
            "{}",
            s.input_buffer().capacity()
        );
    }

    #[test]
    fn message_over_the_limit_across_fragments_is_1009() {
        let mut wire = masked(0x02, &[0; 600]);
        wire.extend(masked(0x80, &[0; 600]));
        let err = failure_of(limited(1000, 1000, 10), &wire);
        assert_eq!(err, ProtocolError::MessageTooLarge { limit: 1000 });
    }

    #[test]
    fn frame_over_the_limit_is_1009() {
        let err = failure_of(limited(100, 1000, 10), &masked(0x82, &[0; 101]));
        assert_eq!(
            err,
            ProtocolError::FrameTooLarge {
                size: 101,
                limit: 100
            }
        );
    }

    #[test]
    fn too_many_empty_fragments_are_1009() {
        let mut wire = masked(0x02, b"");
        for _ in 0..5 {
            wire.extend(masked(0x00, b""));
        }
        let err = failure_of(limited(100, 100, 3), &wire);
        assert_eq!(err, ProtocolError::TooManyFragments { limit: 3 });
        assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);
    }
}

mod pair {
    //! A client and a server talking in memory.
    use super::*;

    fn transfer(from: &mut Connection, to: &mut Connection) -> Vec<Event> {
        let bytes = from.take_output();
        to.receive_data(&bytes);
        let mut events = Vec::new();
        while let Some(event) = to.next_event().unwrap() {
            events.push(event);
        }
        events
    }

    #[test]
    fn conversation_and_clean_close() {
        let mut c = client();
        let mut s = server();
        c.send(&Message::text("hello world!")).unwrap();
        let events = transfer(&mut c, &mut s);
        assert_eq!(events, vec![Event::Message(Message::text("hello world!"))]);
        s.send(&Message::text("hello world!")).unwrap();
        assert_eq!(transfer(&mut s, &mut c), events);

        c.send_close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
            .unwrap();
        let events = transfer(&mut c, &mut s);
        assert_eq!(
            events,
            vec![Event::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")))]
        );
        assert!(s.should_close_transport());
        transfer(&mut s, &mut c);
        assert_eq!(c.state(), State::Closed);
        assert_eq!(
            c.peer_close(),
            Some(&Some(CloseFrame::new(CloseCode::NORMAL, "")))
        );
    }

    #[test]
    fn fragmented_send_is_received_whole() {
        let mut c = client();
        let mut s = server();
        c.send_frame(OpCode::Binary, false, b"ab").unwrap();
        c.send_ping(b"p").unwrap();
        c.send_frame(OpCode::Continuation, true, b"cd").unwrap();
        let events = transfer(&mut c, &mut s);
        assert_eq!(
            events,
            vec![
                Event::Ping(Bytes::from_static(b"p")),
                Event::Message(Message::binary(&b"abcd"[..]))
            ]
        );
    }
}

mod deflate {
    //! permessage-deflate inside the connection: RSV1, fragments, limits, threshold.
    use super::*;
    use crate::deflate::{DeflateConfig, DeflateParams};

    fn with_deflate(role: Role, limits: Limits) -> Connection {
        let mut conn = Connection::with_limits(role, limits);
        conn.enable_deflate(
            &DeflateParams::default(),
            &DeflateConfig::default().threshold(0),
        );
        conn
    }

    fn deflate_pair() -> (Connection, Connection) {
        (
            with_deflate(Role::Client, Limits::default()),
            with_deflate(Role::Server, Limits::default()),
        )
    }

    fn deliver(from: &mut Connection, to: &mut Connection) -> Vec<Event> {
        let bytes = from.take_output();
        to.receive_data(&bytes);
        let mut events = Vec::new();
        while let Some(event) = to.next_event().unwrap() {
            events.push(event);
        }
        events
    }

    #[test]
    fn compressed_messages_round_trip_with_rsv1_on_the_wire() {
        let (mut c, mut s) = deflate_pair();
        let text = "hello hello hello hello hello hello";
        c.send_text(text).unwrap();
        let wire = c.take_output().to_vec();
        assert_eq!(wire[0], 0xC1, "FIN + RSV1 + text");
        assert!(wire.len() < text.len(), "compressed");
        s.receive_data(&wire);
        c.take_output();
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::text(text)))
        );
        s.send_binary(&[7u8; 10_000]).unwrap();
        assert_eq!(
            deliver(&mut s, &mut c),
            vec![Event::Message(Message::binary(vec![7u8; 10_000]))]
        );
    }

    #[test]
    fn rfc_7692_7_2_3_1_hello_in_two_fragments() {
        // The RFC's example: "Hello" compressed, split over two unmasked frames.
        let mut c = with_deflate(Role::Client, Limits::default());
        c.receive_data(&[
            0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
        ]);
        assert_eq!(
            c.next_event().unwrap(),
            Some(Event::Message(Message::text("Hello")))
        );
        // And unfragmented: 0xc1 0x07 f2 48 cd c9 c9 07 00.
        c.receive_data(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!(
            c.next_event().unwrap(),
            Some(Event::Message(Message::text("Hello")))
        );
    }

    #[test]
    fn control_frames_are_never_compressed() {
        let (mut c, _) = deflate_pair();
        c.send_ping(&[b'a'; 100]).unwrap();
        assert_eq!(c.take_output()[0], 0x89);
    }

    #[test]
    fn small_messages_and_opted_out_ones_go_uncompressed() {
        let mut c = Connection::new(Role::Client);
        c.enable_deflate(
            &DeflateParams::default(),
            &DeflateConfig::default().threshold(64),
        );
        c.send_text("short").unwrap();
        assert_eq!(c.take_output()[0], 0x81);
        c.send_uncompressed(&Message::binary(vec![0u8; 1000]))
            .unwrap();
        assert_eq!(c.take_output()[0], 0x82);
        c.send_binary(&[0u8; 1000]).unwrap();
        assert_eq!(c.take_output()[0], 0xC2);
    }

    #[test]
    fn fragmented_compressed_message_has_rsv1_on_the_first_frame_only() {
        // Compress a message, then send its bytes in three frames.
        let (mut c, mut s) = deflate_pair();
        let text = "fragmented and compressed ".repeat(50);
        c.send_text(&text).unwrap();
        let whole = c.take_output();
        let (header, len) = FrameHeader::decode(&whole).unwrap().unwrap();
        let mut body = whole[len..].to_vec();
        apply_mask(&mut body, header.mask.unwrap(), 0);
        let third = body.len() / 3;
        let mut wire = raw(0x41, &body[..third], Some(KEY)); // RSV1, text, no FIN
        wire.extend(raw(0x89, b"between", Some(KEY)));
        wire.extend(raw(0x00, &body[third..2 * third], Some(KEY)));
        wire.extend(raw(0x80, &body[2 * third..], Some(KEY)));
        s.receive_data(&wire);
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Ping(Bytes::from_static(b"between")))
        );
        assert_eq!(
            s.next_event().unwrap(),
            Some(Event::Message(Message::text(text)))
        );
    }

    #[test]
    fn rsv1_on_a_continuation_or_control_frame_is_1002() {
        let s = with_deflate(Role::Server, Limits::default());
        let mut wire = masked(0x01, b"a");
        wire.extend(masked(0xC0, b"b"));
        assert_eq!(failure_of(s, &wire), ProtocolError::ReservedBits(0b100));
        let s = with_deflate(Role::Server, Limits::default());
        assert_eq!(
            failure_of(s, &masked(0xC9, b"")),
            ProtocolError::ReservedBits(0b100)
        );
    }

    #[test]
    fn rsv2_and_rsv3_stay_forbidden() {
        let s = with_deflate(Role::Server, Limits::default());
        assert_eq!(
            failure_of(s, &masked(0xA1, b"x")),
            ProtocolError::ReservedBits(0b010)
        );
    }

    #[test]
    fn bomb_closes_with_1009() {
        let limits = Limits {
            max_message_size: 1 << 20,
            ..Limits::default()
        };
        let mut c = with_deflate(Role::Client, Limits::default());
        let s = with_deflate(Role::Server, limits);
        c.send_binary(&vec![0u8; 16 << 20]).unwrap();
        let wire = c.take_output();
        assert!(wire.len() < 64 << 10);
        let err = failure_of(s, &wire);
        assert_eq!(err, ProtocolError::MessageTooLarge { limit: 1 << 20 });
    }

    #[test]
    fn invalid_utf8_inside_compressed_text_is_1007() {
        let mut c = with_deflate(Role::Client, Limits::default());
        let s = with_deflate(Role::Server, Limits::default());
        // Compress invalid UTF-8 as if it were text.
        c.send_binary(b"valid prefix \xff\xfe invalid").unwrap();
        let mut wire = c.take_output().to_vec();
        wire[0] = 0xC1;
        assert_eq!(failure_of(s, &wire), ProtocolError::InvalidUtf8);
    }

    #[test]
    fn garbage_in_a_compressed_frame_is_1007() {
        let s = with_deflate(Role::Server, Limits::default());
        let err = failure_of(s, &masked(0xC2, &[0xff; 8]));
        assert_eq!(err, ProtocolError::InvalidCompressedData);
        assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
    }
}

mod keepalive {
    //! Keepalive pings and the idle timeout on virtual time: no sleeping.
    use super::*;
    use crate::keepalive::Keepalive;
    use std::time::{Duration, Instant};

    const SECOND: Duration = Duration::from_secs(1);

    fn with_keepalive(ping: Option<u64>, pong: u64, idle: Option<u64>) -> (Connection, Instant) {
        let start = Instant::now();
        let mut conn = server();
        let settings = Keepalive {
            ping_interval: ping.map(Duration::from_secs),
            pong_timeout: Duration::from_secs(pong),
            idle_timeout: idle.map(Duration::from_secs),
        };
        conn.set_keepalive(settings, start);
        (conn, start)
    }

    #[test]
    fn unused_deflate_state_is_released_and_the_stream_carries_on() {
        let t0 = Instant::now();
        let config = crate::DeflateConfig::default(); // released after 1 s unused
        let params = crate::DeflateParams::default(); // context kept both ways
        let mut s = server();
        s.enable_deflate(&params, &config);
        s.set_clock(t0);
        let mut c = client();
        c.enable_deflate(&params, &config);
        c.set_clock(t0);
        let text = r#"{"event":"price_update","symbol":"ACME","bid":101.25}"#.repeat(4);
        let mut sizes = Vec::new();
        for round in 0..3u32 {
            s.send_text(&text).unwrap();
            let wire = s.take_output();
            sizes.push(wire.len());
            c.receive_data(&wire);
            assert_eq!(
                c.next_event().unwrap(),
                Some(Event::Message(Message::text(text.clone()))),
                "round {round}: the peer's context carries on across released state"
            );
            let base = t0 + 10 * round * SECOND;
            for (side, conn) in [("server", &mut s), ("client", &mut c)] {
                let codec = |conn: &Connection| conn.deflate.as_ref().unwrap().holds_state();
                assert!(codec(conn), "{side} holds its state after a message");
                assert!(conn.poll_timeout().is_some(), "{side} looks again later");
                conn.handle_timeout(base + SECOND).unwrap();
                assert!(codec(conn), "{side}: used since the last look, kept");
                conn.handle_timeout(base + 2 * SECOND).unwrap();
                assert!(
                    !codec(conn),
                    "{side}: unused for a whole interval, released"
                );
                assert_eq!(conn.poll_timeout(), None, "{side}: nothing left to look at");
            }
        }
        // Each later message refers back to the first as if nothing had been released.
        assert!(sizes[1] < sizes[0] / 2, "{sizes:?}");
        assert_eq!(sizes[1], sizes[2]);
    }

    #[test]
    fn a_quiet_peer_is_pinged_after_the_interval_and_not_before() {
        let (mut s, t0) = with_keepalive(Some(20), 10, None);
        assert_eq!(s.poll_timeout(), Some(t0 + 20 * SECOND));
        s.handle_timeout(t0 + 19 * SECOND).unwrap();
        assert!(s.output_len() == 0);
        s.handle_timeout(t0 + 20 * SECOND).unwrap();
        assert_eq!(
            sent(&mut s),
            vec![(0x89, b"wsock-keepalive".to_vec(), false)]
        );
        assert_eq!(
            s.poll_timeout(),
            Some(t0 + 30 * SECOND),
            "now waiting for the answer"
        );
    }

    #[test]
    fn a_peer_that_answers_stays_connected_across_many_intervals() {
        let (mut s, t0) = with_keepalive(Some(20), 10, None);
        for round in 1..=50u32 {
            let ping_at = t0 + 25 * round * SECOND - 5 * SECOND;
            s.handle_timeout(ping_at).unwrap();
            assert_eq!(sent(&mut s).len(), 1, "one ping in round {round}");
            s.receive_data(&masked(0x8A, b"wsock-keepalive"));
            s.heard_from_peer(ping_at + 5 * SECOND);
            assert_eq!(
                s.next_event().unwrap(),
                Some(Event::Pong(Bytes::from_static(b"wsock-keepalive")))
            );
        }
        assert_eq!(s.state(), State::Open);
    }

    #[test]
    fn an_unanswered_ping_fails_the_connection_with_1011() {
        let (mut s, t0) = with_keepalive(Some(20), 10, None);
        s.handle_timeout(t0 + 20 * SECOND).unwrap();
        sent(&mut s);
        s.handle_timeout(t0 + 29 * SECOND).unwrap();
        let err = s.handle_timeout(t0 + 30 * SECOND).unwrap_err();
        assert_eq!(err, ProtocolError::KeepaliveTimeout { after: 10 * SECOND });
        assert_eq!(err.close_code(), CloseCode::INTERNAL_ERROR);
        let close = sent(&mut s);
        assert_eq!(close[0].0, 0x88);
        assert_eq!(u16::from_be_bytes([close[0].1[0], close[0].1[1]]), 1011);
        assert_eq!(s.poll_timeout(), None, "no timers once closed");
    }

    #[test]
    fn a_silent_peer_hits_the_idle_timeout_with_1001() {
        let (mut s, t0) = with_keepalive(None, 10, Some(60));
        s.heard_from_peer(t0 + 30 * SECOND);
        assert_eq!(s.poll_timeout(), Some(t0 + 90 * SECOND));
        s.handle_timeout(t0 + 89 * SECOND).unwrap();
        let err = s.handle_timeout(t0 + 90 * SECOND).unwrap_err();
        assert_eq!(err.close_code(), CloseCode::GOING_AWAY);
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn without_settings_there_is_no_timer() {
        let mut s = server();
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(Instant::now() + 1000 * SECOND).unwrap();
        assert!(s.output_len() == 0);
    }
}

#[test]
fn idle_buffers_are_released_and_busy_ones_kept() {
    let mut server = Connection::new(Role::Server);
    let mut client = Connection::new(Role::Client);
    client.send_text("hello").unwrap();
    let wire = client.take_output();
    // Half a frame is kept through a release.
    server.receive_data(&wire[..3]);
    server.send_text("queued").unwrap();
    server.release_idle_buffers();
    assert_eq!(server.buffered_input(), 3);
    assert!(server.output_len() > 0);
    server.receive_data(&wire[3..]);
    assert_eq!(
        server.next_event().unwrap(),
        Some(Event::Message(Message::text("hello")))
    );
    server.take_output();
    server.release_idle_buffers();
    assert_eq!(server.input_buffer().capacity(), 0);
    assert_eq!(server.take_output().capacity(), 0);
}

#[test]
fn the_memory_an_empty_receive_buffer_shares_with_a_payload_is_counted() {
    // A payload split off the receive buffer shares its memory with the buffer's
    // empty rest, which has no capacity to count: a waiting connection that kept it
    // uncounted would hold a whole frame's memory (up to the largest frame) that no
    // budget sees.
    let mut server = Connection::new(Role::Server);
    let mut client = Connection::new(Role::Client);
    client.send_binary(&vec![7; 64 << 10]).unwrap();
    let frame = client.take_output();
    server.receive_data(&frame);
    let Some(Event::Message(Message::Binary(payload))) = server.next_event().unwrap() else {
        panic!("expected the binary message");
    };
    assert_eq!(server.buffered_input(), 0);
    assert_eq!(server.input_buffer().capacity(), 0);
    assert!(server.receive_memory() >= frame.len());
    server.release_idle_buffers();
    assert!(server.receive_memory() >= frame.len());
    assert!(
        server.reusable_input_buffer(16 << 10).is_none(),
        "the payload still holds it"
    );

    // Once the payload is dropped, the memory comes back whole for the next read,
    // which goes where the frame was.
    let frame_start = payload.as_ptr() as usize - (frame.len() - payload.len());
    drop(payload);
    let kept = server
        .reusable_input_buffer(16 << 10)
        .expect("the memory is free again");
    assert_eq!(kept.as_ptr() as usize, frame_start);
    assert!(kept.capacity() >= frame.len());
    assert!(server.receive_memory() >= frame.len());

    // Only while it holds no input: bytes already there are read after, not over.
    server.receive_data(&frame[..10]);
    assert!(server.reusable_input_buffer(16 << 10).is_none());
}

#[test]
fn a_kept_buffer_comes_back_from_where_its_frame_started() {
    // A large frame read in pieces grows the buffer by doubling, which leaves room
    // after the frame. If only that room were reused, the next frame of the same size
    // would outgrow it and copy all of itself that had arrived (1 MiB per 1 MiB echo).
    let mut server = server();
    let frame = masked(0x82, &vec![7; 1 << 20]);
    let mut payload = None;
    for piece in frame.chunks(16 << 10) {
        server.receive_data(piece);
        if let Some(Event::Message(Message::Binary(data))) = server.next_event().unwrap() {
            payload = Some(data);
        }
    }
    let payload = payload.expect("the whole frame arrived");
    assert!(
        server.input_buffer().capacity() > 0,
        "the buffer has room left after the frame"
    );
    let frame_start = payload.as_ptr() as usize - (frame.len() - payload.len());
    drop(payload);
    server.release_idle_buffers();
    let kept = server
        .reusable_input_buffer(16 << 10)
        .expect("the memory is free again");
    assert_eq!(kept.as_ptr() as usize, frame_start, "reused from its start");
    assert!(kept.capacity() >= frame.len());
}

#[test]
fn small_buffers_are_let_go_before_waiting() {
    let mut server = Connection::new(Role::Server);
    let mut client = Connection::new(Role::Client);
    client.send_binary(&[7; 100]).unwrap();
    server.receive_data(&client.take_output());
    let payload = server.next_event().unwrap();
    server.release_idle_buffers();
    assert_eq!(server.receive_memory(), 0);
    assert_eq!(server.input_buffer().capacity(), 0);
    drop(payload);
}

/// Where each chunk of the queued output starts, in order.
fn output_chunks(connection: &Connection) -> Vec<*const u8> {
    let mut slices = [std::io::IoSlice::new(&[]); 8];
    let count = connection.output_slices(&mut slices);
    slices[..count].iter().map(|slice| slice.as_ptr()).collect()
}

#[test]
fn large_server_payloads_go_out_after_their_header_uncopied() {
    let big = Message::binary(vec![9u8; crate::connection::SHARED_PAYLOAD_MIN]);
    let mut server = Connection::new(Role::Server);
    server.send_text("before").unwrap();
    server.send(&big).unwrap();
    server.send_text("after").unwrap();
    let chunks = output_chunks(&server);
    assert_eq!(chunks.len(), 3, "own frames and header, payload, own frame");
    assert_eq!(
        chunks[1],
        big.payload().as_ptr(),
        "the same bytes, not a copy"
    );
    let mut expected = Connection::new(Role::Server);
    for message in [Message::text("before"), big.clone(), Message::text("after")] {
        expected.send(&message).unwrap();
    }
    assert_eq!(server.take_output(), expected.take_output());

    // Small payloads, clients (who mask) and compressed messages are encoded here.
    let small = Message::binary(vec![9u8; 100]);
    let mut client = Connection::new(Role::Client);
    let mut deflating = Connection::new(Role::Server);
    deflating.enable_deflate(&Default::default(), &Default::default());
    for (connection, message) in [
        (&mut server, &small),
        (&mut client, &big),
        (&mut deflating, &big),
    ] {
        connection.send(message).unwrap();
        assert_eq!(output_chunks(connection).len(), 1);
    }
}

mod incomplete_messages {
    //! A half-sent frame or message is held only while it makes progress; on virtual
    //! time.
    use super::*;
    use crate::keepalive::Keepalive;
    use std::time::{Duration, Instant};

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn feed(conn: &mut Connection, bytes: &[u8], at: Instant) {
        conn.receive_data(bytes);
        conn.heard_from_peer(at);
        while let Ok(Some(_)) = conn.next_event() {}
    }

    #[test]
    fn nothing_held_means_no_deadline() {
        let mut s = server();
        let t0 = Instant::now();
        feed(&mut s, &masked(0x81, b"whole"), t0);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn a_fragmented_message_left_half_sent_fails_with_1008() {
        let mut s = server();
        let t0 = Instant::now();
        feed(&mut s, &masked(0x01, b"first half"), t0);
        assert_eq!(s.poll_timeout(), Some(t0 + TIMEOUT));
        // Progress (a ping counts: bytes arrived) restarts the clock.
        feed(&mut s, &masked(0x89, b""), t0 + TIMEOUT / 2);
        let _ = sent(&mut s);
        assert_eq!(s.poll_timeout(), Some(t0 + TIMEOUT / 2 + TIMEOUT));
        s.handle_timeout(t0 + TIMEOUT).unwrap();
        let error = s.handle_timeout(t0 + TIMEOUT * 2).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::IncompleteMessageTimeout { after: TIMEOUT }
        );
        assert_eq!(sent(&mut s)[0].0, 0x88);
        assert_eq!(error.close_code(), CloseCode::POLICY_VIOLATION);
        assert_eq!(s.receive_memory(), 0, "what it held is freed");
    }

    #[test]
    fn only_a_held_frame_or_a_timer_needs_the_time_of_arrival() {
        let mut s = server();
        s.receive_data(&masked(0x81, b"whole"));
        while let Ok(Some(_)) = s.next_event() {}
        assert!(!s.arrival_needs_clock(), "whole messages need no clock");
        let frame = masked(0x82, &[7; 100]);
        s.receive_data(&frame[..50]);
        while let Ok(Some(_)) = s.next_event() {}
        assert!(s.arrival_needs_clock(), "half a frame is held");
        s.receive_data(&frame[50..]);
        while let Ok(Some(_)) = s.next_event() {}
        assert!(!s.arrival_needs_clock());
        s.receive_data(&masked(0x01, b"first half"));
        while let Ok(Some(_)) = s.next_event() {}
        assert!(s.arrival_needs_clock(), "half a message is held");

        let mut keeping = server();
        let settings = Keepalive {
            ping_interval: Some(TIMEOUT),
            ..Keepalive::default()
        };
        keeping.set_keepalive(settings, Instant::now());
        keeping.note_arrival();
        assert!(
            keeping.arrival_needs_clock(),
            "keepalive counts every arrival"
        );
    }

    #[test]
    fn a_frame_cut_in_its_payload_counts_too() {
        let mut s = server();
        let t0 = Instant::now();
        let frame = masked(0x82, &[7; 100]);
        feed(&mut s, &frame[..50], t0);
        assert_eq!(s.poll_timeout(), Some(t0 + TIMEOUT));
        feed(&mut s, &frame[50..], t0 + Duration::from_secs(1));
        assert_eq!(s.poll_timeout(), None, "the frame finished");
    }

    #[test]
    fn receive_memory_counts_the_message_in_reassembly_and_fail_with_frees_it() {
        let mut s = server();
        let t0 = Instant::now();
        feed(&mut s, &masked(0x02, &[1; 4096]), t0);
        for _ in 0..15 {
            feed(&mut s, &masked(0x00, &[1; 4096]), t0);
        }
        assert!(s.receive_memory() >= 64 << 10, "{}", s.receive_memory());
        s.fail_with(ProtocolError::ReadBudgetExhausted);
        assert_eq!(s.receive_memory(), 0);
        assert_eq!(sent(&mut s)[0].0, 0x88);
        assert_eq!(
            s.failure.as_deref(),
            Some(&ProtocolError::ReadBudgetExhausted)
        );
    }

    #[test]
    fn growth_past_the_allowance_fails_with_1013_before_it_is_buffered() {
        let mut s = server();
        let t0 = Instant::now();
        s.set_receive_allowance(24 << 10);
        feed(&mut s, &masked(0x02, &[1; 16 << 10]), t0);
        assert!(s.failure.as_deref().is_none(), "16 KiB fits");
        s.receive_data(&masked(0x00, &[1; 16 << 10]));
        let error = s.next_event().unwrap_err();
        assert_eq!(error, ProtocolError::ReadBudgetExhausted);
        assert_eq!(error.close_code(), CloseCode::TRY_AGAIN_LATER);
        assert_eq!(s.receive_memory(), 0);
    }
}

mod reading_again {
    use super::*;

    /// A 64 KiB binary frame split where loopback splits it: its first segment of
    /// 65,483 bytes, and the rest.
    fn frame_of_64_kib() -> (Vec<u8>, usize) {
        (masked(0x82, &[7; 64 << 10]), 65_483)
    }

    #[test]
    fn a_frame_that_lacks_only_its_tail_is_read_again_at_once() {
        let (frame, first_segment) = frame_of_64_kib();
        let mut conn = server();
        conn.receive_data(&frame[..first_segment]);
        assert!(conn.next_event().unwrap().is_none());
        assert!(conn.should_read_again(), "67 bytes missing");
        conn.receive_data(&frame[first_segment..]);
        assert!(!conn.should_read_again(), "nothing missing");
        let Ok(Some(Event::Message(message))) = conn.next_event() else {
            panic!("the whole frame is a message")
        };
        assert_eq!(message.payload(), &[7; 64 << 10][..]);
        assert!(!conn.should_read_again(), "no frame held");
    }

    #[test]
    fn a_frame_that_lacks_more_than_a_segment_is_waited_for() {
        let (frame, _) = frame_of_64_kib();
        let mut conn = server();
        conn.receive_data(&frame[..16 << 10]);
        assert!(conn.next_event().unwrap().is_none());
        assert!(!conn.should_read_again());
    }

    #[test]
    fn a_header_in_pieces_is_waited_for() {
        // Its length is not known yet, so neither is what it lacks.
        let mut conn = server();
        conn.receive_data(&[0x82, 0xff, 0, 0]);
        assert!(conn.next_event().unwrap().is_none());
        assert!(!conn.should_read_again());
    }
}
