//! yawc echo server without compression, as its examples/echo_server.rs serves: hyper
//! for the upgrade, whole messages echoed with `send()`.
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use yawc::WebSocket;

async fn upgrade_request(mut request: Request<Incoming>) -> yawc::Result<Response<Empty<Bytes>>> {
    let (response, upgrade) = WebSocket::upgrade(&mut request)?;
    tokio::task::spawn_local(wsock_compare::yawc_echo(upgrade));
    Ok(response)
}

fn main() {
    wsock_compare::serve_hyper_upgrades(upgrade_request);
}
