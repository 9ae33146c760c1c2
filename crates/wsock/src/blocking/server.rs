//! The blocking server side: the handshake on a stream, and a server with a thread per
//! connection.

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use http::StatusCode;
use wsock_proto::handshake::server::{encode_response, parse_shared_head, UpgradeRequest};

use super::conn::Conn;
use super::deadline::Deadline;
#[cfg(feature = "tls")]
use super::transport::tls_accept;
use super::transport::{read_head, MaybeTlsStream, Transport};
use crate::accept_options::{over_limit, route_exists, AcceptOptions};
use crate::budget::ReadBudget;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::RouteMetrics;
#[cfg(feature = "tls")]
use crate::tls::ServerTls;

/// Accepts a WebSocket on `stream` with default options, for any path.
pub fn accept(stream: TcpStream) -> Result<Conn<TcpStream>> {
    let (conn, _) = accept_with(stream, &AcceptOptions::default(), |_| Ok(()))?;
    Ok(conn)
}

/// Accepts a WebSocket on `stream`; `check` may refuse a request that passed the
/// protocol and origin checks (see [`crate::accept_with`]). The whole request must
/// arrive within the handshake timeout.
pub fn accept_with<S, F>(
    mut stream: S,
    options: &AcceptOptions,
    check: F,
) -> Result<(Conn<S>, UpgradeRequest)>
where
    S: Transport,
    F: FnOnce(&UpgradeRequest) -> Result<(), (StatusCode, String)>,
{
    let deadline = Deadline::after(options.handshake_timeout, "the opening handshake");
    let mut buf = BytesMut::with_capacity(1024);
    let max = options.limits().max_head_size;
    let request = match read_head(&mut stream, &mut buf, max, &deadline) {
        Ok(len) => parse_shared_head(buf.split_to(len).freeze(), options.limits()),
        Err(Error::Handshake(error)) => Err(error),
        Err(other) => {
            if matches!(other, Error::Timeout { .. }) {
                crate::metrics::handshake_refused("timeout");
            }
            return Err(other);
        }
    };
    match options.decide(request, &buf, check) {
        Ok(accepted) => {
            stream.set_write_timeout(Some(deadline.left()?))?;
            stream.write_all(&encode_response(&accepted.response, false))?;
            stream.flush()?;
            let conn = Conn::from_parts(
                stream,
                accepted.connection,
                accepted.protocol,
                Config::clone(&options.config),
            )?;
            Ok((conn, accepted.request))
        }
        Err(refusal) => {
            // The client may already be gone; the refusal is a courtesy.
            let _ = stream.write_all(&encode_response(&refusal.response(), false));
            let _ = stream.shutdown_write();
            Err(refusal.into())
        }
    }
}

type Handler = Arc<dyn Fn(Conn, UpgradeRequest) -> Result<()> + Send + Sync>;

/// A blocking WebSocket server: routes by path, one thread per connection.
///
/// ```no_run
/// use std::io;
/// # fn run() -> wsock::Result<()> {
/// wsock::blocking::Server::bind("127.0.0.1:12345")?
///     .route("/echo", |mut ws| {
///         // Go's io.Copy(ws, ws):
///         while let Some(message) = ws.recv()? {
///             ws.send(message)?;
///         }
///         Ok(())
///     })
///     .serve()
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    routes: HashMap<String, (Handler, RouteMetrics)>,
    options: AcceptOptions,
    max_connections: usize,
    read_budget: ReadBudget,
    #[cfg(feature = "tls")]
    tls: Option<ServerTls>,
}

impl Server {
    /// Listens on `addr`.
    pub fn bind(addr: impl ToSocketAddrs) -> Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr)?,
            routes: HashMap::new(),
            options: AcceptOptions::default(),
            max_connections: 1_000,
            read_budget: ReadBudget::new(256 << 20).reported_as("read"),
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// The address listened on (useful after binding port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves WebSockets at `path` with `handler`, called on the connection's thread.
    pub fn route<F>(self, path: &str, handler: F) -> Self
    where
        F: Fn(Conn) -> Result<()> + Send + Sync + 'static,
    {
        self.route_with_request(path, move |conn, _| handler(conn))
    }

    /// Like [`route`](Self::route), also giving the handler the upgrade request.
    pub fn route_with_request<F>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(Conn, UpgradeRequest) -> Result<()> + Send + Sync + 'static,
    {
        let route = (Arc::new(handler) as Handler, RouteMetrics::new());
        self.routes.insert(path.to_owned(), route);
        self
    }

    /// How requests are accepted (origin policy, subprotocols, limits, timeouts).
    pub fn options(mut self, options: AcceptOptions) -> Self {
        self.options = options;
        self
    }

    /// Most connections (threads) at once; more are answered 503. Default 1,000.
    pub fn max_connections(mut self, limit: usize) -> Self {
        self.max_connections = limit;
        self
    }

    /// Caps the received data that all connections together hold in memory (default
    /// 256 MiB), as [`crate::Server::read_budget_limit`] does.
    pub fn read_budget_limit(mut self, bytes: usize) -> Self {
        self.read_budget = ReadBudget::new(bytes).reported_as("read");
        self
    }

    /// The read budget shared by this server's connections.
    pub fn read_budget(&self) -> ReadBudget {
        self.read_budget.clone()
    }

    /// Serves `wss://`; the TLS handshake counts against the handshake timeout.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Accepts connections forever, each on its own thread.
    pub fn serve(self) -> Result<()> {
        #[cfg(feature = "tls")]
        let tls = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        let options = self.options.reached_at(&self.listener.local_addr()?, tls);
        let shared = Arc::new(Shared {
            routes: self.routes,
            options,
            active: Arc::default(),
            read_budget: self.read_budget,
            accepted_nodelay: crate::listen::nodelay_on_listener(&self.listener),
            #[cfg(feature = "tls")]
            tls: self.tls,
        });
        tracing::info!(addr = ?self.listener.local_addr().ok(), "serving WebSockets (blocking)");
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: let some free up.
                    tracing::warn!(%error, "accept failed");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
            };
            let Some(slot) = Slot::take(&shared.active, self.max_connections) else {
                crate::metrics::handshake_refused("limit");
                refuse_over_limit(stream, self.max_connections);
                continue;
            };
            let shared = shared.clone();
            // The slot goes back when the thread ends, or when the closure holding it
            // is dropped because the thread could not start.
            let spawned = std::thread::Builder::new()
                .name("wsock-conn".into())
                .spawn(move || {
                    let _slot = slot;
                    shared.serve_connection(stream, peer);
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "could not start a connection thread");
            }
        }
    }
}

/// One of a server's connection slots, given back when dropped.
struct Slot {
    active: Arc<AtomicUsize>,
}

impl Slot {
    /// A slot, unless `limit` are taken.
    fn take(active: &Arc<AtomicUsize>, limit: usize) -> Option<Self> {
        if active.fetch_add(1, Ordering::AcqRel) >= limit {
            active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self {
            active: active.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn refuse_over_limit(mut stream: TcpStream, limit: usize) {
    tracing::warn!(limit, "connection limit reached; answering 503");
    let response = encode_response(&over_limit(), false);
    // Nonblocking, so that a peer that never reads cannot hold the accept loop.
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(&response);
}

/// What every connection thread reads.
struct Shared {
    routes: HashMap<String, (Handler, RouteMetrics)>,
    options: AcceptOptions,
    active: Arc<AtomicUsize>,
    read_budget: ReadBudget,
    /// Whether accepted sockets come with `TCP_NODELAY` from the listener.
    accepted_nodelay: bool,
    #[cfg(feature = "tls")]
    tls: Option<ServerTls>,
}

impl Shared {
    fn serve_connection(&self, tcp: TcpStream, peer: SocketAddr) {
        if !self.accepted_nodelay {
            let _ = tcp.set_nodelay(true);
        }
        let stream = match self.secure(tcp) {
            Ok(stream) => stream,
            Err(error) => {
                tracing::info!(%peer, %error, "TLS handshake failed");
                return;
            }
        };
        let accepted = accept_with(stream, &self.options, |request| {
            route_exists(&self.routes, request)
        });
        let (mut conn, request) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::info!(%peer, %error, "handshake refused");
                return;
            }
        };
        conn.share_read_budget(self.read_budget.clone());
        let path = request.path().to_owned();
        tracing::info!(%peer, %path, protocol = ?conn.protocol(), "connection opened");
        let Some((handler, metrics)) = self.routes.get(&path) else {
            return; // checked during the handshake
        };
        // A route's path: one of the server's own, never a name a peer made up.
        conn.count_as_open(metrics.connection_opened(&path));
        match handler(conn, request) {
            Ok(()) => tracing::info!(%peer, %path, "connection closed"),
            Err(error) => tracing::info!(%peer, %path, %error, "connection ended with an error"),
        }
    }

    /// The TLS handshake, if this server has TLS.
    fn secure(&self, tcp: TcpStream) -> Result<MaybeTlsStream> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let deadline = Deadline::after(self.options.handshake_timeout, "the TLS handshake");
            return tls_accept(tls, tcp, &deadline);
        }
        Ok(MaybeTlsStream::Plain(tcp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_comes_back_when_its_thread_cannot_start() {
        let active = Arc::new(AtomicUsize::new(0));
        let slot = Slot::take(&active, 1).unwrap();
        assert!(Slot::take(&active, 1).is_none(), "the only slot is taken");
        // A stack no machine can give: the thread fails to start.
        let spawned = std::thread::Builder::new()
            .stack_size(usize::MAX / 2)
            .spawn(move || drop(slot));
        assert!(spawned.is_err());
        assert_eq!(active.load(Ordering::Acquire), 0, "the slot was lost");
        assert!(Slot::take(&active, 1).is_some());
    }
}
