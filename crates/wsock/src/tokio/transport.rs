//! The byte stream under a WebSocket that wsock opened itself (TCP, or TLS over TCP),
//! the TLS handshakes that make one, and reading an HTTP head off it.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use wsock_proto::handshake::HeadScanner;

use crate::error::{closed_before_head, Error, Result};
#[cfg(feature = "tls")]
use crate::tls::{server_name, ClientTls, ServerTls};

/// A TCP stream, plain (`ws://`) or inside TLS (`wss://`): what [`Client::connect`]
/// returns and what [`Server`] routes hand their handlers.
///
/// [`Client::connect`]: crate::Client::connect
/// [`Server`]: crate::Server
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the TLS state is large and would bloat every plain stream).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath, for its addresses and socket options.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

/// Forwards a poll method to whichever stream is inside.
macro_rules! forward {
    ($self:ident, $stream:ident => $call:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($stream) => {
                let $stream = Pin::new($stream);
                $call
            }
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls($stream) => {
                let $stream = Pin::new(&mut **$stream);
                $call
            }
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        forward!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        forward!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        forward!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(tcp) => tcp.is_write_vectored(),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        forward!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        forward!(self, s => s.poll_shutdown(cx))
    }
}

/// Reads until `buf` holds a whole head, and returns its length; bytes after it are
/// the start of the WebSocket stream and stay in `buf`.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max_head_size: usize,
) -> Result<usize> {
    let mut scanner = HeadScanner::default();
    loop {
        if let Some(len) = scanner.scan(buf, max_head_size)? {
            return Ok(len);
        }
        buf.reserve(1024);
        if io.read_buf(buf).await? == 0 {
            return Err(closed_before_head(buf));
        }
    }
}

/// The client's TLS handshake for `host` (also sent as SNI) over `tcp`.
#[cfg(feature = "tls")]
pub(crate) async fn tls_connect(
    tls: &ClientTls,
    host: &str,
    tcp: TcpStream,
) -> Result<MaybeTlsStream> {
    let connector = tokio_rustls::TlsConnector::from(tls.config());
    let stream = connector
        .connect(server_name(host)?, tcp)
        .await
        .map_err(|source| Error::TlsHandshake {
            peer: host.to_owned(),
            source,
        })?;
    Ok(MaybeTlsStream::Tls(Box::new(stream.into())))
}

/// The server's TLS handshake over `tcp`.
#[cfg(feature = "tls")]
pub(crate) async fn tls_accept(tls: &ServerTls, tcp: TcpStream) -> Result<MaybeTlsStream> {
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| "the client".to_owned(), |addr| addr.to_string());
    let stream = tokio_rustls::TlsAcceptor::from(tls.config())
        .accept(tcp)
        .await
        .map_err(|source| Error::TlsHandshake { peer, source })?;
    Ok(MaybeTlsStream::Tls(Box::new(stream.into())))
}
