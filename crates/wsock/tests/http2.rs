//! WebSockets over HTTP/2 (RFC 8441) over real sockets on 127.0.0.1: wsock's client
//! and server, and a raw h2 client for what wsock's client never does (resets, bad
//! requests).
#![cfg(feature = "http2")]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::pki::TestPki;
use common::{bounded, client_frame, echo};
use http::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use wsock::{AcceptOptions, Client, CloseCode, Config, Message, Server, WebSocket};

/// A wss:// server with `/echo`, a page at `/`, and `/hold`, whose handler reads
/// nothing; over TLS it offers h2.
async fn server(pki: &TestPki, configure: impl FnOnce(Server) -> Server) -> (SocketAddr, Server) {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .tls(pki.server_tls())
        .options(AcceptOptions::default().loopback_only(true))
        .route("/echo", echo)
        .route("/hold", |ws| async move {
            // Keeps the stream open without reading; ends when the server shuts down.
            let _ws = ws;
            std::future::pending::<()>().await;
            Ok(())
        })
        .http("/", |_| {
            http::Response::new(Bytes::from_static(b"the page"))
        });
    let server = configure(server);
    (server.local_addr().unwrap(), server)
}

fn client(pki: &TestPki, addr: SocketAddr, path: &str) -> Client {
    Client::new(format!("wss://localhost:{}{path}", addr.port()))
        .tls(pki.client_tls())
        .no_proxy()
        .http2(true)
}

async fn assert_echoes(ws: &mut WebSocket, tag: usize, count: usize) {
    for i in 0..count {
        let text = format!("{tag}:{i}");
        ws.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(bounded(ws.recv()).await.unwrap(), Some(Message::text(text)));
    }
}

#[tokio::test]
async fn a_websocket_over_an_http2_stream_echoes_and_closes() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s).await;
    tokio::spawn(server.serve());
    let mut ws = bounded(client(&pki, addr, "/echo").connect())
        .await
        .unwrap();
    assert!(
        ws.get_ref().is_http2(),
        "the WebSocket is on an HTTP/2 stream"
    );
    assert!(ws.get_ref().tcp().is_none());
    assert_echoes(&mut ws, 0, 3).await;
    let big = Message::binary(vec![7u8; 300_000]);
    ws.send(big.clone()).await.unwrap();
    assert_eq!(bounded(ws.recv()).await.unwrap(), Some(big));
    bounded(ws.close(CloseCode::NORMAL, "")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), None);
}

/// Forwards every connection to `target`, counting them.
async fn counting_proxy(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn a_hundred_websockets_share_one_tcp_connection() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s).await;
    tokio::spawn(server.serve());
    let (proxy, connections) = counting_proxy(addr).await;
    let client = client(&pki, proxy, "/echo");
    let mut sockets = Vec::new();
    for _ in 0..100 {
        sockets.push(bounded(client.clone().connect()).await.unwrap());
    }
    let echoing = sockets.into_iter().enumerate().map(|(tag, mut ws)| {
        tokio::spawn(async move {
            assert!(ws.get_ref().is_http2());
            assert_echoes(&mut ws, tag, 20).await;
            ws.close(CloseCode::NORMAL, "").await.unwrap();
        })
    });
    for task in echoing.collect::<Vec<_>>() {
        bounded(task).await.unwrap();
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1, "one TCP connection");
}

#[tokio::test]
async fn a_stream_whose_reader_stops_stalls_only_itself_and_memory_stays_bounded() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s).await;
    let budget = server.write_budget();
    tokio::spawn(server.serve());
    let client = client(&pki, addr, "/echo").config(Config::default());
    let mut stalled = bounded(client.clone().connect()).await.unwrap();
    let mut other = bounded(client.connect()).await.unwrap();
    // Send to the echo without reading it back, until flow control stops us.
    let chunk = Message::binary(vec![1u8; 64 << 10]);
    let mut sent = 0usize;
    loop {
        let sending = tokio::time::timeout(Duration::from_millis(500), stalled.send(chunk.clone()));
        match sending.await {
            Ok(result) => {
                result.unwrap();
                sent += 1;
                assert!(
                    sent < 2_000,
                    "128 MiB went out to a reader that reads nothing"
                );
            }
            Err(_) => break, // backpressure: the send waits for window
        }
    }
    assert!(sent >= 1, "the stream never carried anything");
    // The other stream on the same connection echoes as if nothing happened.
    assert_echoes(&mut other, 1, 200).await;
    let held = budget.used();
    assert!(
        held <= 2 << 20,
        "the server holds {held} bytes of unsent output"
    );
}

/// A raw HTTP/2 connection to `addr` over TLS, for what wsock's client never sends.
async fn raw_h2(pki: &TestPki, addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    raw_h2_driven(pki, addr).await.0
}

/// [`raw_h2`], and the task driving the connection, which ends when it does.
async fn raw_h2_driven(
    pki: &TestPki,
    addr: SocketAddr,
) -> (
    h2::client::SendRequest<Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&pki.ca_pem) {
        roots.add(cert).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let (send_request, connection) = h2::client::handshake(tls).await.unwrap();
    (send_request, tokio::spawn(connection))
}

fn rustls_pemfile_certs(
    pem: &str,
) -> Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    tokio_rustls::rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(Result::unwrap)
        .collect()
}

fn extended_connect(path: &str) -> http::Request<()> {
    common::extended_connect(&format!("https://localhost{path}"))
}

/// Opens a WebSocket stream at `path` with raw h2; the status and the stream.
async fn raw_stream(
    connection: &h2::client::SendRequest<Bytes>,
    path: &str,
) -> (StatusCode, h2::SendStream<Bytes>, h2::RecvStream) {
    let mut connection = bounded(connection.clone().ready()).await.unwrap();
    let (response, send) = connection
        .send_request(extended_connect(path), false)
        .unwrap();
    let response = bounded(response).await.unwrap();
    let status = response.status();
    (status, send, response.into_body())
}

/// Reads one whole DATA frame's worth of bytes from `recv`, at least `len`.
async fn read_at_least(recv: &mut h2::RecvStream, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let data = bounded(recv.data()).await.expect("more data").unwrap();
        let _ = recv.flow_control().release_capacity(data.len());
        out.extend_from_slice(&data);
    }
    out
}

#[tokio::test]
async fn a_bad_connect_gets_its_status_on_its_stream_and_the_connection_lives_on() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s).await;
    tokio::spawn(server.serve());
    let connection = raw_h2(&pki, addr).await;
    let (status, _, _) = raw_stream(&connection, "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut old = extended_connect("/echo");
    old.headers_mut()
        .insert("sec-websocket-version", "8".parse().unwrap());
    let mut ready = bounded(connection.clone().ready()).await.unwrap();
    let (response, _send) = ready.send_request(old, false).unwrap();
    let response = bounded(response).await.unwrap();
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    // The page, and then a good WebSocket, on the same connection.
    let mut ready = bounded(connection.clone().ready()).await.unwrap();
    let page = http::Request::get("https://localhost/").body(()).unwrap();
    let (response, _) = ready.send_request(page, true).unwrap();
    let response = bounded(response).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    assert_eq!(
        &bounded(body.data()).await.unwrap().unwrap()[..],
        b"the page"
    );
    let (status, mut send, mut recv) = raw_stream(&connection, "/echo").await;
    assert_eq!(status, StatusCode::OK);
    send.send_data(Bytes::from(client_frame(0x81, b"hi")), false)
        .unwrap();
    assert_eq!(read_at_least(&mut recv, 4).await, b"\x81\x02hi");
}

#[tokio::test]
async fn a_stream_reset_mid_message_leaves_the_others_alone() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s).await;
    tokio::spawn(server.serve());
    let connection = raw_h2(&pki, addr).await;
    let (_, mut doomed, _doomed_recv) = raw_stream(&connection, "/echo").await;
    let (_, mut survivor, mut survivor_recv) = raw_stream(&connection, "/echo").await;
    // Half of a 1,000-byte frame, then a reset.
    let frame = client_frame(0x82, &[3u8; 1000]);
    doomed
        .send_data(Bytes::copy_from_slice(&frame[..500]), false)
        .unwrap();
    doomed.send_reset(h2::Reason::CANCEL);
    for i in 0..50u8 {
        survivor
            .send_data(Bytes::from(client_frame(0x82, &[i; 10])), false)
            .unwrap();
        let echoed = read_at_least(&mut survivor_recv, 12).await;
        assert_eq!(echoed[2..], [i; 10]);
    }
    // And new streams still open.
    let (status, _, _) = raw_stream(&connection, "/echo").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn shutdown_closes_every_websocket_on_every_stream_with_1001() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s).await;
    let shutdown = server.shutdown_handle();
    let serving = tokio::spawn(server.serve());
    let client = client(&pki, addr, "/echo");
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(bounded(client.clone().connect()).await.unwrap());
    }
    shutdown.shutdown();
    for ws in &mut sockets {
        assert_eq!(bounded(ws.recv()).await.unwrap(), None);
        let frame = ws.peer_close_frame().unwrap().clone().unwrap();
        assert_eq!(frame.code, CloseCode::GOING_AWAY);
    }
    bounded(serving).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_server_without_http2_gets_the_client_over_http1() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s.http2(false)).await;
    tokio::spawn(server.serve());
    let mut ws = bounded(client(&pki, addr, "/echo").connect())
        .await
        .unwrap();
    assert!(!ws.get_ref().is_http2());
    assert!(ws.get_ref().is_tls());
    assert_echoes(&mut ws, 0, 2).await;
}

#[tokio::test]
async fn a_connection_may_hold_only_so_many_streams() {
    let pki = TestPki::new();
    let (addr, server) = server(&pki, |s| s.max_streams_per_connection(2)).await;
    tokio::spawn(server.serve());
    let connection = raw_h2(&pki, addr).await;
    let (first, mut held, _) = raw_stream(&connection, "/hold").await;
    let (second, _b, _) = raw_stream(&connection, "/hold").await;
    assert_eq!((first, second), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        connection.current_max_send_streams(),
        2,
        "the server's SETTINGS"
    );
    // A third opens once one of the two has ended.
    let waiting = connection.clone();
    let third = tokio::spawn(async move { raw_stream(&waiting, "/hold").await.0 });
    held.send_reset(h2::Reason::CANCEL);
    assert_eq!(bounded(third).await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn a_connection_that_opens_no_stream_is_dropped_after_the_handshake_timeout() {
    let pki = TestPki::new();
    let options = AcceptOptions::default()
        .loopback_only(true)
        .handshake_timeout(Duration::from_millis(300));
    let (addr, server) = server(&pki, |s| s.options(options)).await;
    tokio::spawn(server.serve());
    let (_idle, driver) = raw_h2_driven(&pki, addr).await;
    // The server closes the connection; the client's side of it then ends.
    let _ = bounded(driver).await.unwrap();
}

/// A TLS server offering h2 and http/1.1 whose HTTP/2 does not enable extended
/// CONNECT (hyper's default), upgrading HTTP/1.1 requests with `wsock::upgrade`.
/// Counts its connections by the protocol ALPN chose.
async fn server_without_extended_connect(
    pki: &TestPki,
) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let certs =
        tokio_rustls::rustls::pki_types::CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
            .map(Result::unwrap)
            .collect();
    let key =
        tokio_rustls::rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes())
            .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (h2_count, other_count) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (h2_seen, other_seen) = (h2_count.clone(), other_count.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let counter = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => &h2_seen,
                _ => &other_seen,
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let service = hyper::service::service_fn(|mut request| async move {
                let options = AcceptOptions::default().loopback_only(true);
                Ok::<_, std::convert::Infallible>(
                    match wsock::upgrade::upgrade::<_, http_body_util::Full<Bytes>>(
                        &mut request,
                        &options,
                    ) {
                        Ok((response, pending)) => {
                            tokio::spawn(async move { echo_hyper(pending.await?).await });
                            response
                        }
                        Err(refusal) => refusal,
                    },
                )
            });
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, h2_count, other_count)
}

async fn echo_hyper(mut ws: wsock::upgrade::HyperWebSocket) -> wsock::Result<()> {
    while let Some(message) = ws.recv().await? {
        ws.send(message).await?;
    }
    Ok(())
}

#[tokio::test]
async fn settings_without_extended_connect_send_the_client_to_http1_on_a_new_connection() {
    let pki = TestPki::new();
    let (addr, over_h2, over_http1) = server_without_extended_connect(&pki).await;
    let mut ws = bounded(client(&pki, addr, "/echo").connect())
        .await
        .unwrap();
    assert!(!ws.get_ref().is_http2(), "fell back to HTTP/1.1");
    assert_echoes(&mut ws, 0, 3).await;
    assert_eq!(over_h2.load(Ordering::SeqCst), 1, "HTTP/2 was tried first");
    assert_eq!(
        over_http1.load(Ordering::SeqCst),
        1,
        "then one HTTP/1.1 connection"
    );
}

/// A WebSocket opened by hand over either transport: raw frames in, raw frames out.
enum RawPeer {
    Http1(TcpStream),
    Http2(h2::SendStream<Bytes>, h2::RecvStream, Vec<u8>),
}

impl RawPeer {
    async fn send(&mut self, bytes: Vec<u8>) {
        use tokio::io::AsyncWriteExt;
        match self {
            Self::Http1(tcp) => tcp.write_all(&bytes).await.unwrap(),
            Self::Http2(send, _, _) => send.send_data(Bytes::from(bytes), false).unwrap(),
        }
    }

    /// The next server frame: opcode and payload; `None` once the stream has ended.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        let mut buffered = match self {
            Self::Http1(_) => Vec::new(),
            Self::Http2(_, _, buffered) => std::mem::take(buffered),
        };
        loop {
            if buffered.len() >= 2 {
                assert_eq!(buffered[1] & 0x80, 0, "servers do not mask");
                let (len, start) = match buffered[1] & 0x7f {
                    126 if buffered.len() >= 4 => (
                        usize::from(u16::from_be_bytes([buffered[2], buffered[3]])),
                        4,
                    ),
                    126 => (usize::MAX, 0),
                    n => (usize::from(n), 2),
                };
                if len != usize::MAX && buffered.len() >= start + len {
                    let frame = (buffered[0] & 0x0f, buffered[start..start + len].to_vec());
                    let rest = buffered.split_off(start + len);
                    if let Self::Http2(_, _, kept) = self {
                        *kept = rest;
                    }
                    return Some(frame);
                }
            }
            match self {
                Self::Http1(tcp) => {
                    let mut byte = [0u8; 1];
                    match bounded(tcp.read(&mut byte)).await {
                        Ok(1) => buffered.push(byte[0]),
                        _ => return None,
                    }
                }
                Self::Http2(_, recv, _) => match bounded(recv.data()).await {
                    Some(Ok(data)) => {
                        let _ = recv.flow_control().release_capacity(data.len());
                        buffered.extend_from_slice(&data);
                    }
                    _ => return None,
                },
            }
        }
    }

    /// The close code the server sent, after any other frames.
    async fn close_code(&mut self) -> Option<u16> {
        while let Some((opcode, payload)) = self.frame().await {
            if opcode == 0x8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
        None
    }
}

fn unmasked(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first, payload.len() as u8];
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn the_core_answers_the_same_over_both_transports() {
    let pki = TestPki::new();
    let (tls_addr, server) = server(&pki, |s| s).await;
    tokio::spawn(server.serve());
    let plain_addr = common::echo_server(AcceptOptions::default()).await;
    let connection = raw_h2(&pki, tls_addr).await;
    type Case = (&'static str, Vec<Vec<u8>>, Option<u16>);
    let cases: Vec<Case> = vec![
        ("unmasked frame", vec![unmasked(0x81, b"hi")], Some(1002)),
        (
            "invalid UTF-8",
            vec![client_frame(0x81, &[0xff, 0xfe])],
            Some(1007),
        ),
        ("reserved opcode", vec![client_frame(0x83, b"")], Some(1002)),
        (
            "RSV1 without deflate",
            vec![client_frame(0xc1, b"x")],
            Some(1002),
        ),
        (
            "close with reason",
            vec![client_frame(0x88, b"\x03\xe8bye")],
            Some(1000),
        ),
    ];
    for (what, frames, expected) in cases {
        let (_, send, recv) = raw_stream(&connection, "/echo").await;
        let peers = [
            RawPeer::Http1(common::raw_websocket(plain_addr).await),
            RawPeer::Http2(send, recv, Vec::new()),
        ];
        for mut peer in peers {
            for frame in &frames {
                peer.send(frame.clone()).await;
            }
            assert_eq!(peer.close_code().await, expected, "{what}");
        }
    }
    // And a conversation: a fragmented message, a ping among its fragments, a close.
    let (_, send, recv) = raw_stream(&connection, "/echo").await;
    let peers = [
        RawPeer::Http1(common::raw_websocket(plain_addr).await),
        RawPeer::Http2(send, recv, Vec::new()),
    ];
    for mut peer in peers {
        peer.send(client_frame(0x01, b"hel")).await;
        peer.send(client_frame(0x89, b"p")).await;
        peer.send(client_frame(0x80, b"lo")).await;
        assert_eq!(peer.frame().await, Some((0xa, b"p".to_vec())), "the pong");
        assert_eq!(
            peer.frame().await,
            Some((0x1, b"hello".to_vec())),
            "one message"
        );
        peer.send(client_frame(0x88, b"\x03\xe8")).await;
        assert_eq!(peer.close_code().await, Some(1000));
    }
}
