//! Which browser origins may open a WebSocket (RFC 6455 section 10.2).
//!
//! Browsers send `Origin` with every WebSocket request and let any page connect
//! anywhere, with the user's cookies. Refusing foreign origins by default stops
//! cross-site WebSocket hijacking; non-browser clients send no `Origin` and pass.

use std::fmt;
use std::sync::Arc;

use wsock_proto::handshake::server::UpgradeRequest;

/// A function deciding whether an `Origin` may connect, given the request too.
pub type OriginCallback = Arc<dyn Fn(&str, &UpgradeRequest) -> bool + Send + Sync>;

/// Decides whether a request's `Origin` is allowed. Requests without `Origin` are
/// always allowed; refused ones get 403.
///
/// ```
/// use wsock::OriginPolicy;
/// let policy = OriginPolicy::allow_list(["https://app.example.com"]);
/// assert!(policy.allows("https://app.example.com", "ws.example.com"));
/// assert!(policy.allows("http://ws.example.com", "ws.example.com")); // same origin
/// assert!(!policy.allows("https://evil.example", "ws.example.com"));
/// ```
#[derive(Clone, Default)]
pub enum OriginPolicy {
    /// Only pages served from the same host and port as the `Host` header (default).
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

    /// Whether `request` passes: no `Origin`, or an allowed one.
    pub fn check(&self, request: &UpgradeRequest) -> bool {
        match request.origin() {
            None => true,
            Some(origin) => match self {
                Self::Callback(callback) => callback(origin, request),
                _ => self.allows(origin, request.host()),
            },
        }
    }

    /// Whether a request with `origin` addressed to `host` (the `Host` header) passes.
    /// Callbacks are not consulted here; they need the request (see [`check`](Self::check)).
    pub fn allows(&self, origin: &str, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::SameOrigin => same_origin(origin, host),
            Self::AllowList(list) => {
                same_origin(origin, host)
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

/// Whether `origin` names the same host and port as the `Host` header. A `Host` without
/// a port matches the origin scheme's default port.
fn same_origin(origin: &str, host: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false; // includes the opaque origin "null"
    };
    let (Some(origin_host), Some(origin_port)) = (url.host_str(), url.port_or_known_default())
    else {
        return false;
    };
    let (host_name, host_port) = split_host(host);
    origin_host.eq_ignore_ascii_case(host_name) && host_port.unwrap_or(origin_port) == origin_port
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

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(same_origin("http://localhost:12345", "localhost:12345"));
        assert!(same_origin("http://LOCALHOST:12345", "localhost:12345"));
        assert!(same_origin("http://example.com", "example.com"));
        assert!(same_origin("http://example.com", "example.com:80"));
        assert!(same_origin("https://example.com", "example.com"));
        assert!(!same_origin("http://example.com:8080", "example.com:9090"));
        assert!(!same_origin("http://evil.com", "example.com"));
        assert!(!same_origin("null", "example.com"));
        assert!(!same_origin("http://example.com.evil.com", "example.com"));
        assert!(same_origin("http://[::1]:8080", "[::1]:8080"));
    }

    #[test]
    fn allow_list_widens_same_origin() {
        let policy = OriginPolicy::allow_list(["https://App.example.com/"]);
        assert!(policy.allows("https://app.example.com", "api.example.com"));
        assert!(policy.allows("http://api.example.com", "api.example.com"));
        assert!(!policy.allows("https://other.example.com", "api.example.com"));
    }

    #[test]
    fn any_allows_everything() {
        assert!(OriginPolicy::Any.allows("http://evil.com", "example.com"));
    }
}
