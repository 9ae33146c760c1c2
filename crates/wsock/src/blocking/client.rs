//! The blocking shell's client: TCP (maybe through a proxy), TLS, then the handshake,
//! all within the connect timeout.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};

use bytes::BytesMut;

use super::conn::Conn;
use super::deadline::{is_timeout, Deadline};
#[cfg(feature = "tls")]
use super::transport::tls_connect;
use super::transport::{read_head, read_into, MaybeTlsStream};
use crate::dial::{Client, Target};
use crate::error::{Error, Result};
use crate::proxy::{Proxy, TunnelStep};

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
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::connect(host, port, e))?;
    let mut last = None;
    for addr in addresses {
        match TcpStream::connect_timeout(&addr, deadline.left()?) {
            Ok(tcp) => return Ok(tcp),
            Err(error) => last = Some(error),
        }
    }
    Err(match last {
        None => Error::no_address(host, port),
        Some(error) if is_timeout(&error) => deadline.expired(),
        Some(error) => Error::connect(host, port, error),
    })
}

/// Connects to `proxy` and opens a tunnel through it to `host:port`.
fn tunnel(proxy: &Proxy, host: &str, port: u16, deadline: &Deadline) -> Result<TcpStream> {
    let resolved = match proxy.resolves_here(host) {
        true => Some(resolve(host, port)?),
        false => None,
    };
    let (proxy_host, proxy_port) = proxy.endpoint();
    let mut tcp = connect_tcp(proxy_host, proxy_port, deadline)?;
    tcp.set_write_timeout(Some(deadline.left()?))?;
    let (mut opening, first) = proxy.open_tunnel(host, port, resolved)?;
    let mut step = TunnelStep::Send(first);
    let mut buf = BytesMut::with_capacity(512);
    loop {
        match step {
            TunnelStep::Send(bytes) => tcp
                .write_all(&bytes)
                .map_err(|e| opening.failed(deadline.explain(e)))?,
            TunnelStep::Receive => {
                tcp.set_read_timeout(Some(deadline.left()?))?;
                let read = read_into(&mut tcp, &mut buf, 512);
                if read.map_err(|e| opening.failed(deadline.explain(e)))? == 0 {
                    return Err(opening.closed());
                }
            }
            TunnelStep::Open => return Ok(tcp),
        }
        step = opening.receive(&mut buf)?;
    }
}

/// The first address of `host:port`, for a proxy that wants an address.
fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let mut addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::connect(host, port, e))?;
    addresses
        .next()
        .ok_or_else(|| Error::no_address(host, port))
}
