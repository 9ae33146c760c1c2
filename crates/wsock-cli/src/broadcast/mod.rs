//! `wsock broadcast`: a chat server. `/` is a small web page, `/ws?room=NAME&name=WHO`
//! the WebSocket; with `--redis`, rooms span every node using the same Redis.

mod chat;
mod envelope;
mod names;
mod presence;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use wsock::broadcast::{HistoryOptions, Position};
use wsock::{
    AcceptOptions, CloseCode, Config, DeflateConfig, Keepalive, Limits, Server, WebSocket,
};

use chat::Chat;

/// The chat page: HTML, CSS and JavaScript in one file, shipped in the binary.
const PAGE: &str = include_str!("page.html");
/// How often a quiet member is pinged; one that does not answer within 20 s more is
/// closed (1011), so dead peers do not hold their slots.
const PING_INTERVAL: Duration = Duration::from_secs(30);

/// Arguments of `wsock broadcast`.
#[derive(clap::Args)]
pub struct BroadcastArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Share rooms with every node using this Redis (redis://host:port); without it
    /// the rooms live in this process only.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Chat lines each room keeps for members coming back (in Redis with `--redis`,
    /// else in memory): a page that reconnects first shows what it missed.
    #[arg(long, value_name = "LINES", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    history: u32,
    /// Seconds a line stays recoverable.
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    history_age: u64,
    /// Decline permessage-deflate (accepted by default).
    #[arg(long)]
    no_deflate: bool,
    /// Most connections at once (page loads and members); more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_connections: usize,
    /// Seconds a client has to send its request head (and, with a WebSocket, finish
    /// the handshake) before it is dropped.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    handshake_timeout: u64,
    #[command(flatten)]
    tls: crate::serve_tls::ServeTls,
    #[command(flatten)]
    metrics: crate::serve_metrics::ServeMetrics,
}

pub async fn run(args: BroadcastArgs) -> wsock::Result<()> {
    args.metrics.install()?;
    let mut history = HistoryOptions::default();
    history.max_messages = args.history as usize;
    history.max_age = Duration::from_secs(args.history_age);
    let chat = Chat::new(args.redis.as_deref(), history).map_err(|error| wsock::Error::Url {
        url: args.redis.clone().unwrap_or_default(),
        reason: format!("not a Redis URL ({error}); expected redis://host:port"),
    })?;
    // Chat lines are short; 64 KiB is plenty and bounds what one member can push.
    let mut limits = Limits::default();
    limits.max_message_size = 64 << 10;
    limits.max_frame_size = 64 << 10;
    let mut keepalive = Keepalive::default();
    keepalive.ping_interval = Some(PING_INTERVAL);
    let options = AcceptOptions::default()
        .config(Config::default().with_limits(limits).keepalive(keepalive))
        .handshake_timeout(Duration::from_secs(args.handshake_timeout))
        .deflate((!args.no_deflate).then(DeflateConfig::default));
    let server = Server::bind(args.listen)
        .await?
        .options(options)
        .max_connections(args.max_connections)
        .http("/", page)
        .route_with_request("/ws", move |ws, request| {
            let chat = chat.clone();
            // Only the query is needed: the request, and the head its values share, is
            // let go now rather than kept for the member's whole connection.
            let joining = member_of(request.request().uri().query().unwrap_or(""));
            async move { member(&chat, ws, joining).await }
        });
    let (server, scheme) = args.tls.apply(server)?;
    tracing::info!(
        "chat on {scheme}://{} (WebSocket at /ws?room=NAME){}",
        server.local_addr()?,
        if args.redis.is_some() {
            ", rooms shared through Redis"
        } else {
            ""
        }
    );
    crate::signals::serve_until_interrupted(server).await
}

/// The chat page, for GET and HEAD.
fn page(request: &Request<()>) -> Response<Bytes> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
    }
    let mut response = Response::new(Bytes::from_static(PAGE.as_bytes()));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        "text/html; charset=utf-8".parse().expect("valid"),
    );
    headers.insert(CACHE_CONTROL, "no-store".parse().expect("valid"));
    response
}

/// One member's connection: refused with 1008 and the reason when its room or name is
/// invalid (a browser's page can read the reason, unlike an HTTP refusal's).
async fn member(chat: &Arc<Chat>, mut ws: WebSocket, joining: Joining) -> wsock::Result<()> {
    let (room, name, since) = match joining {
        Ok(found) => found,
        Err(reason) => {
            let reason = truncate(&reason, 123);
            return ws.close(CloseCode::POLICY_VIOLATION, reason).await;
        }
    };
    let name = name.unwrap_or_else(|| chat.guest_name());
    tracing::info!(%room, %name, "member joined");
    let result = chat.serve(ws, room.clone(), name.clone(), since).await;
    match &result {
        Ok(()) => tracing::info!(%room, %name, "member left"),
        Err(error) => tracing::info!(%room, %name, %error, "member left with an error"),
    }
    result
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a member asked for: the room, the name if any, and the last position seen when
/// coming back; or why the query cannot be served.
type Joining = Result<(String, Option<String>, Option<Position>), String>;

/// The room (default "lobby"), the name, and the last position seen by a member
/// coming back (`since=EPOCH-OFFSET`), as asked for in the query string.
fn member_of(query: &str) -> Joining {
    let mut room = "lobby".to_owned();
    let mut name = None;
    let mut since = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "room" => room = value.into_owned(),
            "name" => name = Some(value.trim().to_owned()).filter(|n| !n.is_empty()),
            "since" => since = Some(value.parse().map_err(|e| format!("invalid since: {e}"))?),
            _ => {}
        }
    }
    names::check_room(&room)?;
    if let Some(name) = &name {
        names::check_name(name)?;
    }
    Ok((room, name, since))
}

fn text(status: StatusCode, body: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_owned()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("valid"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::member_of;

    #[test]
    fn rooms_and_names_from_the_query() {
        assert_eq!(member_of(""), Ok(("lobby".into(), None, None)));
        assert_eq!(
            member_of("room=dev-1&name=%20Zo%C3%AB%20"),
            Ok(("dev-1".into(), Some("Zoë".into()), None))
        );
        let back = member_of("since=2a-7").unwrap().2.unwrap();
        assert_eq!((back.epoch, back.offset), (0x2a, 7));
        assert!(member_of("since=7")
            .unwrap_err()
            .starts_with("invalid since"));
        assert_eq!(member_of("name=").unwrap().1, None);
        assert!(member_of("room=a/b").unwrap_err().contains("invalid room"));
        assert!(member_of(&format!("name={}", "x".repeat(33))).is_err());
        let bidi = member_of("name=admin%E2%80%AEnimda").unwrap_err();
        assert!(bidi.contains("U+202E"), "{bidi}");
    }
}
