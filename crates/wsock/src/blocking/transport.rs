//! The byte streams a blocking [`Conn`](super::Conn) runs over, the TLS handshakes
//! that make one, and reading off them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use wsock_proto::handshake::HeadScanner;

use super::deadline::Deadline;
#[cfg(feature = "tls")]
use super::deadline::DeadlineIo;
#[cfg(feature = "tls")]
use crate::error::Error;
use crate::error::{closed_before_head, Result};
#[cfg(feature = "tls")]
use crate::tls::{server_name, ClientTls, ServerTls};

/// A blocking byte stream with the socket controls a [`Conn`](super::Conn) needs:
/// timeouts (for the close handshake and writes) and a half close.
pub trait Transport: Read + Write {
    /// Like [`TcpStream::set_read_timeout`].
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Like [`TcpStream::set_write_timeout`].
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Ends our direction of the stream (for TLS, after a `close_notify`).
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A TCP stream, plain or inside TLS: what [`dial`](super::dial) returns and what the
/// blocking [`Server`](super::Server) hands its handlers.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// A client's TLS over TCP.
    #[cfg(feature = "tls")]
    ClientTls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// A server's TLS over TCP.
    #[cfg(feature = "tls")]
    ServerTls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Self::ClientTls(tls) => tls.get_ref(),
            #[cfg(feature = "tls")]
            Self::ServerTls(tls) => tls.get_ref(),
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

/// Runs `$call` on whichever stream is inside.
macro_rules! forward {
    ($self:ident, $stream:ident => $call:expr) => {
        match $self {
            MaybeTlsStream::Plain($stream) => $call,
            #[cfg(feature = "tls")]
            MaybeTlsStream::ClientTls($stream) => $call,
            #[cfg(feature = "tls")]
            MaybeTlsStream::ServerTls($stream) => $call,
        }
    };
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        forward!(self, s => s.read(buf))
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        forward!(self, s => s.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        forward!(self, s => s.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        forward!(self, s => s.flush())
    }
}

impl Transport for MaybeTlsStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
            Self::ClientTls(tls) => {
                tls.conn.send_close_notify();
                tls.flush()?;
                tls.sock.shutdown(Shutdown::Write)
            }
            #[cfg(feature = "tls")]
            Self::ServerTls(tls) => {
                tls.conn.send_close_notify();
                tls.flush()?;
                tls.sock.shutdown(Shutdown::Write)
            }
        }
    }
}

/// Reads until `buf` holds a whole head, each read bounded by what is left of
/// `deadline`, and returns its length; bytes after it stay in `buf`.
pub(crate) fn read_head<S: Transport>(
    io: &mut S,
    buf: &mut BytesMut,
    max_head_size: usize,
    deadline: &Deadline,
) -> Result<usize> {
    let mut scanner = HeadScanner::default();
    loop {
        if let Some(len) = scanner.scan(buf, max_head_size)? {
            return Ok(len);
        }
        io.set_read_timeout(Some(deadline.left()?))?;
        match read_into(io, buf, 1024) {
            Ok(0) => return Err(closed_before_head(buf)),
            Ok(_) => {}
            Err(error) => return Err(deadline.explain(error)),
        }
    }
}

/// One read of up to `chunk` bytes, appended to `buf`.
pub(crate) fn read_into<S: Read>(
    io: &mut S,
    buf: &mut BytesMut,
    chunk: usize,
) -> io::Result<usize> {
    let start = buf.len();
    buf.resize(start + chunk, 0);
    let result = io.read(&mut buf[start..]);
    buf.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

/// The client's TLS handshake for `host` (also sent as SNI) over `tcp`, within
/// `deadline` as a whole.
#[cfg(feature = "tls")]
pub(crate) fn tls_connect(
    tls: &ClientTls,
    host: &str,
    mut tcp: TcpStream,
    deadline: &Deadline,
) -> Result<MaybeTlsStream> {
    let mut conn = rustls::ClientConnection::new(tls.config(), server_name(host)?)
        .map_err(|e| Error::TlsConfig(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut DeadlineIo::new(&mut tcp, deadline))
            .map_err(|source| tls_failure(deadline, host, source))?;
    }
    Ok(MaybeTlsStream::ClientTls(Box::new(
        rustls::StreamOwned::new(conn, tcp),
    )))
}

/// The server's TLS handshake over `tcp`, within `deadline` as a whole.
#[cfg(feature = "tls")]
pub(crate) fn tls_accept(
    tls: &ServerTls,
    mut tcp: TcpStream,
    deadline: &Deadline,
) -> Result<MaybeTlsStream> {
    let peer = tcp
        .peer_addr()
        .map_or_else(|_| "the client".to_owned(), |addr| addr.to_string());
    let mut conn =
        rustls::ServerConnection::new(tls.config()).map_err(|e| Error::TlsConfig(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut DeadlineIo::new(&mut tcp, deadline))
            .map_err(|source| tls_failure(deadline, &peer, source))?;
    }
    Ok(MaybeTlsStream::ServerTls(Box::new(
        rustls::StreamOwned::new(conn, tcp),
    )))
}

/// A failed TLS handshake: the deadline's timeout, or what rustls said.
#[cfg(feature = "tls")]
fn tls_failure(deadline: &Deadline, peer: &str, source: io::Error) -> Error {
    match deadline.explain(source) {
        Error::Io(source) => Error::TlsHandshake {
            peer: peer.to_owned(),
            source,
        },
        timeout => timeout,
    }
}
