//! Recovery end to end over 127.0.0.1: a reconnecting client keeps the last position it
//! saw and hands it back on reconnecting, and the server's hub replays what it missed.

mod common;

use std::time::Duration;

use common::bounded;
use wsock::broadcast::{HistoryOptions, Hub, Position};
use wsock::{Backoff, Client, Message, Server};

/// A feed server: each member joins "feed" (from `?since=` if given) and receives every
/// message as "POSITION TEXT".
async fn feed_server(hub: Hub) -> String {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .route_with_request("/feed", move |mut ws, request| {
            let hub = hub.clone();
            async move {
                let since = request
                    .request()
                    .uri()
                    .query()
                    .and_then(|query| query.strip_prefix("since="))
                    .and_then(|since| since.parse::<Position>().ok());
                let member = match since {
                    Some(since) => hub.join_from("feed", since).await,
                    None => hub.join("feed"),
                };
                member.run(&mut ws, |_| {}).await
            }
        });
    let url = format!("ws://{}/feed", server.local_addr().unwrap());
    tokio::spawn(server.serve());
    url
}

fn split(message: &Message) -> (Position, String) {
    let (position, text) = message.as_text().unwrap().split_once(' ').unwrap();
    (position.parse().unwrap(), text.to_owned())
}

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed_once_and_in_order() {
    let hub = Hub::builder()
        .history(HistoryOptions::default())
        .render(|publication| {
            let position = publication.position?;
            let text = publication.message.as_text()?;
            Some(Message::text(format!("{position} {text}")))
        })
        .build();
    let url = feed_server(hub.clone()).await;
    let mut connections = Client::new(&url).reconnecting().backoff(Backoff::new(
        Duration::from_millis(10),
        Duration::from_millis(100),
    ));

    let mut ws = bounded(connections.next()).await.unwrap();
    while hub.members("feed") < 1 {
        tokio::task::yield_now().await;
    }
    for i in 0..5 {
        hub.publish("feed", Message::text(format!("m{i}")));
    }
    let mut last = None;
    let mut texts = Vec::new();
    for _ in 0..5 {
        let (position, text) = split(&bounded(ws.recv()).await.unwrap().unwrap());
        last = Some(position);
        texts.push(text);
    }
    // The connection drops; the feed goes on without it.
    drop(ws);
    for i in 5..10 {
        hub.publish("feed", Message::text(format!("m{i}")));
    }
    let since = last.unwrap().to_string();
    connections.update(|_| Client::new(format!("{url}?since={since}")));
    let mut ws = bounded(connections.next()).await.unwrap();
    for _ in 5..10 {
        let (position, text) = split(&bounded(ws.recv()).await.unwrap().unwrap());
        assert_eq!(position.offset, last.unwrap().offset + 1, "{text}");
        last = Some(position);
        texts.push(text);
    }
    hub.publish("feed", Message::text("live"));
    let (_, live) = split(&bounded(ws.recv()).await.unwrap().unwrap());
    texts.push(live);
    let expected: Vec<String> = (0..10)
        .map(|i| format!("m{i}"))
        .chain(["live".into()])
        .collect();
    assert_eq!(texts, expected);
}
