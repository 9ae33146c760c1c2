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

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use wsock_proto::handshake::accept_key;
use wsock_proto::handshake::server::validate;
use wsock_proto::Connection;

use crate::config::Config;
use crate::error::Error;
use crate::server::{decide_request, AcceptOptions, Verdict};
use crate::stream::WebSocket;
use crate::Result;

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
    let accepted = match decide_request(validate(head), options, |_| Ok(())) {
        Verdict::Accept(accepted) => accepted,
        Verdict::Refuse {
            status,
            reason,
            error,
        } => {
            tracing::info!(%error, "upgrade refused");
            return Err(refusal(status, reason));
        }
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        tracing::warn!("the HTTP server gave no upgrade handle for a valid WebSocket request");
        return Err(refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "this server cannot upgrade the connection: serve HTTP/1.1 with upgrades enabled"
                .into(),
        ));
    };
    let mut response = Response::new(R::from(String::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let key = accept_key(accepted.request.key().as_bytes());
    // The accept key is base64, and the protocol was checked to be a token.
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&key).expect("base64 is a valid header value"),
    );
    if let Some(protocol) = &accepted.protocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(protocol).expect("a token is a valid header value"),
        );
    }
    headers.extend(accepted.extra);
    let pending = PendingUpgrade {
        on_upgrade,
        parts: Some((accepted.conn, accepted.protocol, options.config.clone())),
    };
    Ok((response, pending))
}

fn refusal<R: From<String>>(status: StatusCode, reason: String) -> Response<R> {
    let mut response = Response::new(R::from(format!("{reason}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UPGRADE_REQUIRED {
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    response
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
