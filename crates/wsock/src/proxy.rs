//! Proxies: the client reaches the server through an HTTP `CONNECT` tunnel or a SOCKS5
//! tunnel.
//!
//! - `http://[user:password@]host[:port]` tunnels with `CONNECT` (port 80 by default),
//!   sending the credentials as HTTP basic authentication.
//! - `socks5://[user:password@]host[:port]` resolves the server's name here and gives the
//!   proxy its address; `socks5h://` lets the proxy resolve the name, so this machine
//!   never looks it up (port 1080 by default). Credentials use SOCKS5's user name and
//!   password method (RFC 1929), which sends them unencrypted to the proxy, as HTTP
//!   basic authentication does.
//!
//! By default a [`Client`](crate::Client) follows the environment, as curl does:
//! `wss://` URLs use `https_proxy` (or `HTTPS_PROXY`), `ws://` URLs use `http_proxy`
//! (never `HTTP_PROXY`: under CGI a request's `Proxy:` header lands there, the
//! "httpoxy" hole), either falls back to `all_proxy` (`ALL_PROXY`), and hosts
//! matched by `no_proxy` (`NO_PROXY`) connect directly. A `no_proxy` entry matches the
//! host itself and its subdomains (`example.com` and `.example.com` both match
//! `a.example.com`), may name a port (`example.com:8080`), and `*` matches everything.
//! Address ranges (CIDR) are not understood.
//!
//! The TLS of a `wss://` connection runs end to end inside either tunnel, so the proxy
//! sees only the host and port.
//!
//! ```no_run
//! # async fn run() -> wsock::Result<()> {
//! use wsock::proxy::Proxy;
//! let ws = wsock::Client::new("wss://example.com/feed")
//!     .proxy(Proxy::new("http://user:secret@proxy.corp:3128")?)
//!     .connect()
//!     .await?;
//! // Or ignore the environment:
//! let ws = wsock::Client::new("wss://example.com/feed")
//!     .proxy(Proxy::new("socks5h://127.0.0.1:9050")?)
//!     .connect()
//!     .await?;
//! let ws = wsock::Client::new("ws://10.0.0.7/feed").no_proxy().connect().await?;
//! # Ok(())
//! # }
//! ```

use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use bytes::BytesMut;
use url::Url;
use wsock_proto::handshake::connect::parse_connect_response;
use wsock_proto::handshake::socks5::{Socks5Handshake, Socks5Step, Socks5Target};
use wsock_proto::handshake::HeadScanner;

use crate::error::{Error, Result};

/// Longest proxy response head accepted.
const MAX_PROXY_HEAD: usize = 16 << 10;

/// A proxy to tunnel through: HTTP `CONNECT` or SOCKS5.
#[derive(Clone)]
pub struct Proxy {
    kind: Kind,
    host: String,
    port: u16,
    /// The URL's user name and password, percent-decoded.
    credentials: Option<(String, String)>,
}

/// How the proxy is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Http,
    /// SOCKS5; `remote_dns` when the proxy resolves the server's name (`socks5h://`).
    Socks5 {
        remote_dns: bool,
    },
}

impl Kind {
    fn scheme(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Socks5 { remote_dns: false } => "socks5",
            Kind::Socks5 { remote_dns: true } => "socks5h",
        }
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credentials stay out of logs.
        f.debug_struct("Proxy")
            .field("scheme", &self.kind.scheme())
            .field("address", &self.address())
            .field("authenticates", &self.credentials.is_some())
            .finish()
    }
}

impl Proxy {
    /// A proxy from its URL: `http://`, `socks5://` or `socks5h://`, then
    /// `[user:password@]host[:port]` (port 80 for HTTP and 1080 for SOCKS5 by default;
    /// a URL without a scheme is taken as `http://`). See the [module docs](self) for
    /// what each scheme does.
    pub fn new(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::Url {
            url: redact(url),
            reason: reason.to_owned(),
        };
        let with_scheme;
        let text = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let parsed = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        let (kind, default_port) = match parsed.scheme() {
            "http" => (Kind::Http, 80),
            "socks5" => (Kind::Socks5 { remote_dns: false }, 1080),
            "socks5h" => (Kind::Socks5 { remote_dns: true }, 1080),
            _ => {
                return Err(invalid(
                    "the proxy must be http://, socks5:// or socks5h:// (the tunnel itself \
                     carries TLS for wss://; SOCKS4 and HTTPS proxies are not supported)",
                ))
            }
        };
        let host = parsed
            .host_str()
            .ok_or_else(|| invalid("the proxy URL has no host"))?;
        let credentials = (!parsed.username().is_empty()).then(|| {
            (
                percent_decode(parsed.username()),
                percent_decode(parsed.password().unwrap_or("")),
            )
        });
        Ok(Self {
            kind,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: parsed.port().unwrap_or(default_port),
            credentials,
        })
    }

    /// Whether the server's name must be resolved here, and its address passed to
    /// [`open_tunnel`](Self::open_tunnel): for `socks5://` and a host that is a name.
    pub(crate) fn resolves_here(&self, host: &str) -> bool {
        self.kind == (Kind::Socks5 { remote_dns: false }) && host.parse::<IpAddr>().is_err()
    }

    /// Starts opening a tunnel to `host:port` (`resolved` is its address when
    /// [`resolves_here`](Self::resolves_here)); returns the dialogue and the first
    /// bytes to send.
    pub(crate) fn open_tunnel(
        &self,
        host: &str,
        port: u16,
        resolved: Option<SocketAddr>,
    ) -> Result<(TunnelOpening<'_>, Vec<u8>)> {
        let (dialogue, first) = match self.kind {
            Kind::Http => (
                Dialogue::Http(HeadScanner::default()),
                self.connect_request(host, port),
            ),
            Kind::Socks5 { .. } => {
                let target = match (host.parse::<IpAddr>(), resolved) {
                    (Ok(ip), _) => Socks5Target::Address(SocketAddr::new(ip, port)),
                    (Err(_), Some(address)) => Socks5Target::Address(address),
                    (Err(_), None) => Socks5Target::Domain(host.to_owned(), port),
                };
                let (handshake, greeting) = Socks5Handshake::new(target, self.credentials.clone())
                    .map_err(|e| self.error(e.to_string()))?;
                (Dialogue::Socks5(handshake), greeting)
            }
        };
        let opening = TunnelOpening {
            proxy: self,
            dialogue,
        };
        Ok((opening, first))
    }

    /// The proxy's `host:port`.
    pub fn address(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The proxy's host and port, to connect to.
    pub(crate) fn endpoint(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// The error for a proxy that gave no valid answer while the tunnel opened.
    fn no_answer(&self, error: Error) -> Error {
        self.error(format!("no valid answer while opening the tunnel: {error}"))
    }

    /// Checks what the proxy sent back: a head of `head_len` bytes at the start of
    /// `received`, accepting the tunnel, and nothing after it.
    fn check_tunnel(&self, received: &[u8], head_len: usize) -> Result<()> {
        self.check_response(&received[..head_len])?;
        if received.len() > head_len {
            // The server speaks only after our request, so a proxy that sends more has
            // mixed its own bytes into the tunnel.
            return Err(self.error("it sent data before the server could".into()));
        }
        Ok(())
    }

    /// The `CONNECT` request for `host:port`.
    fn connect_request(&self, host: &str, port: u16) -> Vec<u8> {
        let target = authority(host, port);
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some((user, password)) = &self.credentials {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        request.push_str("\r\n");
        request.into_bytes()
    }

    /// Accepts a 2xx answer to `CONNECT`; anything else becomes an error that says why.
    fn check_response(&self, head: &[u8]) -> Result<()> {
        let Ok(response) = parse_connect_response(head) else {
            return Err(self.error("its answer to CONNECT is not valid HTTP".into()));
        };
        match response.status {
            _ if response.is_success() => Ok(()),
            407 if self.credentials.is_some() => Err(self.error(
                "it refused the credentials (407); check the user and password in the proxy URL"
                    .into(),
            )),
            407 => Err(self.error(
                "it requires authentication (407); put user:password@ in the proxy URL".into(),
            )),
            code => Err(self.error(format!(
                "it refused the tunnel with {code} {}",
                response.reason
            ))),
        }
    }

    fn error(&self, reason: String) -> Error {
        Error::Proxy {
            proxy: format!("{}://{}", self.kind.scheme(), self.address()),
            reason,
        }
    }
}

/// The opening of a tunnel, as bytes in and out: the shells send the first bytes,
/// then feed what they read to [`receive`](Self::receive) and do what it says.
pub(crate) struct TunnelOpening<'a> {
    proxy: &'a Proxy,
    dialogue: Dialogue,
}

enum Dialogue {
    Http(HeadScanner),
    Socks5(Socks5Handshake),
}

/// What the shell does next while a tunnel opens.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TunnelStep {
    /// Read more from the proxy.
    Receive,
    /// Write these bytes to the proxy.
    Send(Vec<u8>),
    /// The tunnel is open.
    Open,
}

impl TunnelOpening<'_> {
    /// Takes what the proxy has sent so far (`received` keeps what is not yet used).
    pub(crate) fn receive(&mut self, received: &mut BytesMut) -> Result<TunnelStep> {
        match &mut self.dialogue {
            Dialogue::Http(scanner) => {
                match scanner
                    .scan(received, MAX_PROXY_HEAD)
                    .map_err(|e| self.proxy.no_answer(e.into()))?
                {
                    None => Ok(TunnelStep::Receive),
                    Some(len) => {
                        self.proxy.check_tunnel(received, len)?;
                        Ok(TunnelStep::Open)
                    }
                }
            }
            Dialogue::Socks5(handshake) => match handshake.receive(received) {
                Ok(Socks5Step::Receive) => Ok(TunnelStep::Receive),
                Ok(Socks5Step::Send(bytes)) => Ok(TunnelStep::Send(bytes)),
                Ok(Socks5Step::Open) => Ok(TunnelStep::Open),
                Err(error) => Err(self.proxy.error(error.to_string())),
            },
        }
    }

    /// The error for a proxy that closed the connection before the tunnel opened.
    pub(crate) fn closed(&self) -> Error {
        self.proxy.error(
            "it closed the connection before the tunnel opened; check the proxy's scheme \
             and its logs"
                .into(),
        )
    }

    /// The error for a failed read or write while the tunnel opens.
    pub(crate) fn failed(&self, error: Error) -> Error {
        match error {
            timeout @ Error::Timeout { .. } => timeout,
            other => self.proxy.no_answer(other),
        }
    }
}

/// Which proxy, if any, the environment names for a `ws://` (`secure` false) or
/// `wss://` URL to `host:port`; `var` reads one environment variable.
pub(crate) fn from_env(
    secure: bool,
    host: &str,
    port: u16,
    var: impl Fn(&str) -> Option<String>,
) -> Option<Result<Proxy>> {
    // Lower case first, as curl reads them. `HTTP_PROXY` never: CGI puts a request's
    // `Proxy:` header there, so an attacker would choose our proxy ("httpoxy").
    let read = |name: &str| {
        var(name)
            .or_else(|| (name != "http_proxy").then(|| var(&name.to_ascii_uppercase()))?)
            .filter(|v| !v.trim().is_empty())
    };
    let url =
        read(if secure { "https_proxy" } else { "http_proxy" }).or_else(|| read("all_proxy"))?;
    if read("no_proxy").is_some_and(|list| bypasses(&list, host, port)) {
        return None;
    }
    Some(Proxy::new(url.trim()))
}

/// Whether a `no_proxy` list excludes `host:port`.
fn bypasses(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches("*.").trim_start_matches('.');
        let (name, entry_port) = match entry.rsplit_once(':') {
            Some((name, p)) if !name.contains(':') || name.ends_with(']') => {
                (name, p.parse::<u16>().ok())
            }
            _ => (entry, None),
        };
        let name = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if name.is_empty() || entry_port.is_some_and(|p| p != port) {
            return false;
        }
        host == name || host.ends_with(&format!(".{name}"))
    })
}

/// `host:port`, with brackets around an IPv6 host.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A proxy URL fit for an error message: without its password.
fn redact(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, rest)) => format!("<credentials>@{rest}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
