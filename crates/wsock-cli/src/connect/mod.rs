//! `wsock connect`: a WebSocket client on the command line, like websocat and wscat.

mod input;
mod show;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use wsock::{
    Client, CloseCode, CloseFrame, Config, DeflateConfig, Error, HandshakeError, Keepalive,
    MaybeTlsStream, Message, ReadHalf, WebSocket,
};

use input::InputMode;
use show::Show;

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
    /// Send each line of stdin as a binary message (with --raw-stdin, all of stdin as
    /// one binary message). By default lines are text and must be UTF-8.
    #[arg(long)]
    binary: bool,
    /// Send all of stdin, up to its end, as one message rather than one per line.
    #[arg(long)]
    raw_stdin: bool,
    /// Print text messages that hold JSON indented over several lines.
    #[arg(long)]
    json: bool,
    /// Start each message printed with the UTC time it arrived (RFC 3339, ms).
    #[arg(long)]
    timestamps: bool,
    /// Exit after receiving N messages, closing with 1000. The end of stdin then does
    /// not close the connection.
    #[arg(short = 'n', long, value_name = "N")]
    count: Option<u64>,
    /// Ping the server after this many seconds of silence, and give up on it (1011)
    /// if it does not answer within as long again. Off by default.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    ping_interval: Option<u64>,
    /// When the connection drops or cannot be made, say so on stderr and connect again
    /// after a delay from 0.5 s doubling to 30 s (with jitter); give up after 10 failed
    /// attempts in a row. The input carries on where it was.
    #[arg(long)]
    reconnect: bool,
}

impl ConnectArgs {
    /// Whether the user gave an `Origin` to send.
    pub fn sends_origin(&self) -> bool {
        self.origin.is_some()
    }
}

pub async fn run(args: ConnectArgs) -> wsock::Result<()> {
    let client = client(&args)?;
    let show = Show {
        escape: !args.raw && std::io::stdout().is_terminal(),
        json: args.json,
        timestamps: args.timestamps,
    };
    let mode = InputMode {
        binary: args.binary,
        whole: args.raw_stdin,
    };
    let mut session = Session {
        input: input::spawn(tokio::io::stdin(), mode),
        input_open: true,
        keep_open_after_input: args.count.is_some(),
        remaining: args.count,
        show,
    };
    let sent_origin = args.origin.is_some();
    if !args.reconnect {
        let ws = client.connect().await?;
        announce(&args.url, &ws);
        return match session.run(ws).await? {
            Ended::InputFailed(error) => Err(Error::Io(error)),
            Ended::ByUs | Ended::ByServer(_) => Ok(()),
        };
    }
    // The library's defaults are the ones --reconnect documents: 0.5 s doubling to
    // 30 s with jitter, 10 failures in a row, a connection under 5 s a failure.
    let mut connections = client.reconnecting().on_retry(move |retry| {
        if let Some(error) = retry.error {
            eprintln!("{}", explain(error, sent_origin));
        }
        eprintln!(
            "reconnecting in {:.1} s (failures in a row: {} of {})",
            retry.delay.as_secs_f64(),
            retry.failures,
            retry.max_failures
        );
    });
    loop {
        let ws = connections.next().await?;
        announce(&args.url, &ws);
        match session.run(ws).await {
            Ok(Ended::ByUs) => return Ok(()),
            Ok(Ended::InputFailed(error)) => return Err(Error::Io(error)),
            Ok(Ended::ByServer(frame)) => eprintln!("{}", closed_by_server(frame)),
            Err(error) => eprintln!("{}", explain(&error, sent_origin)),
        }
    }
}

/// The client the arguments describe.
fn client(args: &ConnectArgs) -> wsock::Result<Client> {
    let mut client = Client::new(args.url.clone());
    if let Some(origin) = &args.origin {
        client = client.origin(origin.clone());
    }
    for protocol in &args.protocols {
        client = client.protocol(protocol.clone());
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
    if let Some(secs) = args.ping_interval {
        let mut keepalive = Keepalive::default();
        keepalive.ping_interval = Some(Duration::from_secs(secs));
        keepalive.pong_timeout = Duration::from_secs(secs);
        client = client.config(Config::default().keepalive(keepalive));
    }
    Ok(client)
}

/// Says on stderr what was connected, and how.
fn announce(url: &str, ws: &WebSocket) {
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
        true => eprintln!("connected to {url}"),
        false => eprintln!("connected to {url} ({})", notes.join(", ")),
    }
}

fn closed_by_server(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(frame) if frame.reason.is_empty() => {
            format!("the server closed the connection ({})", frame.code)
        }
        Some(frame) => format!(
            "the server closed the connection ({} {})",
            frame.code,
            show::escape_controls(&frame.reason, false)
        ),
        None => "the server closed the connection".to_owned(),
    }
}

/// How a connection ended.
enum Ended {
    /// We closed it: the input ended, or `--count` messages arrived.
    ByUs,
    /// The server closed it, with this close frame.
    ByServer(Option<CloseFrame>),
    /// Stdin could not be read or made into a message.
    InputFailed(std::io::Error),
}

/// What lasts across the connections of one `wsock connect`.
struct Session {
    input: mpsc::Receiver<std::io::Result<Message>>,
    input_open: bool,
    /// With `--count`, the end of input does not close the connection.
    keep_open_after_input: bool,
    remaining: Option<u64>,
    show: Show,
}

impl Session {
    /// Sends the input and prints what arrives until one side closes.
    async fn run(&mut self, ws: WebSocket) -> wsock::Result<Ended> {
        let (mut incoming, mut outgoing) = ws.split();
        let show = self.show;
        let mut remaining = self.remaining;
        // The reader runs on its own, so that a server that writes while we are
        // blocked writing to it is still read.
        let mut printer = tokio::spawn(async move {
            while remaining != Some(0) {
                let Some(message) = incoming.recv().await? else {
                    let frame = incoming.peer_close_frame().flatten();
                    return Ok(Printed::ServerClosed { frame, remaining });
                };
                println!("{}", show.render(&message, OffsetDateTime::now_utc()));
                remaining = remaining.map(|n| n - 1);
            }
            Ok::<_, Error>(Printed::CountedOut(incoming))
        });
        let mut closing = false;
        loop {
            tokio::select! {
                next = self.input.recv(), if self.input_open && !closing => match next {
                    Some(Ok(message)) => outgoing.send(message).await?,
                    // Bad input is the user's to fix; reconnecting would not help.
                    Some(Err(error)) => return Ok(Ended::InputFailed(error)),
                    None => {
                        self.input_open = false;
                        if !self.keep_open_after_input {
                            outgoing.close(CloseCode::NORMAL, "").await?;
                            closing = true;
                        }
                    }
                },
                printed = &mut printer => {
                    let printed = printed.map_err(|e| Error::Io(std::io::Error::other(e)))??;
                    return match printed {
                        Printed::CountedOut(mut incoming) => {
                            self.remaining = Some(0);
                            outgoing.close(CloseCode::NORMAL, "").await?;
                            // Read on to the server's close, unprinted; the close
                            // timeout bounds the wait.
                            while incoming.recv().await?.is_some() {}
                            Ok(Ended::ByUs)
                        }
                        Printed::ServerClosed { frame, remaining } => {
                            // What is left to count carries over to the next connection.
                            self.remaining = remaining;
                            Ok(match closing {
                                true => Ended::ByUs,
                                false => Ended::ByServer(frame),
                            })
                        }
                    };
                }
            }
        }
    }
}

/// How the printing task ended.
enum Printed {
    /// `--count` messages arrived; the read half goes back for the closing handshake.
    CountedOut(ReadHalf<MaybeTlsStream>),
    /// The server closed the connection, with this frame, before `remaining` more
    /// messages arrived.
    ServerClosed {
        frame: Option<CloseFrame>,
        remaining: Option<u64>,
    },
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
