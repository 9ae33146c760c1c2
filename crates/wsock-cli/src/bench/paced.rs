//! `wsock bench --rate N`: an open loop. Messages leave at a fixed pace, N per second
//! over all connections, whatever the server's speed, so the round-trip times are those
//! of a server under a known load rather than of one kept saturated; between servers
//! that can all carry the load, that is the fair comparison of their latency. In the
//! closed loop (no `--rate`), the tail is mostly the queue in front of whichever side
//! is slower, and the faster server can look worse.
//!
//! `--pipeline` becomes the most messages a connection keeps in flight. A message due
//! while that many are in flight waits for a reply; the summary counts these as held
//! back, since their wait is not timed (each echo is timed from when it was sent).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use hdrhistogram::Histogram;

use super::{check_echo, Payloads, Shared};

/// One connection's share of the load: message k is due `k` intervals after the
/// connection's start, and the connections' starts are spread over one interval so
/// that the whole run sends at an even pace.
pub(super) async fn connection(
    mut ws: wsock::WebSocket,
    index: u64,
    shared: Arc<Shared>,
    rate: f64,
) -> wsock::Result<Histogram<u64>> {
    let args = &shared.args;
    let deadline = *shared.deadline.get().expect("set before the tasks start");
    let connections = args.connections.max(1) as f64;
    let interval = Duration::from_secs_f64(connections / rate);
    let cap = args.pipeline.max(1);
    let payloads = Payloads::new(args.size, args.text);
    let mut histogram = Histogram::<u64>::new(3).expect("3 significant figures are valid");
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::with_capacity(cap);
    let mut due = Instant::now() + interval.mul_f64(index as f64 / connections);
    // When a reply last freed a place in a full pipeline. A message due before then
    // was held back: had a place been free when it fell due, it would have been sent
    // then, and no later message can have filled the pipeline before it.
    let mut cap_freed_at: Option<Instant> = None;
    let mut next = 0u64;
    let mut stopping = false;
    loop {
        let now = Instant::now();
        stopping |= match args.messages {
            Some(total) => shared.done.load(Ordering::Relaxed) >= total,
            None => now >= deadline,
        };
        if !stopping {
            let mut queued = false;
            while due <= now {
                if in_flight.len() >= cap {
                    break;
                }
                if cap_freed_at.is_some_and(|freed| due < freed) {
                    shared.held_back.fetch_add(1, Ordering::Relaxed);
                }
                let seq = index << 40 | next;
                next += 1;
                ws.feed(payloads.message(seq)).await?;
                in_flight.push_back((seq, Instant::now()));
                due += interval;
                queued = true;
            }
            if queued {
                ws.flush().await?;
            }
        }
        if stopping && in_flight.is_empty() {
            break;
        }
        let wait_for_due = !stopping && in_flight.len() < cap;
        tokio::select! {
            biased;
            reply = ws.recv() => {
                let reply = reply?;
                let (seq, sent) = in_flight.pop_front().ok_or_else(|| std::io::Error::other(
                    "the server sent a message that was not an echo of one in flight",
                ))?;
                check_echo(&payloads, seq, reply.as_ref())?;
                if in_flight.len() + 1 == cap {
                    cap_freed_at = Some(Instant::now());
                }
                histogram
                    .record(sent.elapsed().as_micros() as u64)
                    .expect("the histogram grows to fit");
                shared.done.fetch_add(1, Ordering::Relaxed);
            }
            () = tokio::time::sleep_until(due.into()), if wait_for_due => {}
        }
    }
    ws.close(wsock::CloseCode::NORMAL, "").await?;
    Ok(histogram)
}
