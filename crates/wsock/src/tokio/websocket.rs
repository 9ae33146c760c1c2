//! `WebSocket`: drives a [`Connection`] over any `AsyncRead + AsyncWrite`.

use std::future::{poll_fn, Future};
use std::io::{IoSlice, Read};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, Bytes};
use futures_core::Stream;
use futures_sink::Sink;
use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tokio_util::io::poll_read_buf;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use wsock_proto::{
    CloseCode, CloseFrame, Connection, Event, Message, PreparedMessage, Role, State,
};

use super::send::SendFuture;
use super::transport::MaybeTlsStream;
use crate::budget::{ReadBudget, Share, WriteBudget};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::{self, OpenConnection, Traffic};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 << 10;

/// What a read of a frame's tail asks for: twice the longest tail the core reads
/// again for, so that the start of the next frame comes along if it landed too.
const READ_AGAIN_ROOM: usize = 4 << 10;

/// Reads after which a connection that never had to wait looks at the shutdown token.
const READS_PER_GOING_AWAY_CHECK: u8 = 32;

/// Most buffers handed to one vectored write.
const MAX_WRITE_SLICES: usize = 32;

/// An open WebSocket over a stream `S` (by default the TCP or TLS stream of a
/// [`Client`](crate::Client) or [`Server`](crate::Server)).
///
/// [`recv`](Self::recv) yields text and binary messages; pings are answered and the
/// closing handshake is completed without the caller's help, and `recv` returns
/// `Ok(None)` once the connection has closed cleanly (see
/// [`peer_close_frame`](Self::peer_close_frame) for the peer's code and reason).
/// `WebSocket` is also a [`Stream`] of messages and a [`Sink`] of messages, and
/// [`split`](Self::split)s into halves for two tasks.
pub struct WebSocket<S = super::transport::MaybeTlsStream> {
    io: S,
    /// The sans-I/O protocol core this shell drives.
    core: Connection,
    protocol: Option<Box<str>>,
    /// Shared by every connection of a server: its settings cost one pointer each.
    config: Arc<Config>,
    close_deadline: Option<Pin<Box<Sleep>>>,
    needs_flush: bool,
    transport_closed: bool,
    /// Boxed: rare, and as large as a tenth of an idle connection.
    error: Option<Box<Error>>,
    /// Resolves when the server shuts down; the connection then closes with 1001.
    going_away: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    /// This connection's share of the server-wide budget for unsent output.
    write_share: Option<Share>,
    /// This connection's share of the server-wide budget for received data held.
    read_share: Option<Share>,
    /// Fires at the connection's next keepalive deadline.
    keepalive_timer: Option<Pin<Box<Sleep>>>,
    /// Runs while output waits for the socket; progress restarts it.
    write_timer: Option<Pin<Box<Sleep>>>,
    /// Reads since the shutdown token was last looked at.
    reads_since_going_away: u8,
    /// What the shell asks of its stream beyond reading and writing, whose answer
    /// depends on the stream's type (see [`StreamExtra`]).
    stream_extra: fn(&mut Self, StreamExtra) -> Poll<std::io::Result<usize>>,
    /// Messages and bytes since the last report to the metrics.
    traffic: Traffic,
    /// A server's count of open connections, while this one lives.
    open: OpenConnection,
}

/// What a WebSocket asks of its stream beyond reading and writing, through one
/// function pointer chosen with the stream's type (a pointer per question would cost
/// every connection a word, and `Drop` cannot require `S: AsyncWrite`).
#[derive(Clone, Copy)]
enum StreamExtra {
    /// Write what is still queued, without waiting: the WebSocket is being dropped.
    WriteOnDrop,
    /// Read once more although the runtime takes the socket to be drained: a frame's
    /// tail is about to land (see [`WebSocket::read_tails_at_once`]).
    ReadAgain,
}

impl<S> Drop for WebSocket<S> {
    fn drop(&mut self) {
        let _ = (self.stream_extra)(self, StreamExtra::WriteOnDrop);
        self.traffic.report(self.core.role());
        metrics::connection_ended(self.core.role(), self.core.peer_close());
    }
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.core.role())
            .field("state", &self.core.state())
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a stream whose opening handshake has already happened elsewhere.
    pub fn from_upgraded(io: S, role: Role, config: Config) -> Self {
        let core = Connection::with_limits(role, config.limits.clone());
        Self::from_parts(io, core, None, Arc::new(config))
    }

    pub(crate) fn from_parts(
        io: S,
        mut core: Connection,
        protocol: Option<String>,
        config: Arc<Config>,
    ) -> Self {
        if core.deflate_enabled() {
            // The time the deflate state's release counts from (docs of set_clock).
            core.set_clock(now());
        }
        let keepalive = config.keepalive;
        if keepalive.ping_interval.is_some() || keepalive.idle_timeout.is_some() {
            core.set_keepalive(keepalive, now());
        }
        Self {
            io,
            core,
            protocol: protocol.map(String::into_boxed_str),
            config,
            close_deadline: None,
            needs_flush: false,
            transport_closed: false,
            error: None,
            going_away: None,
            write_share: None,
            read_share: None,
            keepalive_timer: None,
            write_timer: None,
            reads_since_going_away: 0,
            stream_extra: Self::any_stream_extra,
            traffic: Traffic::default(),
            open: OpenConnection::default(),
        }
    }

    /// A [`StreamExtra`] of a stream of any type: the write on drop, and no read.
    fn any_stream_extra(&mut self, extra: StreamExtra) -> Poll<std::io::Result<usize>> {
        match extra {
            StreamExtra::WriteOnDrop => {
                self.write_without_waiting();
                Poll::Ready(Ok(0))
            }
            StreamExtra::ReadAgain => Poll::Pending,
        }
    }

    /// One attempt to write queued output, for a WebSocket being dropped: a send that
    /// [batching](Config::batch_writes) left queued still reaches the peer when the
    /// socket has room, as it nearly always does.
    fn write_without_waiting(&mut self) {
        if self.transport_closed || self.output_len() == 0 {
            return;
        }
        // Not poll_flush_output: its write timer needs a runtime, which a drop may lack.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while self.output_len() > 0 {
            match self.poll_write_some(&mut cx) {
                Poll::Ready(Ok(written)) if written > 0 => self.consume_written(written),
                _ => return,
            }
        }
        let _ = Pin::new(&mut self.io).poll_flush(&mut cx);
    }

    /// Polls the keepalive clock; true when it queued a ping or failed the connection.
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.core.poll_timeout() else {
            // A timer with nothing to time is kept until it fires: a large message
            // holds part of a frame at one wait and none at the next, and a timer made
            // anew each time would be registered anew with the runtime (which wakes its
            // driver). It fires at most once for nothing; an idle connection then
            // holds none.
            if self
                .keepalive_timer
                .as_ref()
                .is_some_and(|timer| timer.is_elapsed())
            {
                self.keepalive_timer = None;
            }
            return false;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        let timer = self
            .keepalive_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // Deadlines move later with every arrival (a large message moves one per
        // read); re-registering the timer each time would cost more than the read.
        // A timer left earlier fires, finds nothing due, and is moved then.
        if deadline < timer.deadline() || (timer.is_elapsed() && deadline > timer.deadline()) {
            timer.as_mut().reset(deadline);
        }
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        if let Err(error) = self.core.handle_timeout(now()) {
            tracing::debug!(%error, "keepalive failed the connection");
            self.error = Some(Box::new(Error::Protocol(error)));
        }
        true
    }

    /// Counts this connection in `wsock_connections_open` while it lives.
    pub(crate) fn count_as_open(&mut self, open: OpenConnection) {
        self.open = open;
    }

    /// Counts this connection's unsent output against `budget`, shared with others.
    pub fn share_write_budget(&mut self, budget: WriteBudget) {
        self.write_share = Some(Share::new(budget, self.output_len()));
    }

    /// Counts the received data this connection holds against `budget`, shared with
    /// others; while the budget is spent, the connection is closed with 1013 when it
    /// wants to hold more than 64 KiB.
    pub fn share_read_budget(&mut self, budget: ReadBudget) {
        self.read_share = Some(Share::new(budget, self.core.receive_memory()));
    }

    /// Brings the write budget up to date with the output queued now.
    fn account(&mut self) {
        let now = self.output_len();
        if let Some(share) = &mut self.write_share {
            share.set(now);
        }
    }

    /// Brings the read budget up to date with the received data held now.
    fn account_received(&mut self) {
        if let Some(share) = &mut self.read_share {
            crate::budget::account_received(share, &mut self.core);
        }
    }

    /// Bytes queued for the socket.
    fn output_len(&self) -> usize {
        self.core.output_len()
    }

    /// Whether sending must first wait for this connection's own output to drain.
    fn must_drain(&self) -> bool {
        let pending = self.output_len();
        pending >= self.config.write_buffer_limit
            || (pending > 0
                && self
                    .write_share
                    .as_ref()
                    .is_some_and(|share| share.budget().is_spent()))
    }

    /// Closes the connection with 1001 (going away) once `token` is cancelled, the next
    /// time it is polled: how a server's shutdown reaches every connection.
    pub fn close_on(&mut self, token: CancellationToken) {
        self.going_away = Some(Box::pin(token.cancelled_owned()));
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether this end is the client or the server.
    pub fn role(&self) -> Role {
        self.core.role()
    }

    /// The peer's close frame, once it has arrived (`None` inside if it had no code).
    pub fn peer_close_frame(&self) -> Option<&Option<CloseFrame>> {
        self.core.peer_close()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The next text or binary message; `Ok(None)` once the connection has closed.
    ///
    /// Cancel-safe: dropping the future loses no message.
    pub async fn recv(&mut self) -> Result<Option<Message>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends a message and writes it to the socket.
    ///
    /// One exception batches writes: right after [`recv`](Self::recv) returned a
    /// message while more input is already buffered, the frame waits for the next
    /// `recv`, which writes everything queued before it waits for the socket. A
    /// `recv`/`send` echo loop thus costs one write per batch of messages, not one per
    /// message. [`Config::batch_writes`] turns this off.
    pub fn send(&mut self, message: Message) -> SendFuture<'_, S> {
        SendFuture::new(self, message)
    }

    /// After a message was queued: whether its write may wait for the next `recv`
    /// (see [`send`](Self::send)); the core decides
    /// ([`Connection::reply_may_wait`](wsock_proto::Connection::reply_may_wait)).
    pub(crate) fn defer_write(&mut self) -> bool {
        self.config.reply_may_wait(&mut self.core)
    }

    /// Sends a message prepared once for many connections (see
    /// [`broadcast`](crate::broadcast)): a server writes the shared frame without
    /// encoding or copying it; a client encodes it as usual.
    pub async fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<()> {
        poll_fn(|cx| self.poll_send_ready(cx)).await?;
        self.start_send_prepared(prepared)?;
        poll_fn(|cx| self.poll_flush_output(cx)).await
    }

    /// Sends `first` and then every message `more` yields, with one write for all of
    /// them (a broadcast member catching up on its queue).
    pub(crate) async fn send_prepared_batch<M>(
        &mut self,
        first: &PreparedMessage,
        mut more: impl FnMut() -> Option<M>,
    ) -> Result<()>
    where
        M: std::ops::Deref,
        M::Target: AsRef<PreparedMessage>,
    {
        poll_fn(|cx| self.poll_send_ready(cx)).await?;
        self.start_send_prepared(first)?;
        while let Some(next) = more() {
            poll_fn(|cx| self.poll_send_ready(cx)).await?;
            self.start_send_prepared((*next).as_ref())?;
        }
        poll_fn(|cx| self.poll_flush_output(cx)).await
    }

    /// Sends a message without compressing it (for payloads already compressed, such
    /// as images), even when permessage-deflate is on.
    pub async fn send_uncompressed(&mut self, message: Message) -> Result<()> {
        poll_fn(|cx| self.poll_send_ready(cx)).await?;
        if self.transport_closed {
            return Err(Error::ConnectionClosed);
        }
        self.core.send_uncompressed(&message)?;
        self.traffic.message_sent();
        poll_fn(|cx| self.poll_flush_output(cx)).await
    }

    /// Whether permessage-deflate was negotiated.
    pub fn is_compressed(&self) -> bool {
        self.core.deflate_enabled()
    }

    /// Sends a ping; the peer's pong arrives as an internal event.
    pub async fn ping(&mut self, payload: impl Into<Bytes>) -> Result<()> {
        self.send(Message::Ping(payload.into())).await
    }

    /// Closes the connection: sends a close frame with `code` and `reason`, waits (up to
    /// the configured close timeout) for the peer's, then closes the transport.
    /// Messages that arrive meanwhile are discarded.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        if self.core.state() == State::Open {
            self.core.send_close(Some(CloseFrame::new(code, reason)))?;
        }
        poll_fn(|cx| self.poll_close_handshake(cx)).await
    }

    /// Splits into a receiving and a sending half, usable from two tasks.
    pub fn split(self) -> (crate::ReadHalf<S>, crate::WriteHalf<S>) {
        super::split::split(self)
    }

    /// Polls for the next message; see [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>>> {
        loop {
            if self.transport_closed {
                return Poll::Ready(self.error.take().map_or(Ok(None), |error| Err(*error)));
            }
            match self.core.next_event() {
                Ok(Some(Event::Message(message))) => {
                    self.traffic.message_received();
                    return Poll::Ready(Ok(Some(message)));
                }
                Ok(Some(Event::Ping(_) | Event::Pong(_))) => continue,
                Ok(Some(Event::Close(frame))) => {
                    tracing::debug!(?frame, "peer closed the connection");
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%error, "failing the connection");
                    self.error = Some(Box::new(Error::Protocol(error)));
                    continue;
                }
            }
            let write_ready = match self.poll_flush_output(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.abandon_transport(error))),
                Poll::Pending => false,
            };
            if self.core.state() != State::Open {
                if write_ready && self.core.received_eof() && self.core.should_close_transport() {
                    // The peer has closed its side: dropping the socket sends our FIN;
                    // a shutdown and a close timer would be two system calls for
                    // nothing (a connection storm's every departing client).
                    return Poll::Ready(self.close_transport(cx));
                }
                if let Poll::Ready(()) = self.poll_close_deadline(cx) {
                    tracing::debug!("closing handshake timed out; dropping the transport");
                    return Poll::Ready(self.close_transport(cx));
                }
                if self.core.should_close_transport() {
                    if !write_ready {
                        return Poll::Pending;
                    }
                    return match self.poll_shutdown(cx) {
                        Poll::Ready(()) => Poll::Ready(self.close_transport(cx)),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
            // A busy connection looks at the shutdown every so many reads; one about to
            // wait always does, so that the shutdown wakes it.
            if self.reads_since_going_away >= READS_PER_GOING_AWAY_CHECK && self.poll_going_away(cx)
            {
                continue;
            }
            if !write_ready && self.must_drain() {
                // The peer is not reading what we owe it; stop reading what it sends.
                if self.poll_going_away(cx) {
                    continue;
                }
                return Poll::Pending;
            }
            match self.poll_read_input(cx) {
                Poll::Pending => {
                    // The reads have become events: the core says whether their time
                    // matters (a timer, or part of a frame held).
                    if self.core.arrival_needs_clock() {
                        self.core.heard_from_peer(now());
                    }
                    if self.poll_going_away(cx) || self.poll_keepalive(cx) {
                        continue;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => {
                    if self.core.state() == State::Open {
                        self.error
                            .get_or_insert_with(|| Box::new(Error::AbnormalClosure));
                    }
                    self.core.receive_eof();
                }
                Poll::Ready(Ok(read)) => {
                    self.core.note_arrival();
                    self.reads_since_going_away = self.reads_since_going_away.saturating_add(1);
                    self.account_received();
                    self.traffic.bytes_received(read);
                    self.traffic.report(self.core.role());
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(self.abandon_transport(error))),
            }
        }
    }

    /// Whether the server has just started shutting down, in which case the close
    /// frame (1001) is queued. Polled before the connection waits, and every
    /// [`READS_PER_GOING_AWAY_CHECK`] reads, rather than for every message or read: the
    /// token's wait takes two locks that every connection of the server shares.
    fn poll_going_away(&mut self, cx: &mut Context<'_>) -> bool {
        self.reads_since_going_away = 0;
        let Some(going_away) = self.going_away.as_mut() else {
            return false;
        };
        if going_away.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.going_away = None;
        if self.core.state() == State::Open {
            let frame = CloseFrame::new(CloseCode::GOING_AWAY, "the server is shutting down");
            // Open was checked just above, so the close can be queued.
            let _ = self.core.send_close(Some(frame));
        }
        true
    }

    /// Reads from the socket into the connection. With nothing buffered, the read goes
    /// to the stack and only what arrived is copied in, so that a connection waiting
    /// for its peer holds no receive buffer; unless the buffer a large frame left is
    /// free again, which the core keeps (and counts) for the next one.
    fn poll_read_input(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.core.buffered_input() > 0 {
            let buf = self.core.input_buffer();
            if buf.capacity() - buf.len() < READ_CHUNK / 2 {
                buf.reserve(READ_CHUNK);
            }
            let read = poll_read_buf(Pin::new(&mut self.io), cx, buf);
            if read.is_pending() && self.core.should_read_again() {
                return (self.stream_extra)(self, StreamExtra::ReadAgain);
            }
            return read;
        }
        if self.output_len() == 0 {
            self.core.release_idle_buffers();
            if let Some(share) = &mut self.read_share {
                share.set(self.core.receive_memory());
            }
        }
        if let Some(kept) = self.core.reusable_input_buffer(READ_CHUNK) {
            // As much as a read on the stack would take: a larger read spans frames,
            // and the start of the next one is then copied out of memory the last
            // one's payload still shares.
            return poll_read_buf(Pin::new(&mut self.io), cx, &mut kept.limit(READ_CHUNK));
        }
        let mut stack = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut stack);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        self.core.receive_data(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    }

    fn poll_close_handshake(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            match ready!(self.poll_recv(cx)) {
                Ok(Some(_)) => continue,
                Ok(None) => return Poll::Ready(Ok(())),
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    fn poll_close_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let timeout = self.config.close_timeout;
        let deadline = self
            .close_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        deadline.as_mut().poll(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // A failed shutdown leaves nothing to do: the transport is gone either way.
        ready!(Pin::new(&mut self.io).poll_shutdown(cx)).ok();
        Poll::Ready(())
    }

    /// Marks the transport closed and yields the connection's final result.
    fn close_transport(&mut self, cx: &mut Context<'_>) -> Result<Option<Message>> {
        if !self.core.should_close_transport() {
            // Timed out: best effort, without waiting.
            let _ = Pin::new(&mut self.io).poll_shutdown(cx);
        }
        self.transport_closed = true;
        self.close_deadline = None;
        self.error.take().map_or(Ok(None), |error| Err(*error))
    }

    /// After an I/O failure the stream is in an unknown state: nothing more is tried.
    fn abandon_transport(&mut self, error: impl Into<Error>) -> Error {
        self.core.receive_eof();
        self.transport_closed = true;
        self.error = None;
        error.into()
    }

    /// Writes queued output; ready once all of it is written and flushed.
    pub(crate) fn poll_flush_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.output_len() == 0 && !self.needs_flush {
            // Nothing queued since the last write, which counted the budget down and
            // reported the traffic: the case of most calls, one before every read.
            self.write_timer = None;
            return Poll::Ready(Ok(()));
        }
        self.account();
        while self.output_len() > 0 {
            let written = match self.poll_write_some(cx) {
                Poll::Ready(result) => result?,
                Poll::Pending => return self.poll_write_timeout(cx),
            };
            if written == 0 {
                return Poll::Ready(Err(
                    std::io::Error::from(std::io::ErrorKind::WriteZero).into()
                ));
            }
            self.consume_written(written);
            self.account();
            self.needs_flush = true;
            self.restart_write_timer();
        }
        if self.needs_flush {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(result) => result?,
                Poll::Pending => return self.poll_write_timeout(cx),
            }
            self.needs_flush = false;
        }
        self.traffic.report(self.core.role());
        // Nothing is waiting: an idle connection keeps no timer.
        self.write_timer = None;
        Poll::Ready(Ok(()))
    }

    /// One write of queued output, vectored when it is in several chunks.
    fn poll_write_some(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut slices = [IoSlice::new(&[]); MAX_WRITE_SLICES];
        match self.core.output_slices(&mut slices) {
            1 => Pin::new(&mut self.io).poll_write(cx, &slices[0]),
            count => Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]),
        }
    }

    /// Drops `written` bytes from the front of the queued output.
    fn consume_written(&mut self, written: usize) {
        self.core.consume_output(written);
        self.traffic.bytes_sent(written);
    }

    /// While the socket takes nothing: pending, or an error once the write timeout has
    /// passed without progress. The frame in flight is then cut, so the transport is
    /// given up.
    fn poll_write_timeout(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(timeout) = self.config.write_timeout else {
            return Poll::Pending;
        };
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(timer.as_mut().poll(cx));
        self.write_timer = None;
        tracing::debug!(
            ?timeout,
            "the peer took no data for the write timeout; dropping it"
        );
        let error = Error::Timeout {
            what: "writing to the peer (it stopped reading)",
            after: timeout,
        };
        Poll::Ready(Err(self.abandon_transport(error)))
    }

    fn restart_write_timer(&mut self) {
        if let (Some(timer), Some(timeout)) = (&mut self.write_timer, self.config.write_timeout) {
            timer.as_mut().reset(tokio::time::Instant::now() + timeout);
        }
    }

    /// Ready when a message may be queued: the connection is open and the unsent output
    /// is under the write-buffer limit.
    pub(crate) fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.transport_closed || self.core.state() != State::Open {
            return Poll::Ready(Err(Error::ConnectionClosed));
        }
        while self.must_drain() {
            ready!(self.poll_flush_output(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a prepared message (see [`Connection::send_prepared`]).
    pub(crate) fn start_send_prepared(&mut self, prepared: &PreparedMessage) -> Result<()> {
        if self.transport_closed {
            return Err(Error::ConnectionClosed);
        }
        self.core.send_prepared(prepared)?;
        self.traffic.message_sent();
        self.account();
        Ok(())
    }

    pub(crate) fn start_send_message(&mut self, message: &Message) -> Result<()> {
        if self.transport_closed {
            return Err(Error::ConnectionClosed);
        }
        self.core.send(message)?;
        if matches!(message, Message::Text(_) | Message::Binary(_)) {
            self.traffic.message_sent();
        }
        self.account();
        Ok(())
    }

    /// Queues a normal close (if still open) and writes it, without waiting for the
    /// peer's answer: for a writing half, whose reading half sees the answer.
    pub(crate) fn poll_send_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.core.state() == State::Open {
            self.core
                .send_close(Some(CloseFrame::new(CloseCode::NORMAL, "")))?;
        }
        self.poll_flush_output(cx)
    }

    pub(crate) fn poll_close_sink(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if self.core.state() == State::Open {
            self.core
                .send_close(Some(CloseFrame::new(CloseCode::NORMAL, "")))?;
        }
        self.poll_close_handshake(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(Result::transpose)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_send_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<()> {
        self.get_mut().start_send_message(&message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_flush_output(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_close_sink(cx)
    }
}

/// The current time on tokio's clock (which tests may pause), as a std `Instant`.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl WebSocket<MaybeTlsStream> {
    /// Lets the connection read a frame's tail at once when it lands just after a
    /// read that came up short ([`Connection::should_read_again`]). tokio takes a short
    /// read to mean the socket is drained and does not read it again until its event
    /// loop turns, so the message would wait behind every other connection: at 10 × 64
    /// KiB with 4 in flight that made the p99 up to 1.8 times longer (docs/performance.md,
    /// twelfth round of issue 17). Plain TCP only: under TLS, rustls reads the socket.
    pub(crate) fn read_tails_at_once(mut self) -> Self {
        if let MaybeTlsStream::Plain(_) = self.io {
            self.stream_extra = Self::tcp_stream_extra;
        }
        self
    }

    fn tcp_stream_extra(&mut self, extra: StreamExtra) -> Poll<std::io::Result<usize>> {
        match extra {
            StreamExtra::ReadAgain => self.read_tail(),
            StreamExtra::WriteOnDrop => self.any_stream_extra(extra),
        }
    }

    fn read_tail(&mut self) -> Poll<std::io::Result<usize>> {
        let MaybeTlsStream::Plain(tcp) = &self.io else {
            return Poll::Pending;
        };
        // A tail is at most a segment; room for a little more takes the start of
        // the next frame too if it came with it. The core reserved room for the tail.
        let buf = self.core.input_buffer();
        let start = buf.len();
        let room = (buf.capacity() - start).min(READ_AGAIN_ROOM);
        if room == 0 {
            // A read into nothing would return 0, which means the end of the stream.
            return Poll::Pending;
        }
        buf.resize(start + room, 0);
        // Past tokio's readiness: a read of the socket itself, which the next event
        // of the socket, if any, finds drained or not, as it would after any read.
        let read = (&*SockRef::from(tcp)).read(&mut buf[start..]);
        buf.truncate(start + *read.as_ref().unwrap_or(&0));
        match read {
            // Nothing yet, or a signal: wait for the socket as without this read.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                Poll::Pending
            }
            read => Poll::Ready(read),
        }
    }
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
