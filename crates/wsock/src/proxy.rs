//! HTTP proxies: the client reaches the server through a `CONNECT` tunnel.
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
//! Credentials in the proxy URL are sent as HTTP basic authentication; the TLS of a
//! `wss://` connection runs end to end inside the tunnel, so the proxy sees only the
//! host and port.
//!
//! ```no_run
//! # async fn run() -> wsock::Result<()> {
//! use wsock::proxy::Proxy;
//! let ws = wsock::Client::new("wss://example.com/feed")
//!     .proxy(Proxy::new("http://user:secret@proxy.corp:3128")?)
//!     .connect()
//!     .await?;
//! // Or ignore the environment:
//! let ws = wsock::Client::new("ws://10.0.0.7/feed").no_proxy().connect().await?;
//! # Ok(())
//! # }
//! ```

use base64::Engine;
use url::Url;
use wsock_proto::handshake::connect::parse_connect_response;

use crate::error::{Error, Result};

/// Longest proxy response head accepted.
pub(crate) const MAX_PROXY_HEAD: usize = 16 << 10;

/// An HTTP proxy that tunnels with `CONNECT`.
#[derive(Clone)]
pub struct Proxy {
    host: String,
    port: u16,
    /// `Proxy-Authorization` value, from the URL's user and password.
    authorization: Option<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The credentials stay out of logs.
        f.debug_struct("Proxy")
            .field("address", &self.address())
            .field("authenticates", &self.authorization.is_some())
            .finish()
    }
}

impl Proxy {
    /// A proxy from its URL: `http://[user:password@]host[:port]` (port 80 by default;
    /// a URL without a scheme is taken as `http://`).
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
        if parsed.scheme() != "http" {
            return Err(invalid(
                "only http:// proxies are supported (the tunnel itself carries TLS for wss://)",
            ));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| invalid("the proxy URL has no host"))?;
        let authorization = (!parsed.username().is_empty()).then(|| {
            let user = percent_decode(parsed.username());
            let password = percent_decode(parsed.password().unwrap_or(""));
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        });
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: parsed.port_or_known_default().unwrap_or(80),
            authorization,
        })
    }

    /// The proxy's `host:port`.
    pub fn address(&self) -> String {
        authority(&self.host, self.port)
    }

    /// The proxy's host and port, to connect to.
    pub(crate) fn endpoint(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// The error for a proxy that gave no valid answer to `CONNECT`.
    pub(crate) fn no_answer(&self, error: Error) -> Error {
        self.error(format!("no valid answer to CONNECT: {error}"))
    }

    /// Checks what the proxy sent back: a head of `head_len` bytes at the start of
    /// `received`, accepting the tunnel, and nothing after it.
    pub(crate) fn check_tunnel(&self, received: &[u8], head_len: usize) -> Result<()> {
        self.check_response(&received[..head_len])?;
        if received.len() > head_len {
            // The server speaks only after our request, so a proxy that sends more has
            // mixed its own bytes into the tunnel.
            return Err(self.error("it sent data before the server could".into()));
        }
        Ok(())
    }

    /// The `CONNECT` request for `host:port`.
    pub(crate) fn connect_request(&self, host: &str, port: u16) -> Vec<u8> {
        let target = authority(host, port);
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(authorization) = &self.authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        request.into_bytes()
    }

    /// Accepts a 2xx answer to `CONNECT`; anything else becomes an error that says why.
    pub(crate) fn check_response(&self, head: &[u8]) -> Result<()> {
        let Ok(response) = parse_connect_response(head) else {
            return Err(self.error("its answer to CONNECT is not valid HTTP".into()));
        };
        match response.status {
            _ if response.is_success() => Ok(()),
            407 if self.authorization.is_some() => Err(self.error(
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
            proxy: self.address(),
            reason,
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
