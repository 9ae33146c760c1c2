//! The tokio shell's client over HTTP/2 (RFC 8441): an extended CONNECT on an h2
//! connection, shared by a [`Client`]'s WebSockets to the same origin through a small
//! pool. h2 rather than hyper's client, because only h2 says when the server's
//! SETTINGS have arrived (a PING answered after them), and the RFC forbids sending
//! `:protocol` before they allow it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use h2::client::SendRequest;
use h2::{Ping, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsock_proto::handshake::client::ClientHandshake;
use wsock_proto::handshake::server::ConnectProtocol;

use super::transport::{Http2Stream, MaybeTlsStream};
use super::websocket::WebSocket;
use crate::dial::{Client, Target};
use crate::error::{Error, Result};

/// Receive windows, as the server's: a stream whose reader stops holds at most its
/// own window of the connection's, so the other streams keep flowing (h2's defaults,
/// 64 KiB for both, would let one stalled stream stop them all).
const STREAM_WINDOW: u32 = 256 << 10;
const CONNECTION_WINDOW: u32 = 4 << 20;

/// How an attempt at HTTP/2 ended.
pub(super) enum Attempt {
    /// The WebSocket, on a stream.
    Open(Box<WebSocket<MaybeTlsStream>>),
    /// The server chose HTTP/1.1 in ALPN: this TLS connection carries the upgrade.
    Http1(MaybeTlsStream),
    /// The server speaks HTTP/2 without extended CONNECT: HTTP/1.1 needs a new
    /// connection.
    Refused,
}

impl Client {
    /// Opens the WebSocket on an HTTP/2 stream: on the pooled connection to this
    /// origin, or on a new one.
    pub(super) async fn connect_http2(
        &self,
        target: &Target,
        handshake: &ClientHandshake,
    ) -> Result<Attempt> {
        let pooled = match self.http2_pool.get(target) {
            Some(connection) => connection.ready().await.ok(),
            None => None,
        };
        let connection = match pooled {
            Some(connection) => connection,
            None => {
                self.http2_pool.forget(target);
                let stream = self.open_transport(target, true).await?;
                if !stream.alpn_is_h2() {
                    tracing::debug!(host = %target.host, "the server chose HTTP/1.1 in ALPN");
                    return Ok(Attempt::Http1(stream));
                }
                match open_connection(stream, &target.host).await? {
                    Some(connection) => {
                        self.http2_pool.put(target, connection.clone());
                        connection
                    }
                    None => return Ok(Attempt::Refused),
                }
            }
        };
        let ws = open_stream(connection, handshake, &self.config).await?;
        Ok(Attempt::Open(Box::new(ws)))
    }
}

/// The h2 handshake on `stream`, driven by a task of its own; `None` when the
/// server's SETTINGS do not enable extended CONNECT.
async fn open_connection(stream: MaybeTlsStream, host: &str) -> Result<Option<SendRequest<Bytes>>> {
    let (send_request, mut connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake(stream)
        .await
        .map_err(h2_error)?;
    let mut ping_pong = connection.ping_pong().expect("taken once, here");
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "HTTP/2 connection ended");
        }
    });
    // The server's SETTINGS come first in its preface, so once a PING is answered they
    // have been read.
    ping_pong.ping(Ping::opaque()).await.map_err(h2_error)?;
    if !send_request.is_extended_connect_protocol_enabled() {
        tracing::debug!(
            %host,
            "the server's HTTP/2 SETTINGS do not enable extended CONNECT; using HTTP/1.1"
        );
        return Ok(None);
    }
    Ok(Some(send_request))
}

/// The extended CONNECT on a new stream of `connection`, and the WebSocket on it.
async fn open_stream(
    connection: SendRequest<Bytes>,
    handshake: &ClientHandshake,
    config: &crate::Config,
) -> Result<WebSocket<MaybeTlsStream>> {
    let mut request = handshake.extended_connect("https")?;
    if let Some(ConnectProtocol(protocol)) = request.extensions_mut().remove::<ConnectProtocol>() {
        request
            .extensions_mut()
            .insert(h2::ext::Protocol::from(protocol.as_str()));
    }
    let mut connection = connection.ready().await.map_err(h2_error)?;
    let (response, send) = connection.send_request(request, false).map_err(h2_error)?;
    let response = response.await.map_err(h2_error)?;
    let (head, recv) = response.into_parts();
    let head = http::Response::from_parts(head, ());
    let (core, protocol) = handshake.finish_extended_connect(&head, config.limits.clone())?;
    let stream = MaybeTlsStream::Http2(Http2Stream::new(H2Io {
        send,
        recv,
        unread: Bytes::new(),
        ended: false,
    }));
    Ok(WebSocket::from_parts(
        stream,
        core,
        protocol,
        Arc::new(config.clone()),
    ))
}

fn h2_error(error: h2::Error) -> Error {
    Error::Io(h2_io_error(error))
}

fn h2_io_error(error: h2::Error) -> std::io::Error {
    if error.is_io() {
        return error.into_io().expect("checked");
    }
    std::io::Error::other(format!("HTTP/2: {error}"))
}

/// An h2 stream as a byte stream, with flow control as backpressure: data is taken
/// from h2 (and its window given back) only as it is read, and written only as the
/// peer's window allows.
struct H2Io {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received and not yet read.
    unread: Bytes,
    /// END_STREAM was sent.
    ended: bool,
}

impl AsyncRead for H2Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while this.unread.is_empty() {
            match ready!(this.recv.poll_data(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(data)) => this.unread = data,
                Some(Err(error)) => {
                    return Poll::Ready(match error.reason() {
                        // The peer ended or cancelled the stream: the end of input.
                        Some(h2::Reason::NO_ERROR | h2::Reason::CANCEL) => Ok(()),
                        _ => Err(h2_io_error(error)),
                    });
                }
            }
        }
        let n = this.unread.len().min(buf.remaining());
        buf.put_slice(&this.unread[..n]);
        this.unread.advance(n);
        let _ = this.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.send.capacity() == 0 {
            this.send.reserve_capacity(buf.len());
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(_)) => {}
                Some(Err(error)) => return Poll::Ready(Err(h2_io_error(error))),
                None => return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
            }
        }
        let n = this.send.capacity().min(buf.len());
        this.send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(h2_io_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // h2's connection task writes what was sent.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.ended {
            this.ended = true;
            this.send
                .send_data(Bytes::new(), true)
                .map_err(h2_io_error)?;
        }
        Poll::Ready(Ok(()))
    }
}
