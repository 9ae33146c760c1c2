//! What the comparison servers share: the address from the command line and a
//! single-threaded runtime, so that each server gets one core (benches/compare.sh pins
//! it with taskset) and none pays for work stealing it cannot use.

use std::future::Future;

/// The listen address: the first argument, default 127.0.0.1:9001.
pub fn addr() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned())
}

/// Runs `server` on a current-thread runtime.
pub fn run<F: Future<Output = ()>>(server: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(server);
}
