//! Sans-I/O core of the wsock WebSocket implementation (RFC 6455).
//!
//! Nothing here touches a socket, a runtime or a clock: bytes go in, events come out;
//! messages go in, bytes come out. The I/O crate `wsock` drives this over tokio or std
//! streams, and tests drive it directly.
//!
//! ```
//! use wsock_proto::{Connection, Event, Message, Role};
//!
//! let mut client = Connection::new(Role::Client);
//! let mut server = Connection::new(Role::Server);
//! client.send_text("hello").unwrap();
//! let wire = client.take_output();
//! server.receive_data(&wire);
//! assert_eq!(server.next_event().unwrap(), Some(Event::Message(Message::text("hello"))));
//! ```

#![warn(missing_docs)]

mod batching;
mod close;
mod connection;
pub mod deflate;
mod error;
mod frame;
pub mod handshake;
mod keepalive;
mod limits;
mod mask;
mod message;
mod output;
mod prepared;
mod read_again;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use connection::{Connection, Event, Role, State};
pub use deflate::{negotiate_server, parse_client_response, DeflateConfig, DeflateParams};
pub use error::{HandshakeError, LocalError, ProtocolError};
pub use frame::{encode_frame, FrameHeader, OpCode};
pub use keepalive::Keepalive;
pub use limits::Limits;
pub use mask::apply_mask;
pub use message::{Message, Utf8Bytes};
pub use prepared::PreparedMessage;
pub use utf8::Utf8Validator;
