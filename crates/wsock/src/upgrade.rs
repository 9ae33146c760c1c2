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
use wsock_proto::handshake::server::{accept, text_response};
use wsock_proto::Connection;

use crate::accept_options::AcceptOptions;
use crate::config::Config;
use crate::error::Error;
use crate::error::Result;
use crate::WebSocket;

/// The WebSocket an upgraded hyper connection becomes.
pub type HyperWebSocket = WebSocket<TokioIo<hyper::upgrade::Upgraded>>;

/// Checks `request` as an upgrade to a WebSocket. `Ok` holds the 101 response to
/// return and the connection to await once it is sent; `Err` holds the refusal to
/// return instead. `R` is the response body type (its `From<String>` carries a
/// refusal's reason).
pub fn upgrade<B, R>(
    request: &mut Request<B>,
    options: &AcceptOptions,
) -> Result<(Response<R>, PendingUpgrade), Response<R>>
where
    R: From<String>,
{
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    let accepted = match accept(head, &options.policy) {
        Ok(accepted) => accepted,
        Err(refusal) => {
            tracing::info!(error = %Error::from(refusal.clone()), "upgrade refused");
            return Err(refusal.response().map(into_body));
        }
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        tracing::warn!("the HTTP server gave no upgrade handle for a valid WebSocket request");
        let response = text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this server cannot upgrade the connection: serve HTTP/1.1 with upgrades enabled",
        );
        return Err(response.map(into_body));
    };
    let pending = PendingUpgrade {
        on_upgrade,
        parts: Some((
            accepted.connection,
            accepted.protocol,
            options.config.clone(),
        )),
    };
    Ok((accepted.response.map(into_body), pending))
}

/// The core's body as the HTTP server's body type.
fn into_body<R: From<String>>(body: Bytes) -> R {
    // The core's bodies are its own plain-text messages.
    R::from(String::from_utf8_lossy(&body).into_owned())
}

/// Resolves to the [`WebSocket`] once hyper has sent the 101 and handed over the
/// connection.
#[must_use = "the WebSocket exists only once this is awaited"]
pub struct PendingUpgrade {
    on_upgrade: OnUpgrade,
    parts: Option<(Connection, Option<String>, std::sync::Arc<Config>)>,
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
        let upgraded = ready!(Pin::new(&mut this.on_upgrade).poll(cx)).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "hyper could not hand over the connection: {e}"
            )))
        })?;
        let (conn, protocol, config) = this
            .parts
            .take()
            .expect("PendingUpgrade polled after it completed");
        Poll::Ready(Ok(WebSocket::from_parts(
            TokioIo::new(upgraded),
            conn,
            protocol,
            config,
        )))
    }
}
