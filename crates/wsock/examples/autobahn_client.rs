//! The test agent for the Autobahn fuzzing server (kosoku's `fuzzingserver` mode):
//! asks for the number of cases, runs each one by echoing every message, then asks
//! the server to write its reports.
//!
//! `cargo run --release --example autobahn_client -- ws://127.0.0.1:9001 wsock`

use wsock::{Client, CloseCode, DeflateConfig, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> wsock::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args.next().unwrap_or_else(|| "wsock".to_owned());

    let mut ws = Client::new(format!("{base}/getCaseCount"))
        .connect()
        .await?;
    let count: u32 = match ws.recv().await? {
        Some(Message::Text(text)) => text.trim().parse().unwrap_or(0),
        _ => 0,
    };
    ws.close(CloseCode::NORMAL, "").await.ok();
    eprintln!("running {count} cases as agent {agent}");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        // Threshold 0: kosoku's fuzzing server errors on uncompressed text inside a
        // deflate session (docs/conformance.md), which RFC 7692 allows.
        // The second offer, promising not to keep context, is what cases 13.2, 13.5
        // and 13.6 accept.
        let plain = DeflateConfig::default().threshold(0);
        let mut lean = plain.clone();
        lean.client_no_context_takeover = true;
        match Client::new(url)
            .deflate_offers([plain, lean])
            .connect()
            .await
        {
            Ok(mut ws) => {
                // Protocol errors are what many cases test for; the server judges them.
                while let Ok(Some(message)) = ws.recv().await {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            }
            Err(error) => eprintln!("case {case}: {error}"),
        }
    }

    let mut ws = Client::new(format!("{base}/updateReports?agent={agent}"))
        .connect()
        .await?;
    ws.close(CloseCode::NORMAL, "").await.ok();
    Ok(())
}
