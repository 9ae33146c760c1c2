//! Peers that misbehave at the transport level: resets, half-open connections,
//! slowloris. The server reports a clear error for the one connection and goes on
//! serving everyone else.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsock::{AcceptOptions, Error, Server};

/// An echo server whose handler reports how each connection ended.
async fn reporting_server(
    options: AcceptOptions,
) -> (SocketAddr, mpsc::UnboundedReceiver<Result<(), String>>) {
    let (report, outcomes) = mpsc::unbounded_channel();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .options(options)
        .route("/echo", move |ws| {
            let report = report.clone();
            async move {
                let outcome = echo(ws).await;
                let _ = report.send(outcome.as_ref().map(|_| ()).map_err(describe));
                outcome
            }
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    (addr, outcomes)
}

fn describe(error: &Error) -> String {
    match error {
        Error::AbnormalClosure => "abnormal closure".into(),
        Error::Io(io) => format!("io: {:?}", io.kind()),
        other => other.to_string(),
    }
}

/// Drops `stream` with SO_LINGER 0, so the peer sees a TCP reset rather than a FIN.
fn reset(stream: TcpStream) {
    // Deprecated because a non-zero linger blocks on drop; zero never blocks.
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

#[tokio::test]
async fn reset_in_the_middle_of_a_frame() {
    let (addr, mut outcomes) = reporting_server(AcceptOptions::default()).await;
    let mut stream = raw_websocket(addr).await;
    let frame = client_frame(0x82, &[7u8; 1000]);
    stream.write_all(&frame[..500]).await.unwrap();
    reset(stream);
    let outcome = bounded(outcomes.recv()).await.unwrap();
    assert!(
        matches!(
            outcome.as_ref().map_err(String::as_str),
            Err("io: ConnectionReset" | "abnormal closure")
        ),
        "{outcome:?}"
    );
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn reset_in_the_middle_of_the_handshake() {
    let (addr, _outcomes) = reporting_server(AcceptOptions::default()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpg")
        .await
        .unwrap();
    reset(stream);
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn half_open_peer_is_an_abnormal_closure_and_gets_closed() {
    let (addr, mut outcomes) = reporting_server(AcceptOptions::default()).await;
    let mut stream = raw_websocket(addr).await;
    stream
        .write_all(&client_frame(0x81, b"then silence"))
        .await
        .unwrap();
    // The peer stops sending (FIN) without a close frame but keeps its read side open.
    stream.shutdown().await.unwrap();
    let outcome = bounded(outcomes.recv()).await.unwrap();
    assert_eq!(outcome, Err("abnormal closure".to_owned()));
    // The echo that was already queued arrives, then the server closes its side.
    let mut rest = Vec::new();
    bounded(stream.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(&rest[..2], &[0x81, 12]);
    assert_still_serving(addr).await;
}

#[tokio::test]
async fn slowloris_handshake_is_timed_out() {
    let options = AcceptOptions::default().handshake_timeout(Duration::from_millis(300));
    let (addr, _outcomes) = reporting_server(options).await;
    let head = request_head(addr, "/echo", "");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // One byte every 20 ms: the whole head would take seconds.
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0;
    for byte in head.as_bytes() {
        ticks.tick().await;
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        // The server drops us once the timeout passes; a read then sees EOF or a reset.
        let mut probe = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            break;
        }
    }
    assert!(
        sent < head.len(),
        "the server waited for the whole slow head ({sent} bytes)"
    );
    assert_still_serving(addr).await;
}

/// A server that sends `total` bytes in 1 MiB messages to each client and reports how
/// that went.
async fn pushing_server(
    config: wsock::Config,
    total: usize,
) -> (SocketAddr, mpsc::UnboundedReceiver<Result<(), Error>>) {
    let (report, outcomes) = mpsc::unbounded_channel();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .options(AcceptOptions::default().config(config))
        .route("/echo", move |mut ws| {
            let report = report.clone();
            async move {
                let mut outcome = Ok(());
                for _ in 0..total >> 20 {
                    outcome = ws.send(wsock::Message::binary(vec![1u8; 1 << 20])).await;
                    if outcome.is_err() {
                        break;
                    }
                }
                let _ = report.send(outcome);
                Ok(())
            }
        });
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    (addr, outcomes)
}

#[tokio::test]
async fn a_peer_that_stops_reading_hits_the_write_timeout() {
    let timeout = Duration::from_millis(300);
    let config = wsock::Config::default().write_timeout(Some(timeout));
    let (addr, mut outcomes) = pushing_server(config, 256 << 20).await;
    let _silent = raw_websocket(addr).await;
    let outcome = bounded(outcomes.recv()).await.unwrap();
    match outcome {
        Err(Error::Timeout { what, after }) => {
            assert_eq!(after, timeout);
            assert!(what.contains("stopped reading"), "{what}");
        }
        other => panic!("expected a write timeout, got {other:?}"),
    }
    // Others are still served.
    let mut other = raw_websocket(addr).await;
    let mut header = [0u8; 2];
    bounded(other.read_exact(&mut header)).await.unwrap();
    assert_eq!(header, [0x82, 127], "a 1 MiB binary frame begins");
}

#[tokio::test]
async fn a_slow_reader_that_makes_progress_is_not_cut_off() {
    let timeout = Duration::from_millis(500);
    let config = wsock::Config::default().write_timeout(Some(timeout));
    let total = 32 << 20;
    let (addr, mut outcomes) = pushing_server(config, total).await;
    let mut stream = raw_websocket(addr).await;
    let started = std::time::Instant::now();
    let mut received = 0;
    let mut chunk = vec![0u8; 256 << 10];
    // Reads a chunk every 10 ms: the transfer outlasts the timeout, but never stalls
    // for that long (the kernel wakes a writer only once half its queue is taken, so
    // the pace must leave room for that).
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    while received < total {
        ticks.tick().await;
        let n = bounded(stream.read(&mut chunk)).await.unwrap();
        if n == 0 {
            let outcome = outcomes.try_recv();
            panic!("the server dropped a reader that was keeping up after {received} bytes: {outcome:?}");
        }
        received += n;
    }
    let outcome = bounded(outcomes.recv()).await.unwrap();
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(
        started.elapsed() > timeout * 2,
        "the reader was not slow enough to tell"
    );
}
