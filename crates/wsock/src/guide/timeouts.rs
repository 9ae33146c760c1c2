//! # Timeouts and keepalive
//!
//! Every wait that a peer controls has a bound. The defaults suit a public server;
//! all are set through [`Config`](crate::Config) (both sides),
//! [`AcceptOptions`](crate::AcceptOptions) (servers) or [`Client`](crate::Client).
//!
//! | What | Set with | Default | When it fires |
//! | --- | --- | --- | --- |
//! | Connect | [`Client::connect_timeout`](crate::Client::connect_timeout) | 10 s | TCP, proxy tunnel, TLS and HTTP handshake together took too long: [`Error::Timeout`](crate::Error::Timeout) |
//! | Opening handshake | [`AcceptOptions::handshake_timeout`](crate::AcceptOptions::handshake_timeout) | 10 s | a client's TLS handshake and request together took too long (slowloris): the connection is dropped |
//! | Write | [`Config::write_timeout`](crate::Config::write_timeout) | 30 s | the peer took none of our output for this long (progress restarts the clock): [`Error::Timeout`](crate::Error::Timeout), transport dropped |
//! | Close | [`Config::close_timeout`](crate::Config::close_timeout) | 5 s | the peer did not answer our close frame: transport dropped |
//! | Keepalive ping | [`Keepalive::ping_interval`](crate::Keepalive) via [`Config::keepalive`](crate::Config::keepalive) | off | after this much silence a ping is sent |
//! | Pong deadline | [`Keepalive::pong_timeout`](crate::Keepalive) | 20 s | nothing came back after a keepalive ping: closed with 1011, [`Error::Protocol`](crate::Error::Protocol) |
//! | Idle | [`Keepalive::idle_timeout`](crate::Keepalive) | off | the peer sent nothing at all for this long: closed with 1001 |
//! | Server shutdown | [`Server::shutdown_timeout`](crate::Server::shutdown_timeout) | 10 s | closing handshakes after a graceful shutdown did not finish |
//!
//! Keepalive is off by default because a ping wakes every idle connection (phones,
//! laptops) and most deployments already have a proxy or load balancer with its own
//! idle timeout; turn it on to notice peers that vanished without a FIN (a dropped
//! Wi-Fi link, a killed NAT entry) and to keep such middleboxes from closing quiet
//! connections. The keepalive clock runs while the connection is being read (`recv`,
//! or a [`ReadHalf`](crate::ReadHalf)); the blocking API has no clock of its own.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> wsock::Result<()> {
//! use std::time::Duration;
//! use wsock::{AcceptOptions, Client, Config, Keepalive, Message, Server};
//!
//! let mut keepalive = Keepalive::default();
//! keepalive.ping_interval = Some(Duration::from_secs(20));
//! keepalive.pong_timeout = Duration::from_secs(10);
//! keepalive.idle_timeout = Some(Duration::from_secs(300));
//! let config = Config::default()
//!     .keepalive(keepalive)
//!     .write_timeout(Some(Duration::from_secs(10)))
//!     .close_timeout(Duration::from_secs(2));
//!
//! let options = AcceptOptions::default()
//!     .config(config.clone())
//!     .handshake_timeout(Duration::from_secs(5));
//! let server = Server::bind("127.0.0.1:0").await?.options(options).route("/", |mut ws| async move {
//!     while let Some(message) = ws.recv().await? {
//!         ws.send(message).await?;
//!     }
//!     Ok(())
//! });
//! let url = format!("ws://{}/", server.local_addr()?);
//! tokio::spawn(server.serve());
//!
//! let mut ws = Client::new(url)
//!     .connect_timeout(Duration::from_secs(5))
//!     .config(config)
//!     .connect()
//!     .await?;
//! ws.send(Message::text("still here")).await?;
//! assert_eq!(ws.recv().await?, Some(Message::text("still here")));
//! # Ok(())
//! # }
//! ```
