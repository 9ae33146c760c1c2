//! WebSockets in axum, in axum's own idiom (feature `axum`): a [`WebSocketUpgrade`]
//! extractor whose refusal is a response, and [`on_upgrade`](WebSocketUpgrade::on_upgrade)
//! to run a handler on the WebSocket. It takes HTTP/1.1 upgrades and, when axum serves
//! HTTP/2 (its `http2` feature), RFC 8441 extended CONNECTs; route it with `any`.
//!
//! ```no_run
//! use axum::response::Response;
//! use axum::routing::any;
//! use wsock::axum::WebSocketUpgrade;
//!
//! async fn echo(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.protocols(["chat"]).on_upgrade(|mut ws| async move {
//!         while let Ok(Some(message)) = ws.recv().await {
//!             if ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! let app: axum::Router = axum::Router::new().route("/echo", any(echo));
//! ```
//!
//! The origin policy, subprotocols, permessage-deflate and limits are an
//! [`AcceptOptions`]: given with [`options`](WebSocketUpgrade::options), or for a
//! whole router as an `axum::Extension(AcceptOptions)` layer, which the extractor
//! finds in the request. Without either, the defaults hold (same origin only, no
//! deflate).

use std::future::Future;

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::Request;
use wsock_proto::handshake::server::{validate, Refusal};

use crate::accept_options::AcceptOptions;
use crate::upgrade::{core_request, upgrade_with, HyperWebSocket};

/// A request that asks to become a WebSocket, extracted by axum; answer it with
/// [`on_upgrade`](Self::on_upgrade).
#[must_use = "the client waits for the response of on_upgrade"]
pub struct WebSocketUpgrade {
    /// The request's head, with hyper's upgrade handle and `:protocol` in its
    /// extensions.
    request: Request<()>,
    options: AcceptOptions,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("uri", self.request.uri())
            .finish_non_exhaustive()
    }
}

/// Why a request cannot become a WebSocket: the answer to send (400, 405, 426 or 431,
/// with the reason as text).
#[derive(Debug)]
pub struct WebSocketUpgradeRejection {
    refusal: Refusal,
    version: http::Version,
}

impl std::fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a WebSocket request: {}", self.refusal.reason())
    }
}

impl std::error::Error for WebSocketUpgradeRejection {}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        self.refusal.response_for(self.version).map(Body::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut request = Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        let extensions = request.extensions_mut();
        if let Some(protocol) = parts.extensions.get::<hyper::ext::Protocol>() {
            extensions.insert(protocol.clone());
        }
        // The protocol checks now, so that a plain request gets its 4xx from axum;
        // the origin policy and subprotocols once the handler has said what they are.
        if let Err(error) = validate(core_request(&request)) {
            let refusal = Refusal::Invalid(error);
            crate::metrics::handshake_refused(refusal.cause());
            return Err(WebSocketUpgradeRejection {
                refusal,
                version: parts.version,
            });
        }
        if let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
            request.extensions_mut().insert(on_upgrade);
        }
        let options = parts
            .extensions
            .get::<AcceptOptions>()
            .cloned()
            .unwrap_or_default();
        Ok(Self { request, options })
    }
}

impl WebSocketUpgrade {
    /// How to accept: origin policy, subprotocols, permessage-deflate, limits.
    pub fn options(mut self, options: AcceptOptions) -> Self {
        self.options = options;
        self
    }

    /// Subprotocols spoken, most preferred first (see [`AcceptOptions::protocols`]).
    pub fn protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.options = self.options.protocols(protocols);
        self
    }

    /// The response that accepts the WebSocket (101, or 200 over HTTP/2), with
    /// `handler` run on it on a task of its own once the connection is handed over;
    /// or the refusal (403 for a foreign origin) that says why.
    pub fn on_upgrade<F, Fut>(mut self, handler: F) -> Response
    where
        F: FnOnce(HyperWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        match upgrade_with::<_, Body, _>(&mut self.request, &self.options, |_| Ok(())) {
            Ok((response, pending)) => {
                tokio::spawn(async move {
                    match pending.await {
                        Ok(ws) => handler(ws).await,
                        Err(error) => tracing::info!(%error, "the WebSocket never opened"),
                    }
                });
                response
            }
            Err(refusal) => refusal,
        }
    }
}
