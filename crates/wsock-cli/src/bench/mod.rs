//! `wsock bench URL`: a load generator for echo servers. Each connection keeps
//! `--pipeline` messages in flight, checks every echo byte for byte, and times each
//! round trip; the summary gives messages/s, MiB/s and latency percentiles.
//!
//! It runs on one thread by default (pin it with `taskset`), and replaces every echo
//! with a new message at once, but writes the replacements for all the replies one
//! read brought with one write (wsock's write batching): a server that answers a
//! batch with one write is measured at its batched cost, not at one system call per
//! message. It reports its own CPU time, so that a run can show whether the server
//! or the generator was the limit.
//!
//! That is a closed loop, which measures how much a server can carry. `--rate` makes
//! it an open loop at a fixed pace (`paced.rs`), which measures how quickly a server
//! answers under a given load.

mod paced;
mod storm;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use hdrhistogram::Histogram;
use serde::Serialize;
use wsock::{Client, CloseCode, Config, DeflateConfig, Error, Limits, Message};

/// Arguments of `wsock bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// The echo server's URL, e.g. ws://127.0.0.1:12345/echo.
    url: String,
    /// Concurrent connections.
    #[arg(short, long, default_value_t = 1)]
    connections: usize,
    /// Payload bytes per message.
    #[arg(short, long, default_value_t = 16)]
    size: usize,
    /// Run this many seconds (after every connection is open).
    #[arg(
        short,
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        conflicts_with = "messages"
    )]
    duration: f64,
    /// Stop after this many echoes in total instead of after --duration.
    #[arg(short, long)]
    messages: Option<u64>,
    /// Messages in flight per connection (with --rate, the most in flight at once).
    #[arg(short, long, default_value_t = 1)]
    pipeline: usize,
    /// Send this many messages per second over all connections, at an even pace,
    /// instead of replacing each echo at once: round-trip times under a known load.
    /// Give --pipeline room for the load, e.g. 64.
    #[arg(long, value_name = "MSGS_PER_SEC", value_parser = positive_rate)]
    rate: Option<f64>,
    /// Send text messages (valid UTF-8) instead of binary ones.
    #[arg(long, conflicts_with = "binary")]
    text: bool,
    /// Send binary messages (the default).
    #[arg(long)]
    binary: bool,
    /// Offer permessage-deflate and fail if the server declines it.
    #[arg(long)]
    deflate: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Worker threads (1: a single-threaded runtime, the cheapest per message).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// For wss://, open every connection as a stream of one HTTP/2 connection
    /// (RFC 8441), falling back to HTTP/1.1 if the server does not offer it.
    #[arg(long)]
    http2: bool,
    /// For wss://, trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "PEM")]
    ca: Option<std::path::PathBuf>,
    /// A connection storm instead of echoes: open --connections WebSockets as fast as
    /// possible, --concurrency handshakes at a time, keep them all open until the last
    /// is, then drop them; the summary gives handshakes per second and their times.
    #[arg(long, conflicts_with_all = ["messages", "pipeline", "deflate", "rate"])]
    connect_only: bool,
    /// With --connect-only, handshakes in flight at once.
    #[arg(long, default_value_t = 64, requires = "connect_only")]
    concurrency: usize,
}

/// The summary of a run.
#[derive(Serialize)]
struct Summary {
    connections: usize,
    size: usize,
    pipeline: usize,
    messages: u64,
    seconds: f64,
    messages_per_second: f64,
    mib_per_second: f64,
    latency_us: Latency,
    /// The generator's own CPU time over the run, as a share of one core.
    generator_cpu: f64,
    /// With --rate: the messages per second offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    /// With --rate: messages that fell due while --pipeline were already in flight,
    /// and so waited untimed for a reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    held_back: Option<u64>,
}

/// Percentiles of times in microseconds.
#[derive(Serialize)]
struct Latency {
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

impl Latency {
    /// `  WHAT: p50 … µs, p90 … µs, p99 … µs, max … µs`, for the human summary.
    fn line(&self, what: &str) -> String {
        format!(
            "  {what}: p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
            self.p50, self.p90, self.p99, self.max
        )
    }

    fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            max: histogram.max(),
        }
    }
}

/// What every connection shares.
struct Shared {
    args: BenchArgs,
    /// Echoes checked so far, over all connections.
    done: AtomicU64,
    /// With --rate: messages sent late because the connection's pipeline was full.
    held_back: AtomicU64,
    /// When the measured part ends (set once every connection is open).
    deadline: std::sync::OnceLock<Instant>,
}

pub fn run(args: BenchArgs) -> wsock::Result<()> {
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    let json = args.json;
    if args.connect_only {
        let summary = runtime.block_on(storm::drive(&args, client(&args)?))?;
        storm::print(&summary, json);
        return Ok(());
    }
    let summary = runtime.block_on(drive(args))?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&summary).expect("the summary serializes")
        );
    } else {
        print_summary(&summary);
    }
    Ok(())
}

async fn drive(args: BenchArgs) -> wsock::Result<Summary> {
    let connections = args.connections.max(1);
    let shared = Arc::new(Shared {
        args,
        done: AtomicU64::new(0),
        held_back: AtomicU64::new(0),
        deadline: std::sync::OnceLock::new(),
    });
    let client = client(&shared.args)?;
    let mut sockets = Vec::with_capacity(connections);
    for _ in 0..connections {
        sockets.push(connect(&shared.args, &client).await?);
    }
    let progress = progress_bar(&shared.args);
    let cpu_before = cpu_time();
    let started = Instant::now();
    let duration = Duration::from_secs_f64(shared.args.duration.max(0.001));
    let _ = shared.deadline.set(started + duration);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, ws) in sockets.into_iter().enumerate() {
        let index = index as u64;
        match shared.args.rate {
            Some(rate) => tasks.spawn(paced::connection(ws, index, shared.clone(), rate)),
            None => tasks.spawn(connection(ws, index, shared.clone())),
        };
    }
    let mut histogram = Histogram::<u64>::new(3).expect("3 significant figures are valid");
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let mut failure = None;
    loop {
        tokio::select! {
            finished = tasks.join_next() => match finished {
                Some(Ok(Ok(latencies))) => histogram.add(&latencies).expect("same bounds"),
                Some(Ok(Err(error))) => { failure.get_or_insert(error); }
                Some(Err(panicked)) => { failure.get_or_insert(Error::Io(std::io::Error::other(panicked))); }
                None => break,
            },
            _ = ticker.tick() => if let Some(bar) = &progress {
                bar.set_position(shared.done.load(Ordering::Relaxed));
            },
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_time().saturating_sub(cpu_before).as_secs_f64();
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let messages = shared.done.load(Ordering::Relaxed);
    let args = &shared.args;
    Ok(Summary {
        connections,
        size: args.size,
        pipeline: args.pipeline.max(1),
        messages,
        seconds,
        messages_per_second: messages as f64 / seconds,
        mib_per_second: (messages as f64 * args.size as f64) / seconds / (1 << 20) as f64,
        latency_us: Latency::of(&histogram),
        generator_cpu: cpu / seconds,
        rate: args.rate,
        held_back: args.rate.map(|_| shared.held_back.load(Ordering::Relaxed)),
    })
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate: give messages per second as a positive number, e.g. 10000"
        )),
    }
}

/// The client every connection is a clone of, so that with `--http2` they share one
/// HTTP/2 connection.
pub(crate) fn client(args: &BenchArgs) -> wsock::Result<Client> {
    let mut limits = Limits::default();
    limits.max_message_size = limits.max_message_size.max(args.size + 1);
    limits.max_frame_size = limits.max_frame_size.max(args.size + 1);
    let mut client = Client::new(&args.url)
        .no_proxy()
        .config(Config::default().with_limits(limits))
        .http2(args.http2);
    if args.deflate {
        client = client.deflate(DeflateConfig::default());
    }
    if let Some(ca) = &args.ca {
        client = client.tls(wsock::tls::ClientTls::from_ca_file(ca)?);
    }
    Ok(client)
}

async fn connect(args: &BenchArgs, client: &Client) -> wsock::Result<wsock::WebSocket> {
    let ws = client.clone().connect().await?;
    if args.deflate && !ws.is_compressed() {
        return Err(Error::Io(std::io::Error::other(
            "the server declined permessage-deflate (--deflate asks for it)",
        )));
    }
    Ok(ws)
}

/// One connection's loop: keeps `pipeline` messages in flight until the run ends,
/// then drains and closes. Returns its round-trip times in microseconds.
async fn connection(
    mut ws: wsock::WebSocket,
    index: u64,
    shared: Arc<Shared>,
) -> wsock::Result<Histogram<u64>> {
    let args = &shared.args;
    let deadline = *shared.deadline.get().expect("set before the tasks start");
    let mut histogram = Histogram::<u64>::new(3).expect("3 significant figures are valid");
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::with_capacity(args.pipeline);
    let mut next = 0u64;
    let mut stopping = false;
    let payloads = Payloads::new(args.size, args.text);
    let pipeline = args.pipeline.max(1);
    // Fill the pipeline with one write.
    while in_flight.len() < pipeline {
        let seq = index << 40 | next;
        next += 1;
        ws.feed(payloads.message(seq)).await?;
        in_flight.push_back((seq, Instant::now()));
    }
    ws.flush().await?;
    while let Some((seq, sent)) = in_flight.pop_front() {
        let reply = ws.recv().await?;
        check_echo(&payloads, seq, reply.as_ref())?;
        // One clock read per message: it times this echo, checks the deadline and
        // stamps the message that replaces it.
        let now = Instant::now();
        histogram
            .record(now.duration_since(sent).as_micros() as u64)
            .expect("the histogram grows to fit");
        let done = shared.done.fetch_add(1, Ordering::Relaxed) + 1;
        let over = match args.messages {
            Some(total) => done >= total,
            None => now >= deadline,
        };
        stopping |= over;
        if !stopping {
            // Replace the echo at once. While more replies are already buffered,
            // wsock's write batching holds this message back until the next `recv`
            // would wait, so every batch of replies read costs one write, as a
            // batching server's replies do, and the server sees batches, not single
            // messages.
            let seq = index << 40 | next;
            next += 1;
            ws.send(payloads.message(seq)).await?;
            in_flight.push_back((seq, now));
        }
    }
    ws.close(CloseCode::NORMAL, "").await?;
    Ok(histogram)
}

/// An error unless `reply` is exactly message `seq` (`None`: the connection closed).
fn check_echo(payloads: &Payloads, seq: u64, reply: Option<&Message>) -> wsock::Result<()> {
    let Some(reply) = reply else {
        return Err(Error::Io(std::io::Error::other(
            "the server closed the connection mid-run",
        )));
    };
    if payloads.matches(seq, reply) {
        return Ok(());
    }
    Err(Error::Io(std::io::Error::other(format!(
        "echo {seq} differs from what was sent ({} bytes back)",
        reply.payload().len()
    ))))
}

/// Messages that carry their sequence number in hex (as many digits as fit) over a
/// fixed filler, so that every echo can be checked against what was sent without
/// keeping copies or formatting anything per message.
struct Payloads {
    filler: Vec<u8>,
    text: bool,
}

impl Payloads {
    fn new(size: usize, text: bool) -> Self {
        Self {
            filler: b"wsock-bench-".iter().copied().cycle().take(size).collect(),
            text,
        }
    }

    /// The payload of message `seq`.
    fn payload(&self, seq: u64) -> bytes::BytesMut {
        let mut payload = bytes::BytesMut::from(&self.filler[..]);
        let digits = payload.len().min(16);
        for (i, byte) in payload[..digits].iter_mut().enumerate() {
            let nibble = (seq >> (4 * (15 - i))) & 0xf;
            *byte = b"0123456789abcdef"[nibble as usize];
        }
        payload
    }

    fn message(&self, seq: u64) -> Message {
        let payload = self.payload(seq).freeze();
        if self.text {
            // Hex digits and the ASCII filler are valid UTF-8.
            Message::text(wsock::Utf8Bytes::try_from_bytes(payload).expect("ASCII"))
        } else {
            Message::binary(payload)
        }
    }

    /// Whether `reply` is exactly message `seq`, of the same kind.
    fn matches(&self, seq: u64, reply: &Message) -> bool {
        let kind_ok = matches!(
            (reply, self.text),
            (Message::Text(_), true) | (Message::Binary(_), false)
        );
        let got = reply.payload();
        let digits = self.filler.len().min(16);
        let number_ok = got.len() == self.filler.len()
            && got[..digits].iter().enumerate().all(|(i, byte)| {
                let nibble = (seq >> (4 * (15 - i))) & 0xf;
                *byte == b"0123456789abcdef"[nibble as usize]
            });
        kind_ok && number_ok && got[digits..] == self.filler[digits..]
    }
}

fn progress_bar(args: &BenchArgs) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if args.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match args.messages {
        Some(total) => indicatif::ProgressBar::new(total),
        None => indicatif::ProgressBar::no_length(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed} {pos} echoes ({per_sec})")
            .expect("a valid template"),
    );
    Some(bar)
}

fn print_summary(summary: &Summary) {
    println!(
        "{} connections × {} B, {}{} in flight each: {} echoes in {:.2} s",
        summary.connections,
        summary.size,
        if summary.rate.is_some() {
            "at most "
        } else {
            ""
        },
        summary.pipeline,
        summary.messages,
        summary.seconds
    );
    println!(
        "  {:.0} messages/s, {:.2} MiB/s",
        summary.messages_per_second, summary.mib_per_second
    );
    println!("{}", summary.latency_us.line("round trip"));
    if let (Some(rate), Some(held_back)) = (summary.rate, summary.held_back) {
        println!("  offered {rate:.0} messages/s");
        if held_back > 0 {
            println!(
                "  {held_back} messages waited for a free place in the pipeline, untimed: \
                 raise --pipeline, or the server cannot carry this rate"
            );
        }
    }
    println!(
        "  generator CPU: {:.0}% of one core{}",
        summary.generator_cpu * 100.0,
        if summary.generator_cpu > 0.9 {
            " (the generator may be the limit: add --threads or pin it to its own core)"
        } else {
            ""
        }
    );
}

/// This process's user and system CPU time.
pub(crate) fn cpu_time() -> Duration {
    // std has no getrusage, and libc is not worth adding for it: read /proc.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which may contain spaces, end with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 1000 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> u64 {
    // Linux has used 100 for user-visible clock ticks on every architecture for
    // decades; sysconf would need libc for the same answer.
    100
}
