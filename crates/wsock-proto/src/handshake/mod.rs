//! The opening handshake (RFC 6455 section 4): building and validating the HTTP/1.1
//! upgrade request and response, with no I/O.

mod accept;
pub mod client;
pub mod connect;
mod head;
mod headers;
pub mod origin;
pub mod server;
pub mod socks5;

pub use head::HeadScanner;
pub use headers::{header_tokens, is_token};

use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID appended to the client's key before hashing (RFC 6455 section 1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// // The example of RFC 6455 section 1.3.
/// assert_eq!(
///     wsock_proto::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded.
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    // Not caused by any peer, and a predictable key is worse than stopping.
    getrandom::getrandom(&mut nonce).expect("the OS random number generator failed");
    base64::engine::general_purpose::STANDARD.encode(nonce)
}
