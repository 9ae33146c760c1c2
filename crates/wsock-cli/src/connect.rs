use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, BufReader};
use wsock::{Client, CloseCode, DeflateConfig, Error, HandshakeError, Message};

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
    /// Tunnel through this proxy: `http://`, `socks5://` (names resolved here) or
    /// `socks5h://` (names resolved by the proxy), then `[user:password@]host[:port]`.
    /// By default the https_proxy/http_proxy/all_proxy/no_proxy environment variables
    /// decide.
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    proxy: Option<String>,
    /// Connect directly, ignoring the proxy environment variables.
    #[arg(long)]
    no_proxy: bool,
    /// For wss://, open the WebSocket as a stream of an HTTP/2 connection (RFC 8441),
    /// falling back to HTTP/1.1 if the server does not offer it.
    #[arg(long)]
    http2: bool,
    /// Print text messages as they are, control characters included. By default, when
    /// stdout is a terminal, control characters are shown escaped (`\x1b`), so that a
    /// server cannot clear the screen, set the title or write the clipboard.
    #[arg(long)]
    raw: bool,
}

impl ConnectArgs {
    /// Whether the user gave an `Origin` to send.
    pub fn sends_origin(&self) -> bool {
        self.origin.is_some()
    }
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
    client = client.http2(args.http2);
    if let Some(proxy) = &args.proxy {
        client = client.proxy(wsock::proxy::Proxy::new(proxy)?);
    }
    if args.no_proxy {
        client = client.no_proxy();
    }
    let ws = client.connect().await?;
    let mut notes = Vec::new();
    if ws.get_ref().is_http2() {
        notes.push("over HTTP/2".to_owned());
    }
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
    let escape = !args.raw && std::io::stdout().is_terminal();
    let (mut incoming, mut outgoing) = ws.split();
    let mut printer = tokio::spawn(async move {
        while let Some(message) = incoming.recv().await? {
            println!("{}", describe(&message, escape));
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

/// The error in words, with what to try when the server answered 403: that most often
/// means it checks `Origin`, and some servers want one (Go's x/net/websocket refuses
/// requests without it) while others refuse ours.
pub fn explain(error: &Error, sent_origin: bool) -> String {
    let forbidden = matches!(
        error,
        Error::Handshake(HandshakeError::UnexpectedStatus { status }) if status.as_u16() == 403
    );
    match (forbidden, sent_origin) {
        (false, _) => error.to_string(),
        (true, false) => format!(
            "{error}; the server may want an Origin header: try --origin http://HOST/ with the server's host"
        ),
        (true, true) => format!(
            "{error}; the server refused this Origin: try --origin with the server's own scheme and host"
        ),
    }
}

/// What a message looks like on one line; with `escape`, control characters in text
/// are shown as `\x1b` and the like instead of being sent to the terminal.
fn describe(message: &Message, escape: bool) -> String {
    match message {
        Message::Text(text) if escape => escape_controls(text),
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

/// `text` with every control character (C0, DEL, C1) written as `\xNN`.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let hostile = "hi\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{9b}31m\r\nnext ☃\t";
        assert_eq!(
            escape_controls(hostile),
            "hi\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J\\x9b31m\\x0d\\x0anext ☃\\x09"
        );
        let message = Message::text(hostile);
        assert_eq!(describe(&message, false), hostile);
        assert!(!describe(&message, true).chars().any(char::is_control));
    }
}
