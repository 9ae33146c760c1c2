//! One deadline for a whole task (a handshake, say), however many reads and writes it
//! takes: a socket's own timeout restarts with every byte, so a peer that trickles
//! one byte at a time would otherwise never time out.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Time left for one task, and the error once it is gone.
pub(crate) struct Deadline {
    at: Instant,
    after: Duration,
    what: &'static str,
}

impl Deadline {
    pub(crate) fn after(after: Duration, what: &'static str) -> Self {
        Self {
            at: Instant::now() + after,
            after,
            what,
        }
    }

    /// What is left (never zero, which sockets take as "no timeout").
    pub(crate) fn left(&self) -> Result<Duration> {
        match self.at.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(self.expired()),
        }
    }

    pub(crate) fn expired(&self) -> Error {
        Error::Timeout {
            what: self.what,
            after: self.after,
        }
    }

    /// A socket error, as a timeout if the socket's timeout is what ended it.
    pub(crate) fn explain(&self, error: io::Error) -> Error {
        if is_timeout(&error) {
            self.expired()
        } else {
            Error::Io(error)
        }
    }
}

/// Whether a socket error is its timeout expiring (`WouldBlock` on Unix).
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A TCP stream whose every read and write may take only what is left of a deadline,
/// for code that loops over the socket itself (rustls's `complete_io`).
pub(crate) struct DeadlineIo<'a> {
    tcp: &'a mut TcpStream,
    deadline: &'a Deadline,
}

impl<'a> DeadlineIo<'a> {
    pub(crate) fn new(tcp: &'a mut TcpStream, deadline: &'a Deadline) -> Self {
        Self { tcp, deadline }
    }

    fn left(&self) -> io::Result<Duration> {
        self.deadline
            .left()
            .map_err(|e| io::Error::new(io::ErrorKind::TimedOut, e))
    }
}

impl Read for DeadlineIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf)
    }
}

impl Write for DeadlineIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_trickling_bytes_cannot_outlast_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut tcp, _) = listener.accept().unwrap();
        let deadline = Deadline::after(Duration::from_millis(300), "the test task");
        let started = Instant::now();
        let mut io = DeadlineIo::new(&mut tcp, &deadline);
        let mut byte = [0u8];
        let error = loop {
            // One byte for every read: each read alone is quick.
            peer.write_all(b"x").unwrap();
            if let Err(error) = io.read_exact(&mut byte) {
                break error;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(is_timeout(&error), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            deadline.explain(error),
            Error::Timeout {
                what: "the test task",
                ..
            }
        ));
    }
}
