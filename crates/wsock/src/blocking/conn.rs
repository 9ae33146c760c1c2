//! `Conn`: a WebSocket on a blocking stream, Go's `*websocket.Conn`.

use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use wsock_proto::{
    CloseCode, CloseFrame, Connection, Event, Message, PreparedMessage, Role, State,
};

use super::deadline::is_timeout;
use super::transport::{read_into, MaybeTlsStream, Transport};
use crate::budget::{account_received, ReadBudget, Share};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::{self, OpenConnection, Traffic};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8 << 10;

/// Most buffers handed to one vectored write.
const MAX_WRITE_SLICES: usize = 32;

/// How [`Conn`]'s [`Write`] implementation frames what it is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PayloadType {
    /// Text messages (the default, as in Go); bytes that are not UTF-8 are refused.
    #[default]
    Text,
    /// Binary messages.
    Binary,
}

/// An open WebSocket on a blocking stream.
///
/// [`recv`](Self::recv) and [`send`](Self::send) move whole [`Message`]s; as in Go's
/// `x/net/websocket`, a `Conn` is also an [`io::Read`] of message payloads (a message
/// longer than the buffer is read over several calls, and the end of the connection
/// reads as 0) and an [`io::Write`] that sends one message per `write` call.
/// Pings are answered and the closing handshake completed while reading.
///
/// ```no_run
/// use std::io::{Read, Write};
/// # fn run() -> wsock::Result<()> {
/// let mut ws = wsock::blocking::dial("ws://localhost:12345/echo", "", "http://localhost/")?;
/// ws.write_all(b"hello, world!\n")?;
/// let mut reply = [0u8; 512];
/// let n = ws.read(&mut reply)?;
/// println!("Received: {}", String::from_utf8_lossy(&reply[..n]));
/// # Ok(())
/// # }
/// ```
pub struct Conn<S: Transport = MaybeTlsStream> {
    io: S,
    /// The sans-I/O protocol core this shell drives.
    core: Connection,
    protocol: Option<String>,
    config: Config,
    /// What `Read` has yet to hand out of the current message.
    unread: Bytes,
    payload_type: PayloadType,
    transport_closed: bool,
    closing_since: Option<Instant>,
    /// The read timeout last set on the socket, to skip setting it again.
    read_timeout: Option<Duration>,
    /// This connection's share of its server's budget for received data held.
    read_share: Option<Share>,
    error: Option<Error>,
    /// Messages and bytes since the last report to the metrics.
    traffic: Traffic,
    /// A server's count of open connections, while this one lives.
    open: OpenConnection,
}

impl<S: Transport> Drop for Conn<S> {
    fn drop(&mut self) {
        // A reply that batching left queued still reaches the peer (bounded by the
        // write timeout, as any write is).
        if !self.transport_closed && self.core.output_len() > 0 {
            let _ = self.flush_output();
        }
        self.traffic.report(self.core.role());
        metrics::connection_ended(self.core.role(), self.core.peer_close());
    }
}

impl<S: Transport> std::fmt::Debug for Conn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("role", &self.core.role())
            .field("state", &self.core.state())
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl<S: Transport> Conn<S> {
    /// Wraps a stream whose opening handshake has already happened elsewhere.
    pub fn from_upgraded(io: S, role: Role, config: Config) -> Result<Self> {
        let core = Connection::with_limits(role, config.limits.clone());
        Self::from_parts(io, core, None, config)
    }

    pub(crate) fn from_parts(
        io: S,
        mut core: Connection,
        protocol: Option<String>,
        config: Config,
    ) -> Result<Self> {
        // The same clocks as the async shell: keepalive pings, the idle timeout, and
        // (always) the incomplete-message timeout, driven by the read timeout.
        if core.deflate_enabled() {
            // The time the deflate state's release counts from (docs of set_clock).
            core.set_clock(Instant::now());
        }
        let keepalive = config.keepalive;
        if keepalive.ping_interval.is_some() || keepalive.idle_timeout.is_some() {
            core.set_keepalive(keepalive, Instant::now());
        }
        // The socket's own send timeout restarts on progress, like the async one.
        io.set_write_timeout(config.write_timeout)?;
        io.set_read_timeout(None)?;
        Ok(Self {
            io,
            core,
            protocol,
            config,
            unread: Bytes::new(),
            payload_type: PayloadType::default(),
            transport_closed: false,
            closing_since: None,
            read_timeout: None,
            read_share: None,
            error: None,
            traffic: Traffic::default(),
            open: OpenConnection::default(),
        })
    }

    /// Counts this connection in `wsock_connections_open` while it lives.
    pub(crate) fn count_as_open(&mut self, open: OpenConnection) {
        self.open = open;
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether permessage-deflate was negotiated.
    pub fn is_compressed(&self) -> bool {
        self.core.deflate_enabled()
    }

    /// The peer's close frame, once it has arrived.
    pub fn peer_close_frame(&self) -> Option<&Option<CloseFrame>> {
        self.core.peer_close()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Counts the received data this connection holds against `budget`, shared with
    /// others; while the budget is spent, the connection is closed with 1013 when it
    /// wants to hold more than 64 KiB. The blocking [`Server`](super::Server) does
    /// this for its connections.
    pub fn share_read_budget(&mut self, budget: ReadBudget) {
        self.read_share = Some(Share::new(budget, self.core.receive_memory()));
    }

    /// How [`Write`] frames its data: text (the default) or binary.
    pub fn set_payload_type(&mut self, payload_type: PayloadType) {
        self.payload_type = payload_type;
    }

    /// The next text or binary message; `Ok(None)` once the connection has closed.
    pub fn recv(&mut self) -> Result<Option<Message>> {
        loop {
            if self.transport_closed {
                return self.error.take().map_or(Ok(None), Err);
            }
            match self.core.next_event() {
                Ok(Some(Event::Message(message))) => {
                    self.traffic.message_received();
                    return Ok(Some(message));
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%error, "failing the connection");
                    self.error = Some(Error::Protocol(error));
                    continue;
                }
            }
            if let Err(error) = self.flush_output() {
                return Err(self.abandon_transport(error));
            }
            if self.core.state() != State::Open && self.core.should_close_transport() {
                // After the peer's EOF, dropping the socket sends our FIN.
                if !self.core.received_eof() {
                    let _ = self.io.shutdown_write();
                }
                self.transport_closed = true;
                continue;
            }
            if let Err(error) = self.arm_read_timeout() {
                return Err(self.abandon_transport(error));
            }
            match read_into(&mut self.io, self.core.input_buffer(), READ_CHUNK) {
                Ok(0) => {
                    if self.core.state() == State::Open {
                        self.error.get_or_insert(Error::AbnormalClosure);
                    }
                    self.core.receive_eof();
                }
                Ok(read) => {
                    self.core.note_arrival();
                    if let Some(share) = &mut self.read_share {
                        account_received(share, &mut self.core);
                    }
                    self.traffic.bytes_received(read);
                    self.traffic.report(self.core.role());
                }
                Err(error) if is_timeout(&error) => self.timed_out(),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.abandon_transport(error)),
            }
        }
    }

    /// Sends a message and writes it to the socket.
    ///
    /// One exception batches writes, as the async [`WebSocket::send`] does: right
    /// after [`recv`](Self::recv) returned a message while more input is already
    /// buffered, the frame waits for the next `recv`, which writes everything queued
    /// before it reads from the socket (so does [`flush`](Write::flush), and dropping
    /// the `Conn`). A `recv`/`send` echo loop thus costs one write per batch of
    /// messages, not one per message. [`Config::batch_writes`] turns this off.
    ///
    /// [`WebSocket::send`]: crate::WebSocket::send
    pub fn send(&mut self, message: Message) -> Result<()> {
        if self.transport_closed {
            return Err(Error::ConnectionClosed);
        }
        self.core.send(&message)?;
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            self.traffic.message_sent();
        }
        if self.config.reply_may_wait(&mut self.core) {
            return Ok(());
        }
        self.flush_output()
            .map_err(|error| self.abandon_transport(error))
    }

    /// Sends a message prepared once for many connections (see
    /// [`PreparedMessage`]): a server writes the shared frame without encoding or
    /// copying it; a client encodes it as usual.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<()> {
        if self.transport_closed {
            return Err(Error::ConnectionClosed);
        }
        self.core.send_prepared(prepared)?;
        self.traffic.message_sent();
        self.flush_output()
            .map_err(|error| self.abandon_transport(error))
    }

    /// Sends a message without compressing it (for payloads already compressed, such
    /// as images), even when permessage-deflate is on.
    pub fn send_uncompressed(&mut self, message: Message) -> Result<()> {
        if self.transport_closed {
            return Err(Error::ConnectionClosed);
        }
        self.core.send_uncompressed(&message)?;
        self.traffic.message_sent();
        self.flush_output()
            .map_err(|error| self.abandon_transport(error))
    }

    /// Sends a ping; the pong is taken care of while reading.
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<()> {
        self.send(Message::Ping(payload.into()))
    }

    /// Closes the connection: sends a close frame with `code` and `reason`, waits (up to
    /// the close timeout) for the peer's, then closes the transport. Messages that
    /// arrive meanwhile are discarded.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        if self.core.state() == State::Open && !self.transport_closed {
            self.core.send_close(Some(CloseFrame::new(code, reason)))?;
        }
        while self.recv()?.is_some() {}
        Ok(())
    }

    /// Sets the socket's read timeout to the nearest deadline: the close timeout once
    /// the connection is closing (started the first time it is found so), else the
    /// connection's own clocks (keepalive, idle, a half-sent message), else none.
    fn arm_read_timeout(&mut self) -> io::Result<()> {
        let now = Instant::now();
        // The reads since the last wait, now that they have become events: the core
        // needs their time only for a timer or a half-received frame.
        if self.core.arrival_needs_clock() {
            self.core.heard_from_peer(now);
        }
        let deadline = if self.core.state() == State::Open {
            self.core.poll_timeout()
        } else {
            let since = *self.closing_since.get_or_insert(now);
            Some(since + self.config.close_timeout)
        };
        // A zero timeout means "none" to the socket, so the last instant waits 1 ms.
        let timeout = deadline.map(|at| {
            at.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        });
        if timeout != self.read_timeout {
            self.io.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
    }

    /// The read timeout fired: the close timeout ends the transport; otherwise the
    /// connection's clocks decide (a keepalive ping, or failing it).
    fn timed_out(&mut self) {
        if self.closing_since.is_some() {
            tracing::debug!("closing handshake timed out; dropping the transport");
            self.transport_closed = true;
        } else if let Err(error) = self.core.handle_timeout(Instant::now()) {
            tracing::debug!(%error, "a timer failed the connection");
            self.error = Some(Error::Protocol(error));
        }
    }

    /// Writes all queued output, one vectored write per try, and flushes.
    fn flush_output(&mut self) -> Result<()> {
        while self.core.output_len() > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_WRITE_SLICES];
            let count = self.core.output_slices(&mut slices);
            match self.io.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(written) => {
                    self.core.consume_output(written);
                    self.traffic.bytes_sent(written);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.write_error(error)),
            }
        }
        self.traffic.report(self.core.role());
        self.io.flush().map_err(|error| self.write_error(error))
    }

    /// A failed write: the write timeout, if that is what ended it.
    fn write_error(&self, error: io::Error) -> Error {
        match (is_timeout(&error), self.config.write_timeout) {
            (true, Some(after)) => Error::Timeout {
                what: "writing to the peer (it stopped reading)",
                after,
            },
            _ => Error::Io(error),
        }
    }

    /// After an I/O failure the stream is in an unknown state: nothing more is tried.
    fn abandon_transport(&mut self, error: impl Into<Error>) -> Error {
        self.core.receive_eof();
        self.transport_closed = true;
        self.error = None;
        error.into()
    }
}

impl<S: Transport> Read for Conn<S> {
    /// Reads the current message's payload, then the next message's; 0 once the
    /// connection has closed. Empty messages are skipped, since 0 means the end.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.unread.is_empty() {
            match self.recv()? {
                Some(Message::Text(text)) => self.unread = text.into_bytes(),
                Some(Message::Binary(data)) => self.unread = data,
                Some(_) => {}
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.unread.len());
        buf[..n].copy_from_slice(&self.unread[..n]);
        self.unread.advance(n);
        Ok(n)
    }
}

impl<S: Transport> Write for Conn<S> {
    /// Sends all of `buf` as one message, text or binary as
    /// [`set_payload_type`](Conn::set_payload_type) says.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let message = match self.payload_type {
            PayloadType::Binary => Message::binary(Bytes::copy_from_slice(buf)),
            PayloadType::Text => {
                let text = std::str::from_utf8(buf).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a text message must be UTF-8 ({e}); call set_payload_type(PayloadType::Binary) to send bytes"),
                    )
                })?;
                Message::text(text.to_owned())
            }
        };
        self.send(message)?;
        Ok(buf.len())
    }

    /// Writes what [batching](Conn::send) left queued.
    fn flush(&mut self) -> io::Result<()> {
        if self.transport_closed {
            return Ok(());
        }
        self.flush_output()
            .map_err(|error| io::Error::other(self.abandon_transport(error)))
    }
}
