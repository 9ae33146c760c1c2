//! Memory per idle connection on a `wsock echo` server, with and without
//! permessage-deflate: starts the server as a child process, opens N connections that
//! each exchange one compressible message and then sit idle, and reads the server's
//! resident memory from /proc before and after.
//!
//! `cargo build --release --workspace --bins --examples &&
//!  target/release/examples/deflate_memory [N]`   (benches/deflate.sh runs it)

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use wsock::{Client, DeflateConfig, Message, WebSocket};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn measure(
    label: &str,
    server_flags: &[&str],
    offer: Option<DeflateConfig>,
    count: usize,
    settle_ms: u64,
) {
    let wsock = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|examples| examples.parent())
        .map(|release| release.join("wsock"))
        .unwrap();
    let mut child = tokio::process::Command::new(wsock)
        .args(["echo", "--listen", "127.0.0.1:0"])
        .args(server_flags)
        .env("RUST_LOG", "warn,wsock::echo=info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run target/release/wsock (build it first)");
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = log.next_line().await.unwrap().expect("wsock echo exited");
        if let Some(start) = line.find("ws://") {
            break line[start..].split_whitespace().next().unwrap().to_owned();
        }
    };
    let pid = child.id().unwrap();
    let message = r#"{"event":"price_update","symbol":"ACME","bid":101.25,"ask":101.5}"#.repeat(16);
    // One connection first, so one-off allocations do not count per connection.
    let mut warm = connect(&url, &offer).await;
    warm.send(Message::text(message.clone())).await.unwrap();
    warm.recv().await.unwrap();
    let before = rss_kib(pid);
    let mut open: Vec<WebSocket> = Vec::with_capacity(count);
    for _ in 0..count {
        let mut ws = connect(&url, &offer).await;
        ws.send(Message::text(message.clone())).await.unwrap();
        ws.recv().await.unwrap();
        open.push(ws);
    }
    // Let the server settle: 200 ms, before the default release of quiet deflate
    // state (1 s unused, looked at every second), or `settle_ms` when that is longer.
    tokio::time::sleep(Duration::from_millis(settle_ms.max(200))).await;
    let after = rss_kib(pid);
    let compressed = open.first().is_some_and(WebSocket::is_compressed);
    println!(
        "{label:<44} {:>8.1} KiB per idle connection  (deflate negotiated: {compressed}; RSS {before} -> {after} KiB, {count} connections)",
        (after.saturating_sub(before)) as f64 / count as f64
    );
    drop(open);
    let _ = child.kill().await;
}

async fn connect(url: &str, offer: &Option<DeflateConfig>) -> WebSocket {
    let mut client = Client::new(url);
    if let Some(offer) = offer {
        client = client.deflate(offer.clone());
    }
    client.connect().await.expect("connect to wsock echo")
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let _ = Command::new("true").status(); // fail early if processes cannot be spawned
    let defaults = || Some(DeflateConfig::default());
    measure("no deflate", &["--no-deflate"], None, count, 0).await;
    measure("deflate, defaults, in use", &[], defaults(), count, 0).await;
    measure(
        "deflate, defaults, quiet for 2.5 s",
        &[],
        defaults(),
        count,
        2500,
    )
    .await;
    measure(
        "deflate, kept (--deflate-release-after 0), quiet",
        &["--deflate-release-after", "0"],
        defaults(),
        count,
        2500,
    )
    .await;
    measure(
        "deflate, a 15-bit compressor (memLevel 5), in use",
        &["--deflate-window-bits", "15"],
        Some(DeflateConfig::default().max_window_bits(15).mem_level(8)),
        count,
        0,
    )
    .await;
    measure(
        "deflate, shared compressor (--deflate-shared)",
        &["--deflate-shared"],
        defaults(),
        count,
        0,
    )
    .await;
}
