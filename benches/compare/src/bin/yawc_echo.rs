//! yawc echo server without compression, as its examples/echo_server.rs serves: hyper
//! for the upgrade, whole messages echoed with `send()`. Its message limit is raised
//! from 1 MiB (which refuses the 1 MiB cell's frames) to the 64 MiB that
//! tokio-tungstenite, fastwebsockets and tokio-websockets allow by default.
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use yawc::{Options, WebSocket};

async fn upgrade_request(mut request: Request<Incoming>) -> yawc::Result<Response<Empty<Bytes>>> {
    let options = Options::default().with_limits(64 << 20, 64 << 20);
    let (response, upgrade) = WebSocket::upgrade_with_options(&mut request, options)?;
    tokio::task::spawn_local(wsock_compare::yawc_echo(upgrade));
    Ok(response)
}

fn main() {
    wsock_compare::serve_hyper_upgrades(upgrade_request);
}
