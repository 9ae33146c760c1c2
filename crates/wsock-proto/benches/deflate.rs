//! permessage-deflate cost and gain on JSON-like text: client-to-server messages,
//! encoded (and compressed) by one `Connection` and decoded (and inflated) by another,
//! with and without deflate. Prints the compression ratio before measuring.
//!
//! `cargo bench -p wsock-proto --bench deflate`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsock_proto::{Connection, DeflateConfig, DeflateParams, Event, Role};

#[path = "../support/json_feed.rs"]
mod json_feed;
use json_feed::json_payload;

fn pair(deflate: Option<DeflateParams>) -> (Connection, Connection) {
    let mut client = Connection::new(Role::Client);
    let mut server = Connection::new(Role::Server);
    if let Some(params) = deflate {
        let config = DeflateConfig::default();
        client.enable_deflate(&params, &config);
        server.enable_deflate(&params, &config);
    }
    (client, server)
}

/// Bytes on the wire for `messages` sent in order, as a fraction of their plain size.
fn ratio(params: DeflateParams, messages: &[String]) -> f64 {
    let (mut client, mut server) = pair(Some(params));
    let wire: usize = messages
        .iter()
        .map(|m| transfer(&mut client, &mut server, m))
        .sum();
    let plain: usize = messages.iter().map(String::len).sum();
    wire as f64 / plain as f64
}

/// Sends one message across and returns the bytes it took on the wire.
fn transfer(client: &mut Connection, server: &mut Connection, text: &str) -> usize {
    client.send_text(text).unwrap();
    let wire = client.take_output();
    server.receive_data(&wire);
    match server.next_event().unwrap() {
        Some(Event::Message(message)) => assert_eq!(message.payload().len(), text.len()),
        other => panic!("unexpected {other:?}"),
    }
    wire.len()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_message");
    let no_context = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    };
    for len in [256usize, 1 << 10, 16 << 10, 256 << 10] {
        // A stream of different messages of the same shape, as a live feed sends.
        let messages: Vec<String> = (0..64).map(|seed| json_payload(len, seed)).collect();
        println!(
            "json {len} B: on the wire {:.1}% of plain with context takeover, {:.1}% without",
            ratio(DeflateParams::default(), &messages) * 100.0,
            ratio(no_context, &messages) * 100.0
        );
        group.throughput(Throughput::Bytes(len as u64));
        for (name, params) in [("plain", None), ("deflate", Some(DeflateParams::default()))] {
            let (mut client, mut server) = pair(params);
            let mut next = messages.iter().cycle();
            group.bench_function(BenchmarkId::new(name, len), |b| {
                b.iter(|| transfer(&mut client, &mut server, next.next().unwrap()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
