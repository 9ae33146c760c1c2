//! Connecting to WebSocket servers.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;
use wsock_proto::handshake::client::UpgradeRequest;
use wsock_proto::{Connection, DeflateConfig, Role};

use crate::config::Config;
use crate::error::Error;
use crate::handshake_io::read_head;
use crate::proxy::{self, Proxy};
use crate::stream::WebSocket;
#[cfg(feature = "tls")]
use crate::tls::ClientTls;
use crate::transport::MaybeTlsStream;
use crate::Result;

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
    connect_timeout: Duration,
    config: Config,
    deflate: Vec<DeflateConfig>,
    proxy: ProxyChoice,
    #[cfg(feature = "tls")]
    tls: Option<ClientTls>,
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

    /// Whom to trust for `wss://` (default: the webpki roots).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Connects, performs the handshake, and returns the open WebSocket.
    pub async fn connect(self) -> Result<WebSocket<MaybeTlsStream>> {
        let target = parse_url(&self.url)?;
        let request = self.upgrade_request(&target)?;
        let timeout = self.connect_timeout;
        let connecting = async {
            let stream = self.open_transport(&target).await?;
            client_handshake(stream, request, self.config.clone()).await
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| Error::Timeout {
                what: "connecting",
                after: timeout,
            })?
    }

    /// The TCP connection (through the proxy, if any) and TLS, if asked for.
    async fn open_transport(&self, target: &Target) -> Result<MaybeTlsStream> {
        let tcp = match self.proxy_for(target)? {
            Some(proxy) => {
                tracing::debug!(?proxy, host = %target.host, "connecting through a proxy");
                proxy.tunnel(&target.host, target.port).await?
            }
            None => TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|source| Error::Connect {
                    addr: format!("{}:{}", target.host, target.port),
                    source,
                })?,
        };
        let _ = tcp.set_nodelay(true);
        #[cfg(feature = "tls")]
        if target.secure {
            let tls = self.tls.clone().unwrap_or_default();
            return tls.connect(&target.host, tcp).await;
        }
        Ok(MaybeTlsStream::Plain(tcp))
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

    /// [`connect`](Self::connect) for programs without an async runtime: blocks until
    /// the WebSocket is open (or the connect timeout has passed).
    ///
    /// ```no_run
    /// # fn run() -> wsock::Result<()> {
    /// let mut ws = wsock::Client::new("wss://example.com/feed")
    ///     .protocol("v2.feed")
    ///     .connect_blocking()?;
    /// while let Some(message) = ws.recv()? {
    ///     println!("{message:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_blocking(self) -> Result<crate::blocking::Conn> {
        let target = parse_url(&self.url)?;
        let request = self.upgrade_request(&target)?;
        let proxy = self.proxy_for(&target)?;
        crate::blocking::connect(crate::blocking::Dial {
            target,
            request,
            proxy,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
            timeout: self.connect_timeout,
            config: self.config.clone(),
        })
    }

    pub(crate) fn upgrade_request(&self, target: &Target) -> Result<UpgradeRequest> {
        let mut request = UpgradeRequest::new(&target.host_header, &target.resource);
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

/// Performs the client's opening handshake on an already-connected `stream`.
pub async fn client_handshake<S>(
    mut stream: S,
    request: UpgradeRequest,
    config: Config,
) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&request.encode()?).await?;
    stream.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    let len = read_head(&mut stream, &mut buf, config.limits.max_head_size).await?;
    let head = buf.split_to(len);
    let (conn, protocol) = finish_handshake(&request, &head, &buf, &config)?;
    Ok(WebSocket::from_parts(
        stream,
        conn,
        protocol,
        Arc::new(config),
    ))
}

/// Checks the server's response `head` to `request` and sets up the connection it
/// agreed to; `rest` is what followed the head, the start of the WebSocket stream.
pub(crate) fn finish_handshake(
    request: &UpgradeRequest,
    head: &[u8],
    rest: &[u8],
    config: &Config,
) -> Result<(Connection, Option<String>)> {
    let accepted = request.validate_response(head, &config.limits)?;
    let mut conn = Connection::with_limits(Role::Client, config.limits.clone());
    if let Some((params, deflate)) = &accepted.deflate {
        conn.enable_deflate(params, deflate);
    }
    conn.receive_data(rest);
    Ok((conn, accepted.protocol))
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
