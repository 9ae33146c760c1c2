//! The connection after the handshake: frames in, events out; messages in, bytes out.

use std::sync::Arc;

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::batching::replies_may_wait;
use crate::close::{CloseFrame, MAX_REASON_LEN};
use crate::deflate::{with_scratch, DeflateCodec, DeflateConfig, DeflateParams};
use crate::error::{LocalError, ProtocolError};
use crate::frame::{encode_frame, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::keepalive::{Due, Keepalive, KeepaliveTimer};
use crate::limits::Limits;
use crate::mask::{apply_mask, MaskKeys};
use crate::message::{Message, Utf8Bytes};
use crate::output::Output;
use crate::prepared::PreparedMessage;
use crate::read_again::lacks_only_a_tail;
use crate::utf8::Utf8Validator;

/// On a server, uncompressed payloads at least this long are queued after their
/// header as they are instead of being copied behind it (see
/// [`Connection::output_slices`]); below it the copy costs less than an extra buffer
/// in the write.
pub const SHARED_PAYLOAD_MIN: usize = 16 << 10;

/// Which end of the connection this is; it decides masking and who closes TCP first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Masks what it sends; expects unmasked frames.
    Client,
    /// Expects masked frames; closes the TCP connection first.
    Server,
}

/// Where the closing handshake stands.
///
/// | from | event | to |
/// |---|---|---|
/// | `Open` | we send close | `CloseSent` |
/// | `Open` | peer's close arrives (we answer it) | `Closed` |
/// | `CloseSent` | peer's close arrives | `Closed` |
/// | `Open`, `CloseSent` | peer breaks the protocol (we send close if we still may) | `Closed` |
/// | any | transport EOF | `Closed` |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's; received messages still arrive.
    CloseSent,
    /// Nothing more is sent or received; the transport can be closed.
    Closed,
}

/// What the peer sent, as [`Connection::next_event`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole text or binary message.
    Message(Message),
    /// A ping; the pong is already queued.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame; our answer (if one was due) is already queued.
    Close(Option<CloseFrame>),
}

/// Smallest step by which the receive buffer grows for a partly received frame.
const MIN_GROWTH: usize = 64 << 10;

/// Smallest receive buffer a connection keeps through a wait (see
/// [`Connection::release_idle_buffers`]): a smaller one costs less to make again than
/// to hold while idle, and a connection that only ever received small messages then
/// holds none.
const KEPT_RECEIVE_BUFFER_MIN: usize = 16 << 10;

/// By how much `buf`'s capacity grows when `extra` more bytes go in: nothing while it
/// has room, else at least double, as `BytesMut` grows.
fn growth(buf: &BytesMut, extra: usize) -> usize {
    let needed = buf.len() + extra;
    if needed <= buf.capacity() {
        0
    } else {
        needed.max(buf.capacity() * 2) - buf.capacity()
    }
}

#[derive(Clone, Copy, Debug)]
struct PendingFrame {
    header: FrameHeader,
    header_len: usize,
    /// Payload bytes already unmasked and, for uncompressed text, validated.
    checked: usize,
    /// The frame's raw payload is text to validate as it arrives (text, uncompressed).
    is_text: bool,
    /// The frame belongs to a permessage-deflate compressed message.
    compressed: bool,
}

#[derive(Debug)]
struct PartialMessage {
    is_text: bool,
    compressed: bool,
    /// The payload so far: an uncompressed message's frames, each kept as it was
    /// split off the receive buffer and joined once at the end. Growing one buffer
    /// instead would copy the message again at every doubling and leave freed buffers
    /// of every size behind, which the allocator can rarely reuse for the next.
    chunks: Vec<Bytes>,
    /// Their total length.
    received: usize,
    /// …or the inflated bytes for a compressed one.
    inflated: Vec<u8>,
    frames: usize,
}

impl PartialMessage {
    fn len(&self) -> usize {
        if self.compressed {
            self.inflated.len()
        } else {
            self.received
        }
    }

    fn push(&mut self, chunk: BytesMut) {
        self.received += chunk.len();
        if !chunk.is_empty() {
            self.chunks.push(chunk.freeze());
        }
    }

    /// The uncompressed payload in one piece.
    fn joined(mut self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.swap_remove(0),
            _ => {
                let mut whole = BytesMut::with_capacity(self.received);
                for chunk in &self.chunks {
                    whole.extend_from_slice(chunk);
                }
                whole.freeze()
            }
        }
    }
}

/// A WebSocket connection after the opening handshake, with no I/O.
///
/// Feed received bytes with [`receive_data`](Self::receive_data) (or read straight into
/// [`input_buffer`](Self::input_buffer)), then call [`next_event`](Self::next_event)
/// until it returns `Ok(None)`. Sending only queues bytes, as one queue of chunks:
/// write out [`output_slices`](Self::output_slices) (with one vectored write) and
/// [`consume_output`](Self::consume_output) what was written. Pings are answered and
/// close frames echoed automatically.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    state: State,
    /// Shared: a server's connections all have the same limits, so each costs a
    /// pointer rather than a copy.
    limits: Arc<Limits>,
    input: BytesMut,
    output: Output,
    // Boxed: large, and only clients have them; idle server connections stay small.
    keys: Option<Box<MaskKeys>>,
    pending: Option<PendingFrame>,
    /// Boxed: only fragmented messages need it, and it would make every idle
    /// connection larger.
    partial: Option<Box<PartialMessage>>,
    utf8: Utf8Validator,
    failure: Option<Box<ProtocolError>>,
    peer_close: Option<Box<Option<CloseFrame>>>,
    eof: bool,
    keepalive: Option<Box<KeepaliveTimer>>,
    deflate: Option<Box<DeflateCodec>>,
    /// When bytes last arrived, for [`Limits::incomplete_message_timeout`].
    last_arrival: Option<std::time::Instant>,
    /// Whether bytes arrived since the time was last reported (see
    /// [`note_arrival`](Self::note_arrival)).
    unclocked_arrival: bool,
    /// Memory an empty receive buffer keeps alive though it has no capacity left:
    /// the allocation of the frames split off it, which it shares with their payloads.
    /// A `u32` so that it fits in the struct's padding and a connection costs no
    /// more; it saturates, at a buffer far past any sensible frame limit.
    shared_input: u32,
    /// The most [`receive_memory`](Self::receive_memory) may grow to.
    receive_allowance: usize,
    /// Whether a message was handed out since the application last asked
    /// [`reply_may_wait`](Self::reply_may_wait).
    message_since_send: bool,
}

impl Connection {
    /// A connection with the default [`Limits`].
    pub fn new(role: Role) -> Self {
        Self::with_limits(role, Limits::default())
    }

    /// A connection with the given limits.
    pub fn with_limits(role: Role, limits: impl Into<Arc<Limits>>) -> Self {
        Self {
            role,
            state: State::Open,
            limits: limits.into(),
            input: BytesMut::new(),
            output: Output::default(),
            keys: (role == Role::Client).then(|| Box::new(MaskKeys::new())),
            pending: None,
            partial: None,
            utf8: Utf8Validator::default(),
            failure: None,
            peer_close: None,
            eof: false,
            keepalive: None,
            deflate: None,
            last_arrival: None,
            unclocked_arrival: false,
            receive_allowance: usize::MAX,
            shared_input: 0,
            message_since_send: false,
        }
    }

    /// Tells the connection the time now. Its deadlines count from the latest time it
    /// was told, by this, [`heard_from_peer`](Self::heard_from_peer) or
    /// [`handle_timeout`](Self::handle_timeout); a shell calls it when the connection
    /// opens, once [`enable_deflate`](Self::enable_deflate) has been.
    pub fn set_clock(&mut self, now: std::time::Instant) {
        if let Some(codec) = self.deflate.as_mut() {
            codec.tell_time(now);
        }
    }

    /// Turns on permessage-deflate with the parameters agreed in the handshake;
    /// `config` supplies the compression level and threshold.
    pub fn enable_deflate(&mut self, params: &DeflateParams, config: &DeflateConfig) {
        self.deflate = Some(Box::new(DeflateCodec::new(self.role, params, config)));
    }

    /// Turns on keepalive pings and the idle timeout, counting from `now`. Drive them
    /// with [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout),
    /// and report arrivals with [`heard_from_peer`](Self::heard_from_peer).
    pub fn set_keepalive(&mut self, settings: Keepalive, now: std::time::Instant) {
        self.set_clock(now);
        self.keepalive = Some(Box::new(KeepaliveTimer::new(settings, now)));
    }

    /// Records that bytes arrived at `now`: the peer is alive, and a half-sent message
    /// is making progress.
    pub fn heard_from_peer(&mut self, now: std::time::Instant) {
        self.unclocked_arrival = false;
        self.last_arrival = Some(now);
        self.set_clock(now);
        if let Some(timer) = self.keepalive.as_mut() {
            timer.heard(now);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if ever:
    /// the keepalive clock, the deadline of a half-received frame or message, and when
    /// to look whether the deflate state went unused.
    pub fn poll_timeout(&self) -> Option<std::time::Instant> {
        if self.state != State::Open {
            return None;
        }
        let keepalive = self.keepalive.as_ref().and_then(|timer| timer.deadline());
        keepalive
            .into_iter()
            .chain(self.incomplete_deadline())
            .chain(self.deflate.as_ref().and_then(|codec| codec.deadline()))
            .min()
    }

    /// Notes that bytes arrived, without the time: a shell that reads often calls this
    /// for every read (straight into [`input_buffer`](Self::input_buffer); it is implied
    /// by [`receive_data`](Self::receive_data)) and asks
    /// [`arrival_needs_clock`](Self::arrival_needs_clock) once the reads have become
    /// events, so that a read that brought whole messages costs no clock read.
    pub fn note_arrival(&mut self) {
        self.unclocked_arrival = true;
    }

    /// Whether the arrivals noted since the time was last reported need it now, to be
    /// passed to [`heard_from_peer`](Self::heard_from_peer): with keepalive or deflate
    /// on, or while part of a frame or message is held. Answers each batch of noted
    /// arrivals once.
    pub fn arrival_needs_clock(&mut self) -> bool {
        std::mem::take(&mut self.unclocked_arrival)
            && (self.keepalive.is_some() || self.deflate.is_some() || self.holding_input())
    }

    /// Whether part of a frame or message is held, waiting for the rest.
    fn holding_input(&self) -> bool {
        self.pending.is_some() || self.partial.is_some() || !self.input.is_empty()
    }

    /// When a half-received frame or message has waited too long for more.
    fn incomplete_deadline(&self) -> Option<std::time::Instant> {
        self.holding_input().then(|| {
            self.last_arrival
                .map(|at| at + self.limits.incomplete_message_timeout)
        })?
    }

    /// Acts on the clocks at `now`: queues a keepalive ping after a quiet spell, or
    /// fails the connection when a ping went unanswered (1011), the peer stayed silent
    /// past the idle timeout (1001), or it left a message half sent past
    /// [`Limits::incomplete_message_timeout`] (1008). On `Err` the close frame is
    /// queued, as for any failure.
    pub fn handle_timeout(&mut self, now: std::time::Instant) -> Result<(), ProtocolError> {
        if self.state != State::Open {
            return Ok(());
        }
        if let Some(codec) = self.deflate.as_mut() {
            codec.handle_timeout(now);
        }
        if self
            .incomplete_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            let error = ProtocolError::IncompleteMessageTimeout {
                after: self.limits.incomplete_message_timeout,
            };
            self.fail(error.clone());
            return Err(error);
        }
        let Some(timer) = self.keepalive.as_mut() else {
            return Ok(());
        };
        let settings = timer.settings;
        let error = match timer.due(now) {
            Due::Nothing => return Ok(()),
            Due::Ping => {
                timer.pinged(now);
                self.queue_frame(OpCode::Ping, true, b"wsock-keepalive");
                return Ok(());
            }
            Due::PongMissing => ProtocolError::KeepaliveTimeout {
                after: settings.pong_timeout,
            },
            Due::Idle => ProtocolError::IdleTimeout {
                after: settings.idle_timeout.unwrap_or_default(),
            },
        };
        self.fail(error.clone());
        Err(error)
    }

    /// Bytes of memory the received data holds: the receive buffer and a message in
    /// reassembly, by their capacity. A server adds this up over its connections to
    /// enforce a read budget.
    pub fn receive_memory(&self) -> usize {
        let partial = self
            .partial
            .as_ref()
            .map_or(0, |p| p.received + p.inflated.capacity());
        self.input_memory() + partial
    }

    /// The receive buffer's memory: its capacity, or, once it is empty, the memory it
    /// still shares with the payloads split off it.
    fn input_memory(&self) -> usize {
        if self.input.is_empty() {
            self.input.capacity().max(self.shared_input as usize)
        } else {
            self.input.capacity()
        }
    }

    /// Caps what [`receive_memory`](Self::receive_memory) may grow to: a frame or
    /// fragment that would take it further fails the connection with
    /// [`ProtocolError::ReadBudgetExhausted`] (1013) before it is buffered. A server
    /// sets it from what its read budget has left, so that many connections growing
    /// at once cannot each overshoot. Default: no cap beyond [`Limits`].
    pub fn set_receive_allowance(&mut self, bytes: usize) {
        self.receive_allowance = bytes;
    }

    /// Refuses growth of the received data by `growth` bytes past the allowance.
    fn allow_growth(&self, growth: usize) -> Result<(), ProtocolError> {
        if growth > 0 && self.receive_memory().saturating_add(growth) > self.receive_allowance {
            return Err(ProtocolError::ReadBudgetExhausted);
        }
        Ok(())
    }

    /// Fails the connection for a reason found outside it (a server's read budget,
    /// say): as for a protocol error, the close frame with the error's code is queued
    /// and nothing more is read.
    pub fn fail_with(&mut self, error: ProtocolError) {
        if self.failure.is_none() {
            self.fail(error);
        }
    }

    /// Whether permessage-deflate is on.
    pub fn deflate_enabled(&self) -> bool {
        self.deflate.is_some()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The peer's close frame, once it arrived: `Some(None)` for a close without code.
    pub fn peer_close(&self) -> Option<&Option<CloseFrame>> {
        self.peer_close.as_deref()
    }

    /// Whether the transport ended before the closing handshake completed (code 1006).
    pub fn closed_abnormally(&self) -> bool {
        self.eof && self.peer_close.is_none() && self.failure.is_none()
    }

    /// Whether the transport reached EOF: the peer has closed its side, so once this
    /// end's output is written there is no one to shut the transport down for.
    pub fn received_eof(&self) -> bool {
        self.eof
    }

    /// Whether this end should now close the transport once its output is written.
    /// The server closes TCP first (RFC 6455 section 7.1.1); the client waits for it,
    /// unless the connection failed.
    pub fn should_close_transport(&self) -> bool {
        self.state == State::Closed
            && (self.role == Role::Server || self.failure.is_some() || self.eof)
    }

    /// Appends received bytes.
    pub fn receive_data(&mut self, data: &[u8]) {
        if self.state != State::Closed {
            if self.input_memory() == 0 {
                // Allocated to size at once, not through `BytesMut`'s growth path.
                self.input = BytesMut::with_capacity(data.len());
            }
            self.input.extend_from_slice(data);
            self.note_arrival();
        }
    }

    /// The receive buffer, for reading from a socket into it without a copy.
    pub fn input_buffer(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// The receive buffer to read into directly while it holds no input, once the
    /// memory a large frame left there has come back whole (every payload split off
    /// it dropped) with room for `min` bytes: reading there saves a copy from a
    /// read on the stack. `None` otherwise. The memory is counted in
    /// [`receive_memory`](Self::receive_memory) either way.
    pub fn reusable_input_buffer(&mut self, min: usize) -> Option<&mut BytesMut> {
        if !self.input.is_empty() || !self.reclaim_input(min) {
            return None;
        }
        Some(&mut self.input)
    }

    /// Takes the empty receive buffer's memory back whole, if the payloads split off
    /// it have given it back and it has room for `min` bytes.
    fn reclaim_input(&mut self, min: usize) -> bool {
        // Without an allocation of `min` bytes there is nothing to take back, and
        // asking `BytesMut` costs an echo of small messages two calls per message.
        if self.input_memory() < min {
            return false;
        }
        // All of it, not just room for `min`: a buffer that grew by doubling has room
        // left after the frame it held, and reading into that room alone would make
        // the next frame of that size outgrow it and copy everything that arrived.
        let whole = min.max(self.shared_input as usize);
        let reclaimed = self.input.try_reclaim(whole);
        if reclaimed {
            // The allocation is the buffer's capacity again, no longer shared.
            self.shared_input = 0;
        }
        reclaimed
    }

    /// Bytes received but not yet turned into events.
    pub fn buffered_input(&self) -> usize {
        self.input.len()
    }

    /// Whether a read that came up short should be tried again at once rather than
    /// waited for: the frame held lacks only its tail (at most one TCP segment), which
    /// the peer sent with what arrived and which lands while the shell parses. A
    /// runtime that takes a short read to mean the socket is drained (tokio does) would
    /// otherwise leave the message until its next turn of the event loop, behind every
    /// other connection: the long tail of latency of large messages.
    ///
    /// ```
    /// use wsock_proto::{Connection, Role};
    /// let mut server = Connection::new(Role::Server);
    /// // A masked binary frame of 200 bytes, of which 100 have arrived.
    /// server.receive_data(&[0x82, 0xfe, 0, 200, 0, 0, 0, 0]);
    /// server.receive_data(&[0; 100]);
    /// assert!(server.next_event().unwrap().is_none());
    /// assert!(server.should_read_again());
    /// ```
    pub fn should_read_again(&self) -> bool {
        self.pending.as_ref().is_some_and(|frame| {
            let whole = frame.header_len + frame.header.payload_len as usize;
            lacks_only_a_tail(whole.saturating_sub(self.input.len()))
        })
    }

    /// Lets go of the receive and send buffers if they are empty, before the
    /// connection waits: they grow again on demand. An empty receive buffer whose
    /// memory is 16 KiB or more is kept instead, so that the next large frame reuses
    /// it, and [`receive_memory`](Self::receive_memory) counts that memory even while
    /// a payload split off it still shares it (the count errs high then).
    pub fn release_idle_buffers(&mut self) {
        if self.input.is_empty() {
            // Take the memory back whole if the payloads gave it back; keep it,
            // counted either way, if it is worth keeping.
            let _reclaimed = self.reclaim_input(KEPT_RECEIVE_BUFFER_MIN);
            if self.input_memory() < KEPT_RECEIVE_BUFFER_MIN {
                self.input = BytesMut::new();
                self.shared_input = 0;
            }
        }
        self.output.release_if_empty();
    }

    /// Records that the transport reached EOF. Afterwards the connection is closed; see
    /// [`closed_abnormally`](Self::closed_abnormally).
    pub fn receive_eof(&mut self) {
        self.eof = true;
        self.state = State::Closed;
        self.input.clear();
    }

    /// Bytes queued for the peer.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// After the application queued a message: whether the shell may leave it unwritten
    /// for now, so that it goes out with the next replies in one write. Yes only for
    /// the first send since [`next_event`](Self::next_event) handed out a message, with
    /// more input already buffered (the application is about to get it without
    /// waiting for the socket), and the queued output small enough: under 64 KiB, or
    /// under 256 KiB while at least as much input waits behind it, and always under
    /// `write_buffer_limit`. A shell that leaves output unwritten must write it before
    /// it waits for the socket, and when the connection is dropped.
    ///
    /// ```
    /// use wsock_proto::{Connection, Event, Role};
    /// let mut server = Connection::new(Role::Server);
    /// // Two masked one-byte text frames, pipelined.
    /// server.receive_data(&[0x81, 0x81, 0, 0, 0, 0, b'a', 0x81, 0x81, 0, 0, 0, 0, b'b']);
    /// let Ok(Some(Event::Message(first))) = server.next_event() else { panic!() };
    /// server.send(&first).unwrap();
    /// assert!(server.reply_may_wait(usize::MAX)); // "b" waits behind the reply
    /// let Ok(Some(Event::Message(second))) = server.next_event() else { panic!() };
    /// server.send(&second).unwrap();
    /// assert!(!server.reply_may_wait(usize::MAX)); // nothing waits: write both now
    /// ```
    #[inline] // asked once per send, from the shells' crate
    pub fn reply_may_wait(&mut self, write_buffer_limit: usize) -> bool {
        std::mem::take(&mut self.message_since_send)
            && replies_may_wait(self.output_len(), self.buffered_input(), write_buffer_limit)
    }

    /// Fills `slices` with the queued output in order (frames encoded here, and shared
    /// chunks such as a [`PreparedMessage`]'s frame, uncopied), as many chunks as fit,
    /// and returns how many it filled: the argument of one vectored write.
    ///
    /// ```
    /// use std::io::IoSlice;
    /// use wsock_proto::{Connection, Message, PreparedMessage, Role};
    /// let mut server = Connection::new(Role::Server);
    /// server.send_text("own").unwrap();
    /// server.send_prepared(&PreparedMessage::new(Message::text("shared")).unwrap()).unwrap();
    /// let mut slices = [IoSlice::new(&[]); 8];
    /// assert_eq!(server.output_slices(&mut slices), 2);
    /// assert_eq!(server.output_len(), slices[0].len() + slices[1].len());
    /// ```
    pub fn output_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        self.output.slices(slices)
    }

    /// Marks the first `n` queued bytes as written.
    pub fn consume_output(&mut self, n: usize) {
        self.output.consume(n);
    }

    /// Takes all queued output at once, in one buffer (copying shared chunks into it).
    pub fn take_output(&mut self) -> BytesMut {
        self.output.take_all()
    }

    /// The next event from buffered input, `Ok(None)` when more input is needed (or the
    /// connection is closed). On `Err` the connection has failed: a close frame with the
    /// error's code is queued, and no further events follow.
    pub fn next_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if self.state == State::Closed {
            return Ok(None);
        }
        match self.parse_next() {
            Ok(event) => {
                if let Some(Event::Message(_)) = event {
                    self.message_since_send = true;
                }
                Ok(event)
            }
            Err(error) => {
                self.fail(error.clone());
                Err(error)
            }
        }
    }

    fn parse_next(&mut self) -> Result<Option<Event>, ProtocolError> {
        loop {
            let mut pending = match self.pending {
                Some(pending) => pending,
                None => {
                    let Some((header, header_len)) = FrameHeader::decode(&self.input)? else {
                        return Ok(None);
                    };
                    self.check_header(&header)?;
                    let (text_message, compressed) = match (header.opcode, &self.partial) {
                        (OpCode::Text, _) => (true, header.rsv != 0),
                        (OpCode::Binary, _) => (false, header.rsv != 0),
                        (OpCode::Continuation, Some(p)) => (p.is_text, p.compressed),
                        _ => (false, false),
                    };
                    PendingFrame {
                        header,
                        header_len,
                        checked: 0,
                        is_text: text_message && !compressed,
                        compressed,
                    }
                }
            };
            // check_header bounded the length by max_frame_size, a usize.
            let payload_len = pending.header.payload_len as usize;
            let available = self.input.len() - pending.header_len;
            if available < payload_len {
                if pending.is_text && available > pending.checked {
                    // Validate text as it arrives so that invalid UTF-8 fails at once,
                    // not after the rest of a large frame.
                    let range = pending.header_len + pending.checked..self.input.len();
                    if let Some(key) = pending.header.mask {
                        apply_mask(&mut self.input[range.clone()], key, pending.checked);
                    }
                    self.utf8
                        .feed(&self.input[range])
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                    pending.checked = available;
                }
                self.pending = Some(pending);
                // Grow with what arrives (at most doubling), never straight to the
                // declared length: a peer that declares 16 MiB and sends 10 bytes
                // must not cost 16 MiB.
                let missing = payload_len - available;
                let wanted = missing.min(self.input.capacity().max(MIN_GROWTH));
                self.allow_growth(growth(&self.input, wanted))?;
                self.input.reserve(wanted);
                return Ok(None);
            }
            self.pending = None;
            let held = self.input.capacity();
            let mut payload = self.input.split_to(pending.header_len + payload_len);
            // A message's earlier fragments are counted where they wait, in the
            // message being reassembled.
            self.shared_input = if self.input.is_empty() && pending.header.fin {
                u32::try_from(held).unwrap_or(u32::MAX)
            } else {
                0
            };
            payload.advance(pending.header_len);
            if let Some(key) = pending.header.mask {
                apply_mask(&mut payload[pending.checked..], key, pending.checked);
            }
            if pending.is_text {
                self.utf8
                    .feed(&payload[pending.checked..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            if let Some(event) = self.handle_frame(pending.header, pending.compressed, payload)? {
                return Ok(Some(event));
            }
        }
    }

    fn check_header(&self, header: &FrameHeader) -> Result<(), ProtocolError> {
        // RSV1 marks the first frame of a compressed message, once deflate is on.
        let rsv1_allowed =
            self.deflate.is_some() && matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let forbidden = if rsv1_allowed {
            header.rsv & 0b011
        } else {
            header.rsv
        };
        if forbidden != 0 {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if header.opcode.is_control() {
            return Ok(());
        }
        match (header.opcode, &self.partial) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation)
            }
            (OpCode::Continuation, Some(partial))
                if partial.frames >= self.limits.max_fragments =>
            {
                return Err(ProtocolError::TooManyFragments {
                    limit: self.limits.max_fragments,
                })
            }
            _ => {}
        }
        if header.payload_len > self.limits.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                size: header.payload_len,
                limit: self.limits.max_frame_size,
            });
        }
        let compressed = header.rsv != 0 || self.partial.as_ref().is_some_and(|p| p.compressed);
        let so_far = self.partial.as_ref().map_or(0, |p| p.len() as u64);
        // A compressed message is measured after inflating, while it inflates.
        if !compressed && so_far + header.payload_len > self.limits.max_message_size as u64 {
            return Err(ProtocolError::MessageTooLarge {
                limit: self.limits.max_message_size,
            });
        }
        Ok(())
    }

    fn handle_frame(
        &mut self,
        header: FrameHeader,
        compressed: bool,
        payload: BytesMut,
    ) -> Result<Option<Event>, ProtocolError> {
        match header.opcode {
            OpCode::Text | OpCode::Binary if header.fin && !compressed => {
                // A whole message in one frame, the common case: nothing to join. An
                // empty one keeps no hold on the receive buffer.
                let payload = match payload.is_empty() {
                    true => Bytes::new(),
                    false => payload.freeze(),
                };
                let message = self.message(header.opcode == OpCode::Text, payload)?;
                Ok(Some(message))
            }
            OpCode::Text | OpCode::Binary => {
                let mut partial = PartialMessage {
                    is_text: header.opcode == OpCode::Text,
                    compressed,
                    chunks: Vec::new(),
                    received: 0,
                    inflated: Vec::new(),
                    frames: 1,
                };
                if compressed {
                    self.inflate(&payload, header.fin, &mut partial)?;
                } else {
                    if !header.fin {
                        // Split off the receive buffer, it no longer counts there.
                        self.allow_growth(payload.len())?;
                    }
                    partial.push(payload);
                }
                if header.fin {
                    return Ok(Some(self.finish_message(partial)?));
                }
                // Boxed only now: a whole message in one frame never allocates it.
                self.partial = Some(Box::new(partial));
                Ok(None)
            }
            OpCode::Continuation => {
                // Checked while the message still counts in receive_memory: the
                // frame, split off the receive buffer, no longer counts there; and the
                // last frame makes the message be joined into one more buffer.
                if let Some(partial) = self.partial.as_ref().filter(|p| !p.compressed) {
                    let joining = if header.fin {
                        partial.received + payload.len()
                    } else {
                        0
                    };
                    self.allow_growth(payload.len() + joining)?;
                }
                // check_header guarantees a partial message exists.
                let Some(mut partial) = self.partial.take() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                partial.frames += 1;
                if partial.compressed {
                    self.inflate(&payload, header.fin, &mut partial)?;
                } else {
                    partial.push(payload);
                }
                if header.fin {
                    return Ok(Some(self.finish_message(*partial)?));
                }
                self.partial = Some(partial);
                Ok(None)
            }
            OpCode::Ping => {
                if self.state == State::Open {
                    self.queue_frame(OpCode::Pong, true, &payload);
                }
                Ok(Some(Event::Ping(payload.freeze())))
            }
            OpCode::Pong => Ok(Some(Event::Pong(payload.freeze()))),
            OpCode::Close => {
                let frame = CloseFrame::parse(&payload)?;
                if self.state == State::Open {
                    // Echo the peer's code, as RFC 6455 section 5.5.1 suggests.
                    self.queue_frame(OpCode::Close, true, &payload);
                }
                self.state = State::Closed;
                self.input.clear();
                self.peer_close = Some(Box::new(frame.clone()));
                Ok(Some(Event::Close(frame)))
            }
        }
    }

    /// Inflates a compressed frame into the message, validating new text at once.
    fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        partial: &mut PartialMessage,
    ) -> Result<(), ProtocolError> {
        // check_header only lets RSV1 through once deflate is on.
        let Some(codec) = self.deflate.as_mut() else {
            return Err(ProtocolError::ReservedBits(0b100));
        };
        let start = partial.inflated.len();
        codec.decompress(
            input,
            last,
            &mut partial.inflated,
            self.limits.max_message_size,
        )?;
        if partial.is_text {
            self.utf8
                .feed(&partial.inflated[start..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    fn finish_message(&mut self, partial: PartialMessage) -> Result<Event, ProtocolError> {
        let is_text = partial.is_text;
        let payload = if partial.compressed {
            Bytes::from(partial.inflated)
        } else {
            partial.joined()
        };
        self.message(is_text, payload)
    }

    /// The event for a whole message, its text's validation finished.
    fn message(&mut self, is_text: bool, payload: Bytes) -> Result<Event, ProtocolError> {
        let message = if is_text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(Utf8Bytes::from_validated(payload))
        } else {
            Message::Binary(payload)
        };
        Ok(Event::Message(message))
    }

    /// Fails the connection: queues a close frame with the error's code when one may
    /// still be sent, and stops reading.
    fn fail(&mut self, error: ProtocolError) {
        if self.state == State::Open {
            let reason = truncate_to_char_boundary(&error.to_string(), MAX_REASON_LEN).to_owned();
            let frame = CloseFrame::new(error.close_code(), reason);
            self.queue_frame(OpCode::Close, true, &frame.to_payload());
        }
        self.state = State::Closed;
        self.failure = Some(Box::new(error));
        // Freed, not cleared: a failed connection holds no received data.
        self.input = BytesMut::new();
        self.shared_input = 0;
        self.pending = None;
        self.partial = None;
        self.utf8.reset();
    }

    fn queue_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        let mask = self.keys.as_mut().map(|keys| keys.next_key());
        // The requests still buffered suggest how much a batch of replies will take.
        let output = self
            .output
            .buffer_for(MAX_HEADER_LEN + payload.len(), self.input.len());
        encode_frame(output, opcode, fin, 0, mask, payload);
    }

    /// Queues a text or binary message. On a server, a large payload that is not to be
    /// compressed goes out from where it is, after its header, rather than copied
    /// behind it.
    fn queue_message(
        &mut self,
        opcode: OpCode,
        payload: &Bytes,
        may_compress: bool,
    ) -> Result<(), LocalError> {
        self.ensure_can_send()?;
        let len = payload.len();
        let compress = may_compress && self.deflate.as_ref().is_some_and(|c| c.wants(len));
        if compress || self.role != Role::Server || len < SHARED_PAYLOAD_MIN {
            return self.queue_data(opcode, payload, may_compress);
        }
        let mut header = [0; MAX_HEADER_LEN];
        let mut room = &mut header[..];
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: len as u64,
        }
        .encode(&mut room);
        let header_len = MAX_HEADER_LEN - room.len();
        self.output
            .push_frame(&header[..header_len], payload.clone());
        Ok(())
    }

    /// Queues a message prepared once for many connections: on a server, its shared
    /// frame as it is, after everything queued before it (compressed once for every
    /// connection that compresses without context, see [`DeflateConfig::shared`]); on
    /// a client, which must mask each frame with a key of its own, the message encoded
    /// again.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), LocalError> {
        self.ensure_can_send()?;
        if self.role == Role::Client {
            return self.send(prepared.message());
        }
        // A member that compresses without context takes the frame compressed once
        // for all such members; one that keeps context (its peer's window follows its
        // own compressor) takes the plain frame, valid on any connection.
        let compressed = self.deflate.as_deref().and_then(|codec| {
            let worth = codec.wants(prepared.message().payload().len());
            (worth && codec.compresses_standalone())
                .then(|| prepared.compressed_frame(codec.settings()))
                .flatten()
        });
        let frame = compressed.unwrap_or(prepared.frame()).clone();
        self.output.push_shared(frame);
        Ok(())
    }

    fn ensure_can_send(&self) -> Result<(), LocalError> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(LocalError::ConnectionClosed)
        }
    }

    /// Queues a text message as one frame (compressed if deflate is on and the text
    /// reaches the threshold).
    pub fn send_text(&mut self, text: &str) -> Result<(), LocalError> {
        self.queue_data(OpCode::Text, text.as_bytes(), true)
    }

    /// Queues a binary message as one frame (compressed as for text).
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), LocalError> {
        self.queue_data(OpCode::Binary, data, true)
    }

    /// Queues a message without compressing it, for payloads that are compressed
    /// already (images, archives).
    pub fn send_uncompressed(&mut self, message: &Message) -> Result<(), LocalError> {
        match message {
            Message::Text(text) => self.queue_message(OpCode::Text, text.as_shared(), false),
            Message::Binary(data) => self.queue_message(OpCode::Binary, data, false),
            other => self.send(other),
        }
    }

    fn queue_data(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        may_compress: bool,
    ) -> Result<(), LocalError> {
        self.ensure_can_send()?;
        match self.deflate.as_mut() {
            Some(codec) if may_compress && codec.wants(payload.len()) => {
                let mask = self.keys.as_mut().map(|keys| keys.next_key());
                let output = self.output.buffer();
                with_scratch(|compressed| {
                    codec.compress(payload, compressed);
                    encode_frame(output, opcode, true, 0b100, mask, compressed);
                });
            }
            _ => self.queue_frame(opcode, true, payload),
        }
        Ok(())
    }

    /// Queues a ping; `payload` is at most 125 bytes.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), LocalError> {
        self.send_frame(OpCode::Ping, true, payload)
    }

    /// Queues a pong; `payload` is at most 125 bytes.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), LocalError> {
        self.send_frame(OpCode::Pong, true, payload)
    }

    /// Starts the closing handshake: queues a close frame and stops sending.
    pub fn send_close(&mut self, frame: Option<CloseFrame>) -> Result<(), LocalError> {
        self.ensure_can_send()?;
        let payload = match &frame {
            Some(frame) => {
                frame.validate_for_sending()?;
                frame.to_payload()
            }
            None => Bytes::new(),
        };
        self.queue_frame(OpCode::Close, true, &payload);
        self.state = State::CloseSent;
        Ok(())
    }

    /// Queues any [`Message`].
    pub fn send(&mut self, message: &Message) -> Result<(), LocalError> {
        match message {
            Message::Text(text) => self.queue_message(OpCode::Text, text.as_shared(), true),
            Message::Binary(data) => self.queue_message(OpCode::Binary, data, true),
            Message::Ping(data) => self.send_ping(data),
            Message::Pong(data) => self.send_pong(data),
            Message::Close(frame) => self.send_close(frame.clone()),
        }
    }

    /// Queues one frame, for sending a message in fragments: a `Text` or `Binary` frame
    /// without `fin`, then `Continuation` frames, the last with `fin`. The caller keeps
    /// that order; control frames may go in between.
    pub fn send_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), LocalError> {
        self.ensure_can_send()?;
        if opcode == OpCode::Close {
            let frame = CloseFrame::parse(payload).map_err(|_| LocalError::InvalidCloseCode(0))?;
            return self.send_close(frame);
        }
        if opcode.is_control() && payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(LocalError::ControlPayloadTooLong(payload.len()));
        }
        self.queue_frame(opcode, fin, payload);
        Ok(())
    }
}

fn truncate_to_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
