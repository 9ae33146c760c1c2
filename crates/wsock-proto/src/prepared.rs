//! Messages encoded once and sent to many connections: the frame a broadcast shares.

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};

use crate::deflate::{compress_standalone, with_scratch, Settings};
use crate::error::LocalError;
use crate::frame::{encode_frame, OpCode, MAX_CONTROL_PAYLOAD};
use crate::message::Message;

/// A message with its server frame (unmasked, uncompressed, final) encoded once, so
/// that a server can send it to any number of connections by sharing the bytes.
///
/// Uncompressed frames are valid on every connection, permessage-deflate or not (RFC
/// 7692 §6: compression is per message). Clients must mask each frame with a key of
/// its own, so on a client connection the message is encoded again.
///
/// ```
/// use wsock_proto::{Connection, Event, Message, PreparedMessage, Role};
///
/// let prepared = PreparedMessage::new(Message::text("to everyone")).unwrap();
/// let mut client = Connection::new(Role::Client);
/// client.receive_data(prepared.frame());
/// assert_eq!(client.next_event().unwrap(), Some(Event::Message(Message::text("to everyone"))));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedMessage {
    message: Message,
    frame: Bytes,
    /// The frame compressed (permessage-deflate, without context), made the first time
    /// a connection that can take it asks; shared by every clone, so a broadcast is
    /// compressed once.
    compressed: Arc<OnceLock<Compressed>>,
}

/// A compressed frame, and the window it was compressed with.
#[derive(Debug, PartialEq)]
struct Compressed {
    window_bits: u8,
    frame: Bytes,
}

impl PreparedMessage {
    /// Encodes `message` (text, binary, ping or pong; a close belongs to one connection).
    pub fn new(message: Message) -> Result<Self, LocalError> {
        let opcode = match &message {
            Message::Text(_) => OpCode::Text,
            Message::Binary(_) => OpCode::Binary,
            Message::Ping(_) => OpCode::Ping,
            Message::Pong(_) => OpCode::Pong,
            Message::Close(_) => return Err(LocalError::PreparedClose),
        };
        let payload = message.payload();
        if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(LocalError::ControlPayloadTooLong(payload.len()));
        }
        let mut frame = BytesMut::new();
        encode_frame(&mut frame, opcode, true, 0, None, payload);
        Ok(Self {
            message,
            frame: frame.freeze(),
            compressed: Arc::default(),
        })
    }

    /// The frame compressed for a connection that compresses with `settings` and
    /// without context: compressed the first time any connection asks, then shared.
    /// `None` for control messages, and when the frame was compressed with a larger
    /// window than this connection's peer inflates with and could refer past it.
    pub(crate) fn compressed_frame(&self, settings: Settings) -> Option<&Bytes> {
        let (opcode, payload) = match &self.message {
            Message::Text(text) => (OpCode::Text, text.as_bytes()),
            Message::Binary(data) => (OpCode::Binary, &data[..]),
            _ => return None,
        };
        let compressed = self.compressed.get_or_init(|| {
            let frame = with_scratch(|out| {
                compress_standalone(settings, payload, out);
                // The sync flush's tail, which RFC 7692 leaves off the wire.
                out.truncate(out.len().saturating_sub(4));
                let mut frame = BytesMut::with_capacity(out.len() + 10);
                encode_frame(&mut frame, opcode, true, 0b100, None, out);
                frame.freeze()
            });
            Compressed {
                window_bits: settings.window_bits,
                frame,
            }
        });
        let fits = compressed.window_bits <= settings.window_bits
            || payload.len() <= 1 << settings.window_bits;
        fits.then_some(&compressed.frame)
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The encoded server frame; cloning it shares the bytes.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloseCode, CloseFrame, Connection, Event, Role};

    #[test]
    fn a_prepared_frame_is_what_send_would_write_on_a_server() {
        for message in [
            Message::text("hello"),
            Message::binary(vec![7u8; 70_000]),
            Message::Ping(Bytes::from_static(b"p")),
        ] {
            let mut server = Connection::new(Role::Server);
            server.send(&message).unwrap();
            let prepared = PreparedMessage::new(message).unwrap();
            assert_eq!(&server.take_output()[..], &prepared.frame()[..]);
        }
    }

    #[test]
    fn close_and_long_control_payloads_are_refused() {
        let close = Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, "")));
        assert_eq!(PreparedMessage::new(close), Err(LocalError::PreparedClose));
        let ping = Message::Ping(Bytes::from(vec![0u8; 126]));
        assert_eq!(
            PreparedMessage::new(ping),
            Err(LocalError::ControlPayloadTooLong(126))
        );
    }

    #[test]
    fn servers_share_the_frame_clients_encode_their_own_and_closing_ones_refuse() {
        let prepared = PreparedMessage::new(Message::binary(vec![1u8; 300])).unwrap();
        let mut server = Connection::new(Role::Server);
        server.send_prepared(&prepared).unwrap();
        let mut slices = [std::io::IoSlice::new(&[]); 2];
        assert_eq!(server.output_slices(&mut slices), 1);
        assert_eq!(slices[0].as_ptr(), prepared.frame().as_ptr(), "copied");
        let mut client = Connection::new(Role::Client);
        client.send_prepared(&prepared).unwrap();
        let masked = client.take_output();
        assert_eq!(masked.len(), prepared.frame().len() + 4);
        assert_ne!(&masked[6..], &prepared.frame()[4..], "not masked");
        server.send_close(None).unwrap();
        assert_eq!(
            server.send_prepared(&prepared),
            Err(LocalError::ConnectionClosed)
        );
        // A deflate peer takes the uncompressed frame as it is.
        let prepared = PreparedMessage::new(Message::text("plain")).unwrap();
        let mut client = Connection::new(Role::Client);
        client.enable_deflate(&Default::default(), &Default::default());
        client.receive_data(prepared.frame());
        assert_eq!(
            client.next_event().unwrap(),
            Some(Event::Message(Message::text("plain")))
        );
    }

    /// A server and a client that agreed on deflate with `config`.
    fn deflate_pair(config: &crate::DeflateConfig) -> (Connection, Connection) {
        let offer = config.client_offer();
        let (params, _) = crate::negotiate_server([offer.as_str()], config).unwrap();
        let (mut server, mut client) =
            (Connection::new(Role::Server), Connection::new(Role::Client));
        server.enable_deflate(&params, config);
        client.enable_deflate(&params, config);
        (server, client)
    }

    fn first_chunk(connection: &Connection) -> *const u8 {
        let mut slices = [std::io::IoSlice::new(&[]); 2];
        assert_eq!(connection.output_slices(&mut slices), 1);
        slices[0].as_ptr()
    }

    #[test]
    fn a_broadcast_is_compressed_once_for_the_members_that_keep_no_context() {
        let text = r#"{"event":"price_update","symbol":"ACME","bid":101.25}"#.repeat(20);
        let prepared = PreparedMessage::new(Message::text(text.clone())).unwrap();
        let shared = crate::DeflateConfig::shared();
        let mut frames = Vec::new();
        for _ in 0..3 {
            let (mut server, mut client) = deflate_pair(&shared);
            server.send_prepared(&prepared).unwrap();
            frames.push(first_chunk(&server));
            let wire = server.take_output();
            assert_eq!(wire[0], 0xc1, "FIN, RSV1 and text: compressed");
            assert!(wire.len() < text.len() / 4, "{} bytes", wire.len());
            client.receive_data(&wire);
            assert_eq!(
                client.next_event().unwrap(),
                Some(Event::Message(Message::text(text.clone())))
            );
        }
        assert!(
            frames.windows(2).all(|pair| pair[0] == pair[1]),
            "one compressed frame, shared"
        );
        // A member whose compressor keeps its context takes the plain shared frame.
        let (mut keeping, _) = deflate_pair(&crate::DeflateConfig::default());
        keeping.send_prepared(&prepared).unwrap();
        assert_eq!(first_chunk(&keeping), prepared.frame().as_ptr());
    }
}
