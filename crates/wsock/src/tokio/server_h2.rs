//! WebSockets over HTTP/2 (RFC 8441) on the tokio shell's [`Server`](super::Server):
//! hyper serves the connection (with `SETTINGS_ENABLE_CONNECT_PROTOCOL`), each
//! extended CONNECT is decided by the core through [`crate::upgrade`], exactly as over
//! HTTP/1.1, and each accepted stream runs the route's handler as a WebSocket of its
//! own. Plain requests get the server's pages.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming as IncomingBody;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use wsock_proto::handshake::server::UpgradeRequest;

use super::server::{BoxFuture, Setup};
use super::transport::{Http2Stream, MaybeTlsStream};
use crate::accept_options::route_exists;
use crate::error::Result;
use crate::upgrade::{core_request, upgrade_with};

/// How often an idle HTTP/2 connection is pinged, and how long its answer may take,
/// so that a peer that vanished does not hold the connection's slot.
const PING_INTERVAL: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Receive windows: one stream whose WebSocket stops reading holds at most its own
/// window of the connection's, so the other streams keep flowing.
const STREAM_WINDOW: u32 = 256 << 10;
const CONNECTION_WINDOW: u32 = 4 << 20;

/// Serves one HTTP/2 connection until the peer leaves or the server shuts down (then
/// with GOAWAY, and 1001 to every WebSocket on it), and its streams have ended.
pub(super) async fn serve(
    stream: MaybeTlsStream,
    setup: Arc<Setup>,
    peer: SocketAddr,
) -> Result<()> {
    let (spawn, mut spawned) = mpsc::unbounded_channel::<BoxFuture>();
    let saw_request = Arc::new(AtomicBool::new(false));
    let service = {
        let setup = setup.clone();
        let saw_request = saw_request.clone();
        hyper::service::service_fn(move |request| {
            saw_request.store(true, Ordering::Relaxed);
            let answer = answer(request, &setup, peer, &spawn);
            async move { Ok::<_, Infallible>(answer) }
        })
    };
    let options = &setup.options;
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .enable_connect_protocol()
        .max_concurrent_streams(setup.max_streams)
        .max_header_list_size(u32::try_from(options.limits().max_head_size).unwrap_or(u32::MAX))
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .timer(TokioTimer::new())
        .keep_alive_interval(PING_INTERVAL)
        .keep_alive_timeout(PING_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut streams = JoinSet::new();
    // A connection must open a stream within the handshake timeout, as an HTTP/1.1
    // client must send its request.
    let first_request = tokio::time::sleep(options.handshake_timeout);
    tokio::pin!(first_request);
    let mut going_away = false;
    let ended = loop {
        tokio::select! {
            ended = connection.as_mut() => break ended,
            Some(handler) = spawned.recv() => {
                streams.spawn(handler);
            }
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            () = setup.shutdown.cancelled(), if !going_away => {
                going_away = true;
                connection.as_mut().graceful_shutdown();
            }
            () = &mut first_request, if !saw_request.load(Ordering::Relaxed) => {
                tracing::info!(%peer, timeout = ?options.handshake_timeout, "HTTP/2 connection opened no stream in time; closing");
                return Ok(());
            }
        }
    };
    while let Ok(handler) = spawned.try_recv() {
        streams.spawn(handler);
    }
    while streams.join_next().await.is_some() {}
    ended
        .map_err(|error| std::io::Error::other(format!("HTTP/2 connection failed: {error}")).into())
}

/// The answer to one request on the connection: a WebSocket accepted (its handler
/// queued to run once hyper hands the stream over) or refused, or a page.
fn answer(
    mut request: Request<IncomingBody>,
    setup: &Arc<Setup>,
    peer: SocketAddr,
    spawn: &mpsc::UnboundedSender<BoxFuture>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::CONNECT {
        let head = core_request(&request);
        if let Some(page) = setup.routes.answer_plain(&head) {
            let head_only = request.method() == Method::HEAD;
            return page.map(|body| Full::new(if head_only { Bytes::new() } else { body }));
        }
    }
    let check = |request: &UpgradeRequest| route_exists(&setup.routes.websockets, request);
    let (response, pending) = match upgrade_with(&mut request, &setup.options, check) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal,
    };
    let setup = setup.clone();
    let run: BoxFuture = Box::pin(async move {
        let (ws, request) = pending
            .resolve(|upgraded| MaybeTlsStream::Http2(Http2Stream::new(TokioIo::new(upgraded))))
            .await?;
        match setup.start_handler(ws, request, peer, "HTTP/2") {
            Some((handler, _path)) => handler.await,
            None => Ok(()),
        }
    });
    // The receiver lives as long as the connection, which is serving this request.
    let _ = spawn.send(run);
    response
}
