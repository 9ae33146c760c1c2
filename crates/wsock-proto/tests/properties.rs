//! Property tests: framing, fragmentation and close frames hold for any input.

use bytes::BytesMut;
use proptest::prelude::*;
use wsock_proto::{
    apply_mask, encode_frame, CloseCode, CloseFrame, Connection, Event, FrameHeader, Message,
    OpCode, ProtocolError, Role,
};

fn opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

/// A client frame as bytes: masked with `key`.
fn client_frame(opcode: OpCode, fin: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(&mut out, opcode, fin, 0, Some(key), payload);
    out.to_vec()
}

/// Feeds `wire` to `conn` in pieces cut at `cuts` and collects every event.
fn receive_in_pieces(
    conn: &mut Connection,
    wire: &[u8],
    cuts: &[usize],
) -> Result<Vec<Event>, ProtocolError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(0);
    points.push(wire.len());
    points.sort_unstable();
    let mut events = Vec::new();
    for pair in points.windows(2) {
        conn.receive_data(&wire[pair[0]..pair[1]]);
        while let Some(event) = conn.next_event()? {
            events.push(event);
        }
    }
    Ok(events)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_frame_encodes_and_decodes_to_itself(
        opcode in opcode(),
        fin in any::<bool>(),
        rsv in 0u8..8,
        mask in proptest::option::of(any::<[u8; 4]>()),
        payload in proptest::collection::vec(any::<u8>(), 0..70_000),
    ) {
        // Control frames are short and unfragmented by definition.
        let (fin, payload) = if opcode.is_control() { (true, &payload[..payload.len().min(125)]) } else { (fin, &payload[..]) };
        let mut wire = BytesMut::new();
        encode_frame(&mut wire, opcode, fin, rsv, mask, payload);
        let (header, len) = FrameHeader::decode(&wire).unwrap().unwrap();
        prop_assert_eq!(header, FrameHeader { fin, rsv, opcode, mask, payload_len: payload.len() as u64 });
        let mut body = wire[len..].to_vec();
        if let Some(key) = mask {
            apply_mask(&mut body, key, 0);
        }
        prop_assert_eq!(&body[..], payload);
    }

    #[test]
    fn any_fragmentation_with_control_frames_between_yields_the_same_message(
        text in any::<bool>(),
        content in "\\PC{0,300}",
        binary in proptest::collection::vec(any::<u8>(), 0..600),
        splits in proptest::collection::vec(any::<usize>(), 0..8),
        pings in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..125)), 0..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        key in any::<[u8; 4]>(),
    ) {
        let payload: Vec<u8> = if text { content.clone().into_bytes() } else { binary.clone() };
        let mut points: Vec<usize> = splits.iter().map(|s| s % (payload.len() + 1)).collect();
        points.push(0);
        points.push(payload.len());
        points.sort_unstable();
        let fragments: Vec<&[u8]> = points.windows(2).map(|w| &payload[w[0]..w[1]]).collect();

        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (i, fragment) in fragments.iter().enumerate() {
            let opcode = match (i, text) {
                (0, true) => OpCode::Text,
                (0, false) => OpCode::Binary,
                _ => OpCode::Continuation,
            };
            wire.extend(client_frame(opcode, i + 1 == fragments.len(), fragment, key));
            if let Some(Some(ping)) = pings.get(i) {
                if i + 1 < fragments.len() {
                    wire.extend(client_frame(OpCode::Ping, true, ping, key));
                    expected.push(Event::Ping(ping.clone().into()));
                }
            }
        }
        let mut server = Connection::new(Role::Server);
        let events = receive_in_pieces(&mut server, &wire, &cuts).unwrap();
        let message = if text { Message::text(content) } else { Message::binary(binary) };
        expected.push(Event::Message(message));
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn close_frames_round_trip_or_fail_as_rfc_6455_says(
        code in any::<u16>(),
        reason in proptest::collection::vec(any::<u8>(), 0..123),
        key in any::<[u8; 4]>(),
    ) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(&reason);
        let mut server = Connection::new(Role::Server);
        server.receive_data(&client_frame(OpCode::Close, true, &payload, key));
        let allowed = CloseCode(code).is_allowed_on_wire();
        let valid_text = std::str::from_utf8(&reason).is_ok();
        match server.next_event() {
            Ok(Some(Event::Close(Some(frame)))) => {
                prop_assert!(allowed && valid_text);
                prop_assert_eq!(frame, CloseFrame::new(CloseCode(code), std::str::from_utf8(&reason).unwrap()));
                // The answer echoes the same code and reason.
                let answer = server.take_output();
                prop_assert_eq!(&answer[2..], &payload[..]);
            }
            Err(error) => {
                let expected = if !allowed { 1002 } else { 1007 };
                prop_assert!(!(allowed && valid_text), "{}", error);
                prop_assert_eq!(error.close_code(), CloseCode(expected));
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_end_in_events_or_one_error(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
        role in prop_oneof![Just(Role::Client), Just(Role::Server)],
    ) {
        let mut conn = Connection::new(role);
        if receive_in_pieces(&mut conn, &bytes, &cuts).is_err() {
            // After a failure the connection only closes.
            prop_assert_eq!(conn.next_event(), Ok(None));
            prop_assert!(conn.send_text("x").is_err());
        }
    }
}
