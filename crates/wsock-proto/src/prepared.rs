//! Messages encoded once and sent to many connections: the frame a broadcast shares.

use bytes::{Bytes, BytesMut};

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
        })
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
}
