//! `wsock`: a WebSocket echo server, chat server and client on the command line. Argument parsing
//! and printing only; the behaviour lives in the `wsock` library.

mod bench;
mod broadcast;
mod connect;
mod echo;
mod serve_metrics;
mod serve_tls;
mod signals;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};

/// WebSocket (RFC 6455) tools.
#[derive(Parser)]
#[command(name = "wsock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve an echo WebSocket (default ws://127.0.0.1:12345/echo).
    Echo(echo::EchoArgs),
    /// Serve a chat page at / and its rooms at /ws?room=NAME, shared across nodes with
    /// --redis.
    Broadcast(broadcast::BroadcastArgs),
    /// Load an echo server: many connections, messages in flight, every echo checked;
    /// prints messages/s, MiB/s and round-trip percentiles.
    Bench(bench::BenchArgs),
    /// Connect to a WebSocket, send each stdin line as a text message, print what
    /// arrives.
    Connect(connect::ConnectArgs),
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // The load generator picks its own runtime (one thread by default).
    let command = match cli.command {
        Command::Bench(args) => finish(bench::run(args)),
        command => command,
    };
    let threads = match &command {
        Command::Echo(args) => args.threads,
        _ => None,
    };
    let runtime = match threads {
        Some(0 | 1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
        None => tokio::runtime::Runtime::new(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => exit_with(&format!("cannot start the async runtime: {error}")),
    };
    let result = runtime.block_on(async {
        match command {
            Command::Echo(args) => echo::run(args).await.map_err(|e| e.to_string()),
            Command::Connect(args) => {
                let sent_origin = args.sends_origin();
                connect::run(args)
                    .await
                    .map_err(|e| connect::explain(&e, sent_origin))
            }
            Command::Broadcast(args) => broadcast::run(args).await.map_err(|e| e.to_string()),
            Command::Bench(_) => unreachable!("run before the runtime starts"),
        }
    });
    finish(result)
}

fn finish(result: Result<(), impl std::fmt::Display>) -> ! {
    match result {
        // Exit at once: a pending blocking read of stdin must not keep us alive.
        Ok(()) => std::process::exit(0),
        Err(error) => exit_with(&error.to_string()),
    }
}

fn exit_with(message: &str) -> ! {
    eprintln!("wsock: {message}");
    std::process::exit(1)
}
