//! The blocking client: TCP (maybe through a proxy), TLS, then the handshake.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;
use wsock_proto::handshake::client::UpgradeRequest;

use super::conn::{is_timeout, Conn};
use super::deadline::{Deadline, DeadlineIo};
use super::transport::{Stream, Transport};
use crate::client::{finish_handshake, Target};
use crate::config::Config;
use crate::error::Error;
use crate::handshake_io::read_head_blocking;
use crate::proxy::{Proxy, MAX_PROXY_HEAD};
#[cfg(feature = "tls")]
use crate::tls::ClientTls;
use crate::Result;

/// What [`Client::connect_blocking`](crate::Client::connect_blocking) needs to know.
pub(crate) struct Dial {
    pub(crate) target: Target,
    pub(crate) request: UpgradeRequest,
    pub(crate) proxy: Option<Proxy>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<ClientTls>,
    pub(crate) timeout: Duration,
    pub(crate) config: Config,
}

/// Connects and performs the handshake, all within `dial.timeout`.
pub(crate) fn connect(dial: Dial) -> Result<Conn> {
    let deadline = Deadline::after(dial.timeout, "connecting");
    let target = &dial.target;
    let tcp = match &dial.proxy {
        Some(proxy) => {
            tracing::debug!(?proxy, host = %target.host, "connecting through a proxy");
            tunnel(proxy, &target.host, target.port, &deadline)?
        }
        None => connect_tcp(&target.host, target.port, &deadline)?,
    };
    let _ = tcp.set_nodelay(true);
    tcp.set_write_timeout(Some(deadline.left()?))?;
    let mut stream = match target.secure {
        #[cfg(feature = "tls")]
        true => tls_handshake(dial.tls.as_ref(), &target.host, tcp, &deadline)?,
        _ => Stream::Plain(tcp),
    };
    stream
        .write_all(&dial.request.encode()?)
        .map_err(|e| deadline.explain(e))?;
    let mut buf = BytesMut::with_capacity(1024);
    let max = dial.config.limits.max_head_size;
    let len = read_head_blocking(&mut stream, &mut buf, max, |s| {
        s.set_read_timeout(Some(deadline.left().map_err(io::Error::other)?))
    })
    .map_err(|e| deadline.explain_error(e))?;
    let head = buf.split_to(len);
    let (conn, protocol) = finish_handshake(&dial.request, &head, &buf, &dial.config)?;
    Conn::from_parts(stream, conn, protocol, dial.config)
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

fn tunnel(proxy: &Proxy, host: &str, port: u16, deadline: &Deadline) -> Result<TcpStream> {
    let (proxy_host, proxy_port) = proxy.endpoint();
    let mut tcp = connect_tcp(proxy_host, proxy_port, deadline)?;
    tcp.set_write_timeout(Some(deadline.left()?))?;
    tcp.write_all(&proxy.connect_request(host, port))
        .map_err(|e| deadline.explain(e))?;
    let mut buf = BytesMut::with_capacity(512);
    let len = read_head_blocking(&mut tcp, &mut buf, MAX_PROXY_HEAD, |s| {
        s.set_read_timeout(Some(deadline.left().map_err(io::Error::other)?))
    })
    .map_err(|e| deadline.explain_error(e))?;
    proxy.check_tunnel(&buf, len)?;
    Ok(tcp)
}

#[cfg(feature = "tls")]
fn tls_handshake(
    tls: Option<&ClientTls>,
    host: &str,
    mut tcp: TcpStream,
    deadline: &Deadline,
) -> Result<Stream> {
    use rustls::pki_types::ServerName;
    let config = tls.map_or_else(|| ClientTls::default().config(), ClientTls::config);
    let name = ServerName::try_from(host.to_owned()).map_err(|_| Error::Url {
        url: host.to_owned(),
        reason: "the host is not a valid TLS server name".into(),
    })?;
    let mut conn =
        rustls::ClientConnection::new(config, name).map_err(|e| Error::TlsConfig(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut DeadlineIo::new(&mut tcp, deadline))
            .map_err(|source| match is_timeout(&source) {
                true => deadline.expired(),
                false => Error::TlsHandshake {
                    peer: host.to_owned(),
                    source,
                },
            })?;
    }
    Ok(Stream::ClientTls(Box::new(rustls::StreamOwned::new(
        conn, tcp,
    ))))
}
