//! One compressor per thread, for messages compressed without context: with
//! `server_no_context_takeover` (or a client's `client_no_context_takeover`) nothing
//! carries over from one message to the next, and a message is compressed in one call,
//! so every connection on a thread can use the same compressor, reset after each
//! message. A connection then holds no compressor at all, and a broadcast is
//! compressed once for every member that can take it.

use std::cell::RefCell;

use zlib_rs::{DeflateFlush, Method, Strategy};

/// What a compressor is made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) window_bits: u8,
    pub(crate) level: u32,
    pub(crate) mem_level: u8,
}

impl Settings {
    /// A fresh raw-deflate compressor with these settings.
    pub(crate) fn compressor(self) -> zlib_rs::Deflate {
        zlib_rs::Deflate::new_with_config(zlib_rs::DeflateConfig {
            level: self.level as i32,
            method: Method::Deflated,
            // Negative: a raw deflate stream, without zlib's header.
            window_bits: -i32::from(self.window_bits),
            mem_level: i32::from(self.mem_level),
            strategy: Strategy::Default,
        })
    }
}

thread_local! {
    /// This thread's compressor and the settings it was made with.
    static SHARED: RefCell<Option<(Settings, Box<zlib_rs::Deflate>)>> = const { RefCell::new(None) };
    /// Where messages are compressed before they are framed.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The most a thread's scratch buffer keeps between messages.
const SCRATCH_KEPT: usize = 64 << 10;

/// Runs `f` with this thread's scratch buffer, so that no connection keeps one.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let result = f(&mut scratch);
        // Keep a modest buffer for the next message, not the largest one seen.
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        result
    })
}

/// Compresses one whole message into `out` (cleared first) with this thread's
/// compressor, as a message that refers to nothing before it; the sync flush's tail
/// is left on (see [`compress_into`]).
pub(crate) fn compress_standalone(settings: Settings, payload: &[u8], out: &mut Vec<u8>) {
    SHARED.with(|shared| {
        let mut shared = shared.borrow_mut();
        let compressor = match &mut *shared {
            Some((made_with, compressor)) if *made_with == settings => compressor,
            slot => &mut slot.insert((settings, Box::new(settings.compressor()))).1,
        };
        compress_into(compressor, payload, out);
        compressor.reset();
    });
}

/// Compresses `payload` with a sync flush into `out` (cleared first): the flush's
/// 4-byte tail (`00 00 ff ff`) ends it.
pub(crate) fn compress_into(compressor: &mut zlib_rs::Deflate, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let start = compressor.total_in();
    let mut room = payload.len() / 2 + 64;
    loop {
        let consumed = (compressor.total_in() - start) as usize;
        let filled = out.len();
        out.resize(filled + room, 0);
        let before = compressor.total_out();
        // Only a misuse of the stream makes deflate fail; ours is always valid.
        compressor
            .compress(
                &payload[consumed..],
                &mut out[filled..],
                DeflateFlush::SyncFlush,
            )
            .expect("deflate rejected a valid stream");
        let produced = (compressor.total_out() - before) as usize;
        out.truncate(filled + produced);
        let done = compressor.total_in() - start == payload.len() as u64;
        // The flush is complete once deflate stopped short of the room it had.
        if done && produced < room {
            return;
        }
        room = room.max(1024) * 2;
    }
}
