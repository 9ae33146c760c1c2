//! `wsock bench --connect-only`: a connection storm, what a server sees when every
//! client reconnects at once after a deploy. Opens `--connections` WebSockets,
//! `--concurrency` handshakes at a time, keeps each open until the last one is, then
//! drops them all; times each handshake (TCP connect included).

use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::task::JoinSet;
use wsock::{Client, Error};

use super::{cpu_time, BenchArgs, Latency};

/// The summary of a storm.
#[derive(Serialize)]
pub(super) struct StormSummary {
    connections: usize,
    concurrency: usize,
    seconds: f64,
    handshakes_per_second: f64,
    handshake_us: Latency,
    /// The generator's own CPU time over the storm, as a share of one core.
    generator_cpu: f64,
}

pub(super) async fn drive(args: &BenchArgs, client: Client) -> wsock::Result<StormSummary> {
    let total = args.connections.max(1);
    let concurrency = args.concurrency.clamp(1, total);
    let mut histogram = Histogram::<u64>::new(3).expect("3 significant figures are valid");
    let mut open = Vec::with_capacity(total);
    let mut attempts = JoinSet::new();
    let mut started_attempts = 0;
    let cpu_before = cpu_time();
    let started = Instant::now();
    while open.len() < total {
        while started_attempts < total && attempts.len() < concurrency {
            let client = client.clone();
            attempts.spawn(async move {
                let began = Instant::now();
                let ws = client.connect().await?;
                Ok::<_, Error>((ws, began.elapsed()))
            });
            started_attempts += 1;
        }
        let (ws, took) = attempts
            .join_next()
            .await
            .expect("an attempt is running while connections are missing")
            .map_err(|e| Error::Io(std::io::Error::other(e)))??;
        histogram.saturating_record(took.as_micros() as u64);
        open.push(ws);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_time().saturating_sub(cpu_before).as_secs_f64();
    drop(open);
    Ok(StormSummary {
        connections: total,
        concurrency,
        seconds,
        handshakes_per_second: total as f64 / seconds,
        handshake_us: Latency::of(&histogram),
        generator_cpu: cpu / seconds,
    })
}

pub(super) fn print(summary: &StormSummary, json: bool) {
    if json {
        let line = serde_json::to_string(summary).expect("the summary serializes");
        println!("{line}");
        return;
    }
    println!(
        "{} connections opened, {} at a time, in {:.2} s: {:.0} handshakes/s",
        summary.connections, summary.concurrency, summary.seconds, summary.handshakes_per_second
    );
    let times = &summary.handshake_us;
    println!("{}", times.line("handshake (TCP connect included)"));
    println!(
        "  generator CPU: {:.0}% of one core",
        summary.generator_cpu * 100.0
    );
}
