//! What both shells need to open a WebSocket: the [`Client`] builder, the URL's
//! target, the proxy choice and the request to send. Opening the connection is the
//! shell's: [`Client::connect`] in the tokio shell, [`Client::connect_blocking`] in
//! the blocking one.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use url::Url;
use wsock_proto::handshake::client::ClientHandshake;
use wsock_proto::DeflateConfig;

#[cfg(feature = "http2")]
use std::collections::HashMap;
#[cfg(feature = "http2")]
use std::sync::{Arc, Mutex};

#[cfg(feature = "http2")]
use bytes::Bytes;
#[cfg(feature = "http2")]
use h2::client::SendRequest;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::proxy::{self, Proxy};
#[cfg(feature = "tls")]
use crate::tls::ClientTls;

/// Connects to a `ws://` or `wss://` URL: the seed's
/// `websocket.Dial(url, protocol, origin)`, and more.
///
/// It honours the proxy environment variables (see [`proxy`](crate::proxy)) and
/// verifies `wss://` servers against the webpki roots (see [`tls`](crate::tls)).
///
/// ```no_run
/// # async fn run() -> wsock::Result<()> {
/// let ws = wsock::Client::new("ws://localhost:12345/echo?x=1")
///     .origin("http://localhost/")
///     .protocol("chat")
///     .header("Authorization", "Bearer abc")
///     .connect()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    url: String,
    origin: Option<String>,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    pub(crate) connect_timeout: Duration,
    pub(crate) config: Config,
    deflate: Vec<DeflateConfig>,
    proxy: ProxyChoice,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<ClientTls>,
    /// Whether `wss://` tries HTTP/2 first (RFC 8441).
    #[cfg(feature = "http2")]
    pub(crate) http2: bool,
    /// Shared by clones, so that they share HTTP/2 connections.
    #[cfg(feature = "http2")]
    pub(crate) http2_pool: Http2Pool,
}

/// The HTTP/2 connections a [`Client`] (and its clones) holds open, one per origin.
#[cfg(feature = "http2")]
#[derive(Clone, Default)]
pub(crate) struct Http2Pool(Arc<Mutex<Http2Connections>>);

/// A sender of requests on the open HTTP/2 connection to each host and port.
#[cfg(feature = "http2")]
type Http2Connections = HashMap<(String, u16), SendRequest<Bytes>>;

#[cfg(feature = "http2")]
impl std::fmt::Debug for Http2Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Pool").finish_non_exhaustive()
    }
}

#[cfg(feature = "http2")]
impl Http2Pool {
    pub(crate) fn get(&self, target: &Target) -> Option<SendRequest<Bytes>> {
        let key = (target.host.clone(), target.port);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    pub(crate) fn put(&self, target: &Target, connection: SendRequest<Bytes>) {
        let key = (target.host.clone(), target.port);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, connection);
    }

    pub(crate) fn forget(&self, target: &Target) {
        let key = (target.host.clone(), target.port);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

/// How the client finds its proxy.
#[derive(Clone, Debug)]
enum ProxyChoice {
    FromEnvironment,
    Always(Proxy),
    Never,
}

/// Where a URL says to connect, and what to ask for there.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) secure: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    host_header: String,
    resource: String,
}

impl Client {
    /// A client for `url`: `ws://host[:port]/path?query` (port 80 by default) or
    /// `wss://...` (port 443).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            origin: None,
            protocols: Vec::new(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            config: Config::default(),
            deflate: Vec::new(),
            proxy: ProxyChoice::FromEnvironment,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "http2")]
            http2: false,
            #[cfg(feature = "http2")]
            http2_pool: Http2Pool::default(),
        }
    }

    /// Sends this `Origin` header.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Offers a subprotocol; call again to offer more, most preferred first.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Adds a header to the upgrade request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long the TCP connection and handshake together may take. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connection settings (limits, close timeout, write buffer).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Offers permessage-deflate with `config`; the server may decline. Off by
    /// default, for the reasons given at [`AcceptOptions::deflate`](crate::AcceptOptions::deflate).
    pub fn deflate(self, config: DeflateConfig) -> Self {
        self.deflate_offers([config])
    }

    /// Offers permessage-deflate several ways, most preferred first (for servers that
    /// accept only some parameter sets); the server picks at most one.
    pub fn deflate_offers(mut self, offers: impl IntoIterator<Item = DeflateConfig>) -> Self {
        self.deflate = offers.into_iter().collect();
        self
    }

    /// Connects through `proxy`, whatever the environment says.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxyChoice::Always(proxy);
        self
    }

    /// Connects directly, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxyChoice::Never;
        self
    }

    /// Tries HTTP/2 first for `wss://` (RFC 8441): the WebSocket is a stream of an
    /// HTTP/2 connection that this client and its clones share with their other
    /// WebSockets to the same host and port. A server that does not offer `h2`, or
    /// whose SETTINGS do not enable extended CONNECT, gets HTTP/1.1 instead (said in a
    /// debug log). Off by default; `ws://` is always HTTP/1.1.
    ///
    /// ```no_run
    /// # async fn run() -> wsock::Result<()> {
    /// let client = wsock::Client::new("wss://example.com/feed").http2(true);
    /// let first = client.clone().connect().await?;
    /// let second = client.connect().await?; // the same TCP connection
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "http2")]
    pub fn http2(mut self, yes: bool) -> Self {
        self.http2 = yes;
        self
    }

    /// Whom to trust for `wss://` (default: the webpki roots).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The proxy to tunnel through for `target`, if any.
    pub(crate) fn proxy_for(&self, target: &Target) -> Result<Option<Proxy>> {
        match &self.proxy {
            ProxyChoice::Always(proxy) => Ok(Some(proxy.clone())),
            ProxyChoice::Never => Ok(None),
            ProxyChoice::FromEnvironment => {
                proxy::from_env(target.secure, &target.host, target.port, |name| {
                    std::env::var(name).ok()
                })
                .transpose()
            }
        }
    }

    /// Where to connect, and the handshake to perform there.
    pub(crate) fn prepare(&self) -> Result<(Target, ClientHandshake)> {
        let target = parse_url(&self.url)?;
        let handshake = self.handshake(&target)?;
        Ok((target, handshake))
    }

    fn handshake(&self, target: &Target) -> Result<ClientHandshake> {
        let mut request = ClientHandshake::new(&target.host_header, &target.resource);
        if let Some(origin) = &self.origin {
            request = request.origin(origin);
        }
        if let Some(bad) = self
            .protocols
            .iter()
            .find(|p| !wsock_proto::handshake::is_token(p))
        {
            return Err(Error::InvalidHeader(format!(
                "Sec-WebSocket-Protocol: {bad}"
            )));
        }
        request = request.protocols(self.protocols.iter().cloned());
        request = request.deflate_offers(self.deflate.iter().cloned());
        for (name, value) in &self.headers {
            let invalid = || Error::InvalidHeader(format!("{name}: {value}"));
            let name = HeaderName::try_from(name.as_str()).map_err(|_| invalid())?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|_| invalid())?;
            request = request.header(name, value);
        }
        // Refuses a forged origin (CR, LF) before anything is connected.
        request.encode()?;
        Ok(request)
    }
}

fn parse_url(text: &str) -> Result<Target> {
    let invalid = |reason: &str| Error::Url {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
    let secure = match url.scheme() {
        "ws" => false,
        "wss" if cfg!(feature = "tls") => true,
        "wss" => {
            return Err(invalid(
                "wss:// needs TLS: build wsock with its `tls` feature (on by default)",
            ))
        }
        _ => return Err(invalid("the scheme must be ws:// or wss://")),
    };
    if url.fragment().is_some() {
        return Err(invalid("WebSocket URLs may not have a #fragment"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| invalid("the URL has no host"))?;
    let port = url
        .port_or_known_default()
        .unwrap_or(if secure { 443 } else { 80 });
    let host_header = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let mut resource = url.path().to_owned();
    if let Some(query) = url.query() {
        resource.push('?');
        resource.push_str(query);
    }
    // `url` keeps IPv6 brackets, which the socket address does not take.
    let connect_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(Target {
        secure,
        host: connect_host,
        port,
        host_header,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_port_and_resource() {
        let t = parse_url("ws://example.com/chat?room=a").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("example.com", 80));
        assert_eq!(t.host_header, "example.com");
        assert_eq!(t.resource, "/chat?room=a");
    }

    #[test]
    fn explicit_port_goes_into_host_header() {
        let t = parse_url("ws://localhost:12345/echo").unwrap();
        assert_eq!((t.port, t.host_header.as_str()), (12345, "localhost:12345"));
        assert_eq!(parse_url("ws://h").unwrap().resource, "/");
    }

    #[test]
    fn wss_defaults_to_port_443() {
        let t = parse_url("wss://example.com/feed").unwrap();
        assert!(t.secure);
        assert_eq!((t.port, t.host_header.as_str()), (443, "example.com"));
        assert!(!parse_url("ws://example.com/").unwrap().secure);
    }

    #[test]
    fn ipv6_hosts_are_unbracketed_for_connecting() {
        let t = parse_url("ws://[::1]:9000/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.host_header.as_str()),
            ("::1", "[::1]:9000")
        );
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("http://h/", "scheme"),
            ("ws://h/#frag", "fragment"),
            ("not a url", "relative URL"),
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
