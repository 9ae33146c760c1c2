//! Which browser origins may open a WebSocket (RFC 6455 section 10.2).
//!
//! Browsers send `Origin` with every WebSocket request and let any page connect
//! anywhere, with the user's cookies. Refusing foreign origins by default stops
//! cross-site WebSocket hijacking; non-browser clients send no `Origin` and pass.

use std::fmt;
use std::sync::Arc;

use super::server::UpgradeRequest;

/// A function deciding whether an `Origin` may connect, given the request too.
pub type OriginCallback = Arc<dyn Fn(&str, &UpgradeRequest) -> bool + Send + Sync>;

/// How clients reach a server, as far as the same-origin check needs to know: part of
/// the [`AcceptPolicy`](super::server::AcceptPolicy). wsock's `Server` fills it in
/// from its own address and TLS; behind hyper or a TLS-terminating proxy, the
/// application says it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reached {
    /// Clients connect with `wss://` (TLS here or at a proxy in front), so a
    /// same-origin page is `https://` and a `Host` without a port means 443.
    pub over_tls: bool,
    /// The server listens on loopback addresses only, so pages served from loopback
    /// (`localhost`, `127.0.0.0/8`, `[::1]`, any port or scheme) may connect too: they
    /// run on this machine, while foreign sites stay refused.
    pub loopback_only: bool,
}

/// Decides whether a request's `Origin` is allowed. Requests without `Origin` are
/// always allowed; refused ones get 403.
///
/// ```
/// use wsock_proto::handshake::origin::{OriginPolicy, Reached};
/// let policy = OriginPolicy::allow_list(["https://app.example.com"]);
/// let plain = Reached::default();
/// assert!(policy.allows("https://app.example.com", "ws.example.com", plain));
/// assert!(policy.allows("http://ws.example.com", "ws.example.com", plain)); // same origin
/// assert!(!policy.allows("https://ws.example.com:8443", "ws.example.com", plain));
/// assert!(!policy.allows("https://evil.example", "ws.example.com", plain));
/// ```
#[derive(Clone, Default)]
pub enum OriginPolicy {
    /// Only pages served from the same scheme, host and port as this server, judged by
    /// the `Host` header and [`Reached`] (default); on a loopback-only server, pages
    /// from loopback origins too.
    #[default]
    SameOrigin,
    /// Same origin, plus these origins (`scheme://host[:port]`, case-insensitive).
    AllowList(Vec<String>),
    /// Any origin: for public APIs that carry no ambient credentials.
    Any,
    /// The callback decides, given the `Origin` value and the request.
    Callback(OriginCallback),
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SameOrigin => f.write_str("SameOrigin"),
            Self::AllowList(list) => f.debug_tuple("AllowList").field(list).finish(),
            Self::Any => f.write_str("Any"),
            Self::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

impl OriginPolicy {
    /// Same origin plus the listed origins.
    pub fn allow_list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::AllowList(origins.into_iter().map(Into::into).collect())
    }

    /// A policy decided by `callback(origin, request)`.
    pub fn callback(
        callback: impl Fn(&str, &UpgradeRequest) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::Callback(Arc::new(callback))
    }

    /// Whether `request`, reaching a server as `reached` says, passes: no `Origin`,
    /// or an allowed one.
    pub fn check(&self, request: &UpgradeRequest, reached: Reached) -> bool {
        match request.origin() {
            None => true,
            Some(origin) => match self {
                Self::Callback(callback) => callback(origin, request),
                _ => self.allows(origin, request.host(), reached),
            },
        }
    }

    /// Whether a request with `origin` addressed to `host` (the `Host` header) passes.
    /// Callbacks are not consulted here; they need the request (see [`check`](Self::check)).
    pub fn allows(&self, origin: &str, host: &str, reached: Reached) -> bool {
        match self {
            Self::Any => true,
            Self::SameOrigin => same_origin(origin, host, reached),
            Self::AllowList(list) => {
                same_origin(origin, host, reached)
                    || list
                        .iter()
                        .any(|allowed| normalize(allowed) == normalize(origin))
            }
            Self::Callback(_) => false,
        }
    }
}

fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether `origin` is this server's own: the scheme clients use to reach it, and the
/// `Host` header's name and port (a missing port is that scheme's default, 80 or 443).
/// Or, on a loopback-only server, any loopback origin.
fn same_origin(origin: &str, host: &str, reached: Reached) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false; // includes the opaque origin "null"
    };
    let Some(origin_host) = url.host() else {
        return false;
    };
    if reached.loopback_only && is_loopback(&origin_host) {
        return true;
    }
    let secure = match url.scheme() {
        "http" | "ws" => false,
        "https" | "wss" => true,
        _ => return false,
    };
    if secure != reached.over_tls {
        return false;
    }
    let default_port = if reached.over_tls { 443 } else { 80 };
    let origin_port = url.port_or_known_default().unwrap_or(default_port);
    let (host_name, host_port) = split_host(host);
    url.host_str()
        .is_some_and(|name| name.eq_ignore_ascii_case(host_name))
        && host_port.unwrap_or(default_port) == origin_port
}

/// `localhost` (and names under it, RFC 6761), `127.0.0.0/8` and `::1`.
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Splits a `Host` header into name and port, keeping IPv6 brackets on the name as
/// `url` does.
fn split_host(host: &str) -> (&str, Option<u16>) {
    let host = host.trim();
    let port_sep = if host.starts_with('[') {
        host.find(']')
            .and_then(|end| host[end..].find(':').map(|i| end + i))
    } else {
        host.rfind(':')
    };
    match port_sep {
        Some(i) => (&host[..i], host[i + 1..].parse().ok()),
        None => (host, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Reached = Reached {
        over_tls: false,
        loopback_only: false,
    };
    const TLS: Reached = Reached {
        over_tls: true,
        loopback_only: false,
    };
    const LOOPBACK: Reached = Reached {
        over_tls: false,
        loopback_only: true,
    };

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        assert!(same_origin(
            "http://localhost:12345",
            "localhost:12345",
            PLAIN
        ));
        assert!(same_origin(
            "http://LOCALHOST:12345",
            "localhost:12345",
            PLAIN
        ));
        assert!(same_origin("http://example.com", "example.com", PLAIN));
        assert!(same_origin("http://example.com", "example.com:80", PLAIN));
        assert!(same_origin("https://example.com", "example.com", TLS));
        assert!(same_origin("https://example.com", "example.com:443", TLS));
        assert!(!same_origin(
            "http://example.com:8080",
            "example.com:9090",
            PLAIN
        ));
        assert!(!same_origin("http://evil.com", "example.com", PLAIN));
        assert!(!same_origin("null", "example.com", PLAIN));
        assert!(!same_origin(
            "http://example.com.evil.com",
            "example.com",
            PLAIN
        ));
        assert!(same_origin("http://[::1]:8080", "[::1]:8080", PLAIN));
    }

    #[test]
    fn a_host_without_a_port_means_the_servers_default_port_not_the_origins() {
        // Once `Host: example.com` matched any port and any scheme.
        assert!(!same_origin(
            "http://example.com:8081",
            "example.com",
            PLAIN
        ));
        assert!(!same_origin(
            "https://example.com:8443",
            "example.com",
            PLAIN
        ));
        assert!(!same_origin("https://example.com:8443", "example.com", TLS));
        assert!(!same_origin("http://example.com:443", "example.com", TLS));
    }

    #[test]
    fn the_scheme_must_be_the_one_clients_reach_the_server_with() {
        assert!(!same_origin("https://example.com", "example.com", PLAIN));
        assert!(!same_origin("http://example.com", "example.com", TLS));
        assert!(!same_origin("ftp://example.com", "example.com", PLAIN));
    }

    #[test]
    fn a_loopback_only_server_also_takes_loopback_origins_on_any_port() {
        for origin in [
            "http://localhost/",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://127.1.2.3",
            "http://[::1]:9",
            "http://app.localhost:5173",
        ] {
            assert!(same_origin(origin, "127.0.0.1:12345", LOOPBACK), "{origin}");
            assert!(!same_origin(origin, "127.0.0.1:12345", PLAIN), "{origin}");
        }
        for foreign in [
            "http://evil.example",
            "http://localhost.evil.example",
            "null",
        ] {
            assert!(
                !same_origin(foreign, "127.0.0.1:12345", LOOPBACK),
                "{foreign}"
            );
        }
    }

    #[test]
    fn allow_list_widens_same_origin() {
        let policy = OriginPolicy::allow_list(["https://App.example.com/"]);
        assert!(policy.allows("https://app.example.com", "api.example.com", PLAIN));
        assert!(policy.allows("http://api.example.com", "api.example.com", PLAIN));
        assert!(!policy.allows("https://other.example.com", "api.example.com", PLAIN));
    }

    #[test]
    fn any_allows_everything() {
        assert!(OriginPolicy::Any.allows("http://evil.com", "example.com", PLAIN));
    }
}
