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

/// A TCP stream, plain (`ws://`) or inside TLS (`wss://`), or one stream of an HTTP/2
/// connection: what [`Client::connect`] returns and what [`Server`] routes hand their
/// handlers.
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
    /// One stream of an HTTP/2 connection over TLS (RFC 8441), which other
    /// WebSockets may share.
    #[cfg(feature = "http2")]
    Http2(Http2Stream),
}

impl MaybeTlsStream {
    /// The TCP stream underneath, for its addresses and socket options; `None` on an
    /// HTTP/2 stream, whose connection is shared.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(tcp) => Some(tcp),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => Some(tls.get_ref().0),
            #[cfg(feature = "http2")]
            Self::Http2(_) => None,
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }

    /// Whether this is one stream of an HTTP/2 connection.
    pub fn is_http2(&self) -> bool {
        #[cfg(feature = "http2")]
        if let Self::Http2(_) = self {
            return true;
        }
        false
    }

    /// Whether TLS agreed on HTTP/2 (ALPN `h2`) for this connection.
    #[cfg(feature = "http2")]
    pub(crate) fn alpn_is_h2(&self) -> bool {
        match self {
            Self::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
            _ => false,
        }
    }
}

/// One stream of an HTTP/2 connection, as a byte stream: hyper's on a server, h2's
/// on a client. Boxed, so that it costs every other stream nothing.
#[cfg(feature = "http2")]
pub struct Http2Stream(Pin<Box<dyn Tunnel>>);

/// A byte stream that an HTTP/2 stream became.
#[cfg(feature = "http2")]
trait Tunnel: AsyncRead + AsyncWrite + Send {}

#[cfg(feature = "http2")]
impl<T: AsyncRead + AsyncWrite + Send> Tunnel for T {}

#[cfg(feature = "http2")]
impl Http2Stream {
    pub(crate) fn new(io: impl AsyncRead + AsyncWrite + Send + 'static) -> Self {
        Self(Box::pin(io))
    }
}

#[cfg(feature = "http2")]
impl std::fmt::Debug for Http2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Http2Stream")
    }
}

#[cfg(feature = "http2")]
impl AsyncRead for Http2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.get_mut().0.as_mut().poll_read(cx, buf)
    }
}

#[cfg(feature = "http2")]
impl AsyncWrite for Http2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().0.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().0.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().0.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().0.as_mut().poll_shutdown(cx)
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
            #[cfg(feature = "http2")]
            MaybeTlsStream::Http2($stream) => {
                let $stream = Pin::new($stream);
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
            #[cfg(feature = "http2")]
            Self::Http2(stream) => stream.is_write_vectored(),
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
