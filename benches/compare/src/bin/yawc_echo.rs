//! yawc echo server without compression, as its examples/echo_server.rs serves: hyper
//! for the upgrade, whole messages echoed with `send()`.
use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use yawc::{OpCode, UpgradeFut, WebSocket};

async fn client(upgrade: UpgradeFut) -> Option<()> {
    let mut ws = upgrade.await.ok()?;
    while let Some(frame) = ws.next().await {
        match frame.opcode() {
            OpCode::Text | OpCode::Binary => ws.send(frame).await.ok()?,
            OpCode::Close => return Some(()),
            _ => {}
        }
    }
    Some(())
}

async fn upgrade_request(mut request: Request<Incoming>) -> yawc::Result<Response<Empty<Bytes>>> {
    let (response, upgrade) = WebSocket::upgrade(&mut request)?;
    tokio::task::spawn_local(client(upgrade));
    Ok(response)
}

fn main() {
    wsock_compare::serve_hyper_upgrades(upgrade_request);
}
