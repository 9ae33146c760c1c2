//! The blocking shell's client: TCP (maybe through a proxy), TLS, then the handshake,
//! all within the connect timeout.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};

use bytes::BytesMut;

use super::conn::Conn;
use super::deadline::{is_timeout, Deadline};
#[cfg(feature = "tls")]
use super::transport::tls_connect;
use super::transport::{read_head, MaybeTlsStream};
use crate::dial::{Client, Target};
use crate::error::{Error, Result};
use crate::proxy::{Proxy, MAX_PROXY_HEAD};

impl Client {
    /// [`connect`](Self::connect) for programs without an async runtime: blocks until
    /// the WebSocket is open (or the connect timeout has passed).
    ///
    /// ```no_run
    /// # fn run() -> wsock::Result<()> {
    /// let mut ws = wsock::Client::new("wss://example.com/feed")
    ///     .protocol("v2.feed")
    ///     .connect_blocking()?;
    /// while let Some(message) = ws.recv()? {
    ///     println!("{message:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect_blocking(self) -> Result<Conn> {
        let (target, request) = self.prepare()?;
        let deadline = Deadline::after(self.connect_timeout, "connecting");
        let mut stream = self.open_transport_blocking(&target, &deadline)?;
        stream
            .write_all(&request.encode()?)
            .map_err(|e| deadline.explain(e))?;
        let mut buf = BytesMut::with_capacity(1024);
        let max = self.config.limits.max_head_size;
        let len = read_head(&mut stream, &mut buf, max, &deadline)?;
        let head = buf.split_to(len);
        let (connection, protocol) = request.finish(&head, &buf, self.config.limits.clone())?;
        Conn::from_parts(stream, connection, protocol, self.config)
    }

    /// The TCP connection (through the proxy, if any) and TLS, if asked for.
    fn open_transport_blocking(
        &self,
        target: &Target,
        deadline: &Deadline,
    ) -> Result<MaybeTlsStream> {
        let tcp = match self.proxy_for(target)? {
            Some(proxy) => {
                tracing::debug!(?proxy, host = %target.host, "connecting through a proxy");
                tunnel(&proxy, &target.host, target.port, deadline)?
            }
            None => connect_tcp(&target.host, target.port, deadline)?,
        };
        let _ = tcp.set_nodelay(true);
        tcp.set_write_timeout(Some(deadline.left()?))?;
        #[cfg(feature = "tls")]
        if target.secure {
            let tls = self.tls.clone().unwrap_or_default();
            return tls_connect(&tls, &target.host, tcp, deadline);
        }
        Ok(MaybeTlsStream::Plain(tcp))
    }
}

fn connect_tcp(host: &str, port: u16, deadline: &Deadline) -> Result<TcpStream> {
    let connect_error = |source| Error::Connect {
        addr: format!("{host}:{port}"),
        source,
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in (host, port).to_socket_addrs().map_err(connect_error)? {
        match TcpStream::connect_timeout(&addr, deadline.left()?) {
            Ok(tcp) => return Ok(tcp),
            Err(error) => last = error,
        }
    }
    Err(match is_timeout(&last) {
        true => deadline.expired(),
        false => connect_error(last),
    })
}

/// Connects to `proxy` and asks it for a tunnel to `host:port`.
fn tunnel(proxy: &Proxy, host: &str, port: u16, deadline: &Deadline) -> Result<TcpStream> {
    let (proxy_host, proxy_port) = proxy.endpoint();
    let mut tcp = connect_tcp(proxy_host, proxy_port, deadline)?;
    tcp.set_write_timeout(Some(deadline.left()?))?;
    tcp.write_all(&proxy.connect_request(host, port))
        .map_err(|e| deadline.explain(e))?;
    let mut buf = BytesMut::with_capacity(512);
    let len = read_head(&mut tcp, &mut buf, MAX_PROXY_HEAD, deadline).map_err(|e| match e {
        timeout @ Error::Timeout { .. } => timeout,
        other => proxy.no_answer(other),
    })?;
    proxy.check_tunnel(&buf, len)?;
    Ok(tcp)
}
