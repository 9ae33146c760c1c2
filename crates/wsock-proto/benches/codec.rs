//! The codec's hot paths, without sockets: masking, UTF-8 validation, frame headers,
//! whole messages encoded and decoded at 16 B, 1 KiB, 64 KiB and 1 MiB, and parsing an
//! upgrade request; and a server's echo of a batch of 8 binary messages as one read
//! brings them, the hot path of `benches/compare.sh`'s pipelined cells.
//!
//! `cargo bench -p wsock-proto --bench codec`

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsock_proto::handshake::server::parse_request;
use wsock_proto::{
    apply_mask, Connection, Event, FrameHeader, Limits, OpCode, Role, Utf8Validator,
};

const SIZES: [(usize, &str); 4] = [
    (16, "16B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];

fn masking(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for (size, label) in SIZES {
        let mut data = vec![0x5a; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| apply_mask(black_box(&mut data), [1, 2, 3, 4], 0));
        });
    }
    // Where a client's 64 KiB payload sits in the receive buffer: after its 14-byte
    // header, so not on a cache line's start.
    let mut data = vec![0x5a; (64 << 10) + 14];
    group.throughput(Throughput::Bytes(64 << 10));
    group.bench_function("64KiB after a header", |b| {
        b.iter(|| apply_mask(black_box(&mut data[14..]), [1, 2, 3, 4], 0));
    });
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (size, label) in SIZES {
        let ascii = "a".repeat(size);
        let mixed: String = "héllo wörld ☃ ".chars().cycle().take(size / 2).collect();
        for (kind, text) in [("ascii", &ascii), ("mixed", &mixed)] {
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_function(BenchmarkId::new(kind, label), |b| {
                b.iter(|| {
                    let mut validator = Utf8Validator::default();
                    validator.feed(black_box(text.as_bytes())).unwrap();
                    validator.finish().unwrap();
                });
            });
        }
    }
    group.finish();
}

fn frame_header(c: &mut Criterion) {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask: Some([1, 2, 3, 4]),
        payload_len: 70_000,
    };
    let mut encoded = BytesMut::new();
    header.encode(&mut encoded);
    c.bench_function("frame_header/encode", |b| {
        let mut out = BytesMut::with_capacity(64);
        b.iter(|| {
            out.clear();
            black_box(&header).encode(&mut out);
        });
    });
    c.bench_function("frame_header/decode", |b| {
        b.iter(|| FrameHeader::decode(black_box(&encoded)).unwrap().unwrap());
    });
}

fn messages(c: &mut Criterion) {
    let mut group = c.benchmark_group("message");
    let mut limits = Limits::default();
    limits.max_frame_size = 2 << 20;
    for (size, label) in SIZES {
        let payload = vec![b'x'; size];
        group.throughput(Throughput::Bytes(size as u64));
        // A server's frame (no mask), as for an echo reply.
        group.bench_function(BenchmarkId::new("encode_server", label), |b| {
            let mut server = Connection::new(Role::Server);
            b.iter(|| {
                server.send_binary(black_box(&payload)).unwrap();
                black_box(server.take_output());
            });
        });
        // A client's frame (masked).
        group.bench_function(BenchmarkId::new("encode_client", label), |b| {
            let mut client = Connection::new(Role::Client);
            b.iter(|| {
                client.send_binary(black_box(&payload)).unwrap();
                black_box(client.take_output());
            });
        });
        // A server decoding (and unmasking) a client's text frame, UTF-8 checked.
        let mut client = Connection::new(Role::Client);
        client
            .send_text(std::str::from_utf8(&payload).unwrap())
            .unwrap();
        let wire = client.take_output();
        group.bench_function(BenchmarkId::new("decode_text", label), |b| {
            let mut server = Connection::with_limits(Role::Server, limits.clone());
            b.iter(|| {
                server.receive_data(black_box(&wire));
                match server.next_event().unwrap() {
                    Some(Event::Message(message)) => black_box(message),
                    other => panic!("expected a message, got {other:?}"),
                };
            });
        });
    }
    group.finish();
}

fn handshake(c: &mut Criterion) {
    let request = b"GET /chat?room=a HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Origin: https://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36\r\n\r\n";
    let limits = Limits::default();
    c.bench_function("handshake/parse_request", |b| {
        b.iter(|| parse_request(black_box(request), &limits).unwrap());
    });
}

/// A server receiving 8 binary frames in one read, echoing each, and writing the
/// replies out: what one wakeup of an echo loop asks of the core.
fn echo_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo_batch");
    for (size, label) in [(16, "16B"), (1 << 10, "1KiB")] {
        let mut client = Connection::new(Role::Client);
        for _ in 0..8 {
            client.send_binary(&vec![b'x'; size]).unwrap();
        }
        let wire = client.take_output();
        group.throughput(Throughput::Elements(8));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            let mut server = Connection::new(Role::Server);
            b.iter(|| {
                server.receive_data(black_box(&wire));
                while let Some(event) = server.next_event().unwrap() {
                    if let Event::Message(message) = event {
                        server.send(&message).unwrap();
                    }
                }
                let mut slices = [std::io::IoSlice::new(&[]); 16];
                let count = server.output_slices(&mut slices);
                let written: usize = slices[..count].iter().map(|s| s.len()).sum();
                server.consume_output(black_box(written));
                server.release_idle_buffers();
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    masking,
    utf8,
    frame_header,
    messages,
    handshake,
    echo_batch
);
criterion_main!(benches);
