//! Load: 10,000 concurrent WebSocket connections on loopback to one `wsock echo`,
//! each exchanging messages, with no error; reports the server's memory per
//! connection (read from /proc).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::sync::{Barrier, Semaphore};
use tokio::task::JoinSet;
use wsock::{Client, CloseCode, Message};

const CONNECTIONS: usize = 10_000;

#[test]
fn ten_thousand_concurrent_connections_exchange_messages() {
    let limit = open_file_limit();
    assert!(
        limit > CONNECTIONS as u64 + 500,
        "this test needs more than {} open files per process (ulimit -n is {limit})",
        CONNECTIONS + 500
    );
    let server = EchoServer::start(&["--max-connections", "20000"]);
    let pid = server.child.id();
    let url = server.url.clone();
    let before = rss_kib(pid);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = async move {
        let connecting = Arc::new(Semaphore::new(200));
        let all_open = Arc::new(Barrier::new(CONNECTIONS + 1));
        let measured = Arc::new(Barrier::new(CONNECTIONS + 1));
        let mut clients = JoinSet::new();
        for i in 0..CONNECTIONS {
            let (url, connecting) = (url.clone(), connecting.clone());
            let (all_open, measured) = (all_open.clone(), measured.clone());
            clients.spawn(async move {
                let permit = connecting.acquire_owned().await.unwrap();
                let mut ws = Client::new(url).connect().await?;
                ws.send(Message::text(format!("hello from {i}"))).await?;
                let first = ws.recv().await?;
                drop(permit);
                all_open.wait().await;
                measured.wait().await;
                ws.send(Message::binary(vec![i as u8; 1024])).await?;
                let second = ws.recv().await?;
                ws.close(CloseCode::NORMAL, "").await?;
                let ok = first == Some(Message::text(format!("hello from {i}")))
                    && second == Some(Message::binary(vec![i as u8; 1024]));
                Ok::<bool, wsock::Error>(ok)
            });
        }
        all_open.wait().await;
        let open_rss = rss_kib(pid);
        measured.wait().await;
        let mut failures = Vec::new();
        while let Some(outcome) = clients.join_next().await {
            match outcome {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => failures.push("an echo differed".to_owned()),
                Ok(Err(error)) => failures.push(error.to_string()),
                Err(panic) => failures.push(panic.to_string()),
            }
        }
        (open_rss, failures)
    };
    let result =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(180), load).await });
    let (open_rss, failures) = result.expect("the load test took longer than 180 s");
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
    let per_connection = open_rss.saturating_sub(before) as f64 / CONNECTIONS as f64;
    eprintln!(
        "{CONNECTIONS} concurrent connections: server RSS {before} -> {open_rss} KiB, {per_connection:.1} KiB per connection"
    );
    assert!(
        per_connection < 64.0,
        "{per_connection:.1} KiB per connection"
    );
}
