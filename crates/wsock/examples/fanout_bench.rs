//! Fan-out benchmark: one sender, many receivers, one `broadcast::Hub` room.
//!
//! `fanout_bench server ADDR` serves ws://ADDR/fanout: every connection joins the room
//! and whatever it sends is published to everyone. `fanout_bench client URL
//! [receivers] [messages] [size] [window]` connects the receivers and one sender, sends
//! the messages (at most `window` ahead of the slowest receiver, which stays well
//! inside the hub's per-member queue), checks every receiver got every message in
//! order, and prints deliveries per second. benches/fanout.sh runs both, each on its
//! own core, and adds the server's memory and CPU.

use std::time::Instant;

use wsock::broadcast::Hub;
use wsock::{AcceptOptions, Client, CloseCode, DeflateConfig, Message, Server};

fn usage() -> ! {
    eprintln!(
        "usage: fanout_bench server ADDR [plain|deflate|deflate-shared] | client URL [receivers] [messages] [size] [window] [deflate]"
    );
    std::process::exit(2)
}

fn main() -> wsock::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.first().map(String::as_str) {
        Some("server") => runtime.block_on(server(
            args.get(1).unwrap_or_else(|| usage()),
            args.get(2).map_or("plain", String::as_str),
        )),
        Some("client") => {
            let number = |i: usize, default: usize| {
                args.get(i)
                    .map_or(default, |a| a.parse().unwrap_or_else(|_| usage()))
            };
            let url = args.get(1).unwrap_or_else(|| usage());
            runtime.block_on(client(
                url,
                number(2, 1000),
                number(3, 2000),
                number(4, 64),
                number(5, 32),
                args.get(6).is_some_and(|a| a == "deflate"),
            ))
        }
        _ => usage(),
    }
}

/// A room server; `deflate` says which permessage-deflate it accepts: `plain` (none),
/// `deflate` (the defaults, context kept) or `deflate-shared` (no context, one
/// compressor per thread, broadcasts compressed once).
async fn server(addr: &str, deflate: &str) -> wsock::Result<()> {
    let hub = Hub::default();
    let deflate = match deflate {
        "plain" => None,
        "deflate" => Some(DeflateConfig::default()),
        "deflate-shared" => Some(DeflateConfig::shared()),
        _ => usage(),
    };
    Server::bind(addr)
        .await?
        .options(AcceptOptions::default().deflate(deflate))
        .max_connections(100_000)
        .route("/fanout", move |mut ws| {
            let hub = hub.clone();
            async move {
                let member = hub.join("bench");
                member
                    .run(&mut ws, |message| {
                        hub.publish("bench", message);
                    })
                    .await
            }
        })
        .serve()
        .await
}

async fn client(
    url: &str,
    receivers: usize,
    messages: usize,
    size: usize,
    window: usize,
    deflate: bool,
) -> wsock::Result<()> {
    let client = || {
        let client = Client::new(url).no_proxy();
        match deflate {
            true => client.deflate(DeflateConfig::default()),
            false => client,
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    // How many messages each receiver has checked, for the sender's flow control.
    let progress: std::sync::Arc<Vec<std::sync::atomic::AtomicUsize>> =
        std::sync::Arc::new((0..receivers).map(|_| Default::default()).collect());
    let (ready, mut all_ready) = tokio::sync::mpsc::channel(receivers.max(1));
    for receiver in 0..receivers {
        let mut ws = client().connect().await?;
        let ready = ready.clone();
        let progress = progress.clone();
        tasks.spawn(async move {
            let mut ready = Some(ready);
            let mut expected = 0;
            while expected < messages {
                match ws.recv().await? {
                    // A probe: this receiver is in the room.
                    Some(message) if index(&message) == Some(PROBE) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(()).await;
                        }
                    }
                    Some(message) if index(&message) == Some(expected) => {
                        expected += 1;
                        progress[receiver].store(expected, std::sync::atomic::Ordering::Relaxed);
                    }
                    other => {
                        return Err(wsock::Error::Io(std::io::Error::other(format!(
                            "expected message {expected}, got {other:?}"
                        ))))
                    }
                }
            }
            ws.close(CloseCode::NORMAL, "").await?;
            Ok::<_, wsock::Error>(Instant::now())
        });
    }
    drop(ready);
    // Probes until every receiver has seen one, and so is in the room; spaced so
    // that they never crowd a member's queue.
    let mut sender = Client::new(url).no_proxy().connect().await?;
    let mut seen = 0;
    let mut probes = tokio::time::interval(std::time::Duration::from_millis(20));
    while seen < receivers {
        tokio::select! {
            _ = probes.tick() => sender.send(Message::binary(payload(PROBE, 8))).await?,
            Some(()) = all_ready.recv() => seen += 1,
        }
    }
    let started = Instant::now();
    let slowest = || {
        progress
            .iter()
            .map(|done| done.load(std::sync::atomic::Ordering::Relaxed))
            .min()
            .unwrap_or(messages)
    };
    // The sender's own copies are read (and dropped) by a task of their own.
    let (mut sender_rx, mut sender_tx) = sender.split();
    tokio::spawn(async move { while let Ok(Some(_)) = sender_rx.recv().await {} });
    let mut behind = 0;
    for i in 0..messages {
        while i >= behind + window {
            behind = slowest();
            if i >= behind + window {
                tokio::task::yield_now().await;
            }
        }
        sender_tx.send(Message::binary(payload(i, size))).await?;
    }
    let mut finished = started;
    while let Some(done) = tasks.join_next().await {
        let at = done.map_err(|e| wsock::Error::Io(std::io::Error::other(e)))??;
        finished = finished.max(at);
    }
    let seconds = finished.duration_since(started).as_secs_f64();
    let deliveries = (receivers * messages) as f64;
    println!(
        "{{\"receivers\": {receivers}, \"messages\": {messages}, \"size\": {size}, \"seconds\": {seconds:.3}, \"deliveries_per_second\": {:.0}, \"messages_per_second\": {:.0}}}",
        deliveries / seconds,
        messages as f64 / seconds
    );
    Ok(())
}

/// A message numbered `i`, `size` bytes long (at least the 8 of the number).
fn payload(i: usize, size: usize) -> Vec<u8> {
    let mut data = (i as u64).to_be_bytes().to_vec();
    data.resize(size.max(8), b'.');
    data
}

/// The number a probe carries.
const PROBE: usize = u32::MAX as usize;

/// The number of a benchmark message (or [`PROBE`]).
fn index(message: &Message) -> Option<usize> {
    let bytes: [u8; 8] = message.payload().get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes) as usize)
}
