//! The server's side of the opening handshake.

use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::Method;

use super::headers::{complete_head, has_token, header_tokens, to_header_map, with_header_slots};
use super::{is_token, HeadScanner};
use crate::error::HandshakeError;
use crate::limits::Limits;

pub use super::accept::{accept, accept_with, text_response, AcceptPolicy, Accepted, Refusal};

/// A client's upgrade request that passed every check of RFC 6455 section 4.2.1.
///
/// Parsed by a wsock server, its target and header values share the memory the head
/// was read into (1 KiB, or the head's size): whoever keeps the request, or one of its
/// values, for a connection's life keeps that memory; copy what you need instead.
#[derive(Clone, Debug)]
pub struct UpgradeRequest {
    request: http::Request<()>,
    key: String,
    protocols: Vec<String>,
}

/// Parses and validates a complete request head (as found by
/// [`HeadScanner`]). The error's
/// [`status`](HandshakeError::status) is the answer to send.
///
/// ```
/// let head = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let req = wsock_proto::handshake::server::parse_request(head, &Default::default()).unwrap();
/// assert_eq!(req.path(), "/chat");
/// assert_eq!(req.protocols(), ["chat", "superchat"]);
/// ```
pub fn parse_request(head: &[u8], limits: &Limits) -> Result<UpgradeRequest, HandshakeError> {
    validate(parse_head(head, limits)?)
}

/// Parses a complete request head (as found by [`HeadScanner`]) into an
/// `http::Request`, whatever its method: for a server that also answers plain HTTP
/// requests before deciding on an upgrade (see [`is_upgrade`]). Copies `head` once;
/// [`parse_shared_head`] takes it without a copy.
pub fn parse_head(head: &[u8], limits: &Limits) -> Result<http::Request<()>, HandshakeError> {
    parse_shared_head(Bytes::copy_from_slice(head), limits)
}

/// [`parse_head`] for a head already in shared memory (a read buffer's
/// `split_to(len).freeze()`): the request's target and header values are slices of
/// it, where copying each would be an allocation per field for every connection a
/// server accepts.
pub fn parse_shared_head(
    head: Bytes,
    limits: &Limits,
) -> Result<http::Request<()>, HandshakeError> {
    // The head must end exactly at its first CRLFCRLF, with no bare LF before it, or
    // httparse and a proxy in front could disagree on where the request ends.
    if HeadScanner::default().scan(&head, usize::MAX)? != Some(head.len()) {
        return Err(HandshakeError::Malformed(
            "the request head does not end exactly at its first empty line".into(),
        ));
    }
    with_header_slots(limits.max_headers, |slots| {
        let mut parsed = httparse::Request::new(&mut []);
        let result = httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut parsed,
            &head,
            slots,
        );
        complete_head(result, "request", limits.max_headers)?;
        request_from(&parsed, &head)
    })
}

/// The `http::Request` a parsed HTTP/1.1 head stands for; its target and header
/// values share `head`'s memory.
fn request_from(
    parsed: &httparse::Request<'_, '_>,
    head: &Bytes,
) -> Result<http::Request<()>, HandshakeError> {
    if parsed.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let method = parsed.method.unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| HandshakeError::Malformed(format!("invalid method {method:?}")))?;
    let path = parsed.path.unwrap_or_default();
    let uri = http::Uri::from_maybe_shared(head.slice_ref(path.as_bytes()))
        .map_err(|_| HandshakeError::Malformed(format!("invalid request target {path:?}")))?;
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_11;
    *request.headers_mut() = to_header_map(parsed.headers, |value| head.slice_ref(value))?;
    Ok(request)
}

/// Whether `request` asks for a protocol upgrade at all (has an `Upgrade` header). A
/// server that also serves plain HTTP answers the others as plain requests.
pub fn is_upgrade(request: &http::Request<()>) -> bool {
    request.headers().contains_key(header::UPGRADE)
}

fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    label: &'static str,
) -> Result<&'a str, HandshakeError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(HandshakeError::MissingHeader(label))?;
    let text = value.to_str().map_err(|_| HandshakeError::InvalidHeader {
        name: label,
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
    })?;
    if values.next().is_some() {
        return Err(HandshakeError::InvalidHeader {
            name: label,
            value: "(repeated)".into(),
        });
    }
    Ok(text.trim())
}

fn require_token(
    headers: &HeaderMap,
    name: &HeaderName,
    label: &'static str,
    token: &str,
) -> Result<(), HandshakeError> {
    if has_token(headers, name, token) {
        return Ok(());
    }
    match headers.get(name) {
        None => Err(HandshakeError::MissingHeader(label)),
        Some(value) => Err(HandshakeError::InvalidHeader {
            name: label,
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        }),
    }
}

/// The `:protocol` pseudo-header of an HTTP/2 extended CONNECT (RFC 8441 section 4),
/// which an HTTP/2 layer hands over in the request's extensions (hyper and h2 each
/// have their own type for it; a shell copies it into this one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectProtocol(pub String);

/// Validates an already-parsed request, for servers whose HTTP layer (hyper, say) did
/// the parsing: an HTTP/1.1 upgrade (RFC 6455 section 4.2.1), or over HTTP/2 an
/// extended CONNECT with `:protocol` `websocket` (RFC 8441 section 5), which has no
/// key, `Upgrade` or `Connection`.
pub fn validate(request: http::Request<()>) -> Result<UpgradeRequest, HandshakeError> {
    let over_http2 = request.version() == http::Version::HTTP_2;
    match request.method() {
        &Method::GET if !over_http2 => {}
        &Method::CONNECT if over_http2 => {}
        other if over_http2 => return Err(HandshakeError::NotExtendedConnect(other.to_string())),
        other => return Err(HandshakeError::MethodNotGet(other.to_string())),
    }
    let headers = request.headers();
    if over_http2 {
        let protocol = request.extensions().get::<ConnectProtocol>();
        if !protocol.is_some_and(|p| p.0.eq_ignore_ascii_case("websocket")) {
            return Err(HandshakeError::InvalidHeader {
                name: ":protocol",
                value: protocol.map_or_else(|| "(none)".into(), |p| p.0.clone()),
            });
        }
        if request.uri().authority().is_none() {
            return Err(HandshakeError::MissingHeader(":authority"));
        }
    } else {
        single(headers, &header::HOST, "Host")?;
    }
    for (name, label) in [
        (&header::CONTENT_LENGTH, "Content-Length"),
        (&header::TRANSFER_ENCODING, "Transfer-Encoding"),
    ] {
        if headers.contains_key(name) {
            return Err(HandshakeError::BodyHeader(label));
        }
    }
    if headers.contains_key(header::ORIGIN) {
        // An origin is visible ASCII (RFC 6454); one that is not, or two, cannot be
        // checked against the policy, so they are refused rather than ignored.
        single(headers, &header::ORIGIN, "Origin")?;
    }
    if !over_http2 {
        require_token(headers, &header::UPGRADE, "Upgrade", "websocket")?;
        require_token(headers, &header::CONNECTION, "Connection", "upgrade")?;
    }
    let version = single(
        headers,
        &header::SEC_WEBSOCKET_VERSION,
        "Sec-WebSocket-Version",
    )?;
    if version != "13" {
        return Err(HandshakeError::UnsupportedVersion(version.to_owned()));
    }
    let key = if over_http2 {
        String::new()
    } else {
        let key = single(headers, &header::SEC_WEBSOCKET_KEY, "Sec-WebSocket-Key")?;
        // Into the stack: a 16-byte nonce is 24 characters, whose decoding estimate is
        // 18 bytes; anything longer cannot fit and is refused as it should be.
        let mut nonce = [0u8; 18];
        let decoded = base64::engine::general_purpose::STANDARD.decode_slice(key, &mut nonce);
        if !matches!(decoded, Ok(16)) {
            return Err(HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Key",
                value: key.to_owned(),
            });
        }
        key.to_owned()
    };
    let mut protocols = Vec::new();
    for token in header_tokens(headers, &header::SEC_WEBSOCKET_PROTOCOL) {
        if !is_token(token) {
            return Err(HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Protocol",
                value: token.to_owned(),
            });
        }
        protocols.push(token.to_owned());
    }
    Ok(UpgradeRequest {
        request,
        key,
        protocols,
    })
}

impl UpgradeRequest {
    /// The whole request, headers included.
    pub fn request(&self) -> &http::Request<()> {
        &self.request
    }

    /// The request's path, without the query.
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }

    /// The host the client addressed: the `Host` header, or over HTTP/2 the
    /// `:authority`.
    pub fn host(&self) -> &str {
        match self.request.uri().authority() {
            Some(authority) if self.is_extended_connect() => authority.as_str(),
            _ => self.header_str(&header::HOST).unwrap_or_default(),
        }
    }

    /// Whether this is an HTTP/2 extended CONNECT (RFC 8441) rather than an HTTP/1.1
    /// upgrade: it is then answered with 200 rather than 101.
    pub fn is_extended_connect(&self) -> bool {
        self.request.version() == http::Version::HTTP_2
    }

    /// The `Origin` header, sent by browsers.
    pub fn origin(&self) -> Option<&str> {
        self.header_str(&header::ORIGIN)
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The `Sec-WebSocket-Key` the client sent (empty over HTTP/2, which has none).
    pub fn key(&self) -> &str {
        &self.key
    }

    fn header_str(&self, name: &HeaderName) -> Option<&str> {
        self.request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }
}

/// The first of the server's `supported` subprotocols, in the server's order of
/// preference, that the client offered.
///
/// ```
/// use wsock_proto::handshake::server::select_protocol;
/// let offered = ["superchat".to_string(), "chat".to_string()];
/// assert_eq!(select_protocol(&offered, &["chat", "superchat"]), Some("chat"));
/// assert_eq!(select_protocol(&offered, &["mqtt"]), None);
/// ```
pub fn select_protocol<'a>(offered: &[String], supported: &[&'a str]) -> Option<&'a str> {
    supported
        .iter()
        .copied()
        .find(|s| offered.iter().any(|o| o == s))
}

fn write_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// A response as bytes for the wire; `http`'s types guarantee no header can inject
/// another line. A 1xx (the 101 of an upgrade) goes out as it is. Any other status is
/// the last response on its connection, since wsock's servers answer one request per
/// connection: it gets `Content-Length` and `Connection: close`, and for a `HEAD`
/// request (`head_only`) no body.
///
/// ```
/// use wsock_proto::handshake::server::encode_response;
/// let response = http::Response::builder()
///     .header("Content-Type", "text/plain")
///     .body(bytes::Bytes::from_static(b"hi"))
///     .unwrap();
/// let wire = encode_response(&response, false);
/// assert!(wire.starts_with(b"HTTP/1.1 200 OK\r\n"));
/// assert!(wire.ends_with(b"Connection: close\r\n\r\nhi"));
/// ```
pub fn encode_response<B: AsRef<[u8]>>(response: &http::Response<B>, head_only: bool) -> Vec<u8> {
    let body = response.body().as_ref();
    let mut out = Vec::with_capacity(160 + body.len());
    let status = response.status();
    let reason = status.canonical_reason().unwrap_or("");
    // Piece by piece: a handshake is a few hundred bytes, and `format!` would be one
    // more allocation for every connection a server accepts.
    for piece in [
        b"HTTP/1.1 ",
        status.as_str().as_bytes(),
        b" ",
        reason.as_bytes(),
        b"\r\n",
    ] {
        out.extend_from_slice(piece);
    }
    if status.is_informational() {
        write_headers(&mut out, response.headers());
        out.extend_from_slice(b"\r\n");
        return out;
    }
    let mut headers = response.headers().clone();
    headers.remove(header::CONNECTION);
    headers.insert(header::CONTENT_LENGTH, body.len().into());
    write_headers(&mut out, &headers);
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
