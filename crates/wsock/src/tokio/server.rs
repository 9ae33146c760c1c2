//! The tokio shell's server side: the handshake on any stream, and a TCP server that
//! routes by path.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wsock_proto::handshake::server::{
    encode_response, is_upgrade, parse_shared_head, text_response, UpgradeRequest,
};
use wsock_proto::HandshakeError;

#[cfg(feature = "tls")]
use super::transport::tls_accept;
use super::transport::{read_head, MaybeTlsStream};
use super::websocket::WebSocket;
use crate::accept_options::{over_limit, route_exists, AcceptOptions};
use crate::budget::{ReadBudget, WriteBudget};
use crate::error::{Error, Result};
use crate::metrics::RouteMetrics;
#[cfg(feature = "tls")]
use crate::tls::ServerTls;

/// Accepts a WebSocket on `stream` with default options, for any path.
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (ws, _) = accept_with(stream, &AcceptOptions::default(), |_| Ok(())).await?;
    Ok(ws)
}

/// Accepts a WebSocket on `stream`. After the request passed the protocol and origin
/// checks, `check` may refuse it with a status and reason (404 for an unknown path,
/// say). Refusals are answered on the stream before this returns the error.
pub async fn accept_with<S, F>(
    stream: S,
    options: &AcceptOptions,
    check: F,
) -> Result<(WebSocket<S>, UpgradeRequest)>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<(), (StatusCode, String)>,
{
    match accept_or_answer(stream, options, check, &|_| None).await? {
        Some(accepted) => Ok(accepted),
        // Without plain handlers every request is taken as an upgrade.
        None => Err(HandshakeError::MissingHeader("Upgrade").into()),
    }
}

/// Answers a plain HTTP request, or `None` to take it as a WebSocket upgrade.
type Plain<'a> = dyn Fn(&http::Request<()>) -> Option<http::Response<Bytes>> + Send + Sync + 'a;

/// [`accept_with`], where `plain` may answer a request without `Upgrade`: then the
/// response is written, the stream closed, and the result is `None`.
async fn accept_or_answer<S, F>(
    mut stream: S,
    options: &AcceptOptions,
    check: F,
    plain: &Plain<'_>,
) -> Result<Option<(WebSocket<S>, UpgradeRequest)>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&UpgradeRequest) -> Result<(), (StatusCode, String)>,
{
    let handshake = async {
        let mut buf = BytesMut::with_capacity(1024);
        let request = match read_head(&mut stream, &mut buf, options.limits().max_head_size).await {
            Ok(len) => parse_shared_head(buf.split_to(len).freeze(), options.limits()),
            Err(Error::Handshake(error)) => Err(error),
            Err(other) => return Err(other),
        };
        if let Ok(request) = &request {
            if !is_upgrade(request) {
                if let Some(response) = plain(request) {
                    let head_only = request.method() == http::Method::HEAD;
                    stream
                        .write_all(&encode_response(&response, head_only))
                        .await?;
                    let _ = stream.shutdown().await;
                    return Ok(None);
                }
            }
        }
        match options.decide(request, &buf, check) {
            Ok(accepted) => {
                stream
                    .write_all(&encode_response(&accepted.response, false))
                    .await?;
                stream.flush().await?;
                let ws = WebSocket::from_parts(
                    stream,
                    accepted.connection,
                    accepted.protocol,
                    options.config.clone(),
                );
                Ok(Some((ws, accepted.request)))
            }
            Err(refusal) => {
                // The client may already be gone; the refusal is a courtesy.
                let _ = stream
                    .write_all(&encode_response(&refusal.response(), false))
                    .await;
                let _ = stream.shutdown().await;
                Err(refusal.into())
            }
        }
    };
    tokio::time::timeout(options.handshake_timeout, handshake)
        .await
        .map_err(|_| {
            crate::metrics::handshake_refused("timeout");
            Error::Timeout {
                what: "the opening handshake",
                after: options.handshake_timeout,
            }
        })?
}

pub(super) type BoxFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;
type Handler = Arc<dyn Fn(WebSocket<MaybeTlsStream>, UpgradeRequest) -> BoxFuture + Send + Sync>;
type PageHandler = Box<dyn Fn(&http::Request<()>) -> http::Response<Bytes> + Send + Sync>;

/// A server's paths: WebSocket handlers, and plain HTTP ones.
#[derive(Default)]
pub(super) struct Routes {
    /// Keyed by an `Arc` that each connection keeps for its closing log line, rather
    /// than a copy of its path.
    pub(super) websockets: HashMap<Arc<str>, (Handler, RouteMetrics)>,
    pages: HashMap<String, PageHandler>,
}

impl Routes {
    /// The answer to a request without `Upgrade`: its page, or 404 at a path that
    /// serves neither a page nor a WebSocket. At a WebSocket's path, `None`: the
    /// upgrade checks then say what is missing (400).
    pub(super) fn answer_plain(
        &self,
        request: &http::Request<()>,
    ) -> Option<http::Response<Bytes>> {
        let path = request.uri().path();
        if let Some(page) = self.pages.get(path) {
            return Some(page(request));
        }
        if self.pages.is_empty() || self.websockets.contains_key(path) {
            return None;
        }
        let message = format!("not found: nothing is served at {path}");
        Some(text_response(StatusCode::NOT_FOUND, &message))
    }
}

/// A WebSocket server on TCP, or on TLS with [`tls`](Self::tls): routes by path, one
/// task per connection.
///
/// Unknown paths get 404, bad handshakes 400 (426 for a wrong version, 431 for an
/// oversized head), refused origins 403, connections over the limit 503.
pub struct Server {
    listener: TcpListener,
    routes: Routes,
    options: AcceptOptions,
    max_connections: usize,
    shutdown: CancellationToken,
    shutdown_timeout: Duration,
    write_budget: WriteBudget,
    read_budget: ReadBudget,
    #[cfg(feature = "tls")]
    tls: Option<ServerTls>,
    http2: bool,
    max_streams: u32,
}

/// Stops a [`Server`] gracefully: it stops accepting, closes every connection with
/// 1001, waits (up to its shutdown timeout) for the closing handshakes, and
/// [`Server::serve`] returns.
///
/// ```no_run
/// # async fn run() -> wsock::Result<()> {
/// let server = wsock::Server::bind("127.0.0.1:0").await?;
/// let handle = server.shutdown_handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     handle.shutdown();
/// });
/// server.serve().await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ShutdownHandle(CancellationToken);

impl ShutdownHandle {
    /// Starts the graceful shutdown.
    pub fn shutdown(&self) {
        self.0.cancel();
    }
}

impl Server {
    /// Listens on `addr`.
    pub async fn bind(addr: impl ToSocketAddrs) -> Result<Self> {
        Ok(Self::from_listener(TcpListener::bind(addr).await?))
    }

    /// Serves on an existing listener.
    pub fn from_listener(listener: TcpListener) -> Self {
        Self {
            listener,
            routes: Routes::default(),
            options: AcceptOptions::default(),
            max_connections: 10_000,
            shutdown: CancellationToken::new(),
            shutdown_timeout: Duration::from_secs(10),
            write_budget: WriteBudget::new(256 << 20).reported_as("write"),
            read_budget: ReadBudget::new(256 << 20).reported_as("read"),
            #[cfg(feature = "tls")]
            tls: None,
            http2: cfg!(feature = "http2"),
            max_streams: 100,
        }
    }

    /// The address listened on (useful after binding port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves WebSockets at `path` with `handler`, one call per connection.
    ///
    /// The handler's future lives as long as its connection, so its size is most of
    /// an idle connection's memory. A closure (`|mut ws| async move { … }`) stores
    /// the WebSocket once; an `async fn` taking it by value stores it twice
    /// (rust-lang/rust#62958), which costs about 350 bytes per connection.
    pub fn route<F, Fut>(self, path: &str, handler: F) -> Self
    where
        F: Fn(WebSocket<MaybeTlsStream>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.route_with_request(path, move |ws, _| handler(ws))
    }

    /// Like [`route`](Self::route), also giving the handler the upgrade request (for its
    /// query string, headers or chosen subprotocol).
    pub fn route_with_request<F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(WebSocket<MaybeTlsStream>, UpgradeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |ws, request| Box::pin(handler(ws, request)));
        let route = (handler, RouteMetrics::new());
        self.routes.websockets.insert(Arc::from(path), route);
        self
    }

    /// Answers plain HTTP requests (those without `Upgrade`) at `path` with `handler`:
    /// a page and its WebSocket on one port, with every protection of the server (the
    /// handshake timeout bounds the request head, the connection cap counts them, and
    /// shutdown waits for them). One request per connection (`Connection: close`); a
    /// `HEAD` gets the headers alone; request bodies are not read, so `handler` sees
    /// the head only.
    ///
    /// ```no_run
    /// # async fn run() -> wsock::Result<()> {
    /// use bytes::Bytes;
    /// let server = wsock::Server::bind("127.0.0.1:8080")
    ///     .await?
    ///     .http("/", |_request| {
    ///         http::Response::builder()
    ///             .header("Content-Type", "text/html; charset=utf-8")
    ///             .body(Bytes::from_static(b"<script>new WebSocket('ws://' + location.host + '/ws')</script>"))
    ///             .expect("a valid response")
    ///     })
    ///     .route("/ws", |mut ws| async move {
    ///         while let Some(message) = ws.recv().await? {
    ///             ws.send(message).await?;
    ///         }
    ///         Ok(())
    ///     });
    /// server.serve().await
    /// # }
    /// ```
    pub fn http<F>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(&http::Request<()>) -> http::Response<Bytes> + Send + Sync + 'static,
    {
        self.routes.pages.insert(path.to_owned(), Box::new(handler));
        self
    }

    /// Serves `wss://`: every connection starts with a TLS handshake, bounded by the
    /// handshake timeout.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Whether a server with [`tls`](Self::tls) offers HTTP/2 (ALPN `h2`) beside
    /// HTTP/1.1, with WebSockets over its streams (RFC 8441). Default: on with the
    /// `http2` feature (on by default).
    pub fn http2(mut self, yes: bool) -> Self {
        self.http2 = yes && cfg!(feature = "http2");
        self
    }

    /// Most streams (WebSockets and page requests) open at once on one HTTP/2
    /// connection; the client waits for one to end before it opens another.
    /// Default 100.
    pub fn max_streams_per_connection(mut self, limit: u32) -> Self {
        self.max_streams = limit;
        self
    }

    /// How requests are accepted (origin policy, subprotocols, limits, timeouts).
    pub fn options(mut self, options: AcceptOptions) -> Self {
        self.options = options;
        self
    }

    /// Most connections served at once (handshakes included); more are answered 503
    /// and closed. Default 10,000.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = limit;
        self
    }

    /// How long a graceful shutdown waits for closing handshakes before dropping the
    /// remaining connections. Default 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Caps the unsent output of all connections together (default 256 MiB); each
    /// connection is also capped by `Config::write_buffer_limit`. Over the cap, a
    /// connection writes out what it has queued before it may queue more.
    pub fn write_budget_limit(mut self, bytes: usize) -> Self {
        self.write_budget = WriteBudget::new(bytes).reported_as("write");
        self
    }

    /// The budget shared by this server's connections, to watch how much is queued.
    pub fn write_budget(&self) -> WriteBudget {
        self.write_budget.clone()
    }

    /// Caps the received data that all connections together hold in memory (receive
    /// buffers and messages in reassembly; default 256 MiB). Each connection is also
    /// capped by its [`Limits`](crate::Limits). Over the cap, a connection that wants to hold more
    /// than a few reads' worth is closed with 1013 (try again later), so small
    /// messages keep flowing.
    pub fn read_budget_limit(mut self, bytes: usize) -> Self {
        self.read_budget = ReadBudget::new(bytes).reported_as("read");
        self
    }

    /// The read budget shared by this server's connections, to watch how much is held.
    pub fn read_budget(&self) -> ReadBudget {
        self.read_budget.clone()
    }

    /// A handle that shuts this server down gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Accepts connections, each on its own task, until a [`ShutdownHandle`] is used;
    /// then closes them all with 1001 and returns once they are done or the shutdown
    /// timeout has passed.
    pub async fn serve(self) -> Result<()> {
        #[cfg(feature = "tls")]
        let tls = self.tls.map(|tls| tls.with_alpn(self.http2));
        #[cfg(not(feature = "tls"))]
        let tls: Option<Plaintext> = None;
        let options = self
            .options
            .reached_at(&self.listener.local_addr()?, tls.is_some());
        let setup = Arc::new(Setup {
            routes: self.routes,
            options,
            tls,
            // Clones, not child tokens: a child costs an allocation per connection,
            // and connections are never cancelled one by one.
            shutdown: self.shutdown.clone(),
            write_budget: self.write_budget.clone(),
            read_budget: self.read_budget.clone(),
            max_streams: self.max_streams,
            accepted_nodelay: crate::listen::nodelay_on_listener(&self.listener),
        });
        let tls = setup.tls.is_some();
        tracing::info!(addr = ?self.listener.local_addr().ok(), tls, http2 = tls && self.http2, paths = ?setup.routes.websockets.keys().collect::<Vec<_>>(), pages = ?setup.routes.pages.keys().collect::<Vec<_>>(), "serving WebSockets");
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait for some to free up
                    // rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if connections.len() >= self.max_connections {
                crate::metrics::handshake_refused("limit");
                if tls {
                    // A 503 would first cost a TLS handshake, the work the limit saves.
                    tracing::warn!(%peer, limit = self.max_connections, "connection limit reached; closing");
                } else {
                    tracing::warn!(%peer, limit = self.max_connections, "connection limit reached; answering 503");
                    tokio::spawn(refuse_over_limit(stream));
                }
                continue;
            }
            connections.spawn(serve_connection(Box::new(Incoming {
                stream,
                peer,
                setup: setup.clone(),
            })));
        }
        drop(self.listener);
        tracing::info!(
            connections = connections.len(),
            "shutting down: closing every connection with 1001"
        );
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                remaining = connections.len(),
                "closing handshakes did not finish within the shutdown timeout; dropping them"
            );
            connections.abort_all();
        }
        Ok(())
    }
}

async fn refuse_over_limit(mut stream: TcpStream) {
    let response = encode_response(&over_limit(), false);
    // Bounded, so that a peer that never reads cannot hold the task.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Stands in for `ServerTls` when the `tls` feature is off.
#[cfg(not(feature = "tls"))]
enum Plaintext {}

#[cfg(not(feature = "tls"))]
type ServerTls = Plaintext;

/// What every connection of a server shares.
pub(super) struct Setup {
    pub(super) routes: Routes,
    pub(super) options: AcceptOptions,
    tls: Option<ServerTls>,
    pub(super) shutdown: CancellationToken,
    write_budget: WriteBudget,
    read_budget: ReadBudget,
    pub(super) max_streams: u32,
    /// Whether accepted sockets come with `TCP_NODELAY` from the listener.
    accepted_nodelay: bool,
}

impl Setup {
    /// A WebSocket's route handler, not yet polled, and its path: the WebSocket
    /// joined to the server's shutdown and budgets.
    pub(super) fn start_handler(
        &self,
        mut ws: WebSocket<MaybeTlsStream>,
        request: UpgradeRequest,
        peer: SocketAddr,
        over: &'static str,
    ) -> Option<(BoxFuture, Arc<str>)> {
        ws.close_on(self.shutdown.clone());
        ws.share_write_budget(self.write_budget.clone());
        ws.share_read_budget(self.read_budget.clone());
        let path = request.path();
        tracing::info!(%peer, %path, protocol = ?ws.protocol(), %over, "connection opened");
        // The route was checked during the handshake.
        let (path, (handler, metrics)) = self.routes.websockets.get_key_value(path)?;
        // A route's path: one of the server's own, never a name a peer made up.
        ws.count_as_open(metrics.connection_opened(path));
        Some((handler(ws, request), path.clone()))
    }
}

/// What a connection's task starts from, boxed so that the task does not carry it
/// for the connection's whole life.
struct Incoming {
    stream: TcpStream,
    peer: SocketAddr,
    setup: Arc<Setup>,
}

/// A connection's task. It keeps only what it needs while the handler runs: the
/// handshakes (whose state is large, TLS's above all) and the values they produce
/// live in a separate boxed future that is freed before the handler's first poll,
/// so an idle connection's task stays a few hundred bytes.
async fn serve_connection(incoming: Box<Incoming>) {
    let peer = incoming.peer;
    let Some((running, path)) = Box::pin(start(incoming)).await else {
        return;
    };
    match running.await {
        Ok(()) => tracing::info!(%peer, %path, "connection closed"),
        Err(error) => tracing::info!(%peer, %path, %error, "connection ended with an error"),
    }
}

/// What a connection became once its handshakes were done.
// Unboxed: it lives for one move out of the handshake, and boxing the common variant
// would cost every connection an allocation.
#[allow(clippy::large_enum_variant)]
enum Established {
    /// A WebSocket over HTTP/1.1.
    WebSocket(WebSocket<MaybeTlsStream>, UpgradeRequest),
    /// An HTTP/2 connection (ALPN `h2`), whose streams carry WebSockets.
    #[cfg(feature = "http2")]
    Http2(MaybeTlsStream),
}

/// The handshakes, then what runs for the connection's life (the route's handler, or
/// an HTTP/2 connection), not yet polled, and what it serves.
async fn start(incoming: Box<Incoming>) -> Option<(BoxFuture, Arc<str>)> {
    let Incoming {
        stream,
        peer,
        setup,
    } = *incoming;
    // A shutdown drops connections still in their handshake at once: they have no
    // WebSocket to close with 1001, and a silent one (a browser's preconnect, say)
    // would otherwise hold the shutdown for the whole handshake timeout.
    let established = tokio::select! {
        biased;
        () = setup.shutdown.cancelled() => return None,
        established = establish(stream, peer, &setup) => established?,
    };
    match established {
        Established::WebSocket(ws, request) => {
            setup.start_handler(ws.read_tails_at_once(), request, peer, "HTTP/1.1")
        }
        #[cfg(feature = "http2")]
        Established::Http2(stream) => {
            tracing::debug!(%peer, "serving HTTP/2");
            let serving = super::server_h2::serve(stream, setup, peer);
            Some((Box::pin(serving), Arc::from("(HTTP/2)")))
        }
    }
}

/// The TLS handshake (if any) and the WebSocket one, within the handshake timeout.
async fn establish(stream: TcpStream, peer: SocketAddr, setup: &Setup) -> Option<Established> {
    // Small frames are the common case; Nagle would delay them behind the previous ACK.
    if !setup.accepted_nodelay {
        let _ = stream.set_nodelay(true);
    }
    let started = tokio::time::Instant::now();
    let timeout = setup.options.handshake_timeout;
    let stream = match &setup.tls {
        #[cfg(feature = "tls")]
        Some(tls) => match tokio::time::timeout(timeout, tls_accept(tls, stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::info!(%peer, %error, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::info!(%peer, ?timeout, "TLS handshake timed out");
                crate::metrics::handshake_refused("timeout");
                return None;
            }
        },
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => MaybeTlsStream::Plain(stream),
    };
    #[cfg(feature = "http2")]
    if stream.alpn_is_h2() {
        return Some(Established::Http2(stream));
    }
    // The TLS handshake and the HTTP one share the handshake timeout.
    let left;
    let options = match setup.tls {
        Some(_) => {
            left = setup
                .options
                .clone()
                .handshake_timeout(timeout.saturating_sub(started.elapsed()));
            &left
        }
        None => &setup.options,
    };
    let routes = &setup.routes;
    let check = |request: &UpgradeRequest| route_exists(&routes.websockets, request);
    let plain = |request: &http::Request<()>| routes.answer_plain(request);
    match accept_or_answer(stream, options, check, &plain).await {
        Ok(Some((ws, request))) => Some(Established::WebSocket(ws, request)),
        Ok(None) => {
            tracing::debug!(%peer, "answered a plain HTTP request");
            None
        }
        Err(error) => {
            tracing::info!(%peer, %error, "handshake refused");
            None
        }
    }
}
