//! The library's metrics through a recorder installed before anything else (one test,
//! since the recorder and its counters are process-wide): the blocking shell's
//! counts on both sides of a conversation, and the hub's rooms, members and slow
//! consumers.
#![cfg(feature = "metrics")]

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use wsock::broadcast::{Hub, HubOptions, SlowConsumer};
use wsock::{blocking, CloseCode, Message};

/// The recorder's totals: its snapshots hold what changed since the last one, so they
/// are added up here.
struct Totals {
    snapshotter: Snapshotter,
    seen: HashMap<(String, Vec<(String, String)>), f64>,
}

impl Totals {
    /// The value of metric `name` with exactly `labels`, 0 if it was never recorded.
    fn value(&mut self, name: &str, labels: &[(&str, &str)]) -> f64 {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            let change = match value {
                DebugValue::Counter(count) => count as f64,
                DebugValue::Gauge(gauge) => gauge.into_inner(),
                DebugValue::Histogram(_) => continue,
            };
            *self
                .seen
                .entry((key.name().to_owned(), labels))
                .or_default() += change;
        }
        let mut want: Vec<_> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        want.sort();
        self.seen
            .get(&(name.to_owned(), want))
            .copied()
            .unwrap_or(0.0)
    }
}

#[test]
fn counts_follow_what_happens() {
    let recorder = DebuggingRecorder::new();
    let mut totals = Totals {
        snapshotter: recorder.snapshotter(),
        seen: HashMap::new(),
    };
    recorder.install().unwrap();

    blocking_conversation_is_counted_on_both_sides(&mut totals);
    rooms_members_and_slow_consumers_are_counted(&mut totals);
}

fn blocking_conversation_is_counted_on_both_sides(totals: &mut Totals) {
    let server = blocking::Server::bind("127.0.0.1:0")
        .unwrap()
        .route("/echo", |mut ws| {
            while let Some(message) = ws.recv()? {
                ws.send(message)?;
            }
            Ok(())
        });
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.serve());

    let mut client = blocking::dial(&format!("ws://{addr}/echo"), "", "http://localhost/")
        .expect("the blocking server answers");
    for text in ["one", "two"] {
        client.send(Message::text(text)).unwrap();
        assert_eq!(client.recv().unwrap().unwrap().as_text(), Some(text));
    }
    let open = [("path", "/echo")];
    assert_eq!(totals.value("wsock_connections_open", &open), 1.0);
    client.close(CloseCode::NORMAL, "").unwrap();
    drop(client);

    let server_side = [("role", "server")];
    let client_side = [("role", "client")];
    for role in [&server_side, &client_side] {
        assert_eq!(totals.value("wsock_messages_sent_total", role), 2.0);
        assert_eq!(totals.value("wsock_messages_received_total", role), 2.0);
    }
    // Client frames carry a 4-byte mask: two 3-byte texts are 9 bytes each that way.
    assert!(totals.value("wsock_bytes_sent_total", &client_side) >= 18.0);
    assert!(totals.value("wsock_bytes_received_total", &client_side) >= 10.0);
    assert_eq!(
        totals.value(
            "wsock_closes_total",
            &[("role", "client"), ("code", "1000")]
        ),
        1.0
    );
    assert_eq!(totals.value("wsock_handshakes_accepted_total", &[]), 1.0);
    assert_eq!(totals.value("wsock_connections_opened_total", &open), 1.0);
    // The server's thread drops its side just after answering the close.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while totals.value("wsock_connections_open", &open) != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server's side never closed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let server_close = [("role", "server"), ("code", "1000")];
    assert_eq!(totals.value("wsock_closes_total", &server_close), 1.0);
}

fn rooms_members_and_slow_consumers_are_counted(totals: &mut Totals) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut options = HubOptions::default();
    options.queue_capacity = 2;
    options.slow_consumer = SlowConsumer::Skip;
    let skipping = Hub::new(options.clone());
    options.slow_consumer = SlowConsumer::Disconnect(CloseCode::TRY_AGAIN_LATER);
    let disconnecting = Hub::new(options);

    let a = skipping.join("red");
    let b = skipping.join("red");
    let c = disconnecting.join("blue");
    assert_eq!(totals.value("wsock_rooms", &[]), 2.0);
    assert_eq!(totals.value("wsock_room_members", &[]), 3.0);

    // Nobody reads: the third message finds every queue full.
    for i in 0..3 {
        skipping.publish("red", Message::text(format!("{i}")));
        disconnecting.publish("blue", Message::text(format!("{i}")));
    }
    let skipped = [("action", "skipped")];
    let disconnected = [("action", "disconnected")];
    assert_eq!(totals.value("wsock_slow_consumers_total", &skipped), 2.0);
    assert_eq!(
        totals.value("wsock_slow_consumers_total", &disconnected),
        1.0
    );
    // The disconnected member left, and its room with it.
    assert_eq!(totals.value("wsock_rooms", &[]), 1.0);
    assert_eq!(totals.value("wsock_room_members", &[]), 2.0);

    drop(c); // already out: not counted twice
    drop(a);
    assert_eq!(totals.value("wsock_room_members", &[]), 1.0);
    drop(b);
    assert_eq!(totals.value("wsock_rooms", &[]), 0.0);
    assert_eq!(totals.value("wsock_room_members", &[]), 0.0);
}
