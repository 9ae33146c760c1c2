//! The server's decision on an upgrade request: protocol checks, the origin policy,
//! the application's own check, then the subprotocol and permessage-deflate. Every
//! server (wsock's tokio and blocking ones, a hyper upgrade) asks this and only
//! carries the answer.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::StatusCode;

use super::accept_key;
use super::origin::{OriginPolicy, Reached};
use super::server::{select_protocol, validate, UpgradeRequest};
use crate::connection::{Connection, Role};
use crate::deflate::{negotiate_server, DeflateConfig};
use crate::error::HandshakeError;
use crate::limits::Limits;

/// What a server accepts: which origins, subprotocols and permessage-deflate offers,
/// and the limits its connections start with.
///
/// ```
/// use wsock_proto::handshake::origin::OriginPolicy;
/// use wsock_proto::handshake::server::AcceptPolicy;
/// let policy = AcceptPolicy {
///     origins: OriginPolicy::allow_list(["https://app.example.com"]),
///     protocols: vec!["chat.v2".into(), "chat".into()],
///     ..AcceptPolicy::default()
/// };
/// ```
#[derive(Clone, Debug, Default)]
pub struct AcceptPolicy {
    /// Which `Origin`s may connect (default: same origin only).
    pub origins: OriginPolicy,
    /// How clients reach the server, for the same-origin check.
    pub reached: Reached,
    /// Subprotocols spoken, most preferred first; the first the client also offered
    /// is chosen.
    pub protocols: Vec<String>,
    /// permessage-deflate settings to accept offers with; `None` declines them.
    pub deflate: Option<DeflateConfig>,
    /// Limits of every accepted connection.
    pub limits: Arc<Limits>,
}

/// An accepted request: the response to send and the connection it agreed to.
#[derive(Debug)]
pub struct Accepted {
    /// The request, checked.
    pub request: UpgradeRequest,
    /// The subprotocol chosen, if any.
    pub protocol: Option<String>,
    /// The response: 101 over HTTP/1.1 (for
    /// [`encode_response`](super::server::encode_response)), 200 to an HTTP/2
    /// extended CONNECT; either can go to an HTTP server as it is.
    pub response: http::Response<Bytes>,
    /// The connection, with permessage-deflate on if it was agreed.
    pub connection: Connection,
}

/// A refused request: why, and the answer that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The request is not a valid WebSocket upgrade (400, 405, 426 or 431).
    Invalid(HandshakeError),
    /// A valid request from an origin the policy does not allow (403).
    ForbiddenOrigin(String),
    /// A valid request that the application refused.
    Refused {
        /// The status answered.
        status: StatusCode,
        /// Why, in words for the client.
        reason: String,
    },
}

impl From<HandshakeError> for Refusal {
    fn from(error: HandshakeError) -> Self {
        Self::Invalid(error)
    }
}

impl Refusal {
    /// The HTTP status that answers it.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(error) => error.status(),
            Self::ForbiddenOrigin(_) => StatusCode::FORBIDDEN,
            Self::Refused { status, .. } => *status,
        }
    }

    /// Why, as one word fit for a metrics label: `origin`, `version`, `method`,
    /// `too_large`, `bad_request`, `not_found` or `application`.
    ///
    /// ```
    /// use wsock_proto::handshake::server::Refusal;
    /// use wsock_proto::HandshakeError;
    /// let refusal = Refusal::from(HandshakeError::UnsupportedVersion("8".into()));
    /// assert_eq!(refusal.cause(), "version");
    /// ```
    pub fn cause(&self) -> &'static str {
        match self {
            Self::Invalid(HandshakeError::UnsupportedVersion(_)) => "version",
            Self::Invalid(
                HandshakeError::MethodNotGet(_) | HandshakeError::NotExtendedConnect(_),
            ) => "method",
            Self::Invalid(
                HandshakeError::HeadTooLarge { .. } | HandshakeError::TooManyHeaders { .. },
            ) => "too_large",
            Self::Invalid(_) => "bad_request",
            Self::ForbiddenOrigin(_) => "origin",
            Self::Refused { status, .. } if *status == StatusCode::NOT_FOUND => "not_found",
            Self::Refused { .. } => "application",
        }
    }

    /// The reason, in words.
    pub fn reason(&self) -> String {
        match self {
            Self::Invalid(error) => error.to_string(),
            Self::ForbiddenOrigin(origin) => format!("origin {origin} is not allowed to connect"),
            Self::Refused { reason, .. } => reason.clone(),
        }
    }

    /// The response refusing the request: the reason as a plain-text body, and for a
    /// 426 the version to retry with (RFC 6455 section 4.4).
    ///
    /// ```
    /// use wsock_proto::handshake::server::Refusal;
    /// use wsock_proto::HandshakeError;
    /// let refusal = Refusal::from(HandshakeError::UnsupportedVersion("8".into()));
    /// let response = refusal.response();
    /// assert_eq!(response.status(), 426);
    /// assert_eq!(response.headers()["sec-websocket-version"], "13");
    /// ```
    pub fn response(&self) -> http::Response<Bytes> {
        text_response(self.status(), &self.reason())
    }

    /// [`response`](Self::response) for a request of `version`: over HTTP/2, which
    /// has no `Upgrade` header (RFC 9113 section 8.2.2), a 426 names the version alone.
    pub fn response_for(&self, version: http::Version) -> http::Response<Bytes> {
        let mut response = self.response();
        if version == http::Version::HTTP_2 {
            response.headers_mut().remove(header::UPGRADE);
        }
        response
    }
}

/// A plain-text response with `message` (and a newline) as its body; a 426 also
/// names the version to retry with.
pub fn text_response(status: StatusCode, message: &str) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(format!("{message}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UPGRADE_REQUIRED {
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    response
}

/// Decides on `request` with `policy` alone; see [`accept_with`].
///
/// ```
/// use wsock_proto::handshake::server::{accept, encode_response, AcceptPolicy};
/// let request = http::Request::get("/chat")
///     .header("Host", "server.example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("Sec-WebSocket-Version", "13")
///     .body(())
///     .unwrap();
/// let accepted = accept(request, &AcceptPolicy::default()).unwrap();
/// assert_eq!(accepted.response.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert!(encode_response(&accepted.response, false).starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// ```
pub fn accept(request: http::Request<()>, policy: &AcceptPolicy) -> Result<Accepted, Refusal> {
    accept_with(request, policy, |_| Ok(()))
}

/// Decides on `request`: the checks of RFC 6455, then the origin policy, then
/// `check` (the application's, such as 404 for a path it does not serve), then the
/// subprotocol and permessage-deflate. Either the 101 and the connection, or the
/// refusal.
pub fn accept_with<F>(
    request: http::Request<()>,
    policy: &AcceptPolicy,
    check: F,
) -> Result<Accepted, Refusal>
where
    F: FnOnce(&UpgradeRequest) -> Result<(), (StatusCode, String)>,
{
    let request = validate(request)?;
    if !policy.origins.check(&request, policy.reached) {
        let origin = request.origin().unwrap_or_default();
        return Err(Refusal::ForbiddenOrigin(origin.to_owned()));
    }
    check(&request).map_err(|(status, reason)| Refusal::Refused { status, reason })?;
    let supported: Vec<&str> = policy.protocols.iter().map(String::as_str).collect();
    let protocol = select_protocol(request.protocols(), &supported).map(str::to_owned);
    let mut connection = Connection::with_limits(Role::Server, policy.limits.clone());
    let mut response = http::Response::new(Bytes::new());
    if request.is_extended_connect() {
        // RFC 8441 section 5: a 2xx, and no key to answer.
        *response.version_mut() = http::Version::HTTP_2;
    } else {
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    }
    let headers = response.headers_mut();
    if !request.is_extended_connect() {
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        // base64 and a checked token are valid header values.
        // The String's memory becomes the value's, rather than a copy of it.
        let key = Bytes::from(accept_key(request.key().as_bytes()));
        headers.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_maybe_shared(key).expect("base64 is a valid header value"),
        );
    }
    if let Some(protocol) = &protocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocol).expect("a token is a valid header value"),
        );
    }
    if let Some(config) = &policy.deflate {
        let offers = request
            .request()
            .headers()
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS);
        if let Some((params, answer)) =
            negotiate_server(offers.iter().filter_map(|v| v.to_str().ok()), config)
        {
            // negotiate_server builds the value from tokens and digits only.
            let value = HeaderValue::from_str(&answer).expect("a valid header value");
            headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
            connection.enable_deflate(&params, config);
        }
    }
    Ok(Accepted {
        request,
        protocol,
        response,
        connection,
    })
}
