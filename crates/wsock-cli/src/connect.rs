use std::fmt::Write as _;
use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, BufReader};
use wsock::{Client, CloseCode, DeflateConfig, Error, Message};

/// Arguments of `wsock connect`.
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// The WebSocket URL, e.g. ws://127.0.0.1:12345/echo.
    url: String,
    /// Origin header to send.
    #[arg(long)]
    origin: Option<String>,
    /// Subprotocol to offer (repeatable, most preferred first).
    #[arg(long = "protocol", value_name = "NAME")]
    protocols: Vec<String>,
    /// Extra header, as 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Do not offer permessage-deflate (offered by default).
    #[arg(long)]
    no_deflate: bool,
    /// For wss://, trust only the CA certificates in this PEM file (by default the
    /// webpki roots are trusted).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Tunnel through this HTTP proxy (`http://[user:password@]host:port`); by default
    /// the https_proxy/http_proxy/no_proxy environment variables decide.
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    proxy: Option<String>,
    /// Connect directly, ignoring the proxy environment variables.
    #[arg(long)]
    no_proxy: bool,
}

pub async fn run(args: ConnectArgs) -> wsock::Result<()> {
    let mut client = Client::new(args.url.clone());
    if let Some(origin) = args.origin {
        client = client.origin(origin);
    }
    for protocol in args.protocols {
        client = client.protocol(protocol);
    }
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| Error::InvalidHeader(header.clone()))?;
        client = client.header(name.trim(), value.trim());
    }
    if !args.no_deflate {
        client = client.deflate(DeflateConfig::default());
    }
    if let Some(ca) = &args.ca {
        client = client.tls(wsock::tls::ClientTls::from_ca_file(ca)?);
    }
    if let Some(proxy) = &args.proxy {
        client = client.proxy(wsock::proxy::Proxy::new(proxy)?);
    }
    if args.no_proxy {
        client = client.no_proxy();
    }
    let ws = client.connect().await?;
    let mut notes = Vec::new();
    if let Some(protocol) = ws.protocol() {
        notes.push(format!("subprotocol {protocol}"));
    }
    if ws.is_compressed() {
        notes.push("permessage-deflate".to_owned());
    }
    match notes.is_empty() {
        true => eprintln!("connected to {}", args.url),
        false => eprintln!("connected to {} ({})", args.url, notes.join(", ")),
    }
    let (mut incoming, mut outgoing) = ws.split();
    let mut printer = tokio::spawn(async move {
        while let Some(message) = incoming.recv().await? {
            println!("{}", describe(&message));
        }
        Ok::<_, Error>(())
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => outgoing.send(Message::text(line)).await?,
                None => {
                    outgoing.close(CloseCode::NORMAL, "").await?;
                    break;
                }
            },
            // The server closed first (or the connection failed).
            done = &mut printer => return finished(done),
        }
    }
    finished(printer.await)
}

fn finished(done: Result<wsock::Result<()>, tokio::task::JoinError>) -> wsock::Result<()> {
    done.map_err(|e| Error::Io(std::io::Error::other(e)))?
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => text.to_string(),
        other => {
            let payload = other.payload();
            let mut line = format!("[binary, {} bytes]", payload.len());
            for byte in payload.iter().take(64) {
                let _ = write!(line, " {byte:02x}");
            }
            if payload.len() > 64 {
                line.push_str(" ...");
            }
            line
        }
    }
}
