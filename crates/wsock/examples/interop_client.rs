//! A scripted conversation with a peer's echo server, used by the interop tests against
//! Python `websockets` and Node `ws` (tests/interop/). Exits non-zero, saying what
//! differed, unless every check passes.
//!
//! The peer at `BASE/echo` echoes, answers the text "ping-me" by pinging us and then
//! sending "pong-ok", and closes `BASE/close-me` at once with 4002 "server bye".
//! Options: `--deflate` offers permessage-deflate and checks it was accepted;
//! `--blocking` talks through `wsock::blocking::Conn` instead of the async
//! `WebSocket`; `--ca PEM` trusts that CA for a `wss://` BASE.
//!
//! `cargo run --example interop_client -- ws://127.0.0.1:8765 [--deflate] [--blocking] [--ca ca.pem]`

use wsock::{
    blocking, Client, CloseCode, CloseFrame, Config, DeflateConfig, Limits, Message, WebSocket,
};

type Failure = Box<dyn std::error::Error>;

/// What the conversation needs of a connection, so that it runs unchanged over the
/// async and the blocking API.
trait Peer {
    fn send(&mut self, message: Message) -> wsock::Result<()>;
    fn recv(&mut self) -> wsock::Result<Option<Message>>;
    fn close(&mut self, code: CloseCode, reason: &str) -> wsock::Result<()>;
    fn protocol(&self) -> Option<&str>;
    fn is_compressed(&self) -> bool;
    fn peer_close_frame(&self) -> Option<CloseFrame>;
}

/// The async `WebSocket`, driven by a runtime of its own.
struct AsyncPeer {
    ws: WebSocket,
    runtime: std::rc::Rc<tokio::runtime::Runtime>,
}

impl Peer for AsyncPeer {
    fn send(&mut self, message: Message) -> wsock::Result<()> {
        self.runtime.block_on(self.ws.send(message))
    }
    fn recv(&mut self) -> wsock::Result<Option<Message>> {
        self.runtime.block_on(self.ws.recv())
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> wsock::Result<()> {
        self.runtime.block_on(self.ws.close(code, reason))
    }
    fn protocol(&self) -> Option<&str> {
        self.ws.protocol()
    }
    fn is_compressed(&self) -> bool {
        self.ws.is_compressed()
    }
    fn peer_close_frame(&self) -> Option<CloseFrame> {
        self.ws.peer_close_frame().cloned().flatten()
    }
}

impl Peer for blocking::Conn {
    fn send(&mut self, message: Message) -> wsock::Result<()> {
        blocking::Conn::send(self, message)
    }
    fn recv(&mut self) -> wsock::Result<Option<Message>> {
        blocking::Conn::recv(self)
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> wsock::Result<()> {
        blocking::Conn::close(self, code, reason)
    }
    fn protocol(&self) -> Option<&str> {
        blocking::Conn::protocol(self)
    }
    fn is_compressed(&self) -> bool {
        blocking::Conn::is_compressed(self)
    }
    fn peer_close_frame(&self) -> Option<CloseFrame> {
        blocking::Conn::peer_close_frame(self).cloned().flatten()
    }
}

struct Options {
    base: String,
    deflate: bool,
    blocking: bool,
    ca: Option<String>,
}

impl Options {
    fn parse() -> Self {
        let mut args = std::env::args().skip(1);
        let mut options = Options {
            base: "ws://127.0.0.1:8765".to_owned(),
            deflate: false,
            blocking: false,
            ca: None,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--deflate" => options.deflate = true,
                "--blocking" => options.blocking = true,
                "--ca" => options.ca = args.next(),
                _ => options.base = arg,
            }
        }
        options
    }

    fn client(&self, path: &str) -> Result<Client, Failure> {
        let mut limits = Limits::default();
        limits.max_frame_size = 32 << 20;
        // Servers configured with subprotocols (websockets) refuse clients offering none.
        let mut client = Client::new(format!("{}{path}", self.base))
            .protocol("superchat")
            .protocol("chat")
            .config(Config::default().with_limits(limits));
        if self.deflate {
            client = client.deflate(DeflateConfig::default());
        }
        if let Some(ca) = &self.ca {
            client = client.tls(wsock::tls::ClientTls::from_ca_file(ca)?);
        }
        Ok(client)
    }

    fn connect(&self, path: &str) -> Result<Box<dyn Peer>, Failure> {
        let client = self.client(path)?;
        if self.blocking {
            return Ok(Box::new(client.connect_blocking()?));
        }
        let runtime = std::rc::Rc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        );
        let ws = runtime.block_on(client.connect())?;
        Ok(Box::new(AsyncPeer { ws, runtime }))
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}"))
    }
}

fn run(options: &Options) -> Result<(), Failure> {
    let mut ws = options.connect("/echo")?;
    check(
        ws.protocol() == Some("chat"),
        "the server chose the offered subprotocol chat",
    )?;
    let deflate = options.deflate;
    check(
        ws.is_compressed() == deflate,
        &format!("permessage-deflate negotiated: {deflate}"),
    )?;

    for len in [0usize, 125, 126, 65535, 65536, 16 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send(Message::binary(data.clone()))?;
        let echoed = ws.recv()? == Some(Message::binary(data));
        check(echoed, &format!("binary echo of {len} bytes"))?;
        let text = "ü".repeat(len / 2);
        ws.send(Message::text(text.clone()))?;
        let echoed = ws.recv()? == Some(Message::text(text));
        check(echoed, &format!("text echo of {len} bytes"))?;
    }

    ws.send(Message::Ping("from-wsock".into()))?;
    ws.send(Message::text("ping-me"))?;
    let reply = ws.recv()?;
    check(
        reply.as_ref().and_then(Message::as_text) == Some("pong-ok"),
        "the peer's ping was answered with its payload",
    )?;

    ws.close(CloseCode(4001), "bye")?;
    let echoed = ws.peer_close_frame().map(|f| f.code);
    check(
        echoed == Some(CloseCode(4001)),
        "the peer echoed our close code",
    )?;

    let mut ws = options.connect("/close-me")?;
    check(
        ws.recv()?.is_none(),
        "a server-initiated close ends the stream",
    )?;
    check(
        ws.peer_close_frame() == Some(CloseFrame::new(CloseCode(4002), "server bye")),
        "the server's close code and reason arrived",
    )?;
    Ok(())
}

fn main() {
    if let Err(error) = run(&Options::parse()) {
        eprintln!("{error}");
        std::process::exit(1);
    }
}
