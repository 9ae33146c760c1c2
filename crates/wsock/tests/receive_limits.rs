//! What a server holds of what clients send and do not finish: the server-wide read
//! budget and the incomplete-message timeout, over real sockets on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncWriteExt;
use wsock::{AcceptOptions, Config, Limits, Server};

#[tokio::test]
async fn a_spent_read_budget_closes_the_growing_connections_with_1013_and_serves_the_rest() {
    const BUDGET: usize = 1 << 20;
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .read_budget_limit(BUDGET)
        .route("/echo", echo);
    let addr = server.local_addr().unwrap();
    let budget = server.read_budget();
    tokio::spawn(server.serve());

    // 600 KiB of a message that never ends, in 100 KiB fragments.
    let mut unfinished = client_frame(0x02, &[7; 100 << 10]);
    for _ in 0..5 {
        unfinished.extend(client_frame(0x00, &[7; 100 << 10]));
    }
    let mut first = raw_websocket(addr).await;
    first.write_all(&unfinished).await.unwrap();
    bounded(async {
        while budget.used() < 600 << 10 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    for _ in 0..3 {
        let mut late = raw_websocket(addr).await;
        let _ = late.write_all(&unfinished).await;
        assert_eq!(read_close_code(&mut late).await, Some(1013));
        assert!(
            budget.used() <= BUDGET + (128 << 10),
            "{} bytes held against a budget of {BUDGET}",
            budget.used()
        );
    }
    // The first still holds its part, and answers a ping in the middle of it.
    first
        .write_all(&client_frame(0x89, b"alive?"))
        .await
        .unwrap();
    let mut pong = [0u8; 8];
    bounded(tokio::io::AsyncReadExt::read_exact(&mut first, &mut pong))
        .await
        .unwrap();
    assert_eq!(&pong, b"\x8a\x06alive?");
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn a_message_left_half_sent_is_closed_with_1008() {
    let mut limits = Limits::default();
    limits.incomplete_message_timeout = Duration::from_millis(200);
    let options = AcceptOptions::default().config(Config::default().with_limits(limits));
    let addr = echo_server(options).await;

    let mut fragment = raw_websocket(addr).await;
    fragment
        .write_all(&client_frame(0x01, b"the first half"))
        .await
        .unwrap();
    assert_eq!(read_close_code(&mut fragment).await, Some(1008));

    let mut cut_frame = raw_websocket(addr).await;
    let frame = client_frame(0x82, &[1; 1000]);
    cut_frame.write_all(&frame[..500]).await.unwrap();
    assert_eq!(read_close_code(&mut cut_frame).await, Some(1008));
    assert_still_serving(addr).await;
}
