//! The Autobahn test agent (see `autobahn_client`) built on the blocking API, so that
//! kosoku's fuzzing server checks `wsock::blocking::Conn` as well.
//!
//! `cargo run --release --example autobahn_client_blocking -- ws://127.0.0.1:9001 wsock-blocking`

use wsock::{Client, CloseCode, DeflateConfig, Message};

fn main() -> wsock::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args.next().unwrap_or_else(|| "wsock-blocking".to_owned());

    let mut ws = Client::new(format!("{base}/getCaseCount")).connect_blocking()?;
    let count: u32 = match ws.recv()? {
        Some(Message::Text(text)) => text.trim().parse().unwrap_or(0),
        _ => 0,
    };
    ws.close(CloseCode::NORMAL, "").ok();
    eprintln!("running {count} cases as agent {agent}");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        // The same offers as the async agent; see autobahn_client.rs for why.
        let plain = DeflateConfig::default().threshold(0);
        let mut lean = plain.clone();
        lean.client_no_context_takeover = true;
        match Client::new(url)
            .deflate_offers([plain, lean])
            .connect_blocking()
        {
            Ok(mut ws) => {
                // Protocol errors are what many cases test for; the server judges them.
                while let Ok(Some(message)) = ws.recv() {
                    if ws.send(message).is_err() {
                        break;
                    }
                }
            }
            Err(error) => eprintln!("case {case}: {error}"),
        }
    }

    let mut ws = Client::new(format!("{base}/updateReports?agent={agent}")).connect_blocking()?;
    ws.close(CloseCode::NORMAL, "").ok();
    Ok(())
}
