//! A scripted conversation with a peer's echo server, used by the interop tests against
//! Python `websockets` (tests/interop/). Exits non-zero, saying what differed, unless
//! every check passes.
//!
//! The peer at `BASE/echo` echoes, answers the text "ping-me" by pinging us and then
//! sending "pong-ok", and closes `BASE/close-me` at once with 4002 "server bye".
//!
//! `cargo run --example interop_client -- ws://127.0.0.1:8765`

use wsock::{Client, CloseCode, CloseFrame, Config, Limits, Message};

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}"))
    }
}

async fn run(base: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut limits = Limits::default();
    limits.max_frame_size = 32 << 20;
    let mut ws = Client::new(format!("{base}/echo"))
        .protocol("superchat")
        .protocol("chat")
        .config(Config::default().with_limits(limits))
        .connect()
        .await?;
    check(
        ws.protocol() == Some("chat"),
        "the server chose the offered subprotocol chat",
    )?;

    for len in [0usize, 125, 126, 65535, 65536, 16 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(Message::binary(data.clone())).await?;
        check(
            ws.recv().await? == Some(Message::binary(data)),
            &format!("binary echo of {len} bytes"),
        )?;
        let text = "ü".repeat(len / 2);
        ws.send(Message::text(text.clone())).await?;
        check(
            ws.recv().await? == Some(Message::text(text)),
            &format!("text echo of {len} bytes"),
        )?;
    }

    ws.ping(&b"from-wsock"[..]).await?;
    ws.send(Message::text("ping-me")).await?;
    check(
        ws.recv().await?.as_ref().and_then(Message::as_text) == Some("pong-ok"),
        "the peer's ping was answered with its payload",
    )?;

    ws.close(CloseCode(4001), "bye").await?;
    check(
        ws.peer_close_frame().cloned().flatten().map(|f| f.code) == Some(CloseCode(4001)),
        "the peer echoed our close code",
    )?;

    // websockets refuses clients that offer no subprotocol when it is configured with some.
    let mut ws = Client::new(format!("{base}/close-me"))
        .protocol("chat")
        .connect()
        .await?;
    check(
        ws.recv().await?.is_none(),
        "a server-initiated close ends the stream",
    )?;
    check(
        ws.peer_close_frame().cloned().flatten()
            == Some(CloseFrame::new(CloseCode(4002), "server bye")),
        "the server's close code and reason arrived",
    )?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8765".to_owned());
    if let Err(error) = run(&base).await {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
