//! How servers accept upgrade requests, for both shells: [`AcceptOptions`] (the
//! core's policy plus the connection settings and the handshake timeout), and the
//! answers every server with routes gives.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use wsock_proto::handshake::origin::OriginPolicy;
use wsock_proto::handshake::server::{
    accept_with, text_response, AcceptPolicy, Accepted, Refusal, UpgradeRequest,
};
use wsock_proto::{DeflateConfig, HandshakeError, Limits};

use crate::config::Config;

/// How a server accepts upgrade requests: the core's [`AcceptPolicy`] (origins,
/// subprotocols, permessage-deflate), plus the connection settings and the handshake
/// timeout.
///
/// ```
/// use std::time::Duration;
/// use wsock::{AcceptOptions, OriginPolicy};
/// let options = AcceptOptions::default()
///     .protocols(["chat.v2", "chat"])
///     .origin_policy(OriginPolicy::allow_list(["https://app.example.com"]))
///     .handshake_timeout(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
pub struct AcceptOptions {
    pub(crate) config: Arc<Config>,
    pub(crate) policy: AcceptPolicy,
    /// Whether the application said if the server is loopback-only; if not, a server
    /// finds out from its address.
    loopback_said: bool,
    pub(crate) handshake_timeout: Duration,
}

impl Default for AcceptOptions {
    fn default() -> Self {
        let config = Arc::new(Config::default());
        Self {
            policy: AcceptPolicy {
                limits: config.limits.clone(),
                ..AcceptPolicy::default()
            },
            config,
            loopback_said: false,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl AcceptOptions {
    /// Connection settings (limits, close timeout, write buffer).
    pub fn config(mut self, config: Config) -> Self {
        self.policy.limits = config.limits.clone();
        self.config = Arc::new(config);
        self
    }

    /// Which `Origin`s may connect. Default: same origin only (and requests without
    /// `Origin`).
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.policy.origins = policy;
        self
    }

    /// Clients reach this server with `wss://`, through TLS at a proxy in front (a
    /// [`Server`](crate::Server) with [`tls`](crate::Server::tls) knows it itself). The same-origin check
    /// then expects `https://` pages and port 443 for a `Host` without a port.
    pub fn served_over_tls(mut self, yes: bool) -> Self {
        self.policy.reached.over_tls = yes;
        self
    }

    /// Whether this server listens on loopback addresses only, so that the
    /// same-origin check also admits pages from loopback origins, such as the seed's
    /// client with its `Origin: http://localhost/`. A [`Server`](crate::Server) finds it out from its
    /// address unless told here.
    pub fn loopback_only(mut self, yes: bool) -> Self {
        self.policy.reached.loopback_only = yes;
        self.loopback_said = true;
        self
    }

    /// Subprotocols this server speaks, most preferred first; the first one the client
    /// also offered is chosen, and none if there is no overlap.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// How long a client has to send its whole request. Default 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Accepts permessage-deflate offers with `config` (`None`, the default, declines
    /// them). Compression costs memory per connection and can expose secrets mixed
    /// with attacker-chosen data in one message (as CRIME/BREACH did for HTTPS), so it
    /// is off unless asked for.
    pub fn deflate(mut self, config: Option<DeflateConfig>) -> Self {
        self.policy.deflate = config;
        self
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// The core's decision on a request (or the error reading its head), with `check`
    /// as the application's; an accepted connection starts from `rest`, what the
    /// client sent after its head.
    pub(crate) fn decide<F>(
        &self,
        request: std::result::Result<http::Request<()>, HandshakeError>,
        rest: &[u8],
        check: F,
    ) -> std::result::Result<Accepted, Refusal>
    where
        F: FnOnce(&UpgradeRequest) -> std::result::Result<(), (StatusCode, String)>,
    {
        let decision = request
            .map_err(Refusal::from)
            .and_then(|request| accept_with(request, &self.policy, check));
        crate::metrics::handshake_decided(&decision);
        let mut accepted = decision?;
        accepted.connection.receive_data(rest);
        Ok(accepted)
    }

    /// These options with what a server knows of how it is reached: TLS of its own,
    /// and whether it listens on loopback only. What the application said still holds.
    pub(crate) fn reached_at(mut self, local: &SocketAddr, tls: bool) -> Self {
        self.policy.reached.over_tls |= tls;
        if !self.loopback_said {
            self.policy.reached.loopback_only = local.ip().is_loopback();
        }
        self
    }
}

/// The answer to a connection over the server's limit.
pub(crate) fn over_limit() -> http::Response<Bytes> {
    text_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is at its connection limit; retry later",
    )
}

/// The check of a server with routes: 404 unless `request`'s path has one.
pub(crate) fn route_exists<K: Borrow<str> + Hash + Eq, H>(
    routes: &HashMap<K, H>,
    request: &UpgradeRequest,
) -> Result<(), (StatusCode, String)> {
    if routes.contains_key(request.path()) {
        Ok(())
    } else {
        Err((
            StatusCode::NOT_FOUND,
            format!("no WebSocket is served at {}", request.path()),
        ))
    }
}
