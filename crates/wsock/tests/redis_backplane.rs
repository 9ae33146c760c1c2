//! Rooms across two hubs through a real redis-server on 127.0.0.1 (the `redis`
//! feature): order, recovery after a disconnection, trimming, and Redis restarting.
#![cfg(feature = "redis")]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bounded, next_text, PATIENCE};
use wsock::broadcast::{
    HistoryOptions, Hub, Position, Received, RedisBackplane, RedisOptions, Subscription,
};
use wsock::Message;

/// A redis-server without persistence on a free port; killed when dropped.
struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    // The child is waited for in `Drop`, which the lint cannot see.
    #[allow(clippy::zombie_processes)]
    async fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        // Bounded: 200 tries of 25 ms.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self { port, child };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not listen on {port}");
    }

    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn node(redis: &Redis, max_messages: usize) -> Hub {
    let mut options = RedisOptions::default();
    options.history.max_messages = max_messages;
    options.prefix = format!("test{}", redis.port);
    let backplane = RedisBackplane::new(&redis.url(), options).unwrap();
    Hub::builder()
        .history(HistoryOptions::default())
        .backplane(backplane)
        .build()
}

/// Publishes probes on `from` until `to` hears one through Redis (with a position):
/// both nodes are connected.
async fn until_connected(from: &Hub, to: &mut Subscription) {
    for attempt in 0..100 {
        if !from.publish("room", Message::text("probe")).relayed {
            // Delivered here only: Redis is not connected yet.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        while let Ok(Received::Message(_)) =
            tokio::time::timeout(Duration::from_millis(100), to.recv()).await
        {
            if to.position().is_some() {
                return;
            }
        }
        assert!(attempt < 99, "the nodes never connected to Redis");
    }
}

/// Reads chat texts until `last`, skipping probes.
async fn texts_until(member: &mut Subscription, last: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for _ in 0..2000 {
        let text = next_text(member).await;
        if text == "probe" {
            continue;
        }
        let done = text == last;
        texts.push(text);
        if done {
            return texts;
        }
    }
    panic!("{last} never came");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_away_while_500_messages_flow_gets_each_once_in_order() {
    let redis = Redis::start().await;
    let (a, b) = (node(&redis, 1000), node(&redis, 1000));
    let mut on_a = a.join("room");
    let mut on_b = b.join("room");
    until_connected(&a, &mut on_b).await;
    until_connected(&b, &mut on_a).await;
    // A member of A that reads as it goes, counting what it hears.
    let reader = tokio::spawn(async move { texts_until(&mut on_a, "519").await.len() });
    b.publish("room", Message::text("seen"));
    assert_eq!(texts_until(&mut on_b, "seen").await, ["seen"]);
    let seen = on_b.position().unwrap();
    drop(on_b);
    for i in 0..500 {
        a.publish("room", Message::text(i.to_string()));
    }
    // Comes back on node B while node A keeps talking.
    let mut back = b.join_from("room", seen).await;
    for i in 500..520 {
        a.publish("room", Message::text(i.to_string()));
    }
    let texts = texts_until(&mut back, "519").await;
    let expected: Vec<String> = (0..520).map(|i| i.to_string()).collect();
    assert_eq!(texts, expected);
    assert_eq!(bounded(reader).await.unwrap(), 521);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trimmed_position_is_told_not_partly_replayed() {
    let redis = Redis::start().await;
    let a = node(&redis, 10);
    let mut member = a.join("room");
    let _stays = a.join("room");
    until_connected(&a, &mut member).await;
    let seen = member.position().unwrap();
    for i in 0..30 {
        a.publish("room", Message::text(i.to_string()));
    }
    texts_until(&mut member, "29").await;
    drop(member);
    let mut back = a.join_from("room", seen).await;
    assert_eq!(bounded(back.recv()).await, Received::Gap);
    // A position still in the stream replays.
    let recent = Position {
        offset: seen.offset + 25,
        ..seen
    };
    let mut recent_member = a.join_from("room", recent).await;
    assert_eq!(
        texts_until(&mut recent_member, "29").await,
        ["25", "26", "27", "28", "29"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarting_keeps_local_delivery_and_tells_of_lost_history() {
    let mut redis = Redis::start().await;
    let port = redis.port;
    let (a, b) = (node(&redis, 1000), node(&redis, 1000));
    let mut on_a = a.join("room");
    let mut on_b = b.join("room");
    let mut also_on_b = b.join("room");
    until_connected(&a, &mut on_b).await;
    a.publish("room", Message::text("before"));
    assert_eq!(texts_until(&mut on_b, "before").await, ["before"]);
    texts_until(&mut on_a, "before").await;
    texts_until(&mut also_on_b, "before").await;

    redis.stop();
    // Local delivery goes on: bounded tries while the node notices Redis is gone.
    let mut local = false;
    for _ in 0..100 {
        let published = b.publish("room", Message::text("local"));
        if !published.relayed {
            local = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(local, "node B never noticed Redis was gone");
    assert_eq!(
        texts_until(&mut also_on_b, "local").await.last().unwrap(),
        "local"
    );

    let _redis = Redis::start_on(port).await;
    // Cross-node delivery resumes by itself; members hear of the lost history first.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut told = false;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never resumed"
        );
        a.publish("room", Message::text("after"));
        match tokio::time::timeout(Duration::from_millis(200), on_b.recv()).await {
            Ok(Received::Gap) => told = true,
            Ok(Received::Message(m)) if m.message().as_text() == Some("after") => break,
            _ => {}
        }
    }
    assert!(told, "members were not told that the history was lost");
}
