//! What permessage-deflate keeps per connection once a JSON message has gone each way
//! and the connection idles, counted by this test's allocator: the figures behind
//! docs/performance.md's table, held as ceilings. One test, so that no other test's
//! allocations run beside it.

use wsock_proto::{Connection, DeflateConfig, Event, Message, Role};

#[path = "../support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::live;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const JSON: &str =
    r#"{"event":"price_update","symbol":"ACME","bid":101.25,"ask":101.5,"ts":1700000000000}"#;

/// Bytes a server connection holds after one message each way, idle, with deflate
/// negotiated from `config` (or none); with `quiet`, after the connection stayed quiet
/// long enough for `release_after` to free its deflate state.
fn idle_server_bytes(config: Option<DeflateConfig>, quiet: bool) -> isize {
    let message = JSON.repeat(4);
    let mut client = Connection::new(Role::Client);
    let params = config.as_ref().map(|config| {
        let offer = config.client_offer();
        let (params, _) = wsock_proto::negotiate_server([offer.as_str()], config).unwrap();
        client.enable_deflate(&params, config);
        params
    });
    client.send_text(&message).unwrap();
    let wire = client.take_output();
    let before = live();
    let mut server = Connection::new(Role::Server);
    if let (Some(config), Some(params)) = (&config, &params) {
        server.enable_deflate(params, config);
    }
    let t0 = std::time::Instant::now();
    server.set_clock(t0);
    server.receive_data(&wire);
    match server.next_event().unwrap() {
        Some(Event::Message(received)) => assert_eq!(received, Message::text(message.clone())),
        other => panic!("unexpected {other:?}"),
    }
    server.send_text(&message).unwrap();
    drop(server.take_output());
    server.release_idle_buffers();
    if quiet {
        // Looked at once while freshly used, then once after a quiet interval.
        let after = config.as_ref().and_then(|c| c.release_after).unwrap();
        server.handle_timeout(t0 + after).unwrap();
        server.handle_timeout(t0 + 2 * after).unwrap();
        assert_eq!(server.poll_timeout(), None, "nothing left to release");
    }
    let held = live() - before;
    drop((server, wire));
    held
}

#[test]
fn what_an_idle_deflate_connection_keeps() {
    // The thread's shared compressor and scratch exist once per thread, not per
    // connection: made here first so that they do not count.
    idle_server_bytes(Some(DeflateConfig::shared()), false);
    let plain = idle_server_bytes(None, false);
    let shared = idle_server_bytes(Some(DeflateConfig::shared()), false);
    let default = idle_server_bytes(Some(DeflateConfig::default()), false);
    let quiet = idle_server_bytes(Some(DeflateConfig::default()), true);
    let old_default = idle_server_bytes(
        Some(DeflateConfig::default().mem_level(8).max_window_bits(15)),
        false,
    );
    println!("plain {plain} B, shared {shared} B, default {default} B, default once quiet {quiet} B, window 15 memLevel 8 {old_default} B");
    // Once quiet, the defaults keep only the last bytes each way (here one message
    // each, 340 bytes), to make the compressor and decompressor again with.
    assert!(
        quiet - plain <= 2048,
        "a quiet default connection keeps {} B more than plain",
        quiet - plain
    );
    assert!(
        shared - plain <= 2048,
        "shared mode keeps {} B more than plain",
        shared - plain
    );
    // A compressor at window 12, memLevel 5 (161 KiB in zlib-rs) and the peer's
    // decompressor (46 KiB, whatever its window) with their context.
    assert!(default <= 215 << 10, "the default keeps {default} B");
    assert!(
        old_default - default >= 150 << 10,
        "window 12 and memLevel 5 save {} B",
        old_default - default
    );
}
