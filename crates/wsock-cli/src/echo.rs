use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use wsock::{
    AcceptOptions, Config, DeflateConfig, Keepalive, Limits, OriginPolicy, Server, WebSocket,
};

/// Arguments of `wsock echo`.
#[derive(clap::Args)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:12345")]
    listen: SocketAddr,
    /// Path the WebSocket is served at.
    #[arg(long, default_value = "/echo")]
    path: String,
    /// Also accept browsers from this origin (repeatable); by default only
    /// same-origin pages and non-browser clients may connect.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Accept any Origin (only for servers that carry no user credentials).
    #[arg(long, conflicts_with = "allow_origins")]
    any_origin: bool,
    /// Subprotocols to accept, most preferred first (repeatable).
    #[arg(long = "protocol", value_name = "NAME")]
    protocols: Vec<String>,
    /// Most connections served at once; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_connections: usize,
    /// Ping a client after this many seconds of silence; close with 1011 if it does not
    /// answer within as long again. Off by default.
    #[arg(long, value_name = "SECS")]
    ping_interval: Option<u64>,
    /// Close with 1001 a connection that has sent nothing for this many seconds.
    /// Off by default.
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// Decline permessage-deflate (accepted by default).
    #[arg(long)]
    no_deflate: bool,
    /// Compress with this LZ77 window (log2, 9-15) and ask clients to do the same;
    /// smaller windows cost less memory per connection. By default clients may use 15
    /// and the server compresses with 12.
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u8).range(9..=15))]
    deflate_window_bits: Option<u8>,
    /// The shared-compressor mode: no compression context is kept either way, so one
    /// compressor per thread serves every connection, a broadcast is compressed once,
    /// and an idle connection holds no compression state; a worse ratio for streams of
    /// similar messages.
    #[arg(long, alias = "deflate-no-context-takeover")]
    deflate_shared: bool,
    /// Messages shorter than this many bytes are echoed uncompressed even with
    /// permessage-deflate on.
    #[arg(long, value_name = "BYTES", default_value_t = DeflateConfig::default().threshold)]
    deflate_threshold: usize,
    /// Free a connection's compressor and decompressor after this many seconds without
    /// a compressed message, keeping only each direction's last bytes to make them again
    /// with (the stream and its ratio are unchanged); 0 keeps them while it lives.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    deflate_release_after: f64,
    /// zlib compression level, 1 (fastest) to 9 (smallest).
    #[arg(long, value_name = "LEVEL", default_value_t = DeflateConfig::default().level, value_parser = clap::value_parser!(u32).range(1..=9))]
    deflate_level: u32,
    /// Largest message accepted, in bytes (after decompression); larger ones close
    /// the connection with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_message_size)]
    max_message_size: usize,
    /// Received data all connections together may hold in memory, in bytes; over it,
    /// a connection that wants to hold more is closed with 1013.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    read_budget: usize,
    /// Seconds a client may leave a frame or message half sent before it is closed
    /// with 1008.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().incomplete_message_timeout.as_secs())]
    incomplete_message_timeout: u64,
    #[command(flatten)]
    tls: crate::serve_tls::ServeTls,
    #[command(flatten)]
    metrics: crate::serve_metrics::ServeMetrics,
    /// Worker threads (default: one per core; 1 runs everything on one thread, the
    /// cheapest when the server is pinned to a single core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Echoes every message. Not an `async fn`: one stores its argument twice (the
/// parameter and the local it is moved into, rust-lang/rust#62958), and the
/// WebSocket is most of an idle connection's memory.
#[allow(clippy::manual_async_fn)] // on purpose: see above
fn echo(mut ws: WebSocket) -> impl Future<Output = wsock::Result<()>> {
    async move {
        while let Some(message) = ws.recv().await? {
            ws.send(message).await?;
        }
        Ok(())
    }
}

fn keepalive(args: &EchoArgs) -> Keepalive {
    let mut keepalive = Keepalive::default();
    keepalive.ping_interval = args.ping_interval.map(Duration::from_secs);
    if let Some(interval) = keepalive.ping_interval {
        keepalive.pong_timeout = interval;
    }
    keepalive.idle_timeout = args.idle_timeout.map(Duration::from_secs);
    keepalive
}

pub async fn run(args: EchoArgs) -> wsock::Result<()> {
    args.metrics.install()?;
    let keepalive = keepalive(&args);
    let policy = if args.any_origin {
        OriginPolicy::Any
    } else if args.allow_origins.is_empty() {
        OriginPolicy::SameOrigin
    } else {
        OriginPolicy::AllowList(args.allow_origins)
    };
    let mut limits = Limits::default();
    limits.max_message_size = args.max_message_size;
    limits.max_frame_size = limits.max_frame_size.min(args.max_message_size);
    limits.incomplete_message_timeout = Duration::from_secs(args.incomplete_message_timeout);
    let options = AcceptOptions::default()
        .origin_policy(policy)
        .protocols(args.protocols)
        .deflate((!args.no_deflate).then(|| {
            let release_after = (args.deflate_release_after > 0.0)
                .then(|| Duration::from_secs_f64(args.deflate_release_after));
            let config = DeflateConfig::default()
                .threshold(args.deflate_threshold)
                .level(args.deflate_level)
                .release_after(release_after)
                .no_context_takeover(args.deflate_shared);
            match args.deflate_window_bits {
                Some(bits) => config.max_window_bits(bits),
                None => config,
            }
        }))
        .config(Config::default().with_limits(limits).keepalive(keepalive));
    let server = Server::bind(args.listen)
        .await?
        .options(options)
        .max_connections(args.max_connections)
        .read_budget_limit(args.read_budget)
        .route(&args.path, echo);
    let (server, scheme) = args.tls.apply(server)?;
    let scheme = if scheme == "https" { "wss" } else { "ws" };
    tracing::info!(
        "echo server on {scheme}://{}{}",
        server.local_addr()?,
        args.path
    );
    crate::signals::serve_until_interrupted(server).await
}
