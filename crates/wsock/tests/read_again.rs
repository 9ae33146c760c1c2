//! A frame's tail that lands just after a read came up short is read at once, not
//! left until the runtime's event loop turns (`Connection::should_read_again`). Over
//! real sockets on 127.0.0.1, polled by hand so that the event loop turns only where
//! the test lets it.

mod common;

use std::future::poll_fn;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::task::Poll;

use common::bounded;
use socket2::SockRef;
use wsock::{Client, MaybeTlsStream, Message, WebSocket};

/// Where loopback splits a 64 KiB frame: its first segment.
const FIRST_SEGMENT: usize = 65_483;

/// A client WebSocket, and the server's end as a plain blocking socket that has
/// answered the handshake: the test writes the server's frames itself, and a write
/// there never lets the client's event loop turn.
async fn connected() -> (WebSocket<MaybeTlsStream>, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            tcp.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .expect("the request has a key");
        let accept = wsock_proto::handshake::accept_key(key.as_bytes());
        write!(
            tcp,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .unwrap();
        tcp
    });
    let ws = Client::new(url).connect().await.unwrap();
    (ws, server.join().unwrap())
}

/// The bytes waiting in the client's socket, up to `up_to`, as the kernel sees them.
fn waiting(ws: &WebSocket<MaybeTlsStream>, up_to: usize) -> usize {
    let tcp = ws.get_ref().tcp().expect("plain TCP");
    let mut buf = vec![MaybeUninit::uninit(); up_to];
    SockRef::from(tcp).peek(&mut buf).unwrap_or(0)
}

/// Until `condition` holds, which on loopback it does at once or nearly; bounded.
fn until(mut condition: impl FnMut() -> bool) {
    for _ in 0..1_000_000 {
        if condition() {
            return;
        }
        std::thread::yield_now();
    }
    panic!("the bytes written never reached the other end");
}

/// One poll of the client, without giving the event loop a turn.
async fn poll_once(ws: &mut WebSocket<MaybeTlsStream>) -> Poll<wsock::Result<Option<Message>>> {
    poll_fn(|cx| Poll::Ready(ws.poll_recv(cx))).await
}

#[tokio::test]
async fn a_tail_that_lands_after_a_short_read_is_read_before_the_connection_waits() {
    bounded(async {
        let (mut ws, mut server) = connected().await;
        let payload = vec![7; 64 << 10];
        let mut frame = vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        frame.extend_from_slice(&payload);

        server.write_all(&frame[..FIRST_SEGMENT]).unwrap();
        until(|| waiting(&ws, FIRST_SEGMENT) == FIRST_SEGMENT);
        // The client reads all of it, its event loop turning between polls; its last
        // read comes up short, after which tokio takes the socket to be drained.
        let mut turns = 0;
        loop {
            assert!(
                poll_once(&mut ws).await.is_pending(),
                "only part of the frame"
            );
            if waiting(&ws, 1) == 0 {
                break;
            }
            turns += 1;
            assert!(turns < 10_000, "the client never read what arrived");
            tokio::task::yield_now().await;
        }

        server.write_all(&frame[FIRST_SEGMENT..]).unwrap();
        until(|| waiting(&ws, 1) > 0);
        match poll_once(&mut ws).await {
            Poll::Ready(Ok(Some(message))) => assert_eq!(message.payload(), &payload[..]),
            Poll::Ready(other) => panic!("expected the message, got {other:?}"),
            Poll::Pending => panic!("the tail waited for the event loop's next turn"),
        }
    })
    .await;
}
