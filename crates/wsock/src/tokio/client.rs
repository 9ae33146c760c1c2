//! The tokio shell's client: TCP (maybe through a proxy), TLS, then the handshake.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wsock_proto::handshake::client::ClientHandshake;

use super::transport::{read_head, tls_connect, MaybeTlsStream};
use super::websocket::WebSocket;
use crate::config::Config;
use crate::dial::{Client, Target};
use crate::error::{Error, Result};
use crate::proxy::{Proxy, TunnelStep};

impl Client {
    /// Connects, performs the handshake, and returns the open WebSocket.
    pub async fn connect(self) -> Result<WebSocket<MaybeTlsStream>> {
        let (target, request) = self.prepare()?;
        let timeout = self.connect_timeout;
        let connecting = async {
            #[cfg(feature = "http2")]
            if self.http2 && target.secure {
                use super::client_h2::Attempt;
                match self.connect_http2(&target, &request).await? {
                    Attempt::Open(ws) => return Ok(*ws),
                    Attempt::Http1(stream) => {
                        return client_handshake(stream, request, self.config.clone()).await
                    }
                    Attempt::Refused => {}
                }
            }
            let stream = self.open_transport(&target, false).await?;
            client_handshake(stream, request, self.config.clone())
                .await
                .map(WebSocket::read_tails_at_once)
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| Error::Timeout {
                what: "connecting",
                after: timeout,
            })?
    }

    /// The TCP connection (through the proxy, if any) and TLS, if asked for, offering
    /// HTTP/2 in ALPN when `offer_http2`.
    pub(super) async fn open_transport(
        &self,
        target: &Target,
        offer_http2: bool,
    ) -> Result<MaybeTlsStream> {
        let tcp = match self.proxy_for(target)? {
            Some(proxy) => {
                tracing::debug!(?proxy, host = %target.host, "connecting through a proxy");
                tunnel(&proxy, &target.host, target.port).await?
            }
            None => TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|e| Error::connect(&target.host, target.port, e))?,
        };
        let _ = tcp.set_nodelay(true);
        #[cfg(feature = "tls")]
        if target.secure {
            let tls = self.tls.clone().unwrap_or_default();
            let tls = if offer_http2 { tls.with_alpn() } else { tls };
            return tls_connect(&tls, &target.host, tcp).await;
        }
        Ok(MaybeTlsStream::Plain(tcp))
    }
}

/// Connects to `proxy` and opens a tunnel through it to `host:port`.
async fn tunnel(proxy: &Proxy, host: &str, port: u16) -> Result<TcpStream> {
    let resolved = match proxy.resolves_here(host) {
        true => Some(resolve(host, port).await?),
        false => None,
    };
    let (proxy_host, proxy_port) = proxy.endpoint();
    let mut tcp = TcpStream::connect((proxy_host, proxy_port))
        .await
        .map_err(|e| Error::connect(proxy_host, proxy_port, e))?;
    let _ = tcp.set_nodelay(true);
    let (mut opening, first) = proxy.open_tunnel(host, port, resolved)?;
    let mut step = TunnelStep::Send(first);
    let mut buf = BytesMut::with_capacity(512);
    loop {
        match step {
            TunnelStep::Send(bytes) => tcp
                .write_all(&bytes)
                .await
                .map_err(|e| opening.failed(e.into()))?,
            TunnelStep::Receive => {
                buf.reserve(512);
                let read = tcp.read_buf(&mut buf).await;
                if read.map_err(|e| opening.failed(e.into()))? == 0 {
                    return Err(opening.closed());
                }
            }
            TunnelStep::Open => return Ok(tcp),
        }
        step = opening.receive(&mut buf)?;
    }
}

/// The first address of `host:port`, for a proxy that wants an address.
async fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr> {
    let mut addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::connect(host, port, e))?;
    addresses
        .next()
        .ok_or_else(|| Error::no_address(host, port))
}

/// Performs the client's opening handshake on an already-connected `stream`.
pub async fn client_handshake<S>(
    mut stream: S,
    request: ClientHandshake,
    config: Config,
) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&request.encode()?).await?;
    stream.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    let len = read_head(&mut stream, &mut buf, config.limits.max_head_size).await?;
    let head = buf.split_to(len);
    let (connection, protocol) = request.finish(&head, &buf, config.limits.clone())?;
    Ok(WebSocket::from_parts(
        stream,
        connection,
        protocol,
        Arc::new(config),
    ))
}
