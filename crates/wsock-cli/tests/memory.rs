//! `wsock echo`'s memory against clients that send much and finish nothing: the
//! server-wide read budget holds, and everyone else is still served.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

const MIB: usize = 1 << 20;

/// Sends a binary message of `frames` MiB fragments and never its final frame; returns
/// the close code the server answered with, if it closed the connection.
fn never_finished_message(addr: &str, frames: usize) -> Option<u16> {
    let mut stream = raw_websocket(addr);
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    let fragment = vec![b'x'; MIB];
    for i in 0..frames {
        let opcode = if i == 0 { 0x02 } else { 0x00 };
        if stream.write_all(&masked_frame(opcode, &fragment)).is_err() {
            break;
        }
    }
    // A connection the server kept holds its part; one it closed has a close frame.
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut reply = [0u8; 4];
    match stream.read_exact(&mut reply) {
        Ok(()) if reply[0] == 0x88 => Some(u16::from_be_bytes([reply[2], reply[3]])),
        _ => None,
    }
}

#[test]
fn fifty_never_finished_60_mib_messages_stay_within_the_read_budget() {
    let budget = 64 * MIB;
    let server = EchoServer::start(&["--no-deflate", "--read-budget", &budget.to_string()]);
    let out = connect(&[&server.url], "warm up\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let before = peak_rss_kib(server.child.id());

    let addr = server.addr();
    let attackers: Vec<_> = (0..50)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || never_finished_message(&addr, 60))
        })
        .collect();
    let codes: Vec<Option<u16>> = attackers.into_iter().map(|t| t.join().unwrap()).collect();

    let grown_mib = peak_rss_kib(server.child.id()).saturating_sub(before) / 1024;
    // Live data stays within the budget; glibc keeps freed buffers of the growing
    // messages resident as heap fragments, so resident memory peaks higher (101 to
    // 152 MiB in five runs; without the budget the attack holds 3 GiB).
    let bound_mib = 2 * (budget / MIB) as u64 + 48;
    assert!(
        grown_mib <= bound_mib,
        "peak memory grew by {grown_mib} MiB against a read budget of {} MiB",
        budget / MIB
    );
    eprintln!("peak memory grew by {grown_mib} MiB");
    let refused = codes.iter().filter(|&&c| c == Some(1013)).count();
    assert!(refused >= 40, "expected most to get 1013, got {codes:?}");
    // A new client is served while the rest still hold their halves.
    let out = connect(&[&server.url], "still here\n");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "still here\n");
}

/// KiB of `wsock echo` resident memory per connection, over `count` connections that
/// each exchanged one JSON message with permessage-deflate offered: right after, and
/// once quiet (when it stops falling, or after 10 s); and whether all compressed.
fn idle_kib_per_deflate_connection(
    server_flags: &[&str],
    count: usize,
    releases: bool,
) -> (f64, f64, bool) {
    // Freed memory that glibc keeps resident between live allocations would count as
    // kept: which of it stays depends on the order the connections' frees happen in,
    // and on a slower machine a quiet connection measured 57-70 KiB of RSS, almost all
    // of it freed. Allocations of 4 KiB and more (the compression state and the
    // windows) are mapped on their own, so that freeing them leaves RSS.
    let server = EchoServer::start_with_env(
        server_flags,
        &[("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=4096")],
    );
    let client = || {
        wsock::Client::new(&server.url)
            .no_proxy()
            .deflate(wsock::DeflateConfig::default())
    };
    let message = r#"{"event":"price_update","symbol":"ACME","bid":101.25,"ask":101.5}"#.repeat(8);
    let exchange = |ws: &mut wsock::blocking::Conn| {
        ws.send(wsock::Message::text(message.clone())).unwrap();
        assert_eq!(
            ws.recv().unwrap(),
            Some(wsock::Message::text(message.clone()))
        );
    };
    // One first, so that one-off allocations do not count per connection.
    let mut warm = client().connect_blocking().unwrap();
    exchange(&mut warm);
    let before = rss_kib(server.child.id());
    let mut open = Vec::with_capacity(count);
    for _ in 0..count {
        let mut ws = client().connect_blocking().unwrap();
        exchange(&mut ws);
        open.push(ws);
    }
    let per_connection = || rss_kib(server.child.id()).saturating_sub(before) as f64 / count as f64;
    let busy = per_connection();
    // The defaults free a quiet connection's compressor and decompressor within two
    // `release_after` intervals (1 s): look every 100 ms, for at most 10 s, until the
    // figure stops falling.
    let mut quiet = busy;
    for _ in 0..if releases { 100 } else { 0 } {
        std::thread::sleep(Duration::from_millis(100));
        let now = per_connection();
        if now >= quiet - 0.05 && now < busy / 2.0 {
            break;
        }
        quiet = quiet.min(now);
    }
    let compressed = open.iter().all(wsock::blocking::Conn::is_compressed);
    (busy, quiet, compressed)
}

#[test]
fn a_thousand_idle_deflate_connections_cost_what_their_mode_promises() {
    let (plain, _, _) = idle_kib_per_deflate_connection(&["--no-deflate"], 1000, false);
    let (shared, _, compressed) =
        idle_kib_per_deflate_connection(&["--deflate-shared"], 1000, false);
    assert!(compressed, "the shared mode negotiated deflate");
    let (busy, quiet, compressed) = idle_kib_per_deflate_connection(&[], 1000, true);
    assert!(compressed, "the defaults negotiated deflate");
    eprintln!(
        "KiB per idle connection: plain {plain:.1}, shared {shared:.1}, defaults {busy:.1} \
         right after the message and {quiet:.1} once quiet"
    );
    // The shared mode keeps no compression state (1.9 KiB against 2.5 plain in a
    // release build; deflate_footprint.rs holds the exact 2 KiB bound). An unoptimised
    // build leaves more freed decompressor memory resident in the allocator (17 KiB
    // there), hence the margin, still far under what the defaults keep while in use:
    // a 12-bit compressor at memLevel 5 and the peer's decompressor (181 KiB; 343
    // before).
    assert!(
        shared <= plain + 32.0,
        "shared {shared:.1} KiB against plain {plain:.1}"
    );
    assert!(
        busy <= 240.0,
        "the defaults keep {busy:.1} KiB per connection in use"
    );
    // Quiet, they keep only each direction's last bytes: under 40 KiB all told.
    assert!(
        quiet <= 40.0,
        "a quiet connection at the defaults keeps {quiet:.1} KiB"
    );
}
