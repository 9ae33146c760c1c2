//! yawc echo server with permessage-deflate, as its README configures compression
//! (`CompressionLevel::fast()`, no context takeover either way) and its
//! examples/echo_server.rs serves: hyper for the upgrade, whole messages echoed.
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use yawc::{CompressionLevel, Options, WebSocket};

async fn upgrade_request(mut request: Request<Incoming>) -> yawc::Result<Response<Empty<Bytes>>> {
    let options = Options::default()
        .with_compression_level(CompressionLevel::fast())
        .server_no_context_takeover()
        .client_no_context_takeover();
    let (response, upgrade) = WebSocket::upgrade_with_options(&mut request, options)?;
    tokio::task::spawn_local(wsock_compare::yawc_echo(upgrade));
    Ok(response)
}

fn main() {
    wsock_compare::serve_hyper_upgrades(upgrade_request);
}
