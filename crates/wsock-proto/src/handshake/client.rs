//! The client's side of the opening handshake.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

use super::headers::{complete_head, has_token, header_tokens, to_header_map, with_header_slots};
use super::server::ConnectProtocol;
use super::{accept_key, generate_key, is_token};
use crate::connection::{Connection, Role};
use crate::deflate::{parse_client_response, DeflateConfig, DeflateParams};
use crate::error::{HandshakeError, LocalError};
use crate::limits::Limits;

/// The client's side of the opening handshake: the upgrade request it sends (with a
/// fresh key), and the check of the server's answer that yields the [`Connection`].
///
/// ```
/// use wsock_proto::handshake::client::ClientHandshake;
/// let req = ClientHandshake::new("localhost:12345", "/echo")
///     .origin("http://localhost/")
///     .protocols(["chat"]);
/// let head = String::from_utf8(req.encode().unwrap()).unwrap();
/// assert!(head.starts_with("GET /echo HTTP/1.1\r\nHost: localhost:12345\r\n"));
/// assert!(head.contains("Sec-WebSocket-Protocol: chat\r\n"));
/// ```
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    host: String,
    resource: String,
    origin: Option<String>,
    protocols: Vec<String>,
    headers: HeaderMap,
    key: String,
    deflate: Vec<DeflateConfig>,
}

/// What the server agreed to.
#[derive(Clone, Debug)]
pub struct Accepted {
    /// The whole 101 response.
    pub response: http::Response<()>,
    /// The subprotocol the server chose, one of those offered.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters, and the offer they answer, if the server
    /// accepted one of our offers.
    pub deflate: Option<(DeflateParams, DeflateConfig)>,
}

impl ClientHandshake {
    /// A request for `resource` (path and query) on `host` (with `:port` unless default).
    pub fn new(host: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            resource: resource.into(),
            origin: None,
            protocols: Vec::new(),
            headers: HeaderMap::new(),
            key: generate_key(),
            deflate: Vec::new(),
        }
    }

    /// Sends `Origin`, as browsers do.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Offers these subprotocols, most preferred first. Names must be HTTP tokens.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Offers permessage-deflate with `config`.
    pub fn deflate(self, config: DeflateConfig) -> Self {
        self.deflate_offers([config])
    }

    /// Offers permessage-deflate several ways, most preferred first; the server
    /// accepts at most one (RFC 7692 section 5).
    pub fn deflate_offers(mut self, offers: impl IntoIterator<Item = DeflateConfig>) -> Self {
        self.deflate = offers.into_iter().collect();
        self
    }

    /// Adds a header; `http`'s types guarantee it cannot inject another line.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The `Sec-WebSocket-Key` this request carries.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The permessage-deflate offers, most preferred first.
    pub fn deflate_configs(&self) -> &[DeflateConfig] {
        &self.deflate
    }

    /// The offered subprotocols.
    pub fn offered_protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The request head to send. Fails, before anything is sent, when the host,
    /// resource, origin or a subprotocol is not valid HTTP: interpolated raw, a CR or LF
    /// in them would inject headers.
    ///
    /// ```
    /// use wsock_proto::handshake::client::ClientHandshake;
    /// let forged = ClientHandshake::new("a.example", "/x").origin("http://a\r\nCookie: y");
    /// assert!(forged.encode().is_err());
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>, LocalError> {
        self.check_fields()?;
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(format!("GET {} HTTP/1.1\r\n", self.resource).as_bytes());
        let mut push = |name: &str, value: &[u8]| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
        push("Host", self.host.as_bytes());
        push("Upgrade", b"websocket");
        push("Connection", b"Upgrade");
        push("Sec-WebSocket-Key", self.key.as_bytes());
        push("Sec-WebSocket-Version", b"13");
        if let Some(origin) = &self.origin {
            push("Origin", origin.as_bytes());
        }
        if let Some(protocols) = self.protocols_offered() {
            push("Sec-WebSocket-Protocol", protocols.as_bytes());
        }
        if let Some(extensions) = self.extensions_offered() {
            push("Sec-WebSocket-Extensions", extensions.as_bytes());
        }
        for (name, value) in &self.headers {
            push(name.as_str(), value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        Ok(out)
    }

    /// Checks every string that goes into the head with `http`'s own parsers.
    fn check_fields(&self) -> Result<(), LocalError> {
        let invalid = |field: &'static str, value: &str| LocalError::InvalidRequestField {
            field,
            value: value.to_owned(),
        };
        if self.host.parse::<http::uri::Authority>().is_err() {
            return Err(invalid("host", &self.host));
        }
        let is_origin_form = self.resource.starts_with('/');
        if !is_origin_form || self.resource.parse::<http::uri::PathAndQuery>().is_err() {
            return Err(invalid("resource", &self.resource));
        }
        if let Some(origin) = &self.origin {
            if HeaderValue::from_str(origin).is_err() || !origin.is_ascii() {
                return Err(invalid("origin", origin));
            }
        }
        if let Some(bad) = self.protocols.iter().find(|p| !is_token(p)) {
            return Err(invalid("subprotocol", bad));
        }
        Ok(())
    }

    /// Checks the server's response `head` (see [`validate_response`](Self::validate_response))
    /// and sets up the connection it agreed to; `rest` is what followed the head, the
    /// start of the WebSocket stream. Yields the connection and the chosen subprotocol.
    pub fn finish(
        &self,
        head: &[u8],
        rest: &[u8],
        limits: impl Into<Arc<Limits>>,
    ) -> Result<(Connection, Option<String>), HandshakeError> {
        let limits = limits.into();
        let accepted = self.validate_response(head, &limits)?;
        let mut connection = Connection::with_limits(Role::Client, limits);
        if let Some((params, deflate)) = &accepted.deflate {
            connection.enable_deflate(params, deflate);
        }
        connection.receive_data(rest);
        Ok((connection, accepted.protocol))
    }

    /// The request for HTTP/2 (RFC 8441 section 5): an extended CONNECT to
    /// `scheme://host/resource`, its `:protocol` (`websocket`) given as a
    /// [`ConnectProtocol`] in the extensions for the HTTP/2 layer to send, and no key,
    /// `Upgrade` or `Connection`. Fails, before anything is sent, as
    /// [`encode`](Self::encode) does.
    ///
    /// ```
    /// use wsock_proto::handshake::client::ClientHandshake;
    /// let request = ClientHandshake::new("example.com", "/chat").extended_connect("https").unwrap();
    /// assert_eq!(request.method(), http::Method::CONNECT);
    /// assert_eq!(request.uri(), "https://example.com/chat");
    /// assert_eq!(request.headers()["sec-websocket-version"], "13");
    /// ```
    pub fn extended_connect(&self, scheme: &str) -> Result<http::Request<()>, LocalError> {
        self.check_fields()?;
        let uri = format!("{scheme}://{}{}", self.host, self.resource);
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::CONNECT;
        *request.version_mut() = http::Version::HTTP_2;
        *request.uri_mut() = uri.parse().map_err(|_| LocalError::InvalidRequestField {
            field: "resource",
            value: self.resource.clone(),
        })?;
        request
            .extensions_mut()
            .insert(ConnectProtocol("websocket".into()));
        let headers = request.headers_mut();
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        self.add_offers(headers);
        Ok(request)
    }

    /// Checks the server's answer to [`extended_connect`](Self::extended_connect) (a
    /// 2xx, and only what we offered) and sets up the connection it agreed to.
    pub fn finish_extended_connect(
        &self,
        response: &http::Response<()>,
        limits: impl Into<Arc<Limits>>,
    ) -> Result<(Connection, Option<String>), HandshakeError> {
        if !response.status().is_success() {
            return Err(HandshakeError::UnexpectedStatus {
                status: response.status(),
            });
        }
        let (protocol, deflate) = self.check_agreement(response.headers())?;
        let mut connection = Connection::with_limits(Role::Client, limits.into());
        if let Some((params, config)) = &deflate {
            connection.enable_deflate(params, config);
        }
        Ok((connection, protocol))
    }

    /// The headers that carry what we offer: origin, subprotocols, permessage-deflate
    /// and the caller's own, for an HTTP/2 request.
    fn add_offers(&self, headers: &mut HeaderMap) {
        // check_fields has made sure each of these is a valid header value.
        if let Some(origin) = &self.origin {
            headers.insert(header::ORIGIN, origin.parse().expect("a checked origin"));
        }
        if let Some(protocols) = self.protocols_offered() {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                protocols.parse().expect("tokens"),
            );
        }
        if let Some(extensions) = self.extensions_offered() {
            headers.insert(
                header::SEC_WEBSOCKET_EXTENSIONS,
                extensions.parse().expect("tokens"),
            );
        }
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
    }

    /// The `Sec-WebSocket-Protocol` value offering our subprotocols, if any.
    fn protocols_offered(&self) -> Option<String> {
        (!self.protocols.is_empty()).then(|| self.protocols.join(", "))
    }

    /// The `Sec-WebSocket-Extensions` value offering permessage-deflate, if asked.
    fn extensions_offered(&self) -> Option<String> {
        let offers: Vec<String> = self
            .deflate
            .iter()
            .map(DeflateConfig::client_offer)
            .collect();
        (!offers.is_empty()).then(|| offers.join(", "))
    }

    /// What the server agreed to in `headers`: at most one subprotocol, which we
    /// offered, and a permessage-deflate answer that fits one of our offers.
    #[allow(clippy::type_complexity)]
    fn check_agreement(
        &self,
        headers: &HeaderMap,
    ) -> Result<(Option<String>, Option<(DeflateParams, DeflateConfig)>), HandshakeError> {
        let chosen: Vec<&str> = header_tokens(headers, &header::SEC_WEBSOCKET_PROTOCOL).collect();
        let protocol = match chosen.as_slice() {
            [] => None,
            [one] if self.protocols.iter().any(|p| p == one) => Some((*one).to_owned()),
            _ => return Err(HandshakeError::UnofferedProtocol(chosen.join(", "))),
        };
        let answers: Vec<&str> = headers
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let deflate = match header_tokens(headers, &header::SEC_WEBSOCKET_EXTENSIONS).next() {
            None => None,
            Some(extension) if self.deflate.is_empty() => {
                let name = extension.split(';').next().unwrap_or(extension).trim();
                return Err(HandshakeError::UnofferedExtension(name.to_owned()));
            }
            // The answer must fit one of the offers; the first it fits is the one taken.
            Some(_) => {
                let mut last_error = None;
                let mut agreed = None;
                for config in &self.deflate {
                    match parse_client_response(answers.iter().copied(), config) {
                        Ok(params) => {
                            agreed = Some((params, config.clone()));
                            break;
                        }
                        Err(error) => last_error = Some(error),
                    }
                }
                match (agreed, last_error) {
                    (Some(agreed), _) => Some(agreed),
                    (None, Some(error)) => return Err(error),
                    (None, None) => None,
                }
            }
        };
        Ok((protocol, deflate))
    }

    /// Checks the server's response head against this request: status 101, the
    /// upgrade headers, the accept value, and that the server chose only what we offered.
    pub fn validate_response(
        &self,
        head: &[u8],
        limits: &Limits,
    ) -> Result<Accepted, HandshakeError> {
        let (code, headers) = with_header_slots(limits.max_headers, |slots| {
            let mut parsed = httparse::Response::new(&mut []);
            let result = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut parsed,
                head,
                slots,
            );
            complete_head(result, "response", limits.max_headers)?;
            let headers = to_header_map(parsed.headers, bytes::Bytes::copy_from_slice)?;
            Ok::<_, HandshakeError>((parsed.code, headers))
        })?;
        let status = StatusCode::from_u16(code.unwrap_or(0))
            .map_err(|_| HandshakeError::Malformed("invalid status code".into()))?;
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError::UnexpectedStatus { status });
        }
        for (name, label, token) in [
            (&header::UPGRADE, "Upgrade", "websocket"),
            (&header::CONNECTION, "Connection", "upgrade"),
        ] {
            if !has_token(&headers, name, token) {
                return Err(HandshakeError::MissingHeader(label));
            }
        }
        let accept = headers
            .get(header::SEC_WEBSOCKET_ACCEPT)
            .ok_or(HandshakeError::MissingHeader("Sec-WebSocket-Accept"))?;
        if accept.as_bytes() != accept_key(self.key.as_bytes()).as_bytes() {
            return Err(HandshakeError::InvalidAccept);
        }
        let (protocol, deflate) = self.check_agreement(&headers)?;
        let mut response = http::Response::builder()
            .status(status)
            .body(())
            .map_err(|e| HandshakeError::Malformed(e.to_string()))?;
        *response.headers_mut() = headers;
        Ok(Accepted {
            response,
            protocol,
            deflate,
        })
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
