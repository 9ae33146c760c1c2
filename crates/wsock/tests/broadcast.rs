//! The broadcast hub: membership, order, slow members; without sockets, then over
//! real sockets on 127.0.0.1.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::AsyncReadExt;
use wsock::broadcast::{Hub, HubOptions, Published, Received, SlowConsumer};
use wsock::{AcceptOptions, Client, CloseCode, Config, DeflateConfig, Message, Server};

fn hub(capacity: usize, slow_consumer: SlowConsumer) -> Hub {
    let mut options = HubOptions::default();
    options.queue_capacity = capacity;
    options.slow_consumer = slow_consumer;
    Hub::new(options)
}

fn text(message: &Received) -> String {
    match message {
        Received::Message(prepared) => prepared.message().as_text().unwrap().to_owned(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn members_join_and_leave_and_rooms_are_counted() {
    let hub = Hub::default();
    let a = hub.join("red");
    let b = hub.join("red");
    let c = hub.join("blue");
    assert_eq!(hub.members("red"), 2);
    assert_eq!(
        hub.rooms_and_members(),
        vec![("blue".to_owned(), 1), ("red".to_owned(), 2)]
    );
    drop(a);
    assert_eq!(hub.members("red"), 1);
    drop((b, c));
    assert!(hub.rooms_and_members().is_empty());
    assert_eq!(
        hub.publish("red", Message::text("anyone?")),
        Published::default()
    );
}

#[tokio::test]
async fn rooms_are_separate_and_order_is_kept() {
    let hub = Hub::default();
    let mut red = hub.join("red");
    let mut blue = hub.join("blue");
    for i in 0..200 {
        let outcome = hub.publish("red", Message::text(format!("red {i}")));
        assert_eq!(outcome.delivered, 1);
    }
    hub.publish("blue", Message::text("blue only"));
    for i in 0..200 {
        assert_eq!(text(&red.recv().await), format!("red {i}"));
    }
    assert_eq!(text(&blue.recv().await), "blue only");
}

#[tokio::test]
async fn a_member_that_never_reads_is_skipped_and_holds_only_its_queue() {
    let hub = hub(8, SlowConsumer::Skip);
    let _never_reads = hub.join("room");
    let mut reader = hub.join("room");
    let mut skipped = 0;
    for i in 0..1000 {
        let outcome = hub.publish("room", Message::text(format!("{i}")));
        skipped += outcome.skipped;
        assert_eq!(outcome.delivered + outcome.skipped, 2, "message {i}");
        // The reader keeps up.
        assert_eq!(text(&reader.recv().await), format!("{i}"));
    }
    assert_eq!(
        skipped,
        1000 - 8,
        "only a queue's worth waits for the idle member"
    );
    assert_eq!(hub.members("room"), 2, "skipping keeps it in the room");
}

#[tokio::test]
async fn a_slow_member_is_disconnected_with_the_policy_code() {
    let hub = hub(4, SlowConsumer::Disconnect(CloseCode::POLICY_VIOLATION));
    let mut slow = hub.join("room");
    let mut outcomes = Vec::new();
    for i in 0..6 {
        outcomes.push(hub.publish("room", Message::text(format!("{i}"))));
    }
    assert_eq!(outcomes[3].delivered, 1);
    assert_eq!(outcomes[4].disconnected, 1);
    assert_eq!(outcomes[5], Published::default(), "it left the room");
    assert_eq!(hub.members("room"), 0);
    assert_eq!(
        slow.recv().await,
        Received::Disconnected(CloseCode::POLICY_VIOLATION)
    );
}

#[tokio::test]
async fn a_members_queue_is_bounded_in_bytes_as_well_as_in_messages() {
    let mut options = HubOptions::default();
    options.queue_capacity = 10_000;
    options.queue_bytes = 64 << 10;
    options.slow_consumer = SlowConsumer::Skip;
    let hub = Hub::new(options);
    let mut member = hub.join("room");
    let four_kib = "x".repeat(4 << 10);
    let mut delivered = 0;
    for _ in 0..100 {
        delivered += hub
            .publish("room", Message::text(four_kib.clone()))
            .delivered;
    }
    // 4 KiB plus a 4-byte header each: 15 fit in 64 KiB.
    assert_eq!(delivered, 15, "messages queued within 64 KiB");
    for _ in 0..15 {
        assert_eq!(text(&member.recv().await).len(), 4 << 10);
    }
    let outcome = hub.publish("room", Message::text(four_kib.clone()));
    assert_eq!(outcome.delivered, 1, "reading freed the bytes");
    // A message over the whole limit still reaches a member with nothing waiting.
    member.recv().await;
    let big = "y".repeat(100 << 10);
    assert_eq!(hub.publish("room", Message::text(big)).delivered, 1);
}

/// A server whose /room clients all join one room and publish what they send.
async fn chat_server(hub: Hub, config: Config) -> SocketAddr {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .options(
            AcceptOptions::default()
                .config(config)
                .deflate(Some(DeflateConfig::default())),
        )
        .route("/room", move |mut ws| {
            let hub = hub.clone();
            async move {
                let member = hub.join("room");
                member
                    .run(&mut ws, |message| {
                        hub.publish("room", message);
                    })
                    .await
            }
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    addr
}

async fn wait_for_members(hub: &Hub, count: usize) {
    bounded(async {
        while hub.members("room") != count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn over_sockets_every_member_gets_every_message_in_order() {
    let hub = Hub::default();
    let addr = chat_server(hub.clone(), Config::default()).await;
    let url = format!("ws://{addr}/room");
    let mut sender = Client::new(&url).connect().await.unwrap();
    // One receiver with permessage-deflate: the shared uncompressed frame suits it too.
    let mut receivers = vec![
        Client::new(&url).connect().await.unwrap(),
        Client::new(&url)
            .deflate(DeflateConfig::default())
            .connect()
            .await
            .unwrap(),
    ];
    assert!(receivers[1].is_compressed());
    wait_for_members(&hub, 3).await;
    for i in 0..300 {
        sender
            .send(Message::binary(format!("{i:04}").repeat(i)))
            .await
            .unwrap();
    }
    for ws in receivers.iter_mut().chain([&mut sender]) {
        for i in 0..300 {
            let message = bounded(ws.recv()).await.unwrap().unwrap();
            assert_eq!(message, Message::binary(format!("{i:04}").repeat(i)));
        }
    }
    for mut ws in receivers {
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
    wait_for_members(&hub, 1).await;
}

#[tokio::test]
async fn over_sockets_a_client_that_never_reads_is_disconnected_and_others_go_on() {
    let hub = hub(4, SlowConsumer::Disconnect(CloseCode::TRY_AGAIN_LATER));
    let config = Config::default()
        .write_buffer_limit(64 << 10)
        .close_timeout(Duration::from_millis(200));
    let addr = chat_server(hub.clone(), config).await;
    let url = format!("ws://{addr}/room");
    let mut sender = Client::new(&url).connect().await.unwrap();
    let mut stuck = raw_websocket_at(addr, "/room").await;
    wait_for_members(&hub, 2).await;
    let big = Message::binary(vec![5u8; 256 << 10]);
    let mut sent = 0;
    // Until the stuck client's socket buffers, write buffer and queue are full.
    while hub.members("room") == 2 {
        assert!(sent < 2000, "the stuck client was never disconnected");
        sender.send(big.clone()).await.unwrap();
        let echoed = bounded(sender.recv()).await.unwrap().unwrap();
        assert_eq!(echoed.payload().len(), 256 << 10);
        sent += 1;
    }
    // The server gave up on it: its stream ends once the buffered data is read.
    let mut sink = vec![0u8; 1 << 20];
    bounded(async {
        while let Ok(n) = stuck.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    sender.send(Message::text("still served")).await.unwrap();
    assert_eq!(
        bounded(sender.recv()).await.unwrap(),
        Some(Message::text("still served"))
    );
}
