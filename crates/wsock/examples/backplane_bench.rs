//! Rooms across nodes through Redis: two hubs (nodes A and B, each with its own
//! `RedisBackplane` and connections, in one process) with `members` members each in
//! one room; node A publishes `messages` messages of 64 bytes, at most `window` ahead
//! of node B's slowest member. Prints cross-node deliveries per second (to B's
//! members) and the latency from publishing on A to delivery on B (p50, p99).
//! benches/backplane.sh starts redis-server and adds its CPU time.
//!
//! Usage: backplane_bench REDIS_URL [members=1000] [messages=2000] [window=100]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wsock::broadcast::{
    HistoryOptions, Hub, HubOptions, Received, RedisBackplane, RedisOptions, SlowConsumer,
};
use wsock::Message;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn node(url: &str, queue: usize) -> Hub {
    let mut options = HubOptions::default();
    options.queue_capacity = queue;
    options.slow_consumer = SlowConsumer::Skip;
    let mut redis = RedisOptions::default();
    redis.prefix = format!("bench{}", std::process::id());
    Hub::builder()
        .options(options)
        .history(HistoryOptions::default())
        .backplane(RedisBackplane::new(url, redis).expect("a redis:// URL"))
        .build()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .expect("usage: backplane_bench REDIS_URL [members] [messages] [window]");
    let number = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let (members, messages, window) = (number(1, 1000), number(2, 2000), number(3, 100));
    let (a, b) = (
        node(url, 4 * window as usize),
        node(url, 4 * window as usize),
    );

    // Both nodes connected: a probe from A reaches a member of B with a position.
    let mut probe = b.join("room");
    'connected: for _ in 0..200 {
        a.publish("room", Message::binary(vec![0; 8]));
        while let Ok(Received::Message(_)) =
            tokio::time::timeout(Duration::from_millis(50), probe.recv()).await
        {
            if probe.position().is_some() {
                break 'connected;
            }
        }
    }
    assert!(
        probe.position().is_some(),
        "the nodes never connected to Redis"
    );
    drop(probe);

    // How many of B's members have each message: the window follows the slowest.
    let delivered_b: Arc<Vec<AtomicU64>> =
        Arc::new((0..messages).map(|_| AtomicU64::new(0)).collect());
    let gaps = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (hub, is_b) in [(&a, false), (&b, true)] {
        for index in 0..members as usize {
            let mut member = hub.join("room");
            let (delivered_b, gaps) = (delivered_b.clone(), gaps.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut received = 0;
                while received < messages {
                    match member.recv().await {
                        Received::Message(message) => {
                            let payload = message.message().payload();
                            let sent = u64::from_le_bytes(payload[..8].try_into().unwrap());
                            if sent == 0 {
                                continue; // a late probe
                            }
                            received += 1;
                            if is_b && index == 0 {
                                latencies.push(now_ns().saturating_sub(sent));
                            }
                            if is_b {
                                let sequence =
                                    u64::from_le_bytes(payload[8..16].try_into().unwrap());
                                delivered_b[sequence as usize].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Received::Gap => {
                            gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        Received::Disconnected(code) => {
                            panic!("a member was disconnected ({code})")
                        }
                    }
                }
                latencies
            }));
        }
    }

    let started = Instant::now();
    let mut payload = vec![0u8; 64];
    for sent in 0..messages {
        // Bounded wait: the window never holds more than the members' queues.
        while sent >= window
            && delivered_b[(sent - window) as usize].load(Ordering::Relaxed) < members
        {
            tokio::task::yield_now().await;
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "node B stopped receiving before message {}",
                sent - window
            );
        }
        payload[..8].copy_from_slice(&now_ns().to_le_bytes());
        payload[8..16].copy_from_slice(&sent.to_le_bytes());
        a.publish("room", Message::binary(payload.clone()));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a member task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1e6;
    let cross_node = messages * members;
    println!(
        "{members} members on each of 2 nodes, {messages} messages from node A: \
         {:.0} cross-node deliveries/s ({:.0} on both nodes), publish-to-delivery on B \
         p50 {:.2} ms p99 {:.2} ms, gaps {}",
        cross_node as f64 / elapsed,
        2.0 * cross_node as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        gaps.load(Ordering::Relaxed)
    );
}
