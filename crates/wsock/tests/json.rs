//! JSON helpers over real sockets (feature `json`).
#![cfg(feature = "json")]

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use wsock::{AcceptOptions, Client, Error, Message};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    symbol: String,
    quantity: i32,
}

#[tokio::test]
async fn serde_values_round_trip_and_bad_json_leaves_the_connection_usable() {
    let addr = echo_server(AcceptOptions::default()).await;
    let mut ws = Client::new(format!("ws://{addr}/echo"))
        .connect()
        .await
        .unwrap();
    let order = Order {
        id: 7,
        symbol: "ACME".into(),
        quantity: -3,
    };
    ws.send_json(&order).await.unwrap();
    assert_eq!(bounded(ws.recv_json::<Order>()).await.unwrap(), Some(order));

    ws.send(Message::text("{not json")).await.unwrap();
    let err = bounded(ws.recv_json::<Order>()).await.unwrap_err();
    assert!(matches!(err, Error::Json(_)), "{err}");
    assert!(err.to_string().contains("stays open"));

    // The same connection goes on.
    let next = Order {
        id: 8,
        symbol: "HOOLI".into(),
        quantity: 1,
    };
    ws.send_json(&next).await.unwrap();
    assert_eq!(bounded(ws.recv_json::<Order>()).await.unwrap(), Some(next));
}
