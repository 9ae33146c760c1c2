//! `wsock broadcast`: a chat server. `/` is a small web page, `/ws?room=NAME&name=WHO`
//! the WebSocket; with `--redis`, rooms span every node using the same Redis.

mod chat;
mod envelope;
mod names;
mod presence;
mod relay;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wsock::{AcceptOptions, Config, DeflateConfig, Limits};

use chat::Chat;

/// The chat page: HTML, CSS and JavaScript in one file, shipped in the binary.
const PAGE: &str = include_str!("page.html");
/// How long shutdown waits for members to finish their closing handshakes.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Decline permessage-deflate (accepted by default).
    #[arg(long)]
    no_deflate: bool,
}

struct State {
    chat: Arc<Chat>,
    options: AcceptOptions,
    shutdown: CancellationToken,
    members: std::sync::Mutex<JoinSet<()>>,
}

pub async fn run(args: BroadcastArgs) -> wsock::Result<()> {
    let node = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let chat = Chat::new(node);
    if let Some(url) = &args.redis {
        chat.relay_through(url).map_err(|error| wsock::Error::Url {
            url: url.clone(),
            reason: format!("not a Redis URL ({error}); expected redis://host:port"),
        })?;
    }
    // Chat lines are short; 64 KiB is plenty and bounds what one member can push.
    let mut limits = Limits::default();
    limits.max_message_size = 64 << 10;
    limits.max_frame_size = 64 << 10;
    let options = AcceptOptions::default()
        .config(Config::default().with_limits(limits))
        .deflate((!args.no_deflate).then(DeflateConfig::default));
    let state = Arc::new(State {
        chat,
        options,
        shutdown: CancellationToken::new(),
        members: std::sync::Mutex::new(JoinSet::new()),
    });
    let listener = TcpListener::bind(args.listen).await?;
    tracing::info!(
        "chat on http://{} (WebSocket at /ws?room=NAME){}",
        listener.local_addr()?,
        if args.redis.is_some() {
            ", rooms shared through Redis"
        } else {
            ""
        }
    );
    let interrupted = crate::signals::interrupted();
    tokio::pin!(interrupted);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut interrupted => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(request, state.clone()));
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        });
    }
    tracing::info!("interrupted: closing every member with 1001 and exiting");
    state.shutdown.cancel();
    let mut members = std::mem::take(&mut *state.members.lock().unwrap_or_else(|p| p.into_inner()));
    let drained = tokio::time::timeout(SHUTDOWN_TIMEOUT, async {
        while members.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("some members did not finish closing in time");
    }
    Ok(())
}

async fn handle(
    mut request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n"));
    }
    match request.uri().path() {
        "/" => {
            let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                "text/html; charset=utf-8".parse().expect("valid"),
            );
            headers.insert(CACHE_CONTROL, "no-store".parse().expect("valid"));
            Ok(response)
        }
        "/ws" => Ok(upgrade(&mut request, &state)),
        _ => Ok(text(StatusCode::NOT_FOUND, "not found: the chat is at /\n")),
    }
}

fn upgrade(request: &mut Request<Incoming>, state: &Arc<State>) -> Response<Full<Bytes>> {
    let (room, name) = match member_of(request.uri().query().unwrap_or("")) {
        Ok(found) => found,
        Err(reason) => return text(StatusCode::BAD_REQUEST, &format!("{reason}\n")),
    };
    let (response, pending) = match wsock::upgrade::upgrade(request, &state.options) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal,
    };
    let name = name.unwrap_or_else(|| state.chat.guest_name());
    let member_state = state.clone();
    let mut members = state.members.lock().unwrap_or_else(|p| p.into_inner());
    members.spawn(async move {
        let result = match pending.await {
            Ok(mut ws) => {
                ws.close_on(member_state.shutdown.clone());
                tracing::info!(%room, %name, "member joined");
                member_state
                    .chat
                    .serve(ws, room.clone(), name.clone())
                    .await
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => tracing::info!(%room, %name, "member left"),
            Err(error) => tracing::info!(%room, %name, %error, "member left with an error"),
        }
    });
    // Reap finished members so the set holds only live ones.
    while members.try_join_next().is_some() {}
    response
}

/// The room (default "lobby") and name asked for in the query string.
fn member_of(query: &str) -> Result<(String, Option<String>), String> {
    let mut room = "lobby".to_owned();
    let mut name = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "room" => room = value.into_owned(),
            "name" => name = Some(value.trim().to_owned()).filter(|n| !n.is_empty()),
            _ => {}
        }
    }
    names::check_room(&room)?;
    if let Some(name) = &name {
        names::check_name(name)?;
    }
    Ok((room, name))
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
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
        assert_eq!(member_of(""), Ok(("lobby".into(), None)));
        assert_eq!(
            member_of("room=dev-1&name=%20Zo%C3%AB%20"),
            Ok(("dev-1".into(), Some("Zoë".into())))
        );
        assert_eq!(member_of("name=").unwrap().1, None);
        assert!(member_of("room=a/b").unwrap_err().contains("invalid room"));
        assert!(member_of(&format!("name={}", "x".repeat(33))).is_err());
        let bidi = member_of("name=admin%E2%80%AEnimda").unwrap_err();
        assert!(bidi.contains("U+202E"), "{bidi}");
    }
}
