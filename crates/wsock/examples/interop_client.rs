//! A scripted conversation with a peer's echo server, used by the interop tests against
//! Python `websockets` and Node `ws` (tests/interop/). Exits non-zero, saying what
//! differed, unless every check passes.
//!
//! The peer at `BASE/echo` echoes, answers the text "ping-me" by pinging us and then
//! sending "pong-ok", and closes `BASE/close-me` at once with 4002 "server bye".
//! With `--deflate` the client offers permessage-deflate and checks it was accepted.
//!
//! `cargo run --example interop_client -- ws://127.0.0.1:8765 [--deflate]`

use wsock::{Client, CloseCode, CloseFrame, Config, DeflateConfig, Limits, Message};

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}"))
    }
}

fn client(url: String, deflate: bool) -> Client {
    let mut limits = Limits::default();
    limits.max_frame_size = 32 << 20;
    // Servers configured with subprotocols (websockets) refuse clients offering none.
    let client = Client::new(url)
        .protocol("superchat")
        .protocol("chat")
        .config(Config::default().with_limits(limits));
    match deflate {
        true => client.deflate(DeflateConfig::default()),
        false => client,
    }
}

async fn run(base: &str, deflate: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut ws = client(format!("{base}/echo"), deflate).connect().await?;
    check(
        ws.protocol() == Some("chat"),
        "the server chose the offered subprotocol chat",
    )?;
    check(
        ws.is_compressed() == deflate,
        &format!("permessage-deflate negotiated: {deflate}"),
    )?;

    for len in [0usize, 125, 126, 65535, 65536, 16 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(Message::binary(data.clone())).await?;
        let echoed = ws.recv().await? == Some(Message::binary(data));
        check(echoed, &format!("binary echo of {len} bytes"))?;
        let text = "ü".repeat(len / 2);
        ws.send(Message::text(text.clone())).await?;
        let echoed = ws.recv().await? == Some(Message::text(text));
        check(echoed, &format!("text echo of {len} bytes"))?;
    }

    ws.ping(&b"from-wsock"[..]).await?;
    ws.send(Message::text("ping-me")).await?;
    let reply = ws.recv().await?;
    check(
        reply.as_ref().and_then(Message::as_text) == Some("pong-ok"),
        "the peer's ping was answered with its payload",
    )?;

    ws.close(CloseCode(4001), "bye").await?;
    let echoed = ws.peer_close_frame().cloned().flatten().map(|f| f.code);
    check(
        echoed == Some(CloseCode(4001)),
        "the peer echoed our close code",
    )?;

    let mut ws = client(format!("{base}/close-me"), deflate)
        .connect()
        .await?;
    check(
        ws.recv().await?.is_none(),
        "a server-initiated close ends the stream",
    )?;
    let frame = ws.peer_close_frame().cloned().flatten();
    check(
        frame == Some(CloseFrame::new(CloseCode(4002), "server bye")),
        "the server's close code and reason arrived",
    )?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8765".to_owned());
    let deflate = args.any(|arg| arg == "--deflate");
    if let Err(error) = run(&base, deflate).await {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
