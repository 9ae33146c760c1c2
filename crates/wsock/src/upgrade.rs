//! WebSockets inside a hyper 1 server, or anything built on it such as axum
//! (feature `hyper`).
//!
//! [`upgrade`] checks a request the HTTP server has already parsed, with the same
//! rules, origin policy, subprotocols and permessage-deflate as wsock's own
//! [`Server`](crate::Server). It returns the response to send, either the 101 and a
//! [`PendingUpgrade`] that resolves to the [`WebSocket`] once hyper has handed over the
//! connection, or a refusal (400, 403, 426) that says why.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use http_body_util::Full;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//!
//! async fn handle(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let options = wsock::AcceptOptions::default();
//!     Ok(match wsock::upgrade::upgrade(&mut request, &options) {
//!         Ok((response, pending)) => {
//!             tokio::spawn(async move {
//!                 let mut ws = pending.await?;
//!                 while let Some(message) = ws.recv().await? {
//!                     ws.send(message).await?;
//!                 }
//!                 Ok::<_, wsock::Error>(())
//!             });
//!             response
//!         }
//!         Err(refusal) => refusal,
//!     })
//! }
//! ```
//!
//! hyper must serve the connection with upgrades on (`.with_upgrades()` on its HTTP/1
//! connection; `axum::serve` does so); `examples/axum_echo.rs` shows axum.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use wsock_proto::handshake::server::{accept_with, text_response, ConnectProtocol, UpgradeRequest};
use wsock_proto::Connection;

use crate::accept_options::AcceptOptions;
use crate::config::Config;
use crate::error::Error;
use crate::error::Result;
use crate::metrics::RouteMetrics;
use crate::WebSocket;

/// The WebSocket an upgraded hyper connection becomes.
pub type HyperWebSocket = WebSocket<TokioIo<hyper::upgrade::Upgraded>>;

/// Checks `request` as an upgrade to a WebSocket: an HTTP/1.1 upgrade, or an HTTP/2
/// extended CONNECT (RFC 8441, when hyper's HTTP/2 server has
/// `enable_connect_protocol()`). `Ok` holds the response to return (101, or 200 over
/// HTTP/2) and the connection to await once it is sent; `Err` holds the refusal to
/// return instead. `R` is the response body type (its `From<String>` carries a
/// refusal's reason).
pub fn upgrade<B, R>(
    request: &mut Request<B>,
    options: &AcceptOptions,
) -> Result<(Response<R>, PendingUpgrade), Response<R>>
where
    R: From<String>,
{
    upgrade_with(request, options, |_| Ok(()))
}

/// [`upgrade`], where `check` may refuse a request that passed the protocol and
/// origin checks (see [`crate::accept_with`]).
pub(crate) fn upgrade_with<B, R, F>(
    request: &mut Request<B>,
    options: &AcceptOptions,
    check: F,
) -> Result<(Response<R>, PendingUpgrade), Response<R>>
where
    R: From<String>,
    F: FnOnce(&UpgradeRequest) -> Result<(), (StatusCode, String)>,
{
    let version = request.version();
    let decision = accept_with(core_request(request), &options.policy, check);
    crate::metrics::handshake_decided(&decision);
    let accepted = match decision {
        Ok(accepted) => accepted,
        Err(refusal) => {
            tracing::info!(error = %Error::from(refusal.clone()), "upgrade refused");
            return Err(refusal.response_for(version).map(into_body));
        }
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        tracing::warn!("the HTTP server gave no upgrade handle for a valid WebSocket request");
        let response = text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this server cannot upgrade the connection: serve HTTP/1.1 with upgrades enabled, \
             or HTTP/2 with the connect protocol enabled",
        );
        return Err(response.map(into_body));
    };
    let pending = PendingUpgrade {
        on_upgrade,
        request: accepted.request,
        parts: Some((
            accepted.connection,
            accepted.protocol,
            options.config.clone(),
        )),
    };
    Ok((accepted.response.map(into_body), pending))
}

/// The head of a request hyper parsed, as the core reads it: its `:protocol` (HTTP/2
/// extended CONNECT) included.
pub(crate) fn core_request<B>(request: &Request<B>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    if let Some(protocol) = request.extensions().get::<hyper::ext::Protocol>() {
        head.extensions_mut()
            .insert(ConnectProtocol(protocol.as_str().to_owned()));
    }
    head
}

/// The core's body as the HTTP server's body type.
fn into_body<R: From<String>>(body: Bytes) -> R {
    // The core's bodies are its own plain-text messages.
    R::from(String::from_utf8_lossy(&body).into_owned())
}

/// Resolves to the [`WebSocket`] once hyper has sent the 101 (or the 200 of an HTTP/2
/// extended CONNECT) and handed over the connection or stream.
#[must_use = "the WebSocket exists only once this is awaited"]
pub struct PendingUpgrade {
    on_upgrade: OnUpgrade,
    request: UpgradeRequest,
    parts: Option<(Connection, Option<String>, std::sync::Arc<Config>)>,
}

impl PendingUpgrade {
    /// The request that was accepted (its path, query and headers).
    pub fn request(&self) -> &UpgradeRequest {
        &self.request
    }

    /// The WebSocket, over the stream `wrap` makes of hyper's, and the request.
    pub(crate) async fn resolve<T: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        wrap: impl FnOnce(hyper::upgrade::Upgraded) -> T,
    ) -> Result<(WebSocket<T>, UpgradeRequest)> {
        let upgraded = (&mut self.on_upgrade).await.map_err(handover_failed)?;
        let (connection, protocol, config) = self.parts.take().expect("resolved once");
        let ws = WebSocket::from_parts(wrap(upgraded), connection, protocol, config);
        Ok((ws, self.request))
    }
}

fn handover_failed(error: hyper::Error) -> Error {
    Error::Io(std::io::Error::other(format!(
        "hyper could not hand over the connection: {error}"
    )))
}

impl std::fmt::Debug for PendingUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingUpgrade").finish_non_exhaustive()
    }
}

impl Future for PendingUpgrade {
    type Output = Result<HyperWebSocket>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let upgraded = ready!(Pin::new(&mut this.on_upgrade).poll(cx)).map_err(handover_failed)?;
        let (conn, protocol, config) = this
            .parts
            .take()
            .expect("PendingUpgrade polled after it completed");
        let mut ws = WebSocket::from_parts(TokioIo::new(upgraded), conn, protocol, config);
        // The application routes; its paths are not ours to label with.
        static UPGRADES: RouteMetrics = RouteMetrics::new();
        ws.count_as_open(UPGRADES.connection_opened("(upgrade)"));
        Poll::Ready(Ok(ws))
    }
}
