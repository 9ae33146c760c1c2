//! The table permessage-deflate's defaults were chosen from: for each compressor
//! window and memLevel, the memory a compressor holds once it has compressed a message
//! (counted by this program's allocator, so the figures are exact and repeatable), and
//! the ratio on a JSON feed of 256-byte and 1 KiB messages with the context kept; and
//! for each window, the memory of a decompressor that inflated a message.
//!
//! `cargo run --release -p wsock-proto --example deflate_settings`

use flate2::{Decompress, FlushDecompress};
use zlib_rs::{DeflateConfig, DeflateFlush, Method, Strategy};

#[path = "../support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../support/json_feed.rs"]
mod json_feed;

use counting_alloc::live;
use json_feed::json_payload;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

fn compressor(window_bits: u8, mem_level: i32) -> zlib_rs::Deflate {
    compressor_at(6, window_bits, mem_level)
}

fn compressor_at(level: i32, window_bits: u8, mem_level: i32) -> zlib_rs::Deflate {
    zlib_rs::Deflate::new_with_config(DeflateConfig {
        level,
        method: Method::Deflated,
        window_bits: -i32::from(window_bits),
        mem_level,
        strategy: Strategy::Default,
    })
}

/// Compressed bytes for one message, sync-flushed, the 4-byte tail stripped.
fn compress(deflate: &mut zlib_rs::Deflate, payload: &[u8]) -> usize {
    let mut out = vec![0u8; payload.len() + 1024];
    let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
    deflate
        .compress(payload, &mut out, DeflateFlush::SyncFlush)
        .expect("deflate");
    assert_eq!(deflate.total_in() - in_before, payload.len() as u64);
    (deflate.total_out() - out_before) as usize - 4
}

/// Wire bytes over plain bytes for a feed of `count` messages of `len` bytes.
fn ratio(window_bits: u8, mem_level: i32, len: usize, count: u64) -> f64 {
    let mut deflate = compressor(window_bits, mem_level);
    let (mut wire, mut plain) = (0, 0);
    for seed in 0..count {
        let message = json_payload(len, seed);
        wire += compress(&mut deflate, message.as_bytes());
        plain += message.len();
    }
    wire as f64 / plain as f64
}

fn main() {
    let message = json_payload(1024, 1);
    println!("| window bits | memLevel | compressor KiB | ratio 256 B | ratio 1 KiB |");
    println!("|---|---|---|---|---|");
    for window_bits in [15u8, 14, 13, 12, 11, 10, 9] {
        for mem_level in [8, 6, 5, 4, 3] {
            let before = live();
            let mut deflate = compressor(window_bits, mem_level);
            compress(&mut deflate, message.as_bytes());
            let held = live() - before;
            drop(deflate);
            println!(
                "| {window_bits} | {mem_level} | {:.1} | {:.1}% | {:.1}% |",
                held as f64 / 1024.0,
                100.0 * ratio(window_bits, mem_level, 256, 400),
                100.0 * ratio(window_bits, mem_level, 1024, 400),
            );
        }
    }
    println!();
    println!("| level (window 12, memLevel 5) | ratio 256 B | ratio 1 KiB | MiB/s compressed, 1 KiB messages |");
    println!("|---|---|---|---|");
    for level in [1, 2, 3, 4, 6] {
        let mut ratios = Vec::new();
        for len in [256, 1024] {
            let mut deflate = compressor_at(level, 12, 5);
            let (mut wire, mut plain) = (0, 0);
            for seed in 0..400 {
                let message = json_payload(len, seed);
                wire += compress(&mut deflate, message.as_bytes());
                plain += message.len();
            }
            ratios.push(100.0 * wire as f64 / plain as f64);
        }
        let messages: Vec<String> = (0..2000).map(|seed| json_payload(1024, seed)).collect();
        let mut deflate = compressor_at(level, 12, 5);
        let started = std::time::Instant::now();
        for message in &messages {
            compress(&mut deflate, message.as_bytes());
        }
        let mib = messages.len() as f64 * 1024.0 / (1 << 20) as f64;
        println!(
            "| {level} | {:.1}% | {:.1}% | {:.0} |",
            ratios[0],
            ratios[1],
            mib / started.elapsed().as_secs_f64()
        );
    }
    println!();
    println!("| window bits | decompressor KiB |");
    println!("|---|---|");
    let mut deflate = compressor(15, 8);
    let mut wire = vec![0u8; 4096];
    let n = {
        deflate
            .compress(message.as_bytes(), &mut wire, DeflateFlush::SyncFlush)
            .unwrap();
        deflate.total_out() as usize
    };
    for window_bits in [15u8, 14, 13, 12, 11, 10, 9] {
        let before = live();
        let mut inflate = Decompress::new_with_window_bits(false, window_bits.max(9));
        let mut out = Vec::with_capacity(4096);
        // Inflating needs a window at least as large as the compressor's; this is about
        // the memory, so a failure past the first bytes does not matter.
        let _ = inflate.decompress_vec(&wire[..n], &mut out, FlushDecompress::Sync);
        let held = live() - before - out.capacity() as isize;
        println!("| {window_bits} | {:.1} |", held as f64 / 1024.0);
    }
}
