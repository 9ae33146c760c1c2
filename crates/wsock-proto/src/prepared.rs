//! Messages encoded once and sent to many connections: the frame a broadcast shares.

use bytes::{Bytes, BytesMut};

use crate::connection::Connection;
use crate::error::LocalError;
use crate::frame::{encode_frame, OpCode, MAX_CONTROL_PAYLOAD};
use crate::message::Message;
use crate::Role;

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

impl Connection {
    /// Whether a [`PreparedMessage`]'s frame may be written to this connection as it
    /// is, after everything in [`pending_output`](Self::pending_output): `Ok(true)` on
    /// an open server connection, `Ok(false)` on a client (which must
    /// [`send`](Self::send) the message, masked), and an error once closing.
    pub fn may_share_frames(&self) -> Result<bool, LocalError> {
        if self.state() != crate::State::Open {
            return Err(LocalError::ConnectionClosed);
        }
        Ok(self.role() == Role::Server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloseCode, CloseFrame, Event};

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
    fn only_open_servers_share_frames() {
        let mut server = Connection::new(Role::Server);
        assert_eq!(server.may_share_frames(), Ok(true));
        assert_eq!(Connection::new(Role::Client).may_share_frames(), Ok(false));
        server.send_close(None).unwrap();
        assert_eq!(server.may_share_frames(), Err(LocalError::ConnectionClosed));
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
